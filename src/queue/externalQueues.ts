// The queues of WORKER task instances, taken by external workers over HTTP (src/engine/external/): one
// ready set and one lease set per queue name, apart from the members' own `ready`/`inflight`, so a
// member's worker never claims them. Every key of one queue shares the hash tag `{wq:<queue>}`, so each
// script's keys sit in one slot (a Redis Cluster port keeps them); a poll over several queues runs one
// script per queue (pipelined, one round trip).
//
// Keys, all under the configured prefix:
//   {wq:<queue>}:ready   sorted set  id → epoch ms it may be handed out
//   {wq:<queue>}:leases  sorted set  id → lease deadline, epoch ms
//   {wq:<queue>}:owner   hash        id → lease token (the poll's, one per task)
//   {wq:<queue>}:since   hash        id → leased-at, epoch ms
//   {wq:<queue>}:limited hash        id → taskId of ids of tasks with limits (flow control, issue 18),
//   {wq:<queue>}:limits  hash        taskId → "concurrency:rateMax:ratePerMs", the queue's copy; and per
//                                    limited task {wq:<queue>}:{task:<id>}:slots|rate|waiting (lua/wqClaim.lua)
//   wq:queues            set         every queue name ever enqueued to (the reaper and the dashboard walk it)
//   wq:wake              pub/sub     the queue name, published when ids become ready on it
import type { Redis } from '../infra/redis.js';
import { defineScripts, type ScriptCommands } from '../redis/scripts.js';
import { externalQueueKeys } from '../redis/keys.js';

/** An expired lease as the reaper lists it (the same shape as the members' InflightEntry; owner = the token). */
export interface InflightEntry {
  tiId: number;
  owner: string;
  claimedAt: number;
  leaseDeadline: number;
}

export interface ExternalQueueStats {
  queue: string;
  ready: number;
  dueNow: number;
  leased: number;
  oldestWaitingMs: number;
}

/** A lease on a WORKER task instance: its queue and the token of the poll that took it. */
export interface ExternalLease {
  queue: string;
  tiId: number;
  token: string;
}

export class ExternalQueues {
  private r: Redis & ScriptCommands;
  readonly wakeChannel: string;
  readonly registry: string;

  constructor(redis: Redis, private prefix: string) {
    this.r = defineScripts(redis);
    this.wakeChannel = `${prefix}wq:wake`;
    this.registry = `${prefix}wq:queues`;
  }

  keys(queue: string): ReturnType<typeof externalQueueKeys> {
    return externalQueueKeys(this.prefix, queue);
  }

  /**
   * Adds ids to their queues' ready sets (due after delayMs) and wakes the polls waiting on them. `limits`:
   * "concurrency:rateMax:ratePerMs" of an item's task when it has limits (its claims then apply them).
   */
  async enqueue(items: { tiId: number; queue: string; delayMs?: number; taskId?: number; limits?: string }[]): Promise<void> {
    const byQueue = group(items);
    if (!byQueue.size) return;
    await Promise.all([
      this.r.sadd(this.registry, ...byQueue.keys()),
      ...[...byQueue].map(([queue, list]) => {
        const k = this.keys(queue);
        const lim = (i: (typeof list)[number]) => (i.limits && i.taskId !== undefined ? `${i.limits}@${idOf(i.taskId)}` : '');
        return this.r.tsqWqEnqueue(k.ready, k.leases, k.limited, this.wakeChannel, queue, ...list.flatMap((i) => [idOf(i.tiId), Math.round(i.delayMs ?? 0), lim(i)]));
      }),
    ]);
  }

  /** Leases up to tokens.length due ids of `queue`, one token each, provisionally for `leaseMs`. */
  async claim(queue: string, tokens: string[], leaseMs: number): Promise<{ leases: ExternalLease[]; nextDueInMs: number | null }> {
    const k = this.keys(queue);
    const [nextDue, flat] = await this.r.tsqWqClaim(k.ready, k.leases, k.owner, k.since, k.limited, Math.round(leaseMs), ...tokens);
    const leases: ExternalLease[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) leases.push({ queue, tiId: Number(flat[i]), token: flat[i + 1]! });
    return { leases, nextDueInMs: nextDue < 0 ? null : nextDue };
  }

  /** Pushes leases (held under their token) to now + leaseMs; returns those that are lost. */
  async extend(items: (ExternalLease & { leaseMs: number })[]): Promise<ExternalLease[]> {
    const lost: ExternalLease[] = [];
    await Promise.all(
      [...group(items)].map(async ([queue, list]) => {
        const k = this.keys(queue);
        const pos = await this.r.tsqWqExtend(k.leases, k.owner, ...list.flatMap((l) => [idOf(l.tiId), l.token, Math.round(l.leaseMs)]));
        for (const p of pos) lost.push(list[p - 1]!);
      }),
    );
    return lost;
  }

