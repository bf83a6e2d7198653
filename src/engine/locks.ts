// Per-flow-instance coordinator locks (`lock:flow-ins:{fiId}`, redis/keys.ts). The hot path takes many
// at once in one Lua round trip (on a Redis Cluster, one per hash slot: a script's keys share a slot) (Redlock's single-instance semantics: SET NX PX, released by value); API actions
// (cancel, retry) wait for one through Redlock itself. Locks are held for one coordinator pass
// (milliseconds), well inside the TTL, so no automatic extension is needed. A lock alone is not safety:
// every write made under it is also fenced by a row `version`.
//
// Every pass takes its locks with a value of its own (`memberId|random`, so /admin/locks can say who
// holds what), which makes three things safe: a release frees only the locks of that pass; a release
// that finds a lock no longer carrying its value (it expired mid-pass) reports the instance as one to
// advance again, since whoever took the lock meanwhile may have looked before our commit; and a lock
// request Redis answers after we stopped waiting (a slow or frozen Redis) is released as soon as the
// answer comes, instead of blocking the instance until its TTL.
import type Redlock from 'redlock';
import type { Lock } from 'redlock';
import { isCluster, scanKeys, type Redis } from '../infra/redis.js';
import { flowDirtyKey, flowLockKey, lockPattern } from '../redis/keys.js';
import { keySlot } from '../redis/slot.js';
import type { Logger } from '../infra/logger.js';
import { REDIS_AFTER_COMMIT_MS, redisInTime, withTimeout } from '../infra/timeout.js';
import { evalVariadic } from '../redis/scripts.js';
import { tokenSource } from '../infra/tokens.js';
import { holderOf, namedRedlock } from '../redis/redlock.js';

const DIRTY_TTL_MS = 60_000;

export type { Lock };

/** Locks asked for, for one pass. Nothing here rejects: Redis trouble means "no locks" and is logged. */
export interface LockRequest {
  /** The instances whose lock the pass got ([] when Redis failed or did not answer in time). */
  granted: Promise<number[]>;
  /** After `granted` settled: why the request failed, or null when Redis answered. */
  error(): unknown;
  /** Releases what was granted; resolves to the instances to advance again (marked dirty, or lock lost). */
  release(): Promise<number[]>;
}

export interface LockOptions {
  /**
   * Leave a dirty mark where the lock is taken: its holder sees it on release and advances again. Only
   * once the change that needs an advance is committed.
   */
  markBusy: boolean;
  /** How long to wait for Redis's answer before going on without locks. */
  waitMs: number;
}

/** A lock as /admin/locks shows it. */
export interface LockInfo {
  key: string;
  /** The member id in the lock's value (`memberId|random`); the whole value if it has no '|'. */
  holder: string | null;
  /** Milliseconds left; null when the key has no expiry. */
  ttlMs: number | null;
}

export class FlowLocks {
  private redlock: Redlock;
  private r: Redis;
  /** Each pass's own lock value: `memberId|…`, so /admin/locks can say who holds what. */
  private nextValue: () => string;

  private readonly cluster: boolean;

  constructor(redis: Redis, private prefix: string, memberId: string, private ttlMs: number, private log: Logger) {
    this.cluster = isCluster(redis);
    this.nextValue = tokenSource(memberId);
    this.redlock = namedRedlock(redis, memberId, { retryCount: 0, retryDelay: 25, retryJitter: 25, driftFactor: 0.01 });
    this.redlock.on('error', () => {}); // failed attempts are reported to the caller, not as events
    this.r = redis;
  }

  key(fiId: number): string {
    return flowLockKey(this.prefix, fiId);
  }

  dirtyKey(fiId: number): string {
    return flowDirtyKey(this.prefix, fiId);
  }

  private keysOf(fiIds: number[]): string[] {
    return [...fiIds.map((id) => this.key(id)), ...fiIds.map((id) => this.dirtyKey(id))];
  }

  /** The instances in groups one script call may take: all of them on standalone Redis, one group per slot on a cluster. */
  private bySlot(fiIds: number[]): number[][] {
    if (!this.cluster || fiIds.length < 2) return [fiIds];
    const groups = new Map<number, number[]>();
    for (const id of fiIds) {
      const slot = keySlot(this.key(id));
      const g = groups.get(slot);
      if (g) g.push(id);
      else groups.set(slot, [id]);
    }
    return [...groups.values()];
  }

