// The small expression language of a node's `when` (and the path of its `forEach`): parsed once, at
// save (a syntax error is a 400 naming the node) and again when a plan is loaded, then evaluated as a
// tree, never with eval. What it reads:
//   paths     input.<path>  nodes.<key>.output<.path>   (walking into JSON, and into a string holding
//             JSON, as templates do; a path that does not exist is null)
//   literals  numbers, '…' or "…" strings (\ escapes the next character), true, false, null
//   operators == != < <= > >= && || ! and parentheses (! binds tightest, then comparisons, &&, ||)
// Comparisons: a number and a string holding a number compare as numbers (task outputs are text);
// < <= > >= compare two numbers or two strings, anything else is false; == is deep equality.
// && || ! read values as JavaScript does (false, null, 0 and "" are false) and give booleans.

export const MAX_EXPRESSION_LENGTH = 1024;
const MAX_DEPTH = 64;

export type Expr =
  | { kind: 'lit'; value: unknown }
  | { kind: 'path'; root: 'input' | 'node'; node?: string; path: string[]; text: string }
  | { kind: 'not'; arg: Expr }
  | { kind: 'and' | 'or'; left: Expr; right: Expr }
  | { kind: 'cmp'; op: CmpOp; left: Expr; right: Expr };
type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

/** The values an expression reads. `output` gives undefined for a node with no output (null is read). */
export interface ExprData {
  input: unknown;
  output(nodeKey: string): unknown;
}

type Token = { t: 'op' | 'num' | 'str' | 'word' | 'path'; v: string; at: number; value?: unknown };

const PATH = /^(?:input|nodes\.[A-Za-z0-9_-]+\.output)(?:\.[A-Za-z0-9_-]+)*/;
const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const OPS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '!', '(', ')'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    const rest = src.slice(i);
    const op = OPS.find((o) => rest.startsWith(o));
    if (op) { out.push({ t: 'op', v: op, at: i }); i += op.length; continue; }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        s += src[j++];
      }
      if (j >= src.length) throw new ExpressionError(`unterminated string starting at character ${i + 1}`);
      out.push({ t: 'str', v: src.slice(i, j + 1), at: i, value: s });
      i = j + 1;
      continue;
    }
    const num = NUMBER.exec(rest);
    if (num) { out.push({ t: 'num', v: num[0], at: i, value: Number(num[0]) }); i += num[0].length; continue; }
    const path = PATH.exec(rest);
    if (path && !/[A-Za-z0-9_.-]/.test(rest[path[0].length] ?? '')) { out.push({ t: 'path', v: path[0], at: i }); i += path[0].length; continue; }
    const word = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(rest);
    if (word) {
      if (['true', 'false', 'null'].includes(word[0])) { out.push({ t: 'word', v: word[0], at: i }); i += word[0].length; continue; }
      throw new ExpressionError(`unknown name "${word[0]}" at character ${i + 1}: a path starts with input. or nodes.<key>.output`);
    }
    throw new ExpressionError(`unexpected "${c}" at character ${i + 1}`);
  }
  return out;
}

/** The expression's tree; ExpressionError says what is wrong and where. */
export function parseExpression(src: string): Expr {
  if (typeof src !== 'string' || src.trim() === '') throw new ExpressionError('is empty');
  if (src.length > MAX_EXPRESSION_LENGTH) throw new ExpressionError(`must be at most ${MAX_EXPRESSION_LENGTH} characters`);
  const toks = tokenize(src);
  let k = 0;
  let depth = 0;
  const peek = () => toks[k];
  const where = () => (peek() ? `at character ${peek().at + 1} ("${peek().v}")` : 'at the end');
  const isOp = (...ops: string[]) => peek()?.t === 'op' && ops.includes(peek().v);
  const deeper = () => {
    if (++depth > MAX_DEPTH) throw new ExpressionError(`is nested deeper than ${MAX_DEPTH} levels`);
  };
  const or = (): Expr => {
    let left = and();
    while (isOp('||')) { k++; left = { kind: 'or', left, right: and() }; }
    return left;
  };
  const and = (): Expr => {
    let left = cmp();
    while (isOp('&&')) { k++; left = { kind: 'and', left, right: cmp() }; }
    return left;
  };
  const cmp = (): Expr => {
    const left = unary();
    if (!isOp('==', '!=', '<', '<=', '>', '>=')) return left;
    const op = toks[k++].v as CmpOp;
    const right = unary();
    if (isOp('==', '!=', '<', '<=', '>', '>=')) throw new ExpressionError(`comparisons do not chain: use && or parentheses ${where()}`);
    return { kind: 'cmp', op, left, right };
  };
  const unary = (): Expr => {
    deeper();
    try {
      if (isOp('!')) { k++; return { kind: 'not', arg: unary() }; }
      return primary();
    } finally {
      depth--;
    }
  };
  const primary = (): Expr => {
    const tok = peek();
    if (!tok) throw new ExpressionError('ends where a value was expected');
    if (isOp('(')) {
      k++;
      const e = or();
      if (!isOp(')')) throw new ExpressionError(`expected ")" ${where()}`);
      k++;
      return e;
    }
    k++;
    if (tok.t === 'num' || tok.t === 'str') return { kind: 'lit', value: tok.value };
    if (tok.t === 'word') return { kind: 'lit', value: tok.v === 'null' ? null : tok.v === 'true' };
    if (tok.t === 'path') {
      const parts = tok.v.split('.');
      return parts[0] === 'input'
        ? { kind: 'path', root: 'input', path: parts.slice(1), text: tok.v }
        : { kind: 'path', root: 'node', node: parts[1], path: parts.slice(3), text: tok.v };
    }
    k--;
    throw new ExpressionError(`expected a value ${where()}`);
  };
  const e = or();
  if (k < toks.length) throw new ExpressionError(`unexpected ${where()}`);
  return e;
}

