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
//
// Shards (REDIS_QUEUE_SHARDS, issue 20): the keys above exist once per shard, each shard with a hash tag
// of its own (`{q:<n>}`), so on a Redis Cluster the queue's load is spread over the masters. One shard
// (the default on one Redis) is the single queue `{q}`, and every method below makes the very calls it
// made before there were shards. With several:
// - an id lives in its home shard (tiId mod shards), but an id of a task with limits lives in its task's
//   shard (taskId mod shards), with the task's limit keys: its claim applies them atomically. Each shard
//   holds a copy of the limits table (the leader writes it); an enqueue to a home shard whose copy says
//   the task is limited answers the id back and it is enqueued in the task's shard;
// - a claim asks the shards that may have due work (shards.ts: ClaimHints), one first — usually it fills
//   the claim — then the others at once, starting from a shard that turns with every claim (fairness);
// - ack, requeue and extend go to each lease's shard, one script per shard touched (a lease away from its
//   home shard is remembered by this member: shards.ts AwayLeases);
// - the leader's scripts (reaper) run on every shard; each shard checks its copy of the leader lease,
//   written by the leader with the lease (copyFence); reads (stats, inflight, known) sum every shard.
import { closeSubscriber, duplicateConnection, isCluster, type Redis } from '../infra/redis.js';
import { groupBy } from '../infra/groupBy.js';
import { defineScripts, type ScriptCommands } from '../redis/scripts.js';
import { homeShard, limitsKey, memberKey, queueKeys, taskLimitKeys, taskShard, type QueueKeys } from '../redis/keys.js';
import { AwayLeases, ClaimHints, earliest, split } from './shards.js';
import { ExternalQueues } from './externalQueues.js';
import { NotLeaderError, MAX_PRIORITY, type QueueItem, type TaskLimits, type LimitWait, type ClaimResult, type InflightEntry, type LeaderFence, type Lease, type Queue, type QueueStats } from './types.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
/** Most ids of one task the leader's limit pump moves back to ready in one pass. */
const PUMP_MAX_PER_TASK = 1000;
/** How long a member keeps its copy of the limits table for WORKER enqueues (the leader syncs changes). */
const LIMITS_CACHE_MS = 1_000;
/** Shards of a queue on a Redis Cluster unless REDIS_QUEUE_SHARDS says otherwise (on one Redis: 1). */
export const DEFAULT_CLUSTER_SHARDS = 16;

type Own = QueueItem & { queue?: undefined };

export class WorkQueue implements Queue {
  /** The keys of shard 0 (of a queue of one shard: the queue's). */
  readonly keys: QueueKeys;
  /** How many shards the queue has (every member of a cluster must agree: REDIS_QUEUE_SHARDS). */
  readonly shards: number;
  /** Every shard's keys, by shard number. */
  readonly shardKeys: QueueKeys[];
  private r: Redis & ScriptCommands;
  private sub: Redis | null = null;
  /** A wake-up arrived (or work may have been missed) since the last claim. */
  private woken = false;
  private closed = false;
  private waiters = new Set<() => void>();
  readonly external: ExternalQueues;
  /** The limits table as last read, for WORKER enqueues (their queues apply the limits: lua/wqClaim.lua) and for routing. */
  private limitsCache: { at: number; table: Record<string, string> } = { at: 0, table: {} };
  private limitsReading: Promise<void> | null = null;
  private readonly limitsKey: string;
  private readonly hints: ClaimHints;
  private readonly away = new AwayLeases();
  /** A wake-up's message (a shard's `limited` key) → its shard. */
  private readonly shardOfMessage: Map<string, number>;
  /** Shards the leader's pump looks at beyond those of limited tasks: tasks whose limits were just removed. */
  private pumpAlso = new Set<number>();
  /** The shards of tasks with limits, as this member last read or wrote the table (null: not yet). */
  private limitedShards: Set<number> | null = null;

  constructor(private redis: Redis, private prefix: string, shards?: number | null) {
    this.r = defineScripts(redis);
    this.external = new ExternalQueues(redis, prefix);
    this.shards = shards ?? (isCluster(redis) ? DEFAULT_CLUSTER_SHARDS : 1);
    this.shardKeys = Array.from({ length: this.shards }, (_, n) => queueKeys(prefix, n, this.shards));
    this.keys = this.shardKeys[0];
    this.limitsKey = limitsKey(prefix);
    this.hints = new ClaimHints(this.shards);
    this.shardOfMessage = new Map(this.shardKeys.map((k, n) => [k.limited, n]));
  }