  /** The hot path's locks: many flow instances in one round trip (lockFlows.lua). */
  request(fiIds: number[], opts: LockOptions): LockRequest {
    if (!fiIds.length) return { granted: Promise.resolve([]), error: () => null, release: async () => [] };
    const value = this.nextValue();
    let failure: unknown = null;
    const parts = this.bySlot(fiIds).map((ids) => {
      let gaveUp = false;
      const call = evalVariadic<number[]>(this.r, 'lockFlows', this.keysOf(ids), [value, this.ttlMs, opts.markBusy ? '1' : '0', DIRTY_TTL_MS])
        .then((got) => ids.filter((_, i) => got[i] === 1));
      // An answer that comes after we gave up: free what it got at once.
      call.then((got) => (gaveUp && got.length ? this.unlock(got, value) : []), () => []).catch(() => {});
      return withTimeout(call, opts.waitMs, 'taking flow-instance locks').catch((e: unknown) => {
        failure ??= e;
        gaveUp = true;
        return [] as number[];
      });
    });
    const granted = Promise.all(parts).then((got) => {
      if (failure) this.log.warn({ err: failure, fiIds: fiIds.length > 20 ? `${fiIds.length} instances` : fiIds }, 'flow locks unavailable: going on without them');
      if (parts.length === 1) return got[0];
      const held = new Set(got.flat());
      return fiIds.filter((id) => held.has(id));
    });
    return {
      granted,
      error: () => failure,
      release: async () => {
        const got = await granted;
        if (!got.length) return [];
        try {
          return await this.unlock(got, value);
        } catch (e) {
          // The locks expire by themselves; advancing again is what makes sure nothing is missed.
          this.log.warn({ err: e }, 'releasing flow locks failed; they expire on their own');
          return got;
        }
      },
    };
  }

  private async unlock(fiIds: number[], value: string): Promise<number[]> {
    const parts = await Promise.all(
      this.bySlot(fiIds).map(async (ids) => {
        const again = await withTimeout(evalVariadic<number[]>(this.r, 'unlockFlows', this.keysOf(ids), [value]), REDIS_AFTER_COMMIT_MS, 'releasing flow locks');
        return again.map((i) => ids[i - 1]);
      }),
    );
    return parts.flat();
  }

  /** Every lock key (SCAN, never KEYS; every master of a cluster), with holder and TTL, sorted by key. */
  async list(limit: number): Promise<LockInfo[]> {
    const unique = (await scanKeys(this.r, lockPattern(this.prefix), limit)).sort().slice(0, limit);
    if (!unique.length) return [];
    // One command per key (auto-pipelined): a cluster refuses a pipeline whose keys span nodes.
    const res = await Promise.all(unique.map((k) => Promise.all([this.r.get(k).catch(() => null), this.r.pttl(k)])));
    const out: LockInfo[] = [];
    unique.forEach((key, i) => {
      const [value, pttl] = res[i];
      if (pttl === -2) return; // expired between SCAN and now
      out.push({ key, holder: value === null ? null : holderOf(value), ttlMs: pttl < 0 ? null : pttl });
    });
    return out;
  }

  /** Waits up to `waitMs` for the lock (API actions such as cancel and retry); null when it is busy. */
  async acquire(fiId: number, waitMs = 3000): Promise<Lock | null> {
    const attempts = Math.max(1, Math.ceil(waitMs / 40));
    // The bound also covers a Redis that does not answer at all (Redlock has no timeout of its own):
    // then this throws UnavailableError (a 503 for the API's caller).
    const attempt = this.redlock.acquire([this.key(fiId)], this.ttlMs, { retryCount: attempts, retryDelay: 30, retryJitter: 20 }).then(
      (lock) => lock,
      () => null, // busy all along
    );
    return redisInTime(attempt, waitMs + 1000, 'taking a flow-instance lock');
  }

  async release(lock: Lock): Promise<void> {
    try {
      await withTimeout(lock.release(), 2000, 'releasing a flow-instance lock');
    } catch {
      // Already expired, or Redis is away: the lock expires by itself, and the version fence protects the data.
    }
  }
}
