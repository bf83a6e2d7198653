// Per-flow-instance coordinator locks (`lock:flow-ins:{fiId}`). The hot path takes many at once in
// one Lua round trip (Redlock's single-instance semantics: SET NX PX, released by value); API actions
// (cancel, retry) wait for one through Redlock itself. Locks are held for one coordinator pass
// (milliseconds), well inside the TTL, so no automatic extension is needed. Values start with the
// holder's member id, so /admin/locks can say who holds what. A lock alone is not safety: every write
// made under it is also fenced by a row `version`.
import { randomBytes } from 'node:crypto';
import Redlock, { type Lock } from 'redlock';
import type { Redis } from '../infra/redis.js';
import { defineQueueCommands, type QueueCommands } from '../queue/scripts.js';

const DIRTY_TTL_MS = 60_000;

export type { Lock };

function namedRedlock(client: Redis, holder: string): Redlock {
  const r = new Redlock([client], { retryCount: 0, retryDelay: 25, retryJitter: 25, driftFactor: 0.01 });
  // Redlock's (private) value generator, replaced so the value names its holder.
  (r as unknown as { _random: () => string })._random = () => `${holder}|${randomBytes(8).toString('hex')}`;
  return r;
}

export class FlowLocks {
  private redlock: Redlock;
  private r: Redis & QueueCommands;
  /** This process's value for the locks it takes in batches (released by value, like Redlock's). */
  private batchValue: string;

  constructor(redis: Redis, private prefix: string, memberId: string, private ttlMs: number) {
    this.redlock = namedRedlock(redis, memberId);
    this.redlock.on('error', () => {}); // failed attempts are reported to the caller, not as events
    this.r = defineQueueCommands(redis);
    this.batchValue = `${memberId}|${randomBytes(8).toString('hex')}`;
  }

  key(fiId: number): string {
    return `${this.prefix}lock:flow-ins:${fiId}`;
  }

  dirtyKey(fiId: number): string {
    return `${this.prefix}dirty:flow-ins:${fiId}`;
  }

  private keysOf(fiIds: number[]): string[] {
    return [...fiIds.map((id) => this.key(id)), ...fiIds.map((id) => this.dirtyKey(id))];
  }

  /**
   * The hot path's lock: many flow instances in one round trip (lockFlows.lua, Redlock's semantics).
   * With `markBusy`, an instance whose lock is taken gets a dirty mark, which its holder sees on release
   * and acts on: use it only once the change that needs an advance is committed.
   */
  async tryLockMany(fiIds: number[], markBusy: boolean): Promise<number[]> {
    if (!fiIds.length) return [];
    const got = await this.r.tsqLockFlows(fiIds.length * 2, ...this.keysOf(fiIds), this.batchValue, this.ttlMs, markBusy ? '1' : '0', DIRTY_TTL_MS);
    return fiIds.filter((_, i) => got[i] === 1);
  }

  /** Releases locks taken with tryLockMany; returns the instances marked dirty meanwhile. */
  async unlockMany(fiIds: number[]): Promise<number[]> {
    if (!fiIds.length) return [];
    const dirty = await this.r.tsqUnlockFlows(fiIds.length * 2, ...this.keysOf(fiIds), this.batchValue);
    return dirty.map((i) => fiIds[i - 1]);
  }

  /** Waits up to `waitMs` for the lock (used by API actions such as cancel and retry). */
  async acquire(fiId: number, waitMs = 3000): Promise<Lock | null> {
    const attempts = Math.max(1, Math.ceil(waitMs / 40));
    try {
      return await this.redlock.acquire([this.key(fiId)], this.ttlMs, { retryCount: attempts, retryDelay: 30, retryJitter: 20 });
    } catch {
      return null;
    }
  }

  async release(lock: Lock): Promise<void> {
    try {
      await lock.release();
    } catch {
      // Already expired: someone else may hold it now, and the version fence protects the data.
    }
  }
}