  private home(tiId: number): number {
    return homeShard(tiId, this.shards);
  }

  /** The shard a lease is held in: where this member leased it if away from home, else the id's home. */
  private shardOfLease(l: Lease): number {
    return this.shards === 1 ? 0 : (this.away.get(l.tiId, l.owner) ?? this.home(l.tiId));
  }

  /** Groups by shard, shard 0 alone (no Map) on a queue of one shard. */
  private byShard<T>(items: T[], shardOf: (t: T) => number): [number, T[]][] {
    return this.shards === 1 ? [[0, items]] : [...groupBy(items, shardOf)];
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
    // Routed by the table as last read (no wait for a fresher one): a stale entry costs one hop more.
    if (Date.now() - this.limitsCache.at > LIMITS_CACHE_MS) void this.readLimits().catch(() => {});
    const table = this.limitsCache.table;
    const shardOf = (i: Own) => (i.taskId !== undefined && table[i.taskId] ? taskShard(i.taskId, this.shards) : this.home(i.tiId));
    const answered = await Promise.all(this.byShard(items, shardOf).map(([n, group]) => this.enqueueOn(n, group)));
    const back = new Set(answered.flat());
    if (!back.size) return;
    const moved = items.filter((i) => back.has(i.tiId) && i.taskId !== undefined);
    await Promise.all(this.byShard(moved, (i) => taskShard(i.taskId!, this.shards)).map(([n, group]) => this.enqueueOn(n, group)));
  }

  /** One enqueue script on one shard; answers the ids it sent back to their task's shard. */
  private async enqueueOn(n: number, items: Own[]): Promise<number[]> {
    const k = this.shardKeys[n];
    const argv: (string | number)[] = [...k.readyP, k.limited, k.wake, n, this.shards];
    for (const { tiId, delayMs, priority, taskId } of items) argv.push(idOf(tiId), Math.round(delayMs ?? 0), prio(priority), taskId === undefined ? '' : idOf(taskId));
    const [added, back] = await this.r.tsqEnqueue(k.ready, k.inflight, ...argv);
    // This member's own claims need not wait for the wake-up to come back to it.
    if (added > 0) this.noteDue(n, items);
    return back.map(Number);
  }

  private readLimits(): Promise<void> {
    this.limitsReading ??= this.redis.hgetall(this.limitsKey).then(
      (table) => {
        this.limitsCache = { at: Date.now(), table };
        this.noteLimited(Object.keys(table));
        this.limitsReading = null;
      },
      (e) => {
        this.limitsReading = null;
        throw e;
      },
    );
    return this.limitsReading;
  }

  /** Notes that shard n got these items (the most urgent of them, by this member's clock). */
  private noteDue(n: number, items: { delayMs?: number; priority?: number }[]): void {
    if (this.shards === 1) return;
    let p = -1;
    let at = Infinity;
    for (const i of items) {
      const ip = i.priority ?? 0;
      const iat = Date.now() + (i.delayMs ?? 0);
      if (ip > p || (ip === p && iat < at)) [p, at] = [ip, iat];
    }
    this.hints.due(n, p, at);
  }

  private noteLimited(taskIds: string[]): void {
    if (this.shards > 1) this.limitedShards = new Set(taskIds.map((t) => taskShard(Number(t), this.shards)));
  }

  /** After an ack or a removal in shard n: an id waiting on its task's limits may have gone back to ready. */
  private freed(n: number): void {
    if (this.limitedShards?.has(n)) this.hints.due(n);
  }

  /** The limits a WORKER enqueue on this member carries for the task now (its copy, at most a second old). */
  cachedLimits(taskId: number): string | undefined {
    return this.limitsCache.table[taskId];
  }

  /** WORKER task instances: an item of a task with limits carries them to its queue (one HGETALL a second at most). */
  private async enqueueExternal(items: (QueueItem & { queue: string })[]): Promise<void> {
    if (Date.now() - this.limitsCache.at > LIMITS_CACHE_MS) await this.readLimits();
    const table = this.limitsCache.table;
    const any = Object.keys(table).length > 0;
    await this.external.enqueue(any ? items.map((i) => (i.taskId !== undefined && table[i.taskId] ? { ...i, limits: table[i.taskId] } : i)) : items);
  }

