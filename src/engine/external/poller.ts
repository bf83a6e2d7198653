// The poll side of the external workers' protocol: a long poll held in memory (pollHub.ts), claims per
// queue, and the claimed tasks marked RUNNING for the worker (startLeased.ts), their templates filled in
// and their leases set to their own leaseMs before the worker is answered. A client gone by then gets
// nothing: what was marked for it is handed back at once.
import type { Services } from '../../services.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { dependencyDown } from '../../errors.js';
import type { Coordinator } from '../coordinator.js';
import { renderRun } from '../renderRun.js';
import { TemplateError } from '../templates.js';
import type { RunResult, TaskRun } from '../taskRun.js';
import type { PollHub } from './pollHub.js';
import { LeaseStarter, type LeasedRun } from './startLeased.js';
import { leaseMsOf, PROVISIONAL_LEASE_MS, type PolledTask, type PollRequest } from './types.js';
import { newTokens, type HandedOver } from './handOver.js';
import type { EngineEvents } from '../events.js';


/**
 * Test hook (fault tests only, never set in production): `<taskName>:<ms>` holds the answer to a poll (or
 * a complete's hand-over) handing out a task of that name for ms after it is marked RUNNING, so a test
 * can SIGKILL the member between marking and answering.
 */
const HOLD_ANSWER = /^(.+):(\d+)$/.exec(process.env.TASK_SCHEDULE_TEST_HOLD_POLL_ANSWER ?? '');

/** What the poller needs of the protocol's other half (externalTasks.ts). */
export interface PollerHooks {
  events: EngineEvents;
  /** Records a result (a template that cannot be filled in fails the task at once). */
  finish(run: TaskRun, lease: ExternalLease, result: RunResult, retryDelayMs: number): Promise<boolean>;
  handBack(runs: (TaskRun & { lease: ExternalLease })[]): Promise<void>;
  /** Runs handed out, so their reports can skip reading the row. */
  remember(runs: LeasedRun[]): void;
}

export class Poller {
  /** Workers seen on this member: workerId → when its last poll was told to Redis (throttled). */
  private seenAt = new Map<string, number>();
  /**
   * The shortest leaseMs seen on each queue's tasks: a claim's provisional lease is no longer than that,
   * so tasks claimed by a member that dies before answering go back within about their own lease.
   */
  private leaseOfQueue = new Map<string, number>();

  /** Marks what polls claim RUNNING, the claims of polls arriving together in one statement. */
  private starter: LeaseStarter;

  constructor(private s: Services, private coord: Coordinator, private hub: PollHub, private hooks: PollerHooks) {
    this.starter = new LeaseStarter(s.knex);
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
        if (gone.aborted || this.hub.isClosed) return [];
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
      const tokens = newTokens(max - leases.length);
      const r = await this.s.queue.external.claim(queue, tokens, Math.min(PROVISIONAL_LEASE_MS, this.leaseOfQueue.get(queue) ?? PROVISIONAL_LEASE_MS));
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
    let started: Awaited<ReturnType<LeaseStarter['start']>>;
    try {
      started = await this.starter.start(leases, req.workerId, req.user);
    } catch (e) {
      // Nothing was handed out: give the leases back now rather than after their provisional lease.
      await s.queue.external.release(leases.map((l) => ({ ...l, delayMs: 0 }))).catch(() => {});
      throw e;
    }
    if (started.skipped.length) await this.dropSkipped(started.skipped);
    for (const run of started.runs) {
      const q = run.lease.queue;
      const ms = leaseMsOf(run.config);
      if (ms < (this.leaseOfQueue.get(q) ?? Infinity)) {
        if (this.leaseOfQueue.size >= 10_000) this.leaseOfQueue.clear();
        this.leaseOfQueue.set(q, ms);
      }
    }
    await holdAnswer(started.runs);
    const ready = await this.render(started.runs);
    if (!ready.length) return [];
    const lost = new Set((await s.queue.external.extend(ready.map((r) => ({ ...r.lease, leaseMs: leaseMsOf(r.config) })))).map((l) => l.tiId));
    // A lease lost meanwhile was taken back by the reaper, which has set its row PENDING again.
    const mine = ready.filter((r) => !lost.has(r.tiId));
    if (gone.aborted) {
      await this.hooks.handBack(mine);
      return [];
    }
    for (const [queue, n] of countBy(mine.map((r) => r.lease.queue))) this.hooks.events.emit('externalLeased', queue, n);
    this.hooks.remember(mine);
    const out: PolledTask[] = [];
    for (const r of mine) out.push(await this.present(r));
    return out;
  }

  /**
   * Runs a complete handed over to its worker (handOver.ts): RUNNING for it and leased for their own
   * leaseMs already; their templates filled in, and answered as a poll's.
   */
  async handOver(runs: HandedOver[], req: PollRequest): Promise<PolledTask[]> {
    this.noteWorker(req); // a worker taking its tasks this way polls seldom: the dashboard sees it all the same
    if (!runs.length) return [];
    const leased: LeasedRun[] = runs.map((r) => ({ ...r, lease: { queue: r.queue, tiId: r.tiId, token: r.token } }));
    const ready = await this.render(leased);
    for (const [queue, n] of countBy(ready.map((r) => r.lease.queue))) {
      this.hooks.events.emit('externalLeased', queue, n);
      this.hooks.events.emit('externalHandedOver', queue, n);
    }
    this.hooks.remember(ready);
    await holdAnswer(ready);
    const out: PolledTask[] = [];
    for (const r of ready) out.push(await this.present(r));
    return out;
  }

  /** Fills in the runs' templates: one that cannot be filled in fails at once, one that fails otherwise is handed back. */
  private async render(runs: LeasedRun[]): Promise<LeasedRun[]> {
    const { s } = this;
    const ready: LeasedRun[] = [];
    for (const run of runs) {
      try {
        ready.push({ ...run, ...(await renderRun(s.knex, this.coord.plans, run, s.limits.contentMaxBytes)) });
      } catch (e) {
        if (e instanceof TemplateError) await this.hooks.finish(run, run.lease, { status: 'FAILED', output: null, error: e.message }, 0);
        else await this.hooks.handBack([run]);
        if (!(e instanceof TemplateError) && !dependencyDown(e)) s.log.error({ err: e, tiId: run.tiId }, 'filling in a WORKER task failed');
      }
    }
    return ready;
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

  /** Tells the cluster (the dashboard's Workers page) that this worker polls, at most every 5 s per worker and member. */
  private noteWorker(req: PollRequest): void {
    const now = Date.now();
    if ((this.seenAt.get(req.workerId) ?? 0) > now - 5_000) return;
    this.seenAt.set(req.workerId, now);
    if (this.seenAt.size > 10_000) this.seenAt.clear();
    const info = JSON.stringify({ workerId: req.workerId, queues: req.queues, user: req.user, member: this.s.memberId, lastPoll: now });
    this.s.redis.hset(`${this.s.config.redisPrefix}wq:workers`, req.workerId, info).catch((e) => this.s.log.debug({ err: e }, 'noting a worker failed'));
  }
}

async function holdAnswer(runs: { taskName: string }[]): Promise<void> {
  if (HOLD_ANSWER && runs.some((r) => r.taskName === HOLD_ANSWER[1])) await new Promise((r) => setTimeout(r, Number(HOLD_ANSWER[2])));
}

function countBy(items: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}
