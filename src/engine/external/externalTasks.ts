// External workers' protocol, engine side (the HTTP routes are src/api/routes/worker.ts): a poll leases
// WORKER task instances from their queues (externalQueues.ts) and marks them RUNNING for the worker
// under a token per task; heartbeat, complete and fail present that token, checked against the row
// (MySQL: status RUNNING, lease_token) and, for a heartbeat, the lease (Redis). Results are recorded
// through the same fenced write + advance transaction as the members' own runs (recorder.ts).
//
// Every member serves it, with or without the worker role; a member's own executors never see these
// task instances (they are never in the members' queue, and never created RUNNING for a member).
import { randomBytes } from 'node:crypto';
import type { Services } from '../../services.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { ConflictError, NotFoundError, dependencyDown } from '../../errors.js';
import { withTimeout } from '../../infra/timeout.js';
import type { Coordinator } from '../coordinator.js';
import { renderRun } from '../renderRun.js';
import { TemplateError } from '../templates.js';
import { clipUtf8, MAX_ERROR_BYTES } from '../executeRun.js';
import { runOf, type RunResult, type TaskRun } from '../taskRun.js';
import { backoffMs, DEFAULT_WORKER_LEASE_MS, runPolicy, type TaskConfig } from '../../definitions/taskConfig.js';
import { PollHub } from './pollHub.js';
import { startLeased, type LeasedRun } from './startLeased.js';
import { ExternalRecorder, type ExternalResult } from './recorder.js';

/** The lease a poll takes before the member has marked the task RUNNING and knows its own leaseMs. */
export const PROVISIONAL_LEASE_MS = 10_000;

/** What a poll hands a worker, per task. */
export interface PolledTask {
  tiId: number;
  leaseToken: string;
  queue: string;
  taskId: number;
  taskName: string;
  fiId: number | null;
  nodeKey: string | null;
  attempt: number;
  leaseMs: number;
  input: unknown;
  content: string | null;
}

export interface PollRequest {
  queues: string[];
  workerId: string;
  max: number;
  waitMs: number;
  /** The API token's name (or X-User): recorded as the rows' update_user. */
  user: string;
}

/** Hooks for metrics; all optional. */
export interface ExternalEvents {
  onLeased?(queue: string, n: number): void;
  onFinished?(queue: string, status: RunResult['status']): void;
  onRefused?(what: 'heartbeat' | 'complete' | 'fail'): void;
  /** The leader's reaper took back leases of `queue` that ran out. */
  onLeaseExpired?(queue: string, n: number): void;
}

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

export const leaseMsOf = (cfg: TaskConfig) => cfg.leaseMs ?? DEFAULT_WORKER_LEASE_MS;
const newToken = () => randomBytes(16).toString('base64url');

export class ExternalTasks {
  readonly hub: PollHub;
  private recorder: ExternalRecorder;
  /**
   * Runs this member handed out, by tiId, until reported: a complete or fail arriving here writes at once
   * (fenced by the run's version, as always) without reading the row first. Only a shortcut: a call for a
   * run not here, or whose write the fence refuses, reads the row and answers from it.
   */
  private held = new Map<number, { run: TaskRun; lease: ExternalLease }>();
  /** Workers seen on this member: workerId → when its last poll was told to Redis (throttled). */
  private seenAt = new Map<string, number>();

  constructor(private s: Services, private coord: Coordinator, public events: ExternalEvents = {}) {
    this.hub = new PollHub(s.redis, s.queue.external.wakeChannel, s.log);
    this.recorder = new ExternalRecorder(s, coord, (r) => this.events.onFinished?.(r.lease.queue, r.result.status));
  }

  /**
   * A long poll: leases up to `max` due tasks of the queues, at once or as soon as any is enqueued,
   * or none once `waitMs` has passed. `gone` aborts when the client went away: nothing is leased to it
   * then (tasks already marked RUNNING for it are handed back at once).
   */
  async poll(req: PollRequest, gone: AbortSignal): Promise<PolledTask[]> {
    this.noteWorker(req);
    const w = await this.hub.register(req.queues);
    try {
      const deadline = Date.now() + req.waitMs;
      for (;;) {
        if (gone.aborted) return [];
        w.woken = false;
        const { leases, nextDueInMs, more } = await this.claim(req.queues, req.max);
        for (const q of more) this.hub.wake(q, 1); // there is more than this poll took: the next poll's
        if (leases.length) {
          const tasks = await this.start(leases, req, gone);
          if (tasks.length) return tasks;
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0) return [];
        await this.hub.wait(w, nextDueInMs === null ? left : Math.min(left, Math.max(nextDueInMs, 5)), gone);
        if (!w.woken && Date.now() >= deadline) return [];
      }
    } finally {
      this.hub.unregister(w);
    }
  }