/** A path on its own (forEach): `input.…` or `nodes.<key>.output…`. */
export function parsePath(src: string): Extract<Expr, { kind: 'path' }> {
  const e = parseExpression(src);
  if (e.kind !== 'path') throw new ExpressionError('must be a path: input.<path> or nodes.<key>.output<.path>');
  return e;
}

/** The node keys an expression reads. */
export function referencedKeys(e: Expr, into: Set<string> = new Set()): Set<string> {
  if (e.kind === 'path' && e.node) into.add(e.node);
  else if (e.kind === 'not') referencedKeys(e.arg, into);
  else if (e.kind === 'and' || e.kind === 'or' || e.kind === 'cmp') (referencedKeys(e.left, into), referencedKeys(e.right, into));
  return into;
}

/** A string that holds a JSON object or array is read as that; anything else is itself. */
export function asJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return v;
  try {
    return JSON.parse(t);
  } catch {
    return v;
  }
}

/** The value at a path (null where it does not exist). */
export function readPath(e: Extract<Expr, { kind: 'path' }>, data: ExprData): unknown {
  let v: unknown = e.root === 'input' ? data.input : data.output(e.node!);
  for (const key of e.path) {
    v = asJson(v);
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, key)) return null;
    v = (v as Record<string, unknown>)[key];
  }
  return v === undefined ? null : v;
}

const truthy = (v: unknown): boolean => !(v === false || v === null || v === undefined || v === 0 || v === '' || Number.isNaN(v));

function numeric(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function equal(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') {
    const x = numeric(a);
    const y = numeric(b);
    if (x !== null && y !== null) return x === y;
  }
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((key) => Object.prototype.hasOwnProperty.call(b, key) && equal((a as any)[key], (b as any)[key]));
}

function order(op: CmpOp, a: unknown, b: unknown): boolean {
  let x: number | string;
  let y: number | string;
  if (typeof a === 'string' && typeof b === 'string') [x, y] = [a, b];
  else {
    const na = numeric(a);
    const nb = numeric(b);
    if (na === null || nb === null || (typeof a !== 'number' && typeof b !== 'number')) return false;
    [x, y] = [na, nb];
  }
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

export function evaluate(e: Expr, data: ExprData): unknown {
  switch (e.kind) {
    case 'lit': return e.value;
    case 'path': return readPath(e, data);
    case 'not': return !truthy(evaluate(e.arg, data));
    case 'and': return truthy(evaluate(e.left, data)) && truthy(evaluate(e.right, data));
    case 'or': return truthy(evaluate(e.left, data)) || truthy(evaluate(e.right, data));
    case 'cmp': {
      // A string holding JSON compares as what it holds.
      const a = asJson(evaluate(e.left, data));
      const b = asJson(evaluate(e.right, data));
      if (e.op === '==') return equal(a, b);
      if (e.op === '!=') return !equal(a, b);
      return order(e.op, a, b);
    }
  }
}

/** Whether the condition holds. */
export function holds(e: Expr, data: ExprData): boolean {
  return truthy(evaluate(e, data));
}
