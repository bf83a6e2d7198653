// The Redis work queue (see types.ts for the contract). Every step that touches more than one key is
// one Lua script in src/redis/lua/ (loaded by redis/scripts.ts); this class only names the keys and converts ids.
// Its parts: shardRouter.ts (which shard each call goes to), queueLimits.ts (flow control),
// wakeups.ts (idle workers' wait for work), scriptArgs.ts (ids and answers as the scripts take them).
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
//                   flow control (task concurrency and rate limits): see queueLimits.ts, lua/limits.lib.lua
//   wake            pub/sub channel, published to when ids are added to ready
//   member:{id}     heartbeat keys (cluster/membership.ts): a lease whose member's key is gone is an orphan
//
// Shards (REDIS_QUEUE_SHARDS, issue 20): the keys above exist once per shard, each shard with a hash tag
// of its own (`{q:<n>}`), so on a Redis Cluster the queue's load is spread over the masters. One shard
// (the default on one Redis) is the single queue `{q}`, and every method below makes the very calls it
// made before there were shards. Where each call goes with several: shardRouter.ts. Besides that, the
// leader's scripts (reaper) run on every shard; each shard checks its copy of the leader lease, written
// by the leader with the lease (copyFence); reads (stats, inflight, known) sum every shard.
import { isCluster, type Redis } from '../infra/redis.js';
import { defineScripts, type ScriptCommands } from '../redis/scripts.js';
import { memberKey, taskShard, type QueueKeys } from '../redis/keys.js';
import { earliest } from './shards.js';
import { ExternalQueues } from './externalQueues.js';
import { QueueLimits } from './queueLimits.js';
import { entries, fenced, idOf, prio, type Own } from './scriptArgs.js';
import { ShardRouter } from './shardRouter.js';
import { Wakeups } from './wakeups.js';
import type { QueueItem, TaskLimits, LimitWait, ClaimResult, InflightEntry, LeaderFence, Lease, Queue, QueueStats } from './types.js';

/** Shards of a queue on a Redis Cluster unless REDIS_QUEUE_SHARDS says otherwise (on one Redis: 1). */
export const DEFAULT_CLUSTER_SHARDS = 16;

export class WorkQueue implements Queue {
  /** The keys of shard 0 (of a queue of one shard: the queue's). */
  readonly keys: QueueKeys;
  /** How many shards the queue has (every member of a cluster must agree: REDIS_QUEUE_SHARDS). */
  readonly shards: number;
  /** Every shard's keys, by shard number. */
  readonly shardKeys: QueueKeys[];
  private r: Redis & ScriptCommands;
  readonly external: ExternalQueues;
  private readonly router: ShardRouter;
  private readonly limits: QueueLimits;
  private readonly wakeups: Wakeups;

  constructor(private redis: Redis, private prefix: string, shards?: number | null) {
    this.r = defineScripts(redis);
    this.external = new ExternalQueues(redis, prefix);
    this.shards = shards ?? (isCluster(redis) ? DEFAULT_CLUSTER_SHARDS : 1);
    this.router = new ShardRouter(prefix, this.shards);
    this.shardKeys = this.router.shardKeys;
    this.keys = this.shardKeys[0];
    this.limits = new QueueLimits(redis, this.r, prefix, this.router, this.external, (n, items) => this.enqueueOn(n, items));
    this.wakeups = new Wakeups(redis, this.shardKeys, this.router.hints, async () => (await this.stats()).dueNow > 0);
  }

  async enqueue(items: QueueItem[]): Promise<void> {
    if (!items.length) return;
    // WORKER task instances go to their external queue: a member's own worker never claims them.
    const external = items.some((i) => i.queue !== undefined) ? items.filter((i): i is typeof i & { queue: string } => i.queue !== undefined) : [];
    const own = (external.length ? items.filter((i) => i.queue === undefined) : items) as Own[];
    await Promise.all([own.length ? this.enqueueOwn(own) : null, external.length ? this.enqueueExternal(external) : null]);
  }

  /** Enqueues in each item's shard; ids a shard answers back (their task has limits) go to their task's shard. */
  private async enqueueOwn(items: Own[]): Promise<void> {
    if (this.shards === 1) {
      await this.enqueueOn(0, items);
      return;
    }
    const answered = await Promise.all(this.router.byShard(items, this.limits.enqueueShardOf()).map(([n, group]) => this.enqueueOn(n, group)));
    const back = new Set(answered.flat());
    if (!back.size) return;
    const moved = items.filter((i) => back.has(i.tiId) && i.taskId !== undefined);
    await Promise.all(this.router.byShard(moved, (i) => taskShard(i.taskId!, this.shards)).map(([n, group]) => this.enqueueOn(n, group)));
  }

