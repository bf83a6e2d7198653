// Leadership: one member at a time holds the Redlock lease `leader` (redis/keys.ts; TTL LEADER_TTL_MS).
// On a Redis Cluster the lease is one key on the master of its slot (`{q}`: a queue of one shard's, so the
// reaper's scripts can check it atomically with the queue; a queue of several shards gets a copy of its
// value in each shard, see copyFence): Redlock on one node, see README "Redis Cluster".
// The holder extends it on its own timer every ttl/3; the others try to take it every ttl/3, so a dead
// leader's lease runs out within one TTL and is taken within ttl/3 after that (< 2 × TTL in all).
// Redlock's `using()` auto-extension is not used: in 5.0.0-beta.2 it can keep running a routine whose
// lock was already lost. Here an extension that fails, or a lease whose local expiry passes before it
// could be extended (a stalled process, a Redis that does not answer), is lost leadership: the duties
// are stopped at once. The lease's value starts with `memberId|` (as the flow locks', see
// redis/redlock.ts), so anyone can read who leads.
import type Redlock from 'redlock';
import type { Lock } from 'redlock';
import type { Services } from '../services.js';
import { withTimeout } from './util.js';
import { holderOf, namedRedlock } from '../redis/redlock.js';
import { leaderKey } from '../redis/keys.js';

export interface LeaseEvents {
  onElected(): void;
  onLost(reason: string): void;
}

export class LeaderLease {
  private readonly redlock: Redlock;
  private lock: Lock | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private halted = false;
  readonly key: string;

  constructor(private s: Services, private events: LeaseEvents) {
    this.key = leaderKey(s.config.redisPrefix);
    this.redlock = namedRedlock(s.redis, s.memberId, { retryCount: 0, driftFactor: 0.01 });
    this.redlock.on('error', () => {}); // a refused attempt is the normal case for non-leaders
  }

  private get ttlMs(): number {
    return this.s.config.leaderTtlMs;
  }

  /** Tries once now (so a lone member leads as soon as it starts), then keeps trying / extending. */
  async start(): Promise<void> {
    await this.tick();
  }

  /** True while this member holds a lease that has not expired by its own clock. */
  isLeader(): boolean {
    return this.lock !== null && this.lock.expiration > Date.now();
  }

  /**
   * The lease's value while this member leads, else null: leader-only Redis operations pass it, and the
   * scripts check it against the lease atomically (a stale leader's late command does nothing).
   */
  fence(): string | null {
    return this.isLeader() ? this.lock!.value : null;
  }

  /** Who holds the lease now (from Redis, so any member can answer) and how long it has left. */
  async current(): Promise<{ memberId: string | null; ttlMs: number }> {
    const res = await this.s.redis.multi().get(this.key).pttl(this.key).exec();
    const value = (res?.[0]?.[1] as string | null) ?? null;
    const ttl = Number(res?.[1]?.[1] ?? -2);
    if (!value) return { memberId: null, ttlMs: 0 };
    return { memberId: holderOf(value), ttlMs: Math.max(0, ttl) };
  }

  private schedule(): void {
    if (this.halted) return;
    this.tickTimer = setTimeout(() => void this.tick(), Math.max(50, Math.floor(this.ttlMs / 3)));
  }

  private tick(): Promise<void> {
    this.tickTimer = null;
    this.ticking = (this.lock ? this.extend() : this.acquire()).finally(() => {
      this.ticking = null;
      this.schedule();
    });
    return this.ticking;
  }

  private async acquire(): Promise<void> {
    let lock: Lock;
    try {
      lock = await this.redlock.acquire([this.key], this.ttlMs);
    } catch {
      return; // someone else leads (or Redis is away): try again next tick
    }
    if (this.halted) {
      await lock.release().catch(() => {});
      return;
    }
    this.hold(lock);
    await this.copyFence(lock, true);
    this.s.log.info({ ttlMs: this.ttlMs }, 'elected leader');
    this.events.onElected();
  }

  private async extend(): Promise<void> {
    const held = this.lock!;
    if (held.expiration <= Date.now()) return this.lose('the lease expired before it could be extended');
    try {
      const next = await this.redlock.extend(held, this.ttlMs);
      if (this.lock !== held) {
        // Lost meanwhile (the expiry timer fired while the call hung): do not lead on a late answer.
        await next.release().catch(() => {});
        return;
      }
      this.hold(next);
      await this.copyFence(next, false);
    } catch (e) {
      if (this.lock === held) this.lose(`the lease could not be extended: ${(e as Error).message}`);
    }
  }

  /**
   * A queue of several shards checks the lease in each shard's copy of it (queue/workQueue.ts): written
   * with every election and extension. One that fails is written again at the next extension (ttl/3);
   * meanwhile the reaper's scripts on that shard refuse (NotLeaderError) and do nothing.
   */
  private async copyFence(lock: Lock, elected: boolean): Promise<void> {
    await this.s.queue.copyFence(lock.value, this.ttlMs, elected).catch((e) => this.s.log.warn({ err: e }, 'copying the leader lease into the queue\'s shards failed'));
  }

  /** Keeps the lock and arms a timer at its local expiry: if no extension came by then, leadership is over. */
  private hold(lock: Lock): void {
    this.lock = lock;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = setTimeout(() => {
      if (this.lock === lock) this.lose('the lease expired before it could be extended');
    }, Math.max(0, lock.expiration - Date.now()));
  }

  private lose(reason: string): void {
    const lock = this.lock;
    if (!lock) return;
    this.lock = null;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    this.s.log.warn({ reason }, 'leadership lost');
    this.events.onLost(reason);
    // If the value is still ours (e.g. a Redis error, not a takeover), free it so another member need not wait.
    void lock.release().catch(() => {});
  }

  /** Stops trying to lead; the lease, if held, stays until release(). */
  async halt(): Promise<void> {
    this.halted = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
    if (this.ticking) await withTimeout(this.ticking, 3_000).catch(() => {});
  }

  /** Gives the lease up now, so another member takes over on its next try instead of after the TTL. */
  async release(): Promise<void> {
    const lock = this.lock;
    this.lock = null;
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (lock) await withTimeout(lock.release(), 2_000, 'releasing the leader lease').catch(() => {});
  }
}
