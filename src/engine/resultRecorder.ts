// Recording what runs ended with: a batch of results written (each fenced by its run's version) in the
// transaction that advances their flow instances (Coordinator.commitAndAdvance), then acked or requeued
// in Redis; the flows' next task instances — created RUNNING for this worker in the same transaction —
// are returned to the worker to run. While MySQL does not answer, a result is recorded again (its run keeping its slot
// and its lease) until MySQL is back, the lease is lost, or a lease's time has passed.
// A batch is bounded by bytes as well as rows (no round trip over the server's max_allowed_packet); a
// result MySQL refuses for what it holds is tried alone, then recorded as the task's failure with the
// reason — never left to run again and again.
import type { Services } from '../services.js';
import type { Lease } from '../queue/types.js';
import { dependencyDown } from '../errors.js';
import { bytesAtMost } from '../infra/writeLimits.js';
import { clipUtf8 } from '../infra/utf8.js';
import { sleep, withTimeout } from '../infra/timeout.js';
import type { Committed, Coordinator } from './coordinator.js';
import type { TaskRun, FinishedRun } from './taskRun.js';
import { finishRunsStatements, writtenOf } from './sql/finishRuns.js';
import { Batcher } from './batcher.js';
import type { RunSlots, Slot } from './runSlots.js';
import type { EngineEvents } from './events.js';

/** What recording a result gives back to the worker, as soon as it is committed. */
export interface Recorded {
  /**
   * Task instances the recording transaction created RUNNING for this worker (committed: they may run
   * now). A batch's go to its first result only, so each is run once.
   */
  continued: TaskRun[];
  /** Settles (never rejects) once the Redis side is done: acks, requeues, lock release, enqueueing. */
  settled: Promise<void>;
}

const NOTHING: Recorded = { continued: [], settled: Promise.resolve() };

/** A run's end, with what recording it needs. */
export interface Finished extends FinishedRun {
  slot: Slot;
  retryDelayMs: number;
  ms: number;
  /** Recorded in a batch of its own (after its batch was refused). */
  solo?: boolean;
  /** Its own result was refused too: this is the failure recorded in its place. */
  refused?: boolean;
}

/** A row's bytes beyond its output and error (ids, times, the SQL per row), as the batch's weight counts it. */
const ROW_BYTES = 256;
/** How much of MySQL's refusal a task's error message quotes. */
const REFUSAL_BYTES = 1024;

export class ResultRecorder {
  /** Results that arrive while earlier batches are being written are written together. */
  private batcher: Batcher<Finished, Recorded>;

  constructor(
    private s: Services,
    private coord: Coordinator,
    private slots: RunSlots,
    private events: EngineEvents,
    /** True once the worker stops: no new runs are taken on then. */
    private stopping: () => boolean,
  ) {
    const weigh = (it: Finished) => (it.solo ? Infinity : ROW_BYTES + bytesAtMost(it.result.output) + bytesAtMost(it.result.error));
    // A batch keeps its place until its Redis side is done, as its callers' slots do.
    this.batcher = new Batcher((items) => this.recordBatch(items), 2, 1000, weigh, s.limits.batchBytes, (recorded) => recorded[0]?.settled ?? NOTHING.settled);
  }

