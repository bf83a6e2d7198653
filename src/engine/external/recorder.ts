// Recording what external workers report (complete, fail, a timeout, a task handed back): the same
// fenced write and advance transaction the members' own worker uses (finishRunsStatements in
// Coordinator.commitAndAdvance), in batches bounded by bytes as well as rows (like resultRecorder.ts), so
// a result takes one path whoever ran the task. Once committed, each
// lease is ended in its queue: dropped, or back to ready after its back-off for a retry.
import type { Services } from '../../services.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { withTimeout } from '../../infra/timeout.js';
import type { Coordinator } from '../coordinator.js';
import { bytesAtMost } from '../../infra/writeLimits.js';
import { Batcher } from '../batcher.js';
import { finishRunsStatements, writtenOf } from '../sql/finishRuns.js';
import type { FinishedRun } from '../taskRun.js';

export interface ExternalResult extends FinishedRun {
  lease: ExternalLease;
  /** For a RETRY: how long until it may be handed out again. */
  retryDelayMs: number;
}

/** A row's bytes beyond its output and error, as the batch's weight counts it (as resultRecorder.ts). */
const ROW_BYTES = 256;

export class ExternalRecorder {
  private batcher: Batcher<ExternalResult, boolean>;

  constructor(private s: Services, private coord: Coordinator, private onRecorded: (r: ExternalResult) => void = () => {}) {
    const weigh = (it: ExternalResult) => ROW_BYTES + bytesAtMost(it.result.output) + bytesAtMost(it.result.error);
    this.batcher = new Batcher((items) => this.recordBatch(items), 2, 500, weigh, s.limits.batchBytes);
  }

  /** Writes a result, fenced by its run's version; false when the row had moved on (nothing written). */
  record(item: ExternalResult): Promise<boolean> {
    return this.batcher.add(item);
  }

  private async recordBatch(items: ExternalResult[]): Promise<boolean[]> {
    const fiIds = items.filter((i) => i.run.fiId && i.result.status !== 'RETRY').map((i) => i.run.fiId!);
    const now = new Date();
    const committed = await this.coord.commitAndAdvance(fiIds, finishRunsStatements(items, now));
    // Committed: nothing after this throws (a lease left behind by a failure here expires; the reaper then
    // finds the row ended, and drops it, or PENDING, and queues it again).
    let written: boolean[] = items.map(() => false);
    try {
      written = await writtenOf(this.s.knex, items, now, committed.results);
      const ends = items.filter((_, i) => written[i]).map((it) => ({ ...it.lease, delayMs: it.result.status === 'RETRY' ? it.retryDelayMs : -1 }));
      await withTimeout(this.s.queue.external.release(ends), this.s.config.leaseMs / 3, 'ending external leases').catch((e) =>
        this.s.log.warn({ err: e, n: ends.length }, 'ending external leases failed; the reaper settles them'),
      );
      items.forEach((it, i) => written[i] && this.onRecorded(it));
    } catch (e) {
      this.s.log.warn({ err: e }, 'after recording external results: reading them back failed; the reaper settles their leases');
    }
    // The locks released and the next task instances queued, so the worker's next poll finds them.
    await committed.settled;
    return written;
  }
}
