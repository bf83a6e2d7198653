// The work queue's contract (implemented by WorkQueue in workQueue.ts over Lua scripts in lua/).
// Ids are task-instance ids (`ti_id`). MySQL stays the truth: the queue only says *what may run now*
// and *who holds it*; everything here can be rebuilt from MySQL by the reconciler.

export interface ClaimResult {
  /** Ids now leased to the caller, oldest due first. */
  ids: number[];
  /** Milliseconds until the earliest item still in `ready` comes due (0 if due now), or null when it is empty. */
  nextDueInMs: number | null;
}

export interface InflightEntry {
  tiId: number;
  owner: string;
  claimedAt: number;
  leaseDeadline: number;
}

export interface QueueStats {
  ready: number;
  dueNow: number;
  delayed: number;
  inflight: number;
  /** Age in ms of the oldest item that is due but not claimed; 0 when none. */
  oldestWaitingMs: number;
}

export interface Queue {
  /**
   * Adds ids to `ready`, due after `delayMs` (default 0) by the Redis server's clock, and wakes idle
   * workers. An id already in ready or inflight is left where it is.
   */
  enqueue(items: { tiId: number; delayMs?: number }[]): Promise<void>;
  /** Atomically moves up to `max` due ids from ready to inflight, leased to `owner` until now + leaseMs. */
  claim(owner: string, max: number, leaseMs: number): Promise<ClaimResult>;
  /** Removes the id from inflight if `owner` still holds it; false otherwise (lease lost). */
  ack(tiId: number, owner: string): Promise<boolean>;
  /** ack for many ids in one round trip; returns how many were still held by `owner`. */
  ackMany(tiIds: number[], owner: string): Promise<number>;
  /**
   * Leases ids that were never queued to `owner` until now + leaseMs: task instances it created RUNNING
   * for itself. Returns how many it leased (an id someone else holds is left alone).
   */
  lease(tiIds: number[], owner: string, leaseMs: number): Promise<number>;
  /** As ack, then puts the id back in ready, due after delayMs (a retry with back-off). */
  ackAndRequeue(tiId: number, owner: string, delayMs: number): Promise<boolean>;
  /** Pushes the lease deadline of the ids `owner` still holds to now + leaseMs; returns those it no longer holds. */
  extend(tiIds: number[], owner: string, leaseMs: number): Promise<number[]>;
  /** Moves up to `max` ids whose lease deadline passed out of inflight and returns them (the caller decides: requeue or fail). */
  takeExpired(max: number): Promise<InflightEntry[]>;
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
  close(): Promise<void>;
}
