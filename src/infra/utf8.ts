// Cutting UTF-8 to a number of bytes without cutting a character in two.

/** A byte that continues a character (10xxxxxx): a cut must not land before it. */
const continues = (byte: number) => (byte & 0xc0) === 0x80;

/** `text` cut to at most `maxBytes` UTF-8 bytes, never inside a character, marked `…` when cut. */
export function clipUtf8(text: string, maxBytes: number): string {
  const b = Buffer.from(text, 'utf8');
  if (b.length <= maxBytes) return text;
  let end = maxBytes - 3;
  while (end > 0 && continues(b[end])) end--; // back to the start of a character
  return `${b.subarray(0, end).toString('utf8')}…`;
}

/** The last `maxBytes` bytes of `b` (at most), decoded from the first whole character. */
export function lastUtf8(b: Buffer, maxBytes: number): string {
  if (b.length > maxBytes) {
    let start = b.length - maxBytes;
    while (start < b.length && continues(b[start])) start++; // skip a cut UTF-8 sequence
    b = b.subarray(start);
  }
  return b.toString('utf8');
}
