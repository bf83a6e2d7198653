// The Redis work queue (see types.ts for the contract). Every step that touches more than one key is
// one Lua script in src/redis/lua/ (loaded by redis/scripts.ts); this class only names the keys and converts ids.
//
// Keys (names and hash tags in redis/keys.ts):
//   ready           sorted set  id → epoch ms (Redis clock) it may run
//   inflight        sorted set  id → lease deadline, epoch ms
//   inflight:owner  hash        id → owner (`memberId|claimToken`: who holds the lease, and which claim)
//   inflight:since  hash        id → claimed-at, epoch ms
//   leader          the leader lease: the reaper's operations are fenced by its value
//   ready:p1 … :p9  sorted sets as ready, for priorities 1-9 (claimed first, highest first); empty
//                   sets cost a claim next to nothing, so unprioritised work pays ~nothing for them
//   limited, limits, limits:waiting, {task:<id>}:slots|rate|waiting
//                   flow control (task concurrency and rate limits): see lua/limits.lib.lua
//   wake            pub/sub channel, published to when ids are added to ready
//   member:{id}     heartbeat keys (cluster/membership.ts): a lease whose member's key is gone is an orphan
import { closeSubscriber, duplicateConnection, type Redis } from '../infra/redis.js';
import { defineScripts, type ScriptCommands } from '../redis/scripts.js';
import { memberKey, queueKeys, taskLimitKeys, type QueueKeys } from '../redis/keys.js';
import { ExternalQueues } from './externalQueues.js';
import { NotLeaderError, MAX_PRIORITY, type QueueItem, type TaskLimits, type LimitWait, type ClaimResult, type InflightEntry, type LeaderFence, type Lease, type Queue, type QueueStats } from './types.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Most ids of one task the leader's limit pump moves back to ready in one pass. */
const PUMP_MAX_PER_TASK = 1000;
/** How long a member keeps its copy of the limits table for WORKER enqueues (the leader syncs changes). */
const LIMITS_CACHE_MS = 1_000;

export class WorkQueue implements Queue {
  readonly keys: QueueKeys;
  private r: Redis & ScriptCommands;
  private sub: Redis | null = null;
  /** A wake-up arrived (or work may have been missed) since the last claim. */
  private woken = false;
  private closed = false;
  private waiters = new Set<() => void>();
  readonly external: ExternalQueues;
  /** The limits table as last read, for WORKER enqueues (their queues apply the limits: lua/wqClaim.lua). */
  private limitsCache: { at: number; table: Record<string, string> } = { at: 0, table: {} };

  constructor(private redis: Redis, private prefix: string) {
    this.r = defineScripts(redis);
    this.external = new ExternalQueues(redis, prefix);
    this.keys = queueKeys(prefix);
  }

  async enqueue(items: QueueItem[]): Promise<void> {
    if (!items.length) return;
    // WORKER task instances go to their external queue: a member's own worker never claims them.
    const external = items.some((i) => i.queue !== undefined) ? items.filter((i): i is typeof i & { queue: string } => i.queue !== undefined) : [];
    const own = external.length ? items.filter((i) => i.queue === undefined) : items;
    const argv: (string | number)[] = [...this.keys.readyP, this.keys.limited, this.keys.wake];
    for (const { tiId, delayMs, priority, taskId } of own) argv.push(idOf(tiId), Math.round(delayMs ?? 0), prio(priority), taskId === undefined ? '' : idOf(taskId));
    await Promise.all([own.length ? this.r.tsqEnqueue(this.keys.ready, this.keys.inflight, ...argv) : null, external.length ? this.enqueueExternal(external) : null]);
  }

  /** The limits a WORKER enqueue on this member carries for the task now (its copy, at most a second old). */
  cachedLimits(taskId: number): string | undefined {
    return this.limitsCache.table[taskId];
  }

  /** WORKER task instances: an item of a task with limits carries them to its queue (one HGETALL a second at most). */
  private async enqueueExternal(items: (QueueItem & { queue: string })[]): Promise<void> {
    if (Date.now() - this.limitsCache.at > LIMITS_CACHE_MS) this.limitsCache = { at: Date.now(), table: await this.redis.hgetall(this.keys.limits) };
    const table = this.limitsCache.table;
    const any = Object.keys(table).length > 0;
    await this.external.enqueue(any ? items.map((i) => (i.taskId !== undefined && table[i.taskId] ? { ...i, limits: table[i.taskId] } : i)) : items);
  }

  async claim(owner: string, max: number, leaseMs: number): Promise<ClaimResult> {
    // Cleared before asking: a wake-up that arrives while this claim is on its way stays noted.
    this.woken = false;
    const [nextDue, ids, priorities] = await this.r.tsqClaim(
      this.keys.ready, this.keys.inflight, this.keys.owner, this.keys.since, ...this.keys.readyP, this.keys.limited,
      owner, Math.max(0, Math.floor(max)), Math.round(leaseMs),
    );
    return { ids: ids.map(Number), priorities, nextDueInMs: nextDue < 0 ? null : nextDue };
  }