  private claimOn(n: number, owner: string, max: number, leaseMs: number): Promise<[number, string[], number[], number, number]> {
    const k = this.shardKeys[n];
    return this.r.tsqClaim(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, owner, max, leaseMs);
  }

  async claim(owner: string, max: number, leaseMs: number): Promise<ClaimResult> {
    // Cleared before asking: a wake-up that arrives while this claim is on its way stays noted.
    this.woken = false;
    const want = Math.max(0, Math.floor(max));
    if (this.shards === 1) {
      const [nextDue, ids, priorities] = await this.claimOn(0, owner, want, Math.round(leaseMs));
      return { ids: ids.map(Number), priorities, nextDueInMs: nextDue < 0 ? null : nextDue };
    }
    // The most urgent shard alone (under load it fills the claim: one call), then the others that may
    // have due work at once, the claim split between them; a shard with due work left is asked again.
    const order = this.hints.candidates(Date.now());
    const got: { id: number; p: number }[] = [];
    let left = want;
    let first = true;
    while (left > 0 && order.length) {
      const batch = order.splice(0, first ? 1 : Math.min(left, order.length));
      first = false;
      const quotas = split(left, batch.length);
      const answers = await Promise.all(batch.map((n, i) => this.claimOn(n, owner, quotas[i], Math.round(leaseMs))));
      answers.forEach(([nextDue, ids, priorities, topPrio, topScore], i) => {
        const n = batch[i];
        this.hints.answered(n, nextDue, topPrio, topScore);
        if (topPrio >= 0 && ids.length === quotas[i]) order.push(n);
        ids.forEach((id, j) => {
          const tiId = Number(id);
          got.push({ id: tiId, p: priorities[j] });
          if (this.home(tiId) !== n) this.away.set(tiId, owner, n);
        });
        left -= ids.length;
      });
    }
    // The highest priority first among what the shards gave (each gave its own highest first).
    if (got.length > 1) got.sort((a, b) => b.p - a.p);
    return { ids: got.map((g) => g.id), priorities: got.map((g) => g.p), nextDueInMs: this.hints.nextDueInMs(Date.now()) };
  }

  async ackMany(leases: Lease[]): Promise<number> {
    if (!leases.length) return 0;
    const counts = await Promise.all(this.byShard(leases, (l) => this.shardOfLease(l)).map(([n, group]) => {
      const k = this.shardKeys[n];
      this.freed(n);
      return this.r.tsqAckMany(k.inflight, k.owner, k.since, k.ready, ...k.readyP, k.limited, k.wake, ...group.flatMap((l) => [idOf(l.tiId), l.owner]));
    }));
    if (this.away.size) for (const l of leases) this.away.delete(l.tiId, l.owner);
    return counts.reduce((a, b) => a + b, 0);
  }

