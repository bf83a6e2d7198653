// What one round trip to MySQL may carry. The server refuses a packet over its max_allowed_packet (and
// drops the connection), so the sizes the engine writes are bounded by it, read once at start-up: a
// batch of task results is split by bytes as well as rows, and an output or a filled-in content that
// could not be written in one statement is refused before anything is written.
import type { Knex } from './db.js';

/** The output and rendered_content columns (MEDIUMTEXT). */
export const MEDIUMTEXT_BYTES = 16_777_215;
/** Room in a round trip for everything but the big values: SQL text, ids, times, error messages, the advance. */
const OVERHEAD_BYTES = 256 * 1024;

export interface WriteLimits {
  /** The server's max_allowed_packet. */
  maxPacketBytes: number;
  /**
   * Bytes of outputs one round trip may carry (UTF-8, before escaping): escaping can double them (every
   * quote, backslash and newline), so half of what the packet leaves past the overhead.
   */
  batchBytes: number;
  /** TASK_OUTPUT_MAX_BYTES, or less when one statement could not carry that much. */
  outputMaxBytes: number;
  /** A filled-in content (UTF-8): the column, or less when one statement could not carry that much. */
  contentMaxBytes: number;
}

export function writeLimits(maxPacketBytes: number, outputMaxBytes: number): WriteLimits {
  const batchBytes = Math.max(32 * 1024, Math.floor((maxPacketBytes - OVERHEAD_BYTES) / 2));
  return {
    maxPacketBytes,
    batchBytes,
    outputMaxBytes: Math.min(outputMaxBytes, batchBytes),
    contentMaxBytes: Math.min(MEDIUMTEXT_BYTES, batchBytes),
  };
}

/** The server's max_allowed_packet (the session's, which the server sets from the global one). */
export async function readMaxPacket(knex: Knex): Promise<number> {
  const res = (await knex.raw('SELECT @@max_allowed_packet AS p')) as unknown as [{ p: number | string }[]];
  return Number(res[0][0].p);
}

/**
 * UTF-8 bytes of `text` when it may be over `max`, else 0: a UTF-16 unit is at most 3 UTF-8 bytes, so
 * short texts (nearly all) are not counted at all.
 */
export function bytesIfOver(text: string | null | undefined, max: number): number {
  if (!text || text.length * 3 <= max) return 0;
  const n = Buffer.byteLength(text, 'utf8');
  return n > max ? n : 0;
}

/** UTF-8 bytes of `text`, or an upper bound (3 per UTF-16 unit) when that is small: cheap for short texts. */
export function bytesAtMost(text: string | null | undefined): number {
  if (!text) return 0;
  return text.length <= 4096 ? text.length * 3 : Buffer.byteLength(text, 'utf8');
}
