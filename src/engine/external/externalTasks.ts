// External workers' protocol, engine side (the HTTP routes are src/api/routes/worker.ts): a poll leases
// WORKER task instances from their queues (externalQueues.ts) and marks them RUNNING for the worker
// under a token per task (poller.ts); heartbeat, complete and fail present that token, checked against the row
// (MySQL: status RUNNING, lease_token) and, for a heartbeat, the lease (Redis). Results are recorded
// through the same fenced write + advance transaction as the members' own runs (recorder.ts).
//
// Every member serves it, with or without the worker role; a member's own executors never see these
// task instances (they are never in the members' queue, and never created RUNNING for a member).
import type { Services } from '../../services.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { ConflictError, NotFoundError } from '../../errors.js';
import { withTimeout } from '../../infra/timeout.js';
import type { Coordinator } from '../coordinator.js';
import { MAX_ERROR_BYTES } from '../executeRun.js';
import { clipUtf8 } from '../../infra/utf8.js';
import { runOf, type RunResult, type TaskRun } from '../taskRun.js';
import { backoffMs, runPolicy } from '../../definitions/taskConfig.js';
import { PollHub } from './pollHub.js';
import { Poller } from './poller.js';
import { ExternalRecorder, type ExternalResult, type Recorded } from './recorder.js';
import type { HandedOver, NextRequest } from './handOver.js';
import { leaseMsOf, type PolledTask, type PollRequest } from './types.js';
import type { EngineEvents } from '../events.js';

export { leaseMsOf, PROVISIONAL_LEASE_MS, type PolledTask, type PollRequest } from './types.js';
export type { NextRequest } from './handOver.js';

interface Row {
  ti_id: number;
  fi_id: number | null;
  ni_id: number | null;
  task_id: number;
  exec_status: string;
  attempt: number;
  lost_attempts: number;
  version: number;
  lease_token: string | null;
  start_time: Date | null;
  rendered_content: string | null;
  rendered_config: string | null;
  task_type: string;
  task_content: string | null;
  task_config: unknown;
}


export class ExternalTasks {
  readonly hub: PollHub;
  private recorder: ExternalRecorder;
  /**
   * Runs this member handed out, by tiId, until reported: a complete or fail arriving here writes at once
   * (fenced by the run's version, as always) without reading the row first. Only a shortcut: a call for a
   * run not here, or whose write the fence refuses, reads the row and answers from it.
   */
  private held = new Map<number, { run: TaskRun; lease: ExternalLease }>();
  private poller: Poller;

  constructor(private s: Services, coord: Coordinator, private events: EngineEvents) {
    this.hub = new PollHub(s.redis, s.queue.external.wakeChannel, s.log);
    this.recorder = new ExternalRecorder(s, coord, (r) => this.events.emit('externalFinished', r.lease.queue, r.result.status));
    const self = this;
    this.poller = new Poller(s, coord, this.hub, {
      get events() {
        return self.events;
      },
      finish: (run, lease, result, delay) => this.finish(run, lease, result, delay),
      handBack: (runs) => this.handBack(runs),
      remember: (runs) => {
        // Runs never reported here (their worker died, or reports to another member) are forgotten after
        // a while: the shortcut is lost for them, nothing else.
        if (this.held.size > 10_000) {
          const old = Date.now() - 10 * 60_000;
          for (const [id, h] of this.held) if (h.run.startedAt.getTime() < old) this.held.delete(id);
          if (this.held.size > 100_000) this.held.clear();
        }
        for (const r of runs) this.held.set(r.tiId, { run: r, lease: r.lease });
      },
    });
  }

  /**
   * A long poll: leases up to `max` due tasks of the queues, at once or as soon as any is enqueued,
   * or none once `waitMs` has passed. `gone` aborts when the client went away: nothing is leased to it
   * then (tasks already marked RUNNING for it are handed back at once).
   */
  poll(req: PollRequest, gone: AbortSignal): Promise<PolledTask[]> {
    return this.poller.poll(req, gone);
  }

  /**
   * Gives runs marked RUNNING for a poll whose client went away back to their queue at once (PENDING,
   * the attempt not counted), rather than leaving them leased to nobody until the lease runs out.
   */
  async handBack(runs: (TaskRun & { lease: ExternalLease })[]): Promise<void> {
    await Promise.all(
      runs.map((r) =>
        this.finish(r, r.lease, { status: 'RETRY', output: null, error: "handed back: the worker's poll went away before it was answered", notCounted: true }, 0).catch((e) =>
          this.s.log.warn({ err: e, tiId: r.tiId }, 'handing a WORKER task back failed; its lease runs out and the reaper takes it back'),
        ),
      ),
    );
  }

