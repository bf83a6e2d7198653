// The work queue's contract (implemented by WorkQueue in workQueue.ts over Lua scripts in src/redis/lua/).
// Ids are task-instance ids (`ti_id`). MySQL stays the truth: the queue only says *what may run now*
// and *who holds it*; everything here can be rebuilt from MySQL by the reconciler.
import type { ExternalQueues } from './externalQueues.js';

/** Priorities a start may ask for: 0 (the default) to 9; among due ids, a higher one is claimed first. */
export const MAX_PRIORITY = 9;

/** An id to enqueue: due after `delayMs` (default 0), in its priority's ready set (default 0). */
export interface QueueItem {
  tiId: number;
  delayMs?: number;
  priority?: number;
  /** Its task: an id of a task with limits (see TaskLimits) is claimed only within them. */
  taskId?: number;
  /** A WORKER task instance's external queue (externalQueues.ts): it goes there, not to `ready`. */
  queue?: string;
}

/** A task's flow-control limits, as the queue applies them (0 = none). */
export interface TaskLimits {
  concurrency: number;
  rateMax: number;
  ratePerMs: number;
}

/** What waits on one task's limits now (the Cluster page). */
export interface LimitWait {
  taskId: number;
  waiting: number;
  /** Slots held now (concurrency limit), and the limits. */
  running: number;
  limits: TaskLimits | null;
}

export interface ClaimResult {
  /** Ids now leased to the caller: the highest priority first, oldest due first within one. */
  ids: number[];
  /** Each id's priority (the ready set it came from), in the order of `ids`. */
  priorities: number[];
  /** Milliseconds until the earliest item still in `ready` comes due (0 if due now), or null when it is empty. */
  nextDueInMs: number | null;
}

export interface InflightEntry {
  tiId: number;
  owner: string;
  claimedAt: number;
  leaseDeadline: number;
  /** The queue's shard it was listed in (a queue of several shards: settleExpired settles it there). */
  shard?: number;
}

export interface QueueStats {
  ready: number;
  dueNow: number;
  delayed: number;
  inflight: number;
  /** Age in ms of the oldest item that is due but not claimed; 0 when none. */
  oldestWaitingMs: number;
}

/** A lease on a task instance: who holds it. The owner is `memberId|claimToken`, new for each claim. */
export interface Lease {
  tiId: number;
  owner: string;
  /** The id's priority, for putting it back in the right ready set (0 when not given). */
  priority?: number;
}

/** The leader's fence: the value of the leader lease it holds; leader-only operations check it atomically. */
export type LeaderFence = string;

/** A leader-only operation found that the caller no longer holds the leader lease: it did nothing. */
export class NotLeaderError extends Error {
  override name = 'NotLeaderError';
}

export interface Queue {
  /** How many shards the queue has (REDIS_QUEUE_SHARDS; every live member must use the same). */
  readonly shards: number;
  /**
   * Adds ids to `ready`, due after `delayMs` (default 0) by the Redis server's clock, and wakes idle
   * workers. An id already in ready or inflight is left where it is. An item with a `queue` (a WORKER
   * task instance) goes to that external queue instead (`external`), never to `ready`.
   */
  enqueue(items: QueueItem[]): Promise<void>;
  /** The queues of WORKER task instances, taken by external workers (externalQueues.ts). */
  readonly external: ExternalQueues;
  /** Atomically moves up to `max` due ids from ready to inflight, leased to `owner` until now + leaseMs. */
  claim(owner: string, max: number, leaseMs: number): Promise<ClaimResult>;
  /** Releases leases their owners still hold; returns how many. */
  ackMany(leases: Lease[]): Promise<number>;
  /**
   * Gives leases back to ready, due after their delay (a retry's back-off, or 0 for claims that could not
   * be started); only those their owner still holds. Returns how many.
   */
  requeue(items: (Lease & { delayMs: number; priority?: number })[]): Promise<number>;
  /**
   * Leases ids that were never queued to `owner` until now + leaseMs: task instances it created RUNNING
   * for itself. Returns how many it leased (an id already leased is left alone).
   */
  lease(tiIds: number[], owner: string, leaseMs: number): Promise<number>;
  /**
   * Pushes the deadline of leases their owners still hold to now + leaseMs; returns the leases that are
   * lost (expired, reaped, acked, or held by another owner). An expired lease is never revived.
   */
  extend(leases: Lease[], leaseMs: number): Promise<Lease[]>;
  /** Drops ids from ready and inflight (cancel). */
  remove(tiIds: number[]): Promise<void>;
  /**
   * Resolves when work may be ready: an enqueue anywhere in the cluster (since the last claim), `timeoutMs`
   * passing, or the signal aborting. Idle workers block here instead of polling.
   */
  waitForWork(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Ids present in ready or inflight (for the reconciler). */
  known(tiIds: number[]): Promise<Set<number>>;
  stats(): Promise<QueueStats>;
  inflight(limit: number): Promise<InflightEntry[]>;
  /** Milliseconds since the epoch by the Redis server's clock: the clock of lease deadlines and claim times. */
  serverTime(): Promise<number>;
  /** Leader only: up to `max` expired leases, left in place (NotLeaderError unless `fence` holds the lease). */
  expiredLeases(fence: LeaderFence, max: number): Promise<InflightEntry[]>;
  /**
   * Leader only: takes listed expired leases out of inflight — each only if unchanged since it was listed —
   * and requeues those marked so. Returns how many were settled.
   */
  settleExpired(fence: LeaderFence, items: { entry: InflightEntry; requeue: boolean; priority?: number }[]): Promise<number>;
  /**
   * Leader: after taking or extending the leader lease, copies its value (and TTL) into every shard of a
   * queue of several shards, where the leader-only scripts check it (`elected`: over a former leader's).
   * Nothing to do on a queue of one shard: its scripts read the lease itself.
   */
  copyFence(fence: LeaderFence, ttlMs: number, elected: boolean): Promise<void>;
  /** Leader only: makes the leases of members whose heartbeat is gone expire now (those older than minAgeMs). */
  expireOrphans(fence: LeaderFence, minAgeMs: number): Promise<{ expired: number; goneMembers: string[] }>;
  /**
   * Leader: moves ids waiting on their tasks' limits back to ready as far as the limits allow now
   * (`clean`: also gives back slots of ids no longer in flight). Returns how many moved.
   */
  pumpLimits(clean: boolean): Promise<number>;
  /** Makes the queue's table of task limits this one (tasks left out have none). */
  setLimits(limits: Map<number, TaskLimits>): Promise<{ added: number[]; changed: number[]; removed: number[] }>;
  /**
   * lease() for task instances of tasks with limits (a worker's continued runs): each takes its task's
   * slot and start first; returns the ids its task's limits refused now (not leased).
   */
  leaseLimited(items: { tiId: number; taskId: number }[], owner: string, leaseMs: number): Promise<number[]>;
  /** Marks queued ids as ids of a limited task (a limit set after they were queued). */
  markLimited(items: { tiId: number; taskId: number; queue?: string }[]): Promise<void>;
  /** Task ids with limits, as the queue knows them. */
  limitedTasks(): Promise<Set<number>>;
  /** Tasks with ids waiting on their limits, most waiting first. */
  limitWaits(): Promise<LimitWait[]>;
  close(): Promise<void>;
}