  /** One enqueue script on one shard; answers the ids it sent back to their task's shard. */
  private async enqueueOn(n: number, items: Own[]): Promise<number[]> {
    const k = this.shardKeys[n];
    const argv: (string | number)[] = [...k.readyP, k.limited, k.wake, n, this.shards];
    for (const { tiId, delayMs, priority, taskId } of items) argv.push(idOf(tiId), Math.round(delayMs ?? 0), prio(priority), taskId === undefined ? '' : idOf(taskId));
    const [added, back] = await this.r.tsqEnqueue(k.ready, k.inflight, ...argv);
    // This member's own claims need not wait for the wake-up to come back to it.
    if (added > 0) this.router.noteDue(n, items);
    return back.map(Number);
  }

  /** The limits a WORKER enqueue on this member carries for the task now (its copy, at most a second old). */
  cachedLimits(taskId: number): string | undefined {
    return this.limits.cached(taskId);
  }

  private async enqueueExternal(items: (QueueItem & { queue: string })[]): Promise<void> {
    await this.external.enqueue(await this.limits.withLimits(items));
  }

  async claim(owner: string, max: number, leaseMs: number): Promise<ClaimResult> {
    this.wakeups.claiming();
    const want = Math.max(0, Math.floor(max));
    return this.router.claim(owner, want, (n, quota) => {
      const k = this.shardKeys[n];
      return this.r.tsqClaim(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, owner, quota, Math.round(leaseMs));
    });
  }

  async ackMany(leases: Lease[]): Promise<number> {
    if (!leases.length) return 0;
    const counts = await Promise.all(this.router.byShard(leases, (l) => this.router.ofLease(l)).map(([n, group]) => {
      const k = this.shardKeys[n];
      this.limits.freed(n);
      return this.r.tsqAckMany(k.inflight, k.owner, k.since, k.ready, ...k.readyP, k.limited, k.wake, ...group.flatMap((l) => [idOf(l.tiId), l.owner]));
    }));
    this.router.ended(leases);
    return counts.reduce((a, b) => a + b, 0);
  }

