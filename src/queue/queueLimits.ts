// Flow control on the work queue (task concurrency and rate limits, issue 18): the limits table and its
// copies, routing ids of limited tasks to their task's shard, the leader's limit pump, and leases of
// limited tasks. The limits themselves are applied inside the scripts (lua/limits.lib.lua); this names
// the keys and keeps the member's view of the table.
//
// Keys (redis/keys.ts): `limits` (taskId → "concurrency:rateMax:ratePerMs", written by the leader), and
// per shard `limited`, `limits` (the shard's copy of the table: its scripts read that one),
// `limits:waiting` and per limited task {task:<id>}:slots|rate|waiting. An id of a limited task lives in
// its task's shard (taskId mod shards) with the task's keys, so its claim applies them atomically; an
// enqueue to a home shard whose copy says the task is limited answers the id back (workQueue.ts sends it
// on to the task's shard).
import type { Redis } from '../infra/redis.js';
import type { ScriptCommands } from '../redis/scripts.js';
import { limitsKey, taskLimitKeys, taskShard } from '../redis/keys.js';
import type { ExternalQueues } from './externalQueues.js';
import { idOf, type Own } from './scriptArgs.js';
import type { ShardRouter } from './shardRouter.js';
import type { LimitWait, QueueItem, TaskLimits } from './types.js';

/** Most ids of one task the leader's limit pump moves back to ready in one pass. */
const PUMP_MAX_PER_TASK = 1000;
/** How long a member keeps its copy of the limits table for WORKER enqueues (the leader syncs changes). */
const LIMITS_CACHE_MS = 1_000;

type Changes = { added: number[]; changed: number[]; removed: number[] };

export class QueueLimits {
  /** The limits table as last read, for WORKER enqueues (their queues apply the limits: lua/wqClaim.lua) and for routing. */
  private cache: { at: number; table: Record<string, string> } = { at: 0, table: {} };
  private reading: Promise<void> | null = null;
  private readonly limitsKey: string;
  /** Shards the leader's pump looks at beyond those of limited tasks: tasks whose limits were just removed. */
  private pumpAlso = new Set<number>();
  /** The shards of tasks with limits, as this member last read or wrote the table (null: not yet). */
  private limitedShards: Set<number> | null = null;

  /** `enqueueOn`: one enqueue script on one shard (workQueue.ts), for ids moved to their task's shard. */
  constructor(
    private redis: Redis,
    private r: Redis & ScriptCommands,
    private prefix: string,
    private router: ShardRouter,
    private external: ExternalQueues,
    private enqueueOn: (n: number, items: Own[]) => Promise<number[]>,
  ) {
    this.limitsKey = limitsKey(prefix);
  }

  /**
   * Where an id is enqueued: its task's shard if the task has limits, else its home. By the table as last
   * read (no wait for a fresher one): a stale entry costs one hop more.
   */
  enqueueShardOf(): (i: Own) => number {
    if (Date.now() - this.cache.at > LIMITS_CACHE_MS) void this.read().catch(() => {});
    const table = this.cache.table;
    return (i) => (i.taskId !== undefined && table[i.taskId] ? taskShard(i.taskId, this.router.shards) : this.router.home(i.tiId));
  }

  private read(): Promise<void> {
    this.reading ??= this.redis.hgetall(this.limitsKey).then(
      (table) => {
        this.cache = { at: Date.now(), table };
        this.noteLimited(Object.keys(table));
        this.reading = null;
      },
      (e) => {
        this.reading = null;
        throw e;
      },
    );
    return this.reading;
  }

  private noteLimited(taskIds: string[]): void {
    if (this.router.shards > 1) this.limitedShards = new Set(taskIds.map((t) => taskShard(Number(t), this.router.shards)));
  }

  /** After an ack or a removal in shard n: an id waiting on its task's limits may have gone back to ready. */
  freed(n: number): void {
    if (this.limitedShards?.has(n)) this.router.hints.due(n);
  }

  /** The limits a WORKER enqueue on this member carries for the task now (its copy, at most a second old). */
  cached(taskId: number): string | undefined {
    return this.cache.table[taskId];
  }

  /** WORKER task instances: an item of a task with limits carries them to its queue (one HGETALL a second at most). */
  async withLimits(items: (QueueItem & { queue: string })[]): Promise<(QueueItem & { queue: string; limits?: string })[]> {
    if (Date.now() - this.cache.at > LIMITS_CACHE_MS) await this.read();
    const table = this.cache.table;
    const any = Object.keys(table).length > 0;
    return any ? items.map((i) => (i.taskId !== undefined && table[i.taskId] ? { ...i, limits: table[i.taskId] } : i)) : items;
  }

  async pump(clean: boolean): Promise<number> {
    // Shards of limited tasks, those of tasks whose limits were just removed, and on a cleaning pass all.
    let shards: number[] = [0];
    if (this.router.shards > 1) {
      if (!this.limitedShards) this.noteLimited(await this.redis.hkeys(this.limitsKey));
      shards = clean ? this.router.shardKeys.map((_, n) => n) : [...new Set([...this.limitedShards!, ...this.pumpAlso])];
    }
    const moved = await Promise.all(shards.map(async (n) => {
      const k = this.router.shardKeys[n];
      const m = await this.r.tsqLimitPump(k.ready, ...k.readyP, k.limited, k.inflight, k.wake, PUMP_MAX_PER_TASK, clean ? '1' : '0');
      if (m === 0) this.pumpAlso.delete(n);
      else this.router.hints.due(n);
      return m;
    }));
    return moved.reduce((a, b) => a + b, 0);
  }

