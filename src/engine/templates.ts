// Templates in a task's content and in the string values of its taskConfig, filled in with the data of
// its flow instance: `${input.<path>}` (what the start was given) and `${nodes.<key>.output<.path>}` (what
// an earlier node produced: its one task's output, or for several tasks an object by task id). A path
// walks into JSON: a string that holds JSON is parsed on the way (`${nodes.a.output.body.id}` reads an
// HTTP task's answer). Substitution is text only — nothing is evaluated — and `$${` writes a literal `${`.
// A SKIPPED node's output is an empty string in text, and null where a config value is that one template.
// Other `${…}` forms (a shell's `${HOME}`, `${env:NAME}` resolved by the HTTP and SHELL executors) are
// left as they are.
import { asJson } from '../definitions/expression.js';

/** A template that cannot be filled in: the message names it. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

export interface TemplateData {
  input: unknown;
  /**
   * The output of the node with this key, or undefined when it has none (it did not run or succeed).
   * A SKIPPED node's is `skipped`: its templates are filled in with an empty string.
   */
  output(nodeKey: string): { value: unknown; skipped?: boolean } | undefined;
  /** A forEach run's item and its index (`${item…}`, `${index}`); outside forEach these are left as written. */
  item?: { value: unknown; index: number };
}

const SEGMENT = '[A-Za-z0-9_-]+';
const TEMPLATE = new RegExp(`\\$(\\$?)\\{((?:input|item|index|nodes\\.${SEGMENT}\\.output)(?:\\.${SEGMENT})*)\\}`, 'g');
const ANY_TEMPLATE = new RegExp(`\\$\\{(?:input|item|index|nodes\\.${SEGMENT}\\.output)[.}]`);
const SKIPPABLE = new RegExp(`^\\$\\{nodes\\.(${SEGMENT})\\.output(?:\\.${SEGMENT})*\\}$`);
const ITEM_TEMPLATE = /\$\{(?:item|index)[.}]/;

/** True when the text has a forEach template (`${item…}`, `${index}`). */
export function hasItemTemplates(text: string | null | undefined): boolean {
  return !!text && ITEM_TEMPLATE.test(text);
}

/** True when the text has a template to fill in. */
export function hasTemplates(text: string | null | undefined): boolean {
  return !!text && ANY_TEMPLATE.test(text);
}

/** True when any string value of the config (at any depth) has a template. */
export function configHasTemplates(config: unknown): boolean {
  if (typeof config === 'string') return hasTemplates(config);
  if (Array.isArray(config)) return config.some(configHasTemplates);
  if (config && typeof config === 'object') return Object.values(config).some(configHasTemplates);
  return false;
}

/** The node keys the text's templates refer to. */
export function referencedNodes(texts: string[]): string[] {
  const keys = new Set<string>();
  for (const t of texts) for (const m of t.matchAll(TEMPLATE)) if (!m[1] && m[2].startsWith('nodes.')) keys.add(m[2].split('.')[1]);
  return [...keys];
}

/** Every string in the config, at any depth (to find the nodes its templates refer to). */
export function stringsOf(config: unknown): string[] {
  if (typeof config === 'string') return [config];
  if (Array.isArray(config)) return config.flatMap(stringsOf);
  if (config && typeof config === 'object') return Object.values(config).flatMap(stringsOf);
  return [];
}

/**
 * The text with its templates filled in; TemplateError names the first that cannot be, or says the text
 * grew over `maxChars` (checked as it grows, so an output copied many times over is not built first).
 */
export function render(text: string, data: TemplateData, maxChars = Infinity, what = 'text'): string {
  let length = text.length;
  const grow = (s: string, whole: string): string => {
    length += s.length - whole.length;
    if (length > maxChars) throw new TemplateError(`the filled-in ${what} is over ${maxChars} bytes`);
    return s;
  };
  return text.replace(TEMPLATE, (whole, escaped: string, expr: string) => grow(fill(whole, escaped, expr, data), whole));
}

/** What one template stands for. */
function fill(whole: string, escaped: string, expr: string, data: TemplateData): string {
  if (escaped) return whole.slice(1); // `$${…}` → `${…}`
  const parts = expr.split('.');
  let value: unknown;
  let path: string[];
  if (parts[0] === 'item' || parts[0] === 'index') {
    if (!data.item) return whole; // not a forEach run: a shell's own ${item} stays as written
    if (parts[0] === 'index') return parts.length === 1 ? String(data.item.index) : whole;
    value = data.item.value;
    path = parts.slice(1);
  } else if (parts[0] === 'input') {
    value = data.input;
    path = parts.slice(1);
  } else {
    const out = data.output(parts[1]);
    if (!out) throw new TemplateError(`template \${${expr}}: node "${parts[1]}" has no output (no such node, or it has not succeeded)`);
    if (out.skipped) return '';
    value = out.value;
    path = parts.slice(3);
  }
  let at = parts[0] === 'input' || parts[0] === 'item' ? parts[0] : `nodes.${parts[1]}.output`;
  for (const key of path) {
    value = asJson(value);
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) {
      throw new TemplateError(`template \${${expr}}: ${at} has no field "${key}"`);
    }
    value = (value as Record<string, unknown>)[key];
    at = `${at}.${key}`;
  }
  if (value === undefined || value === null) throw new TemplateError(`template \${${expr}}: ${at} is ${value === null ? 'null' : 'missing'}`);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The config with every string value rendered (keys and other values as they are), each at most `maxChars`. */
export function renderConfig<T>(config: T, data: TemplateData, maxChars = Infinity): T {
  if (typeof config === 'string') {
    // A value that is one template of a SKIPPED node's output and nothing else is null inside the JSON.
    const whole = SKIPPABLE.exec(config);
    if (whole && data.output(whole[1])?.skipped) return null as T;
    return render(config, data, maxChars, 'taskConfig') as T;
  }
  if (Array.isArray(config)) return config.map((v) => renderConfig(v, data, maxChars)) as T;
  if (config && typeof config === 'object') return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, renderConfig(v, data, maxChars)])) as T;
  return config;
}