  /** Tasks answered to a poll whose answer did not get out: those still RUNNING under their token go back. */
  async handBackTasks(tasks: PolledTask[]): Promise<void> {
    const runs: (TaskRun & { lease: ExternalLease })[] = [];
    for (const t of tasks) {
      const row = await this.row(t.tiId).catch(() => null);
      if (row && row.exec_status === 'RUNNING' && row.lease_token === t.leaseToken) runs.push({ ...runOf(row, row.start_time ?? new Date()), lease: { queue: t.queue, tiId: t.tiId, token: t.leaseToken } });
    }
    await this.handBack(runs);
  }

  /** A worker that stops hands a task back: PENDING again at once, the run not counted. */
  async release(tiId: number, token: string): Promise<{ status: string }> {
    const row = await this.row(tiId);
    if (row.lease_token === token && row.exec_status === 'PENDING') return { status: 'PENDING' };
    const { run, queue } = await this.running(tiId, token, 'fail', row);
    const ok = await this.finish(run, { queue, tiId, token }, { status: 'RETRY', output: null, error: 'handed back by its worker', notCounted: true }, 0);
    if (ok) return { status: 'PENDING' };
    throw new ConflictError(`leaseToken: task instance ${tiId} moved on before it was handed back`);
  }

  /** The lease renewed for the task's leaseMs; ConflictError when the lease is not this token's any more. */
  async heartbeat(tiId: number, token: string): Promise<{ leaseMs: number }> {
    const { row, run, queue } = await this.running(tiId, token, 'heartbeat');
    const leaseMs = leaseMsOf(run.config);
    const lost = await withTimeout(this.s.queue.external.extend([{ queue, tiId, token, leaseMs }]), 5_000, 'renewing a lease');
    if (lost.length) {
      this.events.emit('externalRefused', 'heartbeat');
      throw new ConflictError(`leaseToken: the lease of task instance ${row.ti_id} has run out (it goes back to its queue); stop working on it`);
    }
    return { leaseMs };
  }

  /**
   * Records the task SUCCESS with `output`; the same call again answers the same without writing. With
   * `next`, the answer's `next` lists the flow's next WORKER task instances the same transaction created
   * RUNNING for that worker (handOver.ts), leased to it as a poll's would be; [] when there are none (the
   * flow ended, its next step is not a WORKER task of those queues, has limits, or waits on other nodes).
   */
  async complete(tiId: number, token: string, output: string, next?: NextRequest): Promise<{ status: string; next?: PolledTask[] }> {
    const success: RunResult = { status: 'SUCCESS', output, error: null };
    const answer = async (handed: HandedOver[]) => (next ? { status: 'SUCCESS', next: await this.poller.handOver(handed, { ...next, waitMs: 0 }) } : { status: 'SUCCESS' });
    const h = this.heldRun(tiId, token);
    if (h) {
      const r = await this.record(h.run, h.lease, success, 0, next);
      if (r.written) return answer(r.handedOver);
      await this.handBackHanded(r.handedOver);
    }
    const row = await this.row(tiId);
    if (row.lease_token === token && row.exec_status === 'SUCCESS') return answer([]);
    const { run, queue } = await this.running(tiId, token, 'complete', row);
    const r = await this.record(run, { queue, tiId, token }, success, 0, next);
    if (r.written) return answer(r.handedOver);
    await this.handBackHanded(r.handedOver);
    const again = await this.row(tiId);
    if (again.lease_token === token && again.exec_status === 'SUCCESS') return answer([]);
    this.events.emit('externalRefused', 'complete');
    throw new ConflictError(`leaseToken: task instance ${tiId} moved on (${again.exec_status}) before this result was recorded; nothing was recorded`);
  }

  /** Handed-over runs nobody is told of go back to their queue at once. */
  private async handBackHanded(runs: HandedOver[]): Promise<void> {
    if (runs.length) await this.handBack(runs.map((r) => ({ ...r, lease: { queue: r.queue, tiId: r.tiId, token: r.token } })));
  }