  /**
   * Records a result and resolves once it is committed; while MySQL does not answer, tries again
   * (keeping the slot and the lease) until it is back, the lease is lost (then the reaper or the
   * reconciler runs the task again), or a lease's time has passed in all.
   */
  async record(item: Finished): Promise<Recorded> {
    const giveUpAt = Date.now() + this.s.config.leaseMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.batcher.add(item);
      } catch (e) {
        const why = dependencyDown(e);
        if (!why && !item.solo) {
          // MySQL refused the batch for what it holds: which result, it does not say. Each goes alone.
          this.s.log.warn({ err: e, tiId: item.run.tiId }, 'recording a batch of task results was refused; recording each alone');
          item = { ...item, solo: true };
          continue;
        }
        if (!why && !item.refused) {
          // This result cannot be written: the task fails, saying why, rather than run again.
          this.s.log.error({ err: e, tiId: item.run.tiId }, 'a task result could not be recorded; recording the task as FAILED with the reason');
          const refusal = clipUtf8((e as Error)?.message ?? String(e), REFUSAL_BYTES);
          item = { ...item, refused: true, result: { status: 'FAILED', output: null, error: `its result could not be recorded: ${refusal}` } };
          continue;
        }
        if (!why || item.slot.abortedFor === 'lease lost' || Date.now() > giveUpAt) {
          this.s.log.error({ err: e, tiId: item.run.tiId }, 'recording a task result failed; the task will run again');
          return NOTHING;
        }
        if (attempt === 1) this.s.log.warn({ err: e, tiId: item.run.tiId }, `recording a task result failed (${why} unavailable); trying again`);
        await sleep(Math.min(2000, 100 * 2 ** attempt));
      }
    }
  }

  /**
   * Writes a batch of results (each fenced by its run's version) and advances their flow instances in
   * the same transaction, then acks them in Redis (a retry goes back to ready after its back-off).
   * The next tasks of those flows are created RUNNING for this worker, into the slots these results
   * free and any left over (reserved until the Redis side is done), and returned as soon as that
   * transaction has committed.
   */
  private async recordBatch(items: Finished[]): Promise<Recorded[]> {
    const fiIds = items.filter((i) => i.run.fiId && i.result.status !== 'RETRY').map((i) => i.run.fiId!);
    const room = this.stopping() ? 0 : items.length + Math.max(0, this.slots.free);
    this.slots.reserve(room);
    const now = new Date();
    let committed: Committed;
    try {
      committed = await this.coord.commitAndAdvance(fiIds, finishRunsStatements(items, now), { workerId: this.s.memberId, max: room }, undefined, this.coord.states.resultsOf(items));
    } catch (e) {
      this.slots.unreserve(room);
      throw e;
    }
    const acked = this.afterRecorded(items, now, committed.results).catch((e) =>
      this.s.log.warn({ err: e }, 'after recording task results: the Redis side failed; the reaper and the reconciler repair it'),
    );
    // The room stays reserved until then — and at least until the worker has taken the continued runs'
    // slots, which it does in this turn of the event loop.
    const settled = Promise.all([acked, committed.settled, new Promise((r) => setImmediate(r))]).then(
      () => this.slots.unreserve(room),
      () => this.slots.unreserve(room),
    );
    return items.map((_, i) => ({ continued: i === 0 ? committed.started : [], settled }));
  }

  /** Once a batch of results is committed: ack or requeue them. */
  private async afterRecorded(items: Finished[], now: Date, results: any[]): Promise<void> {
    const written = await writtenOf(this.s.knex, items, now, results);
    const { queue, log } = this.s;
    const acks: Lease[] = [];
    const requeues: (Lease & { delayMs: number })[] = [];
    for (const [i, it] of items.entries()) {
      if (!written[i]) {
        // Whoever moved the row on (reaper, cancel, a decided node) also took our lease out of Redis.
        log.warn({ tiId: it.run.tiId, fiId: it.run.fiId, attempt: it.run.attempt }, 'stale task result refused: the task instance moved on');
        this.events.emit('stale', 'worker');
        continue;
      }
      this.events.emit('taskFinished', it.run, it.result.status, it.ms);
      if (it.result.status === 'RETRY') requeues.push({ ...it.slot.lease, delayMs: it.retryDelayMs });
      else acks.push(it.slot.lease);
    }
    // Leases left behind by a failure here expire; the reaper then finds the rows finished (nothing runs
    // again) or PENDING (queued again).
    // Bounded, so a Redis that does not answer does not hold the recorder up; a given-up ack may land later.
    const bounded = (p: Promise<unknown>) => withTimeout(p, this.s.config.leaseMs / 3, 'acking recorded results');
    await Promise.all([
      bounded(queue.ackMany(acks)).catch((e) => log.warn({ err: e, n: acks.length }, 'ack failed; the reaper settles those leases')),
      bounded(queue.requeue(requeues)).catch((e) => log.warn({ err: e, n: requeues.length }, 'requeue failed; the reaper requeues them when their leases expire')),
    ]);
  }
}
