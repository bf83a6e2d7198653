// Recording what external workers report (complete, fail, a timeout, a task handed back): the same
// fenced write and advance transaction the members' own worker uses (finishRunsStatements in
// commitAndAdvance), in batches, so a result takes one path whoever ran the task. Once committed, each
// lease is ended in its queue: dropped, or back to ready after its back-off for a retry.
import type { Services } from '../../services.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { withTimeout } from '../../infra/timeout.js';
import type { Coordinator } from '../coordinator.js';
import { commitAndAdvance } from '../commitAndAdvance.js';
import { Batcher } from '../batcher.js';
import { finishRunsStatements, writtenOf } from '../sql/finishRuns.js';
import type { FinishedRun } from '../taskRun.js';

export interface ExternalResult extends FinishedRun {
  lease: ExternalLease;
  /** For a RETRY: how long until it may be handed out again. */
  retryDelayMs: number;
}

export class ExternalRecorder {
  private batcher: Batcher<ExternalResult, boolean>;

  constructor(private s: Services, private coord: Coordinator, private onRecorded: (r: ExternalResult) => void = () => {}) {
    this.batcher = new Batcher((items) => this.recordBatch(items), 2, 500);
  }

  /** Writes a result, fenced by its run's version; false when the row had moved on (nothing written). */
  record(item: ExternalResult): Promise<boolean> {
    return this.batcher.add(item);
  }

  private async recordBatch(items: ExternalResult[]): Promise<boolean[]> {
    const fiIds = items.filter((i) => i.run.fiId && i.result.status !== 'RETRY').map((i) => i.run.fiId!);
    const now = new Date();
    let written: boolean[] = [];
    await commitAndAdvance(this.s, this.coord, fiIds, finishRunsStatements(items, now), async (results) => {
      written = await writtenOf(this.s.knex, items, now, results);
      const ends = items.filter((_, i) => written[i]).map((it) => ({ ...it.lease, delayMs: it.result.status === 'RETRY' ? it.retryDelayMs : -1 }));
      // A lease left behind by a failure here expires; the reaper then finds the row ended (dropped) or
      // PENDING (queued again).
      await withTimeout(this.s.queue.external.release(ends), this.s.config.leaseMs / 3, 'ending external leases').catch((e) =>
        this.s.log.warn({ err: e, n: ends.length }, 'ending external leases failed; the reaper settles them'),
      );
      items.forEach((it, i) => written[i] && this.onRecorded(it));
    });
    return written;
  }
}