  /** One claim per queue (rotated start, so no queue starves), until `max` are taken. */
  private async claim(queues: string[], max: number): Promise<{ leases: ExternalLease[]; nextDueInMs: number | null; more: string[] }> {
    const leases: ExternalLease[] = [];
    const more: string[] = [];
    let nextDueInMs: number | null = null;
    const start = Math.floor(Math.random() * queues.length);
    for (let i = 0; i < queues.length && leases.length < max; i++) {
      const queue = queues[(start + i) % queues.length]!;
      const tokens = Array.from({ length: max - leases.length }, newToken);
      const r = await this.s.queue.external.claim(queue, tokens, PROVISIONAL_LEASE_MS);
      leases.push(...r.leases);
      if (r.nextDueInMs === 0 && r.leases.length) more.push(queue);
      if (r.nextDueInMs !== null) nextDueInMs = nextDueInMs === null ? r.nextDueInMs : Math.min(nextDueInMs, r.nextDueInMs);
    }
    return { leases, nextDueInMs, more };
  }

  /**
   * Marks leased tasks RUNNING for the worker (committed before it is told), fills in their templates at
   * first run, and sets each lease to its task's leaseMs. Claimed ids that were not PENDING are dropped.
   */
  private async start(leases: ExternalLease[], req: PollRequest, gone: AbortSignal): Promise<PolledTask[]> {
    const { s } = this;
    let started: Awaited<ReturnType<typeof startLeased>>;
    try {
      started = await startLeased(s.knex, leases, req.workerId, req.user);
    } catch (e) {
      // Nothing was handed out: give the leases back now rather than after their provisional lease.
      await s.queue.external.release(leases.map((l) => ({ ...l, delayMs: 0 }))).catch(() => {});
      throw e;
    }
    if (started.skipped.length) await this.dropSkipped(started.skipped);
    const ready: LeasedRun[] = [];
    for (const run of started.runs) {
      try {
        ready.push({ ...run, ...(await renderRun(s.knex, this.coord.plans, run)) });
      } catch (e) {
        if (e instanceof TemplateError) await this.finish(run, run.lease, { status: 'FAILED', output: null, error: e.message }, 0);
        else await this.handBack([run]);
        if (!(e instanceof TemplateError) && !dependencyDown(e)) s.log.error({ err: e, tiId: run.tiId }, 'filling in a WORKER task failed');
      }
    }
    if (!ready.length) return [];
    const lost = new Set((await s.queue.external.extend(ready.map((r) => ({ ...r.lease, leaseMs: leaseMsOf(r.config) })))).map((l) => l.tiId));
    // A lease lost meanwhile was taken back by the reaper, which has set its row PENDING again.
    const mine = ready.filter((r) => !lost.has(r.tiId));
    if (gone.aborted) {
      await this.handBack(mine);
      return [];
    }
    for (const [queue, n] of countBy(mine.map((r) => r.lease.queue))) this.events.onLeased?.(queue, n);
    if (this.held.size > 100_000) this.held.clear();
    for (const r of mine) this.held.set(r.tiId, { run: r, lease: r.lease });
    const out: PolledTask[] = [];
    for (const r of mine) out.push(await this.present(r));
    return out;
  }

  private async present(r: LeasedRun): Promise<PolledTask> {
    let nodeKey: string | null = null;
    if (r.flowId !== null && r.flowVersion !== null && r.nodeId !== null) {
      const plan = await this.coord.plans.get(r.flowId, r.flowVersion).catch(() => null);
      nodeKey = plan?.byId.get(r.nodeId)?.key ?? null;
    }
    return {
      tiId: r.tiId,
      leaseToken: r.lease.token,
      queue: r.lease.queue,
      taskId: r.taskId,
      taskName: r.taskName,
      fiId: r.fiId,
      nodeKey,
      attempt: r.attempt,
      leaseMs: leaseMsOf(r.config),
      input: r.config.input ?? {},
      content: r.content,
    };
  }