  async set(limits: Map<number, TaskLimits>): Promise<Changes> {
    const want = new Map([...limits].map(([taskId, l]) => [String(taskId), `${l.concurrency}:${l.rateMax}:${l.ratePerMs}`]));
    // Each shard's copy first (the table its scripts read), compared on its own: a copy a failover lost is rewritten.
    if (this.router.shards > 1) await Promise.all(this.router.shardKeys.map((k) => this.syncTable(k.limits, want)));
    const { added, changed, removed } = await this.syncTable(this.limitsKey, want);
    this.cache = { at: Date.now(), table: Object.fromEntries(want) };
    this.noteLimited([...want.keys()]);
    if (this.router.shards > 1) for (const t of removed) this.pumpAlso.add(taskShard(t, this.router.shards));
    // Every pass, not only on a change: an enqueue from a member's older view may have written a copy.
    await this.external.syncLimits(want);
    return { added, changed, removed };
  }

  /** Makes the hash at `key` the table `want`; says which tasks it added, changed and removed. */
  private async syncTable(key: string, want: Map<string, string>): Promise<Changes> {
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

  async lease(items: { tiId: number; taskId: number }[], owner: string, leaseMs: number): Promise<number[]> {
    if (!items.length) return [];
    const refused = (await Promise.all(this.router.byShard(items, (i) => taskShard(i.taskId, this.router.shards)).map(async ([n, group]) => {
      const k = this.router.shardKeys[n];
      const no = (await this.r.tsqLeaseLimited(k.inflight, k.owner, k.since, k.limited, owner, Math.round(leaseMs), ...group.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]))).map(Number);
      if (this.router.shards > 1) {
        const refusedHere = new Set(no);
        for (const i of group) if (!refusedHere.has(i.tiId)) this.router.leased(i.tiId, owner, n);
      }
      return no;
    }))).flat();
    return refused;
  }

  async mark(items: { tiId: number; taskId: number; queue?: string }[]): Promise<void> {
    const own = items.filter((i) => i.queue === undefined);
    const external = items.filter((i): i is typeof i & { queue: string } => i.queue !== undefined);
    if (external.length) await this.external.markLimited(external, await this.redis.hgetall(this.limitsKey));
    if (!own.length) return;
    // Ids in their task's shard are listed there; the others (queued in their home shard before their task
    // had limits) are taken out of its ready sets and enqueued in their task's shard, which lists them.
    const home = (tiId: number) => this.router.home(tiId);
    const [inPlace, elsewhere] = [own.filter((i) => home(i.tiId) === taskShard(i.taskId, this.router.shards)), own.filter((i) => home(i.tiId) !== taskShard(i.taskId, this.router.shards))];
    await Promise.all(this.router.byShard(inPlace, (i) => home(i.tiId)).map(([n, group]) => this.redis.hset(this.router.shardKeys[n].limited, ...group.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]))));
    if (!elsewhere.length) return;
    const taskOf = new Map(elsewhere.map((i) => [i.tiId, i.taskId]));
    const taken = (await Promise.all(this.router.byShard(elsewhere, (i) => home(i.tiId)).map(async ([n, group]) => {
      const k = this.router.shardKeys[n];
      const flat = await this.r.tsqTakeReady(k.ready, ...k.readyP, ...group.map((i) => idOf(i.tiId)));
      const out: Own[] = [];
      for (let j = 0; j + 2 < flat.length; j += 3) out.push({ tiId: Number(flat[j]), priority: Number(flat[j + 1]), delayMs: Number(flat[j + 2]), taskId: taskOf.get(Number(flat[j])) });
      return out;
    }))).flat();
    await Promise.all(this.router.byShard(taken, (i) => taskShard(i.taskId!, this.router.shards)).map(([n, group]) => this.enqueueOn(n, group)));
  }

  async limitedTasks(): Promise<Set<number>> {
    const tasks = await this.redis.hkeys(this.limitsKey);
    this.noteLimited(tasks);
    return new Set(tasks.map(Number));
  }

  async waits(): Promise<LimitWait[]> {
    const [perShard, limits] = await Promise.all([Promise.all(this.router.shardKeys.map((k) => this.redis.smembers(k.limitsWaiting))), this.redis.hgetall(this.limitsKey)]);
    const out: LimitWait[] = [];
    for (const t of [...new Set(perShard.flat())].slice(0, 1000)) {
      const k = taskLimitKeys(this.prefix, t, this.router.shards);
      const [waiting, running] = await Promise.all([this.redis.zcard(k.waiting), this.redis.scard(k.slots)]);
      if (!waiting) continue;
      const [c, m, per] = (limits[t] ?? '').split(':').map(Number);
      out.push({ taskId: Number(t), waiting, running, limits: limits[t] ? { concurrency: c, rateMax: m, ratePerMs: per } : null });
    }
    return out.sort((a, b) => b.waiting - a.waiting);
  }
}