  async requeue(items: (Lease & { delayMs: number; priority?: number })[]): Promise<number> {
    if (!items.length) return 0;
    const counts = await Promise.all(this.router.byShard(items, (l) => this.router.ofLease(l)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const c = await this.r.tsqRequeue(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, k.wake, ...group.flatMap((i) => [idOf(i.tiId), i.owner, Math.round(i.delayMs), prio(i.priority)]));
      if (c > 0) this.router.noteDue(n, group);
      return c;
    }));
    this.router.ended(items);
    return counts.reduce((a, b) => a + b, 0);
  }

  async lease(tiIds: number[], owner: string, leaseMs: number): Promise<number> {
    if (!tiIds.length) return 0;
    const counts = await Promise.all(this.router.byShard(tiIds, (id) => this.router.ofLease({ tiId: id, owner })).map(([n, ids]) => {
      const k = this.shardKeys[n];
      return this.r.tsqLease(k.inflight, k.owner, k.since, owner, Math.round(leaseMs), ...ids.map(idOf));
    }));
    return counts.reduce((a, b) => a + b, 0);
  }

  async extend(leases: Lease[], leaseMs: number): Promise<Lease[]> {
    if (!leases.length) return [];
    this.router.prune();
    const lost = (await Promise.all(this.router.byShard(leases, (l) => this.router.ofLease(l)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const positions = await this.r.tsqExtend(k.inflight, k.owner, Math.round(leaseMs), ...group.flatMap((l) => [idOf(l.tiId), l.owner]));
      return positions.map((pos) => group[pos - 1]);
    }))).flat();
    this.router.ended(lost);
    return lost;
  }

  async expiredLeases(fence: LeaderFence, max: number): Promise<InflightEntry[]> {
    if (max < 1) return [];
    const lists = await fenced(Promise.all(this.shardKeys.map(async (k, n) => {
      const list = entries(await this.r.tsqExpiredLeases(k.inflight, k.owner, k.since, k.leader, fence, Math.floor(max)));
      if (this.shards > 1) for (const e of list) e.shard = n;
      return list;
    })));
    return earliest(lists, Math.floor(max));
  }

  async settleExpired(fence: LeaderFence, items: { entry: InflightEntry; requeue: boolean; priority?: number }[]): Promise<number> {
    if (!items.length) return 0;
    const counts = await fenced(Promise.all(this.router.byShard(items, (i) => i.entry.shard ?? this.router.home(i.entry.tiId)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const argv = group.flatMap(({ entry, requeue, priority }) => [idOf(entry.tiId), entry.owner, entry.leaseDeadline, requeue ? '1' : '0', prio(priority)]);
      const c = await this.r.tsqSettleExpired(k.ready, k.inflight, k.owner, k.since, k.leader, ...k.readyP, k.limited, fence, k.wake, ...argv);
      if (c > 0) this.router.hints.due(n);
      return c;
    })));
    return counts.reduce((a, b) => a + b, 0);
  }

  async copyFence(fence: LeaderFence, ttlMs: number, elected: boolean): Promise<void> {
    if (this.shards === 1) return;
    await Promise.all(this.shardKeys.map((k) => this.r.tsqFenceCopy(k.leader, fence, Math.round(ttlMs), elected ? '1' : '0')));
  }

  async expireOrphans(fence: LeaderFence, minAgeMs: number): Promise<{ expired: number; goneMembers: string[] }> {
    // Who holds leases (per shard), then whose heartbeat is gone (the heartbeats share one slot, so one
    // MGET), then the fenced script on each shard where a gone member holds leases: the heartbeats live
    // in another slot than the queue (redis/keys.ts).
    const holdersOf = await Promise.all(this.shardKeys.map((k) => this.r.tsqLeaseHolders(k.owner)));
    const holders = [...new Set(holdersOf.flat())];
    if (!holders.length) return { expired: 0, goneMembers: [] };
    const beats = await this.r.mget(...holders.map((m) => memberKey(this.prefix, m)));
    const goneMembers = holders.filter((_, i) => beats[i] === null);
    if (!goneMembers.length) return { expired: 0, goneMembers };
    const gone = new Set(goneMembers);
    const counts = await fenced(Promise.all(this.shardKeys.map((k, n) => {
      const here = holdersOf[n].filter((m) => gone.has(m));
      return here.length ? this.r.tsqExpireOrphans(k.inflight, k.owner, k.since, k.leader, fence, Math.round(minAgeMs), ...here) : 0;
    })));
    return { expired: counts.reduce((a, b) => a + b, 0), goneMembers };
  }

  async remove(tiIds: number[]): Promise<void> {
    if (!tiIds.length) return;
    await this.router.find(tiIds, async (n, ids) => {
      const k = this.shardKeys[n];
      this.limits.freed(n);
      return (await this.r.tsqRemove(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, k.wake, ...ids.map(idOf))).map(Number);
    });
  }

  waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return this.wakeups.wait(timeoutMs, signal);
  }

  async known(tiIds: number[]): Promise<Set<number>> {
    if (!tiIds.length) return new Set();
    return this.router.find(tiIds, async (n, ids) => {
      const k = this.shardKeys[n];
      return (await this.r.tsqKnown(k.ready, k.inflight, ...k.readyP, k.limited, ...ids.map(idOf))).map(Number);
    });
  }

  async stats(): Promise<QueueStats> {
    const each = await Promise.all(this.shardKeys.map((k) => this.r.tsqStats(k.ready, k.inflight, ...k.readyP)));
    let [ready, dueNow, inflight, oldestWaitingMs] = [0, 0, 0, 0];
    for (const [r, d, i, o] of each) {
      ready += r;
      dueNow += d;
      inflight += i;
      oldestWaitingMs = Math.max(oldestWaitingMs, o);
    }
    return { ready, dueNow, delayed: ready - dueNow, inflight, oldestWaitingMs };
  }

  async inflight(limit: number): Promise<InflightEntry[]> {
    if (limit < 1) return [];
    const lists = await Promise.all(this.shardKeys.map(async (k) => entries(await this.r.tsqInflight(k.inflight, k.owner, k.since, Math.floor(limit)))));
    return earliest(lists, Math.floor(limit));
  }

  async serverTime(): Promise<number> {
    const [sec, usec] = await this.redis.time();
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  }

  // Flow control: queueLimits.ts.
  pumpLimits(clean: boolean): Promise<number> {
    return this.limits.pump(clean);
  }

  setLimits(limits: Map<number, TaskLimits>): Promise<{ added: number[]; changed: number[]; removed: number[] }> {
    return this.limits.set(limits);
  }

  leaseLimited(items: { tiId: number; taskId: number }[], owner: string, leaseMs: number): Promise<number[]> {
    return this.limits.lease(items, owner, leaseMs);
  }

  markLimited(items: { tiId: number; taskId: number; queue?: string }[]): Promise<void> {
    return this.limits.mark(items);
  }

  limitedTasks(): Promise<Set<number>> {
    return this.limits.limitedTasks();
  }

  limitWaits(): Promise<LimitWait[]> {
    return this.limits.waits();
  }

  close(): Promise<void> {
    return this.wakeups.close();
  }
}