  async ackMany(leases: Lease[]): Promise<number> {
    if (!leases.length) return 0;
    const k = this.keys;
    return this.r.tsqAckMany(k.inflight, k.owner, k.since, k.ready, ...k.readyP, k.limited, k.wake, ...leases.flatMap((l) => [idOf(l.tiId), l.owner]));
  }

  async requeue(items: (Lease & { delayMs: number; priority?: number })[]): Promise<number> {
    if (!items.length) return 0;
    const k = this.keys;
    return this.r.tsqRequeue(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, k.wake, ...items.flatMap((i) => [idOf(i.tiId), i.owner, Math.round(i.delayMs), prio(i.priority)]));
  }

  async lease(tiIds: number[], owner: string, leaseMs: number): Promise<number> {
    if (!tiIds.length) return 0;
    const k = this.keys;
    return this.r.tsqLease(k.inflight, k.owner, k.since, owner, Math.round(leaseMs), ...tiIds.map(idOf));
  }

  async extend(leases: Lease[], leaseMs: number): Promise<Lease[]> {
    if (!leases.length) return [];
    const lost = await this.r.tsqExtend(this.keys.inflight, this.keys.owner, Math.round(leaseMs), ...leases.flatMap((l) => [idOf(l.tiId), l.owner]));
    return lost.map((pos) => leases[pos - 1]);
  }

  async expiredLeases(fence: LeaderFence, max: number): Promise<InflightEntry[]> {
    if (max < 1) return [];
    const k = this.keys;
    return entries(await fenced(this.r.tsqExpiredLeases(k.inflight, k.owner, k.since, k.leader, fence, Math.floor(max))));
  }

  async settleExpired(fence: LeaderFence, items: { entry: InflightEntry; requeue: boolean; priority?: number }[]): Promise<number> {
    if (!items.length) return 0;
    const k = this.keys;
    const argv = items.flatMap(({ entry, requeue, priority }) => [idOf(entry.tiId), entry.owner, entry.leaseDeadline, requeue ? '1' : '0', prio(priority)]);
    return fenced(this.r.tsqSettleExpired(k.ready, k.inflight, k.owner, k.since, k.leader, ...k.readyP, k.limited, fence, k.wake, ...argv));
  }

  async expireOrphans(fence: LeaderFence, minAgeMs: number): Promise<{ expired: number; goneMembers: string[] }> {
    const k = this.keys;
    // Who holds leases, then whose heartbeat is gone (the heartbeats share one slot, so one MGET),
    // then the fenced script: the heartbeats live in another slot than the queue (redis/keys.ts).
    const holders = await this.r.tsqLeaseHolders(k.owner);
    if (!holders.length) return { expired: 0, goneMembers: [] };
    const beats = await this.r.mget(...holders.map((m) => memberKey(this.prefix, m)));
    const goneMembers = holders.filter((_, i) => beats[i] === null);
    if (!goneMembers.length) return { expired: 0, goneMembers };
    const expired = await fenced(this.r.tsqExpireOrphans(k.inflight, k.owner, k.since, k.leader, fence, Math.round(minAgeMs), ...goneMembers));
    return { expired, goneMembers };
  }

  async remove(tiIds: number[]): Promise<void> {
    if (!tiIds.length) return;
    const k = this.keys;
    await this.r.tsqRemove(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, k.wake, ...tiIds.map(idOf));
  }

