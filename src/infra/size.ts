// Sizes as the configuration writes them (BODY_LIMIT): a number of bytes with an optional unit.

const UNITS: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3 };

/** "1mb" (or "1 MiB") → 1048576; units of 1024, as koa-bodyparser's. Throws on anything else. */
export function sizeInBytes(text: string): number {
  const m = /^(\d{1,12})\s*(b|kb|kib|mb|mib|gb|gib)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: "${text}"`);
  return Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()];
}