  /**
   * Records a failed attempt: retried after its back-off while `maxRetries` allows (and `retryable`),
   * FAILED otherwise. The same call again answers the same without writing.
   */
  async fail(tiId: number, token: string, error: string, retryable: boolean): Promise<{ status: string }> {
    const h = this.heldRun(tiId, token);
    if (h) {
      const policy = runPolicy(h.run.config);
      const retry = retryable && h.run.attempt - h.run.lostAttempts < policy.maxAttempts;
      const result: RunResult = { status: retry ? 'RETRY' : 'FAILED', output: null, error: clipUtf8(error, MAX_ERROR_BYTES) };
      if (await this.finish(h.run, h.lease, result, backoffMs(policy.retryBackoffMs, h.run.attempt + 1))) return { status: retry ? 'PENDING' : 'FAILED' };
    }
    const row = await this.row(tiId);
    if (row.lease_token === token && (row.exec_status === 'FAILED' || row.exec_status === 'PENDING')) return { status: row.exec_status };
    const { run, queue } = await this.running(tiId, token, 'fail', row);
    const policy = runPolicy(run.config);
    const retry = retryable && run.attempt - run.lostAttempts < policy.maxAttempts;
    const result: RunResult = { status: retry ? 'RETRY' : 'FAILED', output: null, error: clipUtf8(error, MAX_ERROR_BYTES) };
    const ok = await this.finish(run, { queue, tiId, token }, result, backoffMs(policy.retryBackoffMs, run.attempt + 1));
    if (ok) return { status: retry ? 'PENDING' : 'FAILED' };
    this.events.emit('externalRefused', 'fail');
    throw new ConflictError(`leaseToken: task instance ${tiId} moved on before this failure was recorded; nothing was recorded`);
  }

  private finish(run: TaskRun, lease: ExternalLease, result: RunResult, retryDelayMs: number): Promise<boolean> {
    return this.record(run, lease, result, retryDelayMs).then((r) => r.written);
  }

  private record(run: TaskRun, lease: ExternalLease, result: RunResult, retryDelayMs: number, next?: NextRequest): Promise<Recorded> {
    this.held.delete(run.tiId);
    const item: ExternalResult = { run, result, endedAt: new Date(), lease, retryDelayMs, ...(next ? { next } : {}) };
    return this.recorder.record(item);
  }

  /** A run this member handed out under this token, still within its timeout (else the row decides). */
  private heldRun(tiId: number, token: string): { run: TaskRun; lease: ExternalLease } | null {
    const h = this.held.get(tiId);
    if (!h || h.lease.token !== token) return null;
    if (Date.now() - h.run.startedAt.getTime() > runPolicy(h.run.config).timeoutMs) return null;
    return h;
  }

  private async row(tiId: number): Promise<Row> {
    const [row] = (await this.s.knex('task_ins as ti')
      .join('task as t', 't.task_id', 'ti.task_id')
      .select('ti.ti_id', 'ti.fi_id', 'ti.ni_id', 'ti.task_id', 'ti.exec_status', 'ti.attempt', 'ti.lost_attempts', 'ti.version', 'ti.lease_token', 'ti.start_time',
        'ti.rendered_content', 'ti.rendered_config', 't.task_type', 't.task_content', 't.task_config')
      .where('ti.ti_id', tiId)) as Row[];
    if (!row || row.task_type !== 'WORKER') throw new NotFoundError(`tiId: no WORKER task instance ${tiId}`);
    return row;
  }

  /**
   * The row as a run, if it is RUNNING under this token and within its timeout; else ConflictError (a
   * run past its timeout is recorded as a failed attempt first, and the lease of an ended one dropped).
   */
  private async running(tiId: number, token: string, what: 'heartbeat' | 'complete' | 'fail', known?: Row): Promise<{ row: Row; run: TaskRun; queue: string }> {
    const row = known ?? (await this.row(tiId));
    const run = runOf(row, row.start_time ?? new Date());
    const queue = run.config.queue ?? '';
    if (row.lease_token !== token || row.exec_status !== 'RUNNING') {
      this.events.emit('externalRefused', what);
      if (row.lease_token === token) {
        // Cancelled, or ended otherwise: the lease goes too, so nothing keeps it.
        await this.s.queue.external.release([{ queue, tiId, token, delayMs: -1 }]).catch(() => {});
      }
      const why = row.lease_token !== token ? 'is leased under another token (its lease ran out and it was handed out again)' : `is ${row.exec_status}`;
      throw new ConflictError(`leaseToken: task instance ${tiId} ${why}; stop working on it`);
    }
    const policy = runPolicy(run.config);
    const ranMs = Date.now() - (row.start_time?.getTime() ?? Date.now());
    if (what !== 'fail' && ranMs > policy.timeoutMs) {
      this.events.emit('externalRefused', what);
      const retry = run.attempt - run.lostAttempts < policy.maxAttempts;
      await this.finish(run, { queue, tiId, token }, { status: retry ? 'RETRY' : 'FAILED', output: null, error: `timed out after ${policy.timeoutMs} ms` }, backoffMs(policy.retryBackoffMs, run.attempt + 1));
      throw new ConflictError(`leaseToken: task instance ${tiId} timed out after ${policy.timeoutMs} ms; stop working on it`);
    }
    return { row, run, queue };
  }

  async close(): Promise<void> {
    await this.hub.close();
  }
}