  async waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || this.woken || signal?.aborted) return;
    this.subscribe();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS));
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  async known(tiIds: number[]): Promise<Set<number>> {
    if (!tiIds.length) return new Set();
    const ids = await this.r.tsqKnown(this.keys.ready, this.keys.inflight, ...this.keys.readyP, this.keys.limited, ...tiIds.map(idOf));
    return new Set(ids.map(Number));
  }

  async stats(): Promise<QueueStats> {
    const [ready, dueNow, inflight, oldestWaitingMs] = await this.r.tsqStats(this.keys.ready, this.keys.inflight, ...this.keys.readyP);
    return { ready, dueNow, delayed: ready - dueNow, inflight, oldestWaitingMs };
  }

  async inflight(limit: number): Promise<InflightEntry[]> {
    if (limit < 1) return [];
    return entries(await this.r.tsqInflight(this.keys.inflight, this.keys.owner, this.keys.since, Math.floor(limit)));
  }

  async serverTime(): Promise<number> {
    const [sec, usec] = await this.redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }

  async pumpLimits(clean: boolean): Promise<number> {
    const k = this.keys;
    return this.r.tsqLimitPump(k.ready, ...k.readyP, k.limited, k.inflight, k.wake, PUMP_MAX_PER_TASK, clean ? '1' : '0');
  }

  async setLimits(limits: Map<number, TaskLimits>): Promise<{ added: number[]; changed: number[]; removed: number[] }> {
    const now = await this.redis.hgetall(this.keys.limits);
    const want = new Map([...limits].map(([taskId, l]) => [String(taskId), `${l.concurrency}:${l.rateMax}:${l.ratePerMs}`]));
    const added: number[] = [];
    const changed: number[] = [];
    const removed = Object.keys(now).filter((t) => !want.has(t)).map(Number);
    const set: string[] = [];
    for (const [t, v] of want) {
      if (now[t] === v) continue;
      (now[t] === undefined ? added : changed).push(Number(t));
      set.push(t, v);
    }
    if (set.length) await this.redis.hset(this.keys.limits, ...set);
    if (removed.length) await this.redis.hdel(this.keys.limits, ...removed.map(String));
    // Every pass, not only on a change: an enqueue from a member's older view may have written a copy.
    await this.external.syncLimits(want);
    return { added, changed, removed };
  }

  async leaseLimited(items: { tiId: number; taskId: number }[], owner: string, leaseMs: number): Promise<number[]> {
    if (!items.length) return [];
    const k = this.keys;
    const refused = await this.r.tsqLeaseLimited(k.inflight, k.owner, k.since, k.limited, owner, Math.round(leaseMs), ...items.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]));
    return refused.map(Number);
  }

  async markLimited(items: { tiId: number; taskId: number; queue?: string }[]): Promise<void> {
    const own = items.filter((i) => i.queue === undefined);
    const external = items.filter((i): i is typeof i & { queue: string } => i.queue !== undefined);
    if (external.length) await this.external.markLimited(external, await this.redis.hgetall(this.keys.limits));
    if (!own.length) return;
    await this.redis.hset(this.keys.limited, ...own.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]));
  }

  async limitedTasks(): Promise<Set<number>> {
    return new Set((await this.redis.hkeys(this.keys.limits)).map(Number));
  }

  async limitWaits(): Promise<LimitWait[]> {
    const [tasks, limits] = await Promise.all([this.redis.smembers(this.keys.limitsWaiting), this.redis.hgetall(this.keys.limits)]);
    const out: LimitWait[] = [];
    for (const t of tasks.slice(0, 1000)) {
      const k = taskLimitKeys(this.prefix, t);
      const [waiting, running] = await Promise.all([this.redis.zcard(k.waiting), this.redis.scard(k.slots)]);
      if (!waiting) continue;
      const [c, m, per] = (limits[t] ?? '').split(':').map(Number);
      out.push({ taskId: Number(t), waiting, running, limits: limits[t] ? { concurrency: c, rateMax: m, ratePerMs: per } : null });
    }
    return out.sort((a, b) => b.waiting - a.waiting);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const done of [...this.waiters]) done();
    const sub = this.sub;
    this.sub = null;
    await closeSubscriber(sub);
  }

  /** Wakes every waiter and notes the wake-up for the next caller until a claim. */
  private wake(): void {
    this.woken = true;
    for (const done of [...this.waiters]) done();
  }

  /**
   * Starts the subscriber connection once. Each time it (re)connects it subscribes to the wake channel
   * and then looks whether anything is already due: an enqueue published before the subscription was in
   * place (or while the connection was down) is not lost, it is seen by that check.
   */
  private subscribe(): void {
    if (this.sub || this.closed) return;
    const sub = duplicateConnection(this.redis, { autoResubscribe: false, enableAutoPipelining: false, lazyConnect: false });
    this.sub = sub;
    sub.on('message', (channel: string) => {
      if (channel === this.keys.wake) this.wake();
    });
    sub.on('error', () => {
      // ioredis reconnects by itself; waiters still return at their timeout meanwhile.
    });
    sub.on('ready', () => {
      sub
        .subscribe(this.keys.wake)
        .then(async () => {
          if (this.closed) return;
          const s = await this.stats();
          if (s.dueNow > 0) this.wake();
        })
        .catch(() => {
          // the next 'ready' tries again
        });
    });
  }
}

/** A leader-only script's NOTLEADER error as a NotLeaderError. */
async function fenced<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (/^NOTLEADER/.test((e as Error).message ?? '')) throw new NotLeaderError('not the leader: the leader lease is held by another member, or lost');
    throw e;
  }
}

/** A priority as the scripts take it: an integer 0-9 (anything else is a caller's bug). */
function prio(p: number | undefined): number {
  if (p === undefined) return 0;
  if (!Number.isInteger(p) || p < 0 || p > MAX_PRIORITY) throw new TypeError(`priority must be an integer 0-${MAX_PRIORITY}, got ${p}`);
  return p;
}

function idOf(tiId: number): string {
  if (!Number.isSafeInteger(tiId)) throw new TypeError(`task-instance id must be an integer, got ${tiId}`);
  return String(tiId);
}

function entries(flat: (string | null)[]): InflightEntry[] {
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
