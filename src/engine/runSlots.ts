// The worker's slots: WORKER_CONCURRENCY task instances held at once, from claim until their result is
// recorded. Each is held under its lease — the task instance and the owner that leased it, the owner
// naming one claim (`memberId|claimToken`) — so two runs of one task instance in this member (a lease
// reaped during a partition, then claimed again here) are two entries that cannot be mistaken for each
// other, and each is extended, acked and aborted as what it is.
// Held leases are extended every LEASE_MS/3; one found lost aborts its run. A lease that could not be
// written (a continuation whose lease Redis refused) is tried again on the next tick.
import type { Logger } from '../infra/logger.js';
import type { Lease, Queue } from '../queue/types.js';
import type { TaskRun } from './taskRun.js';
import { groupBy } from '../infra/groupBy.js';

/** Why a run was aborted by the worker (not by its own timeout). */
export type AbortReason = 'shutdown' | 'lease lost' | 'cancelled';

export interface Slot {
  lease: Lease;
  /** Set once the task instance is marked RUNNING and its executor starts. */
  run?: TaskRun;
  abort?: AbortController;
  abortedFor?: AbortReason;
  /** False while the lease is not written in Redis yet (see lease retries above). */
  leased: boolean;
}

export class RunSlots {
  private slots = new Set<Slot>();
  /** Slots set aside for the next tasks of flows whose results are being recorded (continuation). */
  private reservedForNext = 0;
  private onFree: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private extending = false;

  constructor(private capacity: number, private queue: Queue, private leaseMs: number, private log: Logger) {}

  /** Slots nobody holds or has reserved. */
  get free(): number {
    return this.capacity - this.slots.size - this.reservedForNext;
  }

  /** Runs whose executor is running now. */
  get executing(): number {
    let n = 0;
    for (const s of this.slots) if (s.abort) n++;
    return n;
  }

  get size(): number {
    return this.slots.size;
  }

  /** What the slots hold now (a shutdown's progress lines name them). */
  held(): { tiId: number; fiId: number | null; taskType: string | null }[] {
    return [...this.slots].map((s) => ({ tiId: s.lease.tiId, fiId: s.run?.fiId ?? null, taskType: s.run?.taskType ?? null }));
  }

  hold(leases: Lease[], leased = true): Slot[] {
    return leases.map((lease) => {
      const slot: Slot = { lease, leased };
      this.slots.add(slot);
      return slot;
    });
  }

  /** Frees the slot (its result is recorded, or it was given up). */
  release(slot: Slot): void {
    this.slots.delete(slot);
    this.wake();
  }

  /** Sets `n` slots aside (the caller counts them: slots of runs being recorded, plus free ones). */
  reserve(n: number): void {
    this.reservedForNext += n;
  }

  unreserve(n: number): void {
    this.reservedForNext -= n;
    this.wake();
  }

  /** Resolves at the next release (or wake()): a slot may be free then. */
  whenFree(): Promise<void> {
    return new Promise((resolve) => (this.onFree = resolve));
  }

  wake(): void {
    const f = this.onFree;
    this.onFree = null;
    f?.();
  }

  /** Aborts the runs of these task instances, whichever lease they run under. */
  abortTasks(tiIds: number[], why: AbortReason): void {
    const ids = new Set(tiIds);
    for (const s of this.slots) if (ids.has(s.lease.tiId)) this.abort(s, why);
  }

  abortAll(why: AbortReason): void {
    for (const s of this.slots) this.abort(s, why);
  }

  private abort(s: Slot, why: AbortReason): void {
    if (s.abort && !s.abort.signal.aborted) {
      s.abortedFor = why;
      s.abort.abort(new Error(why));
    }
  }

  startExtending(): void {
    this.timer = setInterval(() => void this.extend(), Math.max(200, Math.floor(this.leaseMs / 3)));
  }

  stopExtending(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One extension round: leases not written yet are written, the others extended; lost ones abort their runs. */
  private async extend(): Promise<void> {
    if (this.extending || !this.slots.size) return; // a slow Redis: do not pile rounds up
    this.extending = true;
    try {
      const all = [...this.slots];
      const unleased = all.filter((s) => !s.leased);
      for (const [owner, group] of groupBy(unleased, (s) => s.lease.owner)) {
        const n = await this.queue.lease(group.map((s) => s.lease.tiId), owner, this.leaseMs);
        if (n === group.length) for (const s of group) s.leased = true;
      }
      const leased = all.filter((s) => s.leased);
      // extend() answers with the very lease objects it was given.
      const lost = new Set(await this.queue.extend(leased.map((s) => s.lease), this.leaseMs));
      const gone = leased.filter((s) => lost.has(s.lease));
      if (gone.length) {
        this.log.warn({ tiIds: gone.map((s) => s.lease.tiId) }, 'leases lost: aborting those runs');
        for (const s of gone) this.abort(s, 'lease lost');
      }
    } catch (e) {
      this.log.warn({ err: e }, 'lease extension failed');
    } finally {
      this.extending = false;
    }
  }
}
