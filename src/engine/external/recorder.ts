// Recording what external workers report (complete, fail, a timeout, a task handed back): the same
// fenced write and advance transaction the members' own worker uses (finishRunsStatements in
// Coordinator.commitAndAdvance), in batches bounded by bytes as well as rows (like resultRecorder.ts), so
// a result takes one path whoever ran the task. Once committed, each
// lease is ended in its queue: dropped, or back to ready after its back-off for a retry. A SUCCESS that
// comes with `next` hands its worker the flow's next WORKER task instances, created RUNNING for it by the
// same transaction (handOver.ts), their leases registered alongside the ending of the recorded ones.
import type { Services } from '../../services.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { withTimeout } from '../../infra/timeout.js';
import type { Committed, Coordinator } from '../coordinator.js';
import { bytesAtMost } from '../../infra/writeLimits.js';
import { Batcher } from '../batcher.js';
import { leaseMsOf } from './types.js';
import { finishRunsStatements, writtenOf } from '../sql/finishRuns.js';
import type { FinishedRun } from '../taskRun.js';
import type { HandOver, HandedOver, NextRequest } from './handOver.js';

export interface ExternalResult extends FinishedRun {
  lease: ExternalLease;
  /** For a RETRY: how long until it may be handed out again. */
  retryDelayMs: number;
  /** Its worker takes the flow's next WORKER task instances (a SUCCESS of a flow's task only). */
  next?: NextRequest;
}

/** What recording a result gave: written (false: the row had moved on, nothing written), and what was handed over. */
export interface Recorded {
  written: boolean;
  /** Committed RUNNING for the item's worker and leased: the caller tells the worker or hands them back. */
  handedOver: HandedOver[];
}

/** A row's bytes beyond its output and error, as the batch's weight counts it (as resultRecorder.ts). */
const ROW_BYTES = 256;

export class ExternalRecorder {
  private batcher: Batcher<ExternalResult, { done: Promise<Recorded> }>;

  constructor(private s: Services, private coord: Coordinator, private onRecorded: (r: ExternalResult) => void = () => {}) {
    const weigh = (it: ExternalResult) => ROW_BYTES + bytesAtMost(it.result.output) + bytesAtMost(it.result.error);
    this.batcher = new Batcher((items) => this.recordBatch(items), 2, 500, weigh, s.limits.batchBytes);
  }

  /** Writes a result, fenced by its run's version; `written` false when the row had moved on (nothing written). */
  async record(item: ExternalResult): Promise<Recorded> {
    return (await this.batcher.add(item)).done;
  }

  private async recordBatch(items: ExternalResult[]): Promise<{ done: Promise<Recorded> }[]> {
    const fiIds = items.filter((i) => i.run.fiId && i.result.status !== 'RETRY').map((i) => i.run.fiId!);
    const now = new Date();
    // One worker per flow instance (the first asking): its new WORKER instances go to that worker.
    const handOver = new Map<number, HandOver>();
    for (const it of items) if (it.next && it.run.fiId && it.result.status === 'SUCCESS' && !handOver.has(it.run.fiId)) handOver.set(it.run.fiId, { ...it.next, fiId: it.run.fiId });
    const committed = await this.coord.commitAndAdvance(fiIds, finishRunsStatements(items, now), undefined, handOver.size ? [...handOver.values()] : undefined, this.coord.states.resultsOf(items));
    // The batch's place goes to the next batch as soon as this one has committed (measured: transition p50
    // 11-16 ms against 14-20 with the place kept until the Redis side was done); its callers are answered
    // once that is done.
    const after = this.afterCommit(items, now, committed);
    return items.map((_, i) => ({ done: after.then((r) => r[i]!) }));
  }

  private async afterCommit(items: ExternalResult[], now: Date, committed: Committed): Promise<Recorded[]> {
    // Committed: nothing after this throws (a lease left behind by a failure here expires; the reaper then
    // finds the row ended, and drops it, or PENDING, and queues it again).
    let written: boolean[] = items.map(() => false);
    let leased: HandedOver[] = [];
    try {
      written = await writtenOf(this.s.knex, items, now, committed.results);
      const ends = items.filter((_, i) => written[i]).map((it) => ({ ...it.lease, delayMs: it.result.status === 'RETRY' ? it.retryDelayMs : -1 }));
      const [, got] = await Promise.all([
        withTimeout(this.s.queue.external.release(ends), this.s.config.leaseMs / 3, 'ending external leases').catch((e) =>
          this.s.log.warn({ err: e, n: ends.length }, 'ending external leases failed; the reaper settles them'),
        ),
        this.lease(committed.handedOver),
      ]);
      leased = got;
      items.forEach((it, i) => written[i] && this.onRecorded(it));
    } catch (e) {
      this.s.log.warn({ err: e }, 'after recording external results: reading them back failed; the reaper settles their leases');
    }
    // Each handed-over run to the item whose worker asked for its flow (the first asking in the batch, as
    // handOver was built); whoever does not pass them on to its worker hands them back.
    const byFi = new Map<number, HandedOver[]>();
    for (const r of leased) byFi.set(r.fiId, [...(byFi.get(r.fiId) ?? []), r]);
    const out = items.map((it, i): Recorded => {
      const mine = it.next && it.run.fiId && it.result.status === 'SUCCESS' ? byFi.get(it.run.fiId) : undefined;
      if (mine) byFi.delete(it.run.fiId!);
      return { written: written[i]!, handedOver: mine ?? [] };
    });
    // The locks released and the next task instances queued, so the worker's next poll finds them.
    await committed.settled;
    return out;
  }

  /**
   * Leases the handed-over runs in their queues for their task's leaseMs. Those Redis does not take are
   * left RUNNING without a lease: the reconciler queues them again after its grace.
   */
  private async lease(runs: HandedOver[]): Promise<HandedOver[]> {
    if (!runs.length) return [];
    try {
      const refused = await withTimeout(
        this.s.queue.external.lease(runs.map((r) => ({ queue: r.queue, tiId: r.tiId, token: r.token, leaseMs: leaseMsOf(r.config) }))),
        this.s.config.leaseMs / 3,
        'leasing handed-over WORKER tasks',
      );
      const no = new Set(refused.map((l) => l.tiId));
      return runs.filter((r) => !no.has(r.tiId));
    } catch (e) {
      this.s.log.warn({ err: e, tiIds: runs.map((r) => r.tiId) }, 'leasing handed-over WORKER tasks failed; the reconciler queues them again');
      return [];
    }
  }
}
