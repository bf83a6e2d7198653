// The queue's values as its Lua scripts take and answer them (workQueue.ts, queueLimits.ts): ids and
// priorities are checked on the way in, so a caller's bug throws here instead of reaching Redis as a
// member of a sorted set; flat lists and NOTLEADER errors are converted on the way out.
import { NotLeaderError, MAX_PRIORITY, type InflightEntry, type QueueItem } from './types.js';

/** An item of the members' own queue (not of a WORKER task instance's external queue). */
export type Own = QueueItem & { queue?: undefined };

/** A leader-only script's NOTLEADER error as a NotLeaderError. */
export async function fenced<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (/^NOTLEADER/.test((e as Error).message ?? '')) throw new NotLeaderError('not the leader: the leader lease is held by another member, or lost');
    throw e;
  }
}

/** A priority as the scripts take it: an integer 0-9 (anything else is a caller's bug). */
export function prio(p: number | undefined): number {
  if (p === undefined) return 0;
  if (!Number.isInteger(p) || p < 0 || p > MAX_PRIORITY) throw new TypeError(`priority must be an integer 0-${MAX_PRIORITY}, got ${p}`);
  return p;
}

export function idOf(tiId: number): string {
  if (!Number.isSafeInteger(tiId)) throw new TypeError(`task-instance id must be an integer, got ${tiId}`);
  return String(tiId);
}

/** A script's flat list id, owner, claimedAt, leaseDeadline, … as entries. */
export function entries(flat: (string | null)[]): InflightEntry[] {
  const out: InflightEntry[] = [];
  for (let i = 0; i + 3 < flat.length; i += 4) {
    out.push({
      tiId: Number(flat[i]),
      owner: flat[i + 1] || '',
      claimedAt: Number(flat[i + 2] || 0),
      leaseDeadline: Number(flat[i + 3]),
    });
  }
  return out;
}