  /** Claimed ids whose rows were not PENDING: their leases are dropped, and their flows moved on. */
  private async dropSkipped(skipped: { fiId: number | null; status: string; lease: ExternalLease }[]): Promise<void> {
    await this.s.queue.external.release(skipped.map((sk) => ({ ...sk.lease, delayMs: -1 }))).catch((e) => this.s.log.warn({ err: e }, 'dropping skipped leases failed; they expire'));
    const fiIds = skipped.filter((sk) => sk.fiId && ['SUCCESS', 'FAILED', 'CANCELLED'].includes(sk.status)).map((sk) => sk.fiId!);
    if (fiIds.length) await this.coord.advance(fiIds).catch((e) => this.s.log.warn({ err: e, fiIds }, 'advance failed; the reconciler retries it'));
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
      this.events.onRefused?.('heartbeat');
      throw new ConflictError(`leaseToken: the lease of task instance ${row.ti_id} has run out (it goes back to its queue); stop working on it`);
    }
    return { leaseMs };
  }

  /** Records the task SUCCESS with `output`; the same call again answers the same without writing. */
  async complete(tiId: number, token: string, output: string): Promise<{ status: string }> {
    const h = this.heldRun(tiId, token);
    if (h && (await this.finish(h.run, h.lease, { status: 'SUCCESS', output, error: null }, 0))) return { status: 'SUCCESS' };
    const row = await this.row(tiId);
    if (row.lease_token === token && row.exec_status === 'SUCCESS') return { status: 'SUCCESS' };
    const { run, queue } = await this.running(tiId, token, 'complete', row);
    const ok = await this.finish(run, { queue, tiId, token }, { status: 'SUCCESS', output, error: null }, 0);
    if (ok) return { status: 'SUCCESS' };
    const again = await this.row(tiId);
    if (again.lease_token === token && again.exec_status === 'SUCCESS') return { status: 'SUCCESS' };
    this.events.onRefused?.('complete');
    throw new ConflictError(`leaseToken: task instance ${tiId} moved on (${again.exec_status}) before this result was recorded; nothing was recorded`);
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
    this.events.onRefused?.('fail');
    throw new ConflictError(`leaseToken: task instance ${tiId} moved on before this failure was recorded; nothing was recorded`);
  }

  private finish(run: TaskRun, lease: ExternalLease, result: RunResult, retryDelayMs: number): Promise<boolean> {
    this.held.delete(run.tiId);
    const item: ExternalResult = { run, result, endedAt: new Date(), lease, retryDelayMs };
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
      this.events.onRefused?.(what);
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
      this.events.onRefused?.(what);
      const retry = run.attempt - run.lostAttempts < policy.maxAttempts;
      await this.finish(run, { queue, tiId, token }, { status: retry ? 'RETRY' : 'FAILED', output: null, error: `timed out after ${policy.timeoutMs} ms` }, backoffMs(policy.retryBackoffMs, run.attempt + 1));
      throw new ConflictError(`leaseToken: task instance ${tiId} timed out after ${policy.timeoutMs} ms; stop working on it`);
    }
    return { row, run, queue };
  }

  /** Tells the cluster (the dashboard's Workers page) that this worker polls, at most every 5 s per worker and member. */
  private noteWorker(req: PollRequest): void {
    const now = Date.now();
    if ((this.seenAt.get(req.workerId) ?? 0) > now - 5_000) return;
    this.seenAt.set(req.workerId, now);
    if (this.seenAt.size > 10_000) this.seenAt.clear();
    const info = JSON.stringify({ workerId: req.workerId, queues: req.queues, user: req.user, member: this.s.memberId, lastPoll: now });
    this.s.redis.hset(`${this.s.config.redisPrefix}wq:workers`, req.workerId, info).catch((e) => this.s.log.debug({ err: e }, 'noting a worker failed'));
  }

  async close(): Promise<void> {
    await this.hub.close();
  }
}

function countBy(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}