  /**
   * Leases ids that were never queued (created RUNNING for a worker by the transaction that recorded its
   * last result: engine/external/handOver.ts) under their token, for leaseMs; returns those refused.
   */
  async lease(items: (ExternalLease & { leaseMs: number })[]): Promise<ExternalLease[]> {
    const refused: ExternalLease[] = [];
    const byQueue = group(items);
    if (!byQueue.size) return refused;
    await Promise.all([
      // Listed, so the reaper walks the queue even if nothing was ever enqueued to it.
      this.r.sadd(this.registry, ...byQueue.keys()),
      ...[...byQueue].map(async ([queue, list]) => {
        const k = this.keys(queue);
        const pos = await this.r.tsqWqLease(k.leases, k.owner, k.since, ...list.flatMap((l) => [idOf(l.tiId), l.token, Math.round(l.leaseMs)]));
        for (const p of pos) refused.push(list[p - 1]!);
      }),
    ]);
    return refused;
  }

  /** Ends leases their token holds: dropped (delayMs < 0) or back to ready after delayMs. */
  async release(items: (ExternalLease & { delayMs: number })[]): Promise<number> {
    const counts = await Promise.all(
      [...group(items)].map(([queue, list]) => {
        const k = this.keys(queue);
        return this.r.tsqWqRelease(k.ready, k.leases, k.owner, k.since, k.limited, this.wakeChannel, queue, ...list.flatMap((l) => [idOf(l.tiId), l.token, l.delayMs < 0 ? -1 : Math.round(l.delayMs)]));
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Every queue name enqueued to so far. */
  async queues(): Promise<string[]> {
    return (await this.r.smembers(this.registry)).sort();
  }

  /** Up to `max` expired leases of `queue`, left in place (owner = the lease token). */
  async expired(queue: string, max: number): Promise<InflightEntry[]> {
    const k = this.keys(queue);
    const flat = await this.r.tsqWqExpired(k.leases, k.owner, k.since, Math.floor(max));
    const out: InflightEntry[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) out.push({ tiId: Number(flat[i]), owner: flat[i + 1] || '', claimedAt: Number(flat[i + 2] || 0), leaseDeadline: Number(flat[i + 3]) });
    return out;
  }

  /** Takes listed expired leases out (each only if unchanged since listed), requeueing those marked so. */
  async settle(queue: string, items: { entry: InflightEntry; requeue: boolean }[]): Promise<number> {
    if (!items.length) return 0;
    const k = this.keys(queue);
    const argv = items.flatMap(({ entry, requeue }) => [idOf(entry.tiId), entry.owner, entry.leaseDeadline, requeue ? '1' : '0']);
    return this.r.tsqWqSettle(k.ready, k.leases, k.owner, k.since, k.limited, this.wakeChannel, queue, ...argv);
  }

  /** Ids present in their queue's ready or leases set. */
  async known(items: { tiId: number; queue: string }[]): Promise<Set<number>> {
    const out = new Set<number>();
    await Promise.all(
      [...group(items)].map(async ([queue, list]) => {
        const k = this.keys(queue);
        for (const id of await this.r.tsqWqKnown(k.ready, k.leases, k.limited, ...list.map((i) => idOf(i.tiId)))) out.add(Number(id));
      }),
    );
    return out;
  }

  /**
   * The leader's pass over the queues' copies of the limits (taskId → "concurrency:rateMax:ratePerMs"):
   * a changed limit is updated, a removed one deleted, and the queue's polls woken (the next claim lets
   * through what that frees). A task's copy is first written by the enqueue of one of its ids.
   */
  async syncLimits(want: Map<string, string>): Promise<void> {
    for (const queue of await this.queues()) {
      const k = this.keys(queue);
      const have = await this.r.hgetall(k.limits);
      const set: string[] = [];
      const del: string[] = [];
      for (const [t, v] of Object.entries(have)) {
        const w = want.get(t);
        if (w === undefined) del.push(t);
        else if (w !== v) set.push(t, w);
      }
      if (set.length) await this.r.hset(k.limits, ...set);
      if (del.length) await this.r.hdel(k.limits, ...del);
      if (set.length || del.length) await this.r.publish(this.wakeChannel, `${queue} 1`);
    }
  }

  /** Lists queued ids of tasks that have just got limits (`table`: taskId → limits), so their claims apply them. */
  async markLimited(items: { tiId: number; taskId: number; queue: string }[], table: Record<string, string>): Promise<void> {
    for (const [queue, list] of group(items.filter((i) => table[i.taskId]))) {
      const k = this.keys(queue);
      await this.r.hset(k.limits, ...[...new Set(list.map((i) => idOf(i.taskId)))].flatMap((t) => [t, table[t]!]));
      await this.r.hset(k.limited, ...list.flatMap((i) => [idOf(i.tiId), idOf(i.taskId)]));
    }
  }

  async stats(queue: string): Promise<ExternalQueueStats> {
    const k = this.keys(queue);
    const [ready, dueNow, leased, oldestWaitingMs] = await this.r.tsqWqStats(k.ready, k.leases);
    return { queue, ready, dueNow, leased, oldestWaitingMs };
  }
}

function group<T extends { queue: string }>(items: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const list = m.get(it.queue);
    if (list) list.push(it);
    else m.set(it.queue, [it]);
  }
  return m;
}

function idOf(tiId: number): string {
  if (!Number.isSafeInteger(tiId)) throw new TypeError(`task-instance id must be an integer, got ${tiId}`);
  return String(tiId);
}
