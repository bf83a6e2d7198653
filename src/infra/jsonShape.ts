// Limits on the shape of parsed JSON, checked without recursion. JSON.parse itself copes with any
// depth, but what comes after does not: JSON.stringify (storing a taskConfig), zod and every other
// recursive walk overflow the stack thousands of levels down ("Maximum call stack size exceeded": a
// 500 at best). Checked once, right after parsing, on the request body and on a taskConfig sent as a
// string.

/** Objects and arrays nested in one another, at most (README: Limits). */
export const MAX_JSON_DEPTH = 64;

/** A lone UTF-16 surrogate (e.g. "\ud800"): JSON allows the escape, but it is not text and MySQL cannot store it. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * What is wrong with a parsed JSON value, or null: nested deeper than `maxDepth`, a string (or key)
 * that is not valid Unicode, or a `__proto__` key (prototype poisoning, refused as koa-bodyparser did).
 * Phrased to follow the name of what was checked, e.g. `body: is nested deeper than 64 levels …`.
 */
export function jsonShapeProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): string | null {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return 'holds a string with a lone UTF-16 surrogate (not valid Unicode)';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= maxDepth) return `is nested deeper than ${maxDepth} levels of objects and arrays`;
    if (Array.isArray(v)) {
      for (const item of v) stack.push({ v: item, depth: depth + 1 });
      continue;
    }
    for (const [key, item] of Object.entries(v)) {
      if (key === '__proto__') return 'holds a "__proto__" key, which is not allowed';
      if (LONE_SURROGATE.test(key)) return 'holds a key with a lone UTF-16 surrogate (not valid Unicode)';
      stack.push({ v: item, depth: depth + 1 });
    }
  }
  return null;
}