  async requeue(items: (Lease & { delayMs: number; priority?: number })[]): Promise<number> {
    if (!items.length) return 0;
    const counts = await Promise.all(this.byShard(items, (l) => this.shardOfLease(l)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const c = await this.r.tsqRequeue(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, k.wake, ...group.flatMap((i) => [idOf(i.tiId), i.owner, Math.round(i.delayMs), prio(i.priority)]));
      if (c > 0) this.noteDue(n, group);
      return c;
    }));
    if (this.away.size) for (const l of items) this.away.delete(l.tiId, l.owner);
    return counts.reduce((a, b) => a + b, 0);
  }

  async lease(tiIds: number[], owner: string, leaseMs: number): Promise<number> {
    if (!tiIds.length) return 0;
    const counts = await Promise.all(this.byShard(tiIds, (id) => this.shardOfLease({ tiId: id, owner })).map(([n, ids]) => {
      const k = this.shardKeys[n];
      return this.r.tsqLease(k.inflight, k.owner, k.since, owner, Math.round(leaseMs), ...ids.map(idOf));
    }));
    return counts.reduce((a, b) => a + b, 0);
  }

  async extend(leases: Lease[], leaseMs: number): Promise<Lease[]> {
    if (!leases.length) return [];
    this.away.prune();
    const lost = (await Promise.all(this.byShard(leases, (l) => this.shardOfLease(l)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const positions = await this.r.tsqExtend(k.inflight, k.owner, Math.round(leaseMs), ...group.flatMap((l) => [idOf(l.tiId), l.owner]));
      return positions.map((pos) => group[pos - 1]);
    }))).flat();
    if (this.away.size) for (const l of lost) this.away.delete(l.tiId, l.owner);
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
    const counts = await fenced(Promise.all(this.byShard(items, (i) => i.entry.shard ?? this.home(i.entry.tiId)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const argv = group.flatMap(({ entry, requeue, priority }) => [idOf(entry.tiId), entry.owner, entry.leaseDeadline, requeue ? '1' : '0', prio(priority)]);
      const c = await this.r.tsqSettleExpired(k.ready, k.inflight, k.owner, k.since, k.leader, ...k.readyP, k.limited, fence, k.wake, ...argv);
      if (c > 0) this.hints.due(n);
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
    const removeOn = (n: number, ids: number[]) => {
      const k = this.shardKeys[n];
      this.freed(n);
      return this.r.tsqRemove(k.ready, k.inflight, k.owner, k.since, ...k.readyP, k.limited, k.wake, ...ids.map(idOf));
    };
    const found = (await Promise.all(this.byShard(tiIds, (id) => this.home(id)).map(([n, ids]) => removeOn(n, ids)))).flat();
    if (this.shards === 1) return;
    // Not in their home shard: an id of a limited task is in its task's shard, which the id alone does not name.
    const seen = new Set(found.map(Number));
    const rest = tiIds.filter((id) => !seen.has(id));
    if (!rest.length) return;
    await Promise.all(this.shardKeys.map((_, n) => rest.filter((id) => this.home(id) !== n)).map((ids, n) => (ids.length ? removeOn(n, ids) : null)));
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
    const knownOn = async (n: number, ids: number[]) => {
      if (!ids.length) return [];
      const k = this.shardKeys[n];
      return (await this.r.tsqKnown(k.ready, k.inflight, ...k.readyP, k.limited, ...ids.map(idOf))).map(Number);
    };
    const out = new Set((await Promise.all(this.byShard(tiIds, (id) => this.home(id)).map(([n, ids]) => knownOn(n, ids)))).flat());
    if (this.shards === 1) return out;
    // Not in their home shard: maybe in their task's (a limited task's ids), which the id alone does not name.
    const rest = tiIds.filter((id) => !out.has(id));
    if (rest.length) for (const id of (await Promise.all(this.shardKeys.map((_, n) => knownOn(n, rest.filter((i) => this.home(i) !== n))))).flat()) out.add(id);
    return out;
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

  async pumpLimits(clean: boolean): Promise<number> {
    // Shards of limited tasks, those of tasks whose limits were just removed, and on a cleaning pass all.
    let shards: number[] = [0];
    if (this.shards > 1) {
      if (!this.limitedShards) this.noteLimited(await this.redis.hkeys(this.limitsKey));
      shards = clean ? this.shardKeys.map((_, n) => n) : [...new Set([...this.limitedShards!, ...this.pumpAlso])];
    }
    const moved = await Promise.all(shards.map(async (n) => {
      const k = this.shardKeys[n];
      const m = await this.r.tsqLimitPump(k.ready, ...k.readyP, k.limited, k.inflight, k.wake, PUMP_MAX_PER_TASK, clean ? '1' : '0');
      if (m === 0) this.pumpAlso.delete(n);
      else this.hints.due(n);
      return m;
    }));
    return moved.reduce((a, b) => a + b, 0);
  }

  async setLimits(limits: Map<number, TaskLimits>): Promise<{ added: number[]; changed: number[]; removed: number[] }> {
    const want = new Map([...limits].map(([taskId, l]) => [String(taskId), `${l.concurrency}:${l.rateMax}:${l.ratePerMs}`]));
    // Each shard's copy first (the table its scripts read), compared on its own: a copy a failover lost is rewritten.
    if (this.shards > 1) await Promise.all(this.shardKeys.map((k) => this.syncTable(k.limits, want)));
    const { added, changed, removed } = await this.syncTable(this.limitsKey, want);
    this.limitsCache = { at: Date.now(), table: Object.fromEntries(want) };
    this.noteLimited([...want.keys()]);
    if (this.shards > 1) for (const t of removed) this.pumpAlso.add(taskShard(t, this.shards));
    // Every pass, not only on a change: an enqueue from a member's older view may have written a copy.
    await this.external.syncLimits(want);
    return { added, changed, removed };
  }

  /** Makes the hash at `key` the table `want`; says which tasks it added, changed and removed. */
  private async syncTable(key: string, want: Map<string, string>): Promise<{ added: number[]; changed: number[]; removed: number[] }> {
    const now = await this.redis.hgetall(key);
    const added: number[] = [];
    const changed: number[] = [];
    const removed = Object.keys(now).filter((t) => !want.has(t)).map(Number);
    const set: string[] = [];
    for (const [t, v] of want) {
      if (now[t] === v) continue;
      (now[t] === undefined ? added : changed).push(Number(t));
      set.push(t, v);
    }
    if (set.length) await this.redis.hset(key, ...set);
    if (removed.length) await this.redis.hdel(key, ...removed.map(String));
    return { added, changed, removed };
  }

  async leaseLimited(items: { tiId: number; taskId: number }[], owner: string, leaseMs: number): Promise<number[]> {
    if (!items.length) return [];
    const refused = (await Promise.all(this.byShard(items, (i) => taskShard(i.taskId, this.shards)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const no = (await this.r.tsqLeaseLimited(k.inflight, k.owner, k.since, k.limited, owner, Math.round(leaseMs), ...group.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]))).map(Number);
      if (this.shards > 1) {
        const refusedHere = new Set(no);
        for (const i of group) if (!refusedHere.has(i.tiId) && this.home(i.tiId) !== n) this.away.set(i.tiId, owner, n);
      }
      return no;
    }))).flat();
    return refused;
  }

  async markLimited(items: { tiId: number; taskId: number; queue?: string }[]): Promise<void> {
    const own = items.filter((i) => i.queue === undefined);
    const external = items.filter((i): i is typeof i & { queue: string } => i.queue !== undefined);
    if (external.length) await this.external.markLimited(external, await this.redis.hgetall(this.limitsKey));
    if (!own.length) return;
    // Ids in their task's shard are listed there; the others (queued in their home shard before their task
    // had limits) are taken out of its ready sets and enqueued in their task's shard, which lists them.
    const [inPlace, elsewhere] = [own.filter((i) => this.home(i.tiId) === taskShard(i.taskId, this.shards)), own.filter((i) => this.home(i.tiId) !== taskShard(i.taskId, this.shards))];
    await Promise.all(this.byShard(inPlace, (i) => this.home(i.tiId)).map(([n, group]) => this.redis.hset(this.shardKeys[n].limited, ...group.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]))));
    if (!elsewhere.length) return;
    const taskOf = new Map(elsewhere.map((i) => [i.tiId, i.taskId]));
    const taken = (await Promise.all(this.byShard(elsewhere, (i) => this.home(i.tiId)).map(async ([n, group]) => {
      const k = this.shardKeys[n];
      const flat = await this.r.tsqTakeReady(k.ready, ...k.readyP, ...group.map((i) => idOf(i.tiId)));
      const out: Own[] = [];
      for (let j = 0; j + 2 < flat.length; j += 3) out.push({ tiId: Number(flat[j]), priority: Number(flat[j + 1]), delayMs: Number(flat[j + 2]), taskId: taskOf.get(Number(flat[j])) });
      return out;
    }))).flat();
    await Promise.all(this.byShard(taken, (i) => taskShard(i.taskId!, this.shards)).map(([n, group]) => this.enqueueOn(n, group)));
  }

  async limitedTasks(): Promise<Set<number>> {
    const tasks = await this.redis.hkeys(this.limitsKey);
    this.noteLimited(tasks);
    return new Set(tasks.map(Number));
  }

  async limitWaits(): Promise<LimitWait[]> {
    const [perShard, limits] = await Promise.all([Promise.all(this.shardKeys.map((k) => this.redis.smembers(k.limitsWaiting))), this.redis.hgetall(this.limitsKey)]);
    const out: LimitWait[] = [];
    for (const t of [...new Set(perShard.flat())].slice(0, 1000)) {
      const k = taskLimitKeys(this.prefix, t, this.shards);
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

  /** Wakes every waiter and notes the wake-up for the next caller until a claim; `shard`: the shard that got work. */
  private wake(shard?: number, prio?: number, score?: number): void {
    this.hints.due(shard, prio, score);
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
    sub.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.wake) return;
      // `<shard's limited key>[ <priority> <score>]` (lua/enqueue.lua); anything else: every shard.
      const [key, p, score] = message.split(' ');
      this.wake(this.shardOfMessage.get(key), Number(p) || 0, score ? Number(score) : -Infinity);
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
