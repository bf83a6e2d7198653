// Answers that may be large, as a stream of JSON text in the envelope: serialised a piece at a time as
// the client reads, so a big answer is neither built whole in memory nor serialised in one go (one
// JSON.stringify of a detail with 40 × 16 MB outputs held the event loop for ~15 s and cost its
// member the leadership). The text is the same as ok()'s would be.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { envelope } from './http.js';

/** Characters of a long string written per piece. */
const PIECE_CHARS = 64 * 1024;
/** Stands for a value written out in pieces; random, so no value of the answer can hold it. */
const MARK = `\u0000${randomBytes(12).toString('hex')}\u0000`;
const MARK_JSON = JSON.stringify(MARK);

/** `JSON.stringify(value)` with MARK's place split out: [before, after]. */
function around(value: unknown): [string, string] {
  const text = JSON.stringify(value);
  const at = text.indexOf(MARK_JSON);
  return [text.slice(0, at), text.slice(at + MARK_JSON.length)];
}

/** A string as JSON text, in pieces (never splitting a surrogate pair). */
function* stringPieces(s: string): Generator<string> {
  yield '"';
  for (let i = 0; i < s.length; ) {
    let end = Math.min(s.length, i + PIECE_CHARS);
    const last = s.charCodeAt(end - 1);
    if (end < s.length && last >= 0xd800 && last <= 0xdbff) end--;
    yield JSON.stringify(s.slice(i, end)).slice(1, -1);
    i = end;
  }
  yield '"';
}

function send(ctx: Context, pieces: Iterable<string>): void {
  ctx.status = 200;
  ctx.type = 'application/json; charset=utf-8';
  ctx.body = Readable.from(pieces, { objectMode: false });
}

/** ok(ctx, data) where `data[field]` is a long string, written out in pieces. */
export function okWithLongString(ctx: Context, data: Record<string, unknown>, field: string): void {
  const value = data[field];
  if (typeof value !== 'string' || value.length <= PIECE_CHARS) {
    ctx.status = 200;
    ctx.body = envelope(200, 'SUCCESS', data);
    return;
  }
  const [before, after] = around(envelope(200, 'SUCCESS', { ...data, [field]: MARK }));
  send(ctx, (function* () {
    yield before;
    yield* stringPieces(value);
    yield after;
  })());
}

/**
 * ok(ctx, rows) where each row holds an array `field` of items: written a row's head and an item at a
 * time, so a piece is at most one item.
 */
export function okRowsOfItems(ctx: Context, rows: Record<string, unknown>[], field: string): void {
  const [head, tail] = around(envelope(200, 'SUCCESS', MARK));
  send(ctx, (function* () {
    yield `${head}[`;
    for (const [i, row] of rows.entries()) {
      const items = Array.isArray(row[field]) ? (row[field] as unknown[]) : null;
      if (!items) {
        yield (i ? ',' : '') + JSON.stringify(row);
        continue;
      }
      const [before, after] = around({ ...row, [field]: MARK });
      yield `${i ? ',' : ''}${before}[`;
      for (const [j, item] of items.entries()) yield (j ? ',' : '') + JSON.stringify(item);
      yield `]${after}`;
    }
    yield `]${tail}`;
  })());
}
