// The worker role: WORKER_CONCURRENCY slots (runSlots.ts) fed by one dispatcher loop. It reads top to
// bottom: claim a batch from Redis under a fresh owner token → mark it RUNNING in MySQL (committed before
// anything runs) → run each with its executor (executeRun.ts; leases extended while it runs) → record
// SUCCESS / FAILED / RETRY, fenced by `version`, in batches, in the transaction that advances their flow
// instances (resultRecorder.ts, Coordinator.commitAndAdvance) → run the continued runs it hands back →
// ack in Redis.
// A slot is held from claim until the result is recorded. The slots a batch of results frees go to
// their flows' next tasks first: the recording transaction creates them RUNNING for this worker
// (sql/transitionWrites.ts), which runs them at once and leases them. So a flow in progress moves on without a
// second commit or a trip through the queue, and new flows are claimed only into slots left over.
// Idle, it blocks on the queue's wake-up (no polling); a full house waits for a free slot.
//
// Staying up: a result is recorded in MySQL even while Redis refuses writes (the Redis side is repaired
// later); while MySQL does not answer, a finished run keeps its slot and its lease and its result is
// recorded again until MySQL is back (or the lease is lost). Claimed ids that cannot be marked RUNNING are
// handed back to the queue at once, not left to expire.
import type { Services } from '../services.js';
import { dependencyDown } from '../errors.js';
import { sleep, withTimeout } from '../infra/timeout.js';
import type { Coordinator } from './coordinator.js';
import type { SkippedClaim, TaskRun, RunResult } from './taskRun.js';
import { startRuns } from './sql/startRuns.js';
import { RunSlots, type Slot } from './runSlots.js';
import { ResultRecorder } from './resultRecorder.js';
import type { EngineEvents } from './events.js';
import { executeRun, type ExecOutcome } from './executeRun.js';
import { renderRun } from './renderRun.js';
import { TemplateError } from './templates.js';
import { executorSettings, type ExecutorSettings } from '../executors/settings.js';
import { tokenSource } from '../infra/tokens.js';
import { backoffMs, runPolicy } from '../definitions/taskConfig.js';
import { LimitedTasks } from './limitedTasks.js';
import { runLimitedContinued } from './continuedLimited.js';
import type { StartRoom } from './startFlow.js';

const IDLE_WAIT_MS = 5_000;
const ERROR_BACKOFF_MS = 500;
/** How often a shutdown that waits for running tasks says what it waits for. */
export const DRAIN_PROGRESS_MS = 3_000;

export class Worker {
  private slots: RunSlots;
  private stopping = false;
  private stopCtl = new AbortController();
  private loopDone: Promise<void> | null = null;
  /** Every claim being started and every run until its result is recorded: what stop() drains. */
  private tracked = new Set<Promise<void>>();
  /** Results are recorded in batches: one transaction writes them and advances their flows. */
  private recorder: ResultRecorder;
  /** What the executors may do and use, from the configuration (built once). */
  private settings: ExecutorSettings;
  /** A new lease owner: this member, and a token naming one claim (or one batch of continued runs). */
  private readonly newOwner: () => string;
  /** Tasks with flow-control limits (their next steps go through the queue). */
  private limited: LimitedTasks;
  /**
   * The last claim took every task instance due for this worker (fewer than it had room for): slots free
   * since then are not what work waiting in the queue is owed.
   */
  private queueDrained = false;

  constructor(private s: Services, private coord: Coordinator, private events: EngineEvents) {
    this.slots = new RunSlots(s.config.workerConcurrency, s.queue, s.config.leaseMs, s.log);
    this.limited = new LimitedTasks(s.queue, s.log);
    this.recorder = new ResultRecorder(s, coord, this.slots, this.events, () => this.stopping);
    this.settings = executorSettings(s.config);
    this.newOwner = tokenSource(s.memberId);
  }

  /** Task ids with flow-control limits as this worker knows them (refreshed every second). */
  get limitedTasks(): ReadonlySet<number> {
    return this.limited.current;
  }

  /** Runs executing now. */
  get running(): number {
    return this.slots.executing;
  }

  async start(): Promise<void> {
    await this.coord.cancels.subscribe((ids) => this.slots.abortTasks(ids, 'cancelled'));
    this.slots.startExtending();
    this.limited.start();
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    const { config, queue, log } = this.s;
    while (!this.stopping) {
      try {
        // A slow MySQL keeps results waiting to be recorded, which keeps their slots: it slows claiming.
        const free = this.slots.free;
        if (free <= 0) {
          this.queueDrained = false; // (what is due now, a full house does not find out)
          await this.slots.whenFree();
          continue;
        }
        const owner = this.newOwner();
        const { ids, priorities, nextDueInMs } = await queue.claim(owner, free, config.leaseMs);
        this.queueDrained = ids.length < free;
        if (ids.length === 0) {
          await queue.waitForWork(Math.min(nextDueInMs ?? IDLE_WAIT_MS, IDLE_WAIT_MS), this.stopCtl.signal);
          continue;
        }
        // Marking RUNNING commits in MySQL before anything runs; the loop claims on meanwhile, so several
        // such commits can be in flight (and share an fsync) while the claimed ids hold their slots.
        this.track(this.startClaimed(this.slots.hold(ids.map((tiId, i) => ({ tiId, owner, priority: priorities[i] })))));
      } catch (e) {
        if (this.stopping) break;
        log.error({ err: e }, 'worker loop error, backing off');
        await sleep(ERROR_BACKOFF_MS);
      }
    }
  }

  private async startClaimed(slots: Slot[]): Promise<void> {
    const { s } = this;
    let started: Awaited<ReturnType<typeof startRuns>>;
    try {
      started = await startRuns(s.knex, slots.map((sl) => sl.lease.tiId), s.memberId);
    } catch (e) {
      // Nothing ran: give the ids back now rather than leave them leased until the lease runs out.
      s.log.error({ err: e, tiIds: slots.map((sl) => sl.lease.tiId) }, 'marking claimed task instances RUNNING failed; handing them back');
      for (const sl of slots) this.slots.release(sl);
      await s.queue.requeue(slots.map((sl) => ({ ...sl.lease, delayMs: ERROR_BACKOFF_MS }))).catch((e2) =>
        s.log.warn({ err: e2 }, 'handing claimed ids back failed; the reaper does it when their leases expire'),
      );
      return;
    }
    const byId = new Map(slots.map((sl) => [sl.lease.tiId, sl]));
    for (const run of started.runs) {
      const slot = byId.get(run.tiId)!;
      slot.run = run;
      this.track(this.execute(slot));
    }
    if (started.skipped.length) await this.dropSkipped(started.skipped.map((sk) => ({ ...sk, slot: byId.get(sk.tiId)! })));
  }

  private track(p: Promise<void>): void {
    const t = p.catch((e) => this.s.log.error({ err: e }, 'worker: unexpected error')).finally(() => this.tracked.delete(t));
    this.tracked.add(t);
  }

  /** Claimed ids whose rows were not PENDING: release them, and make sure their flow moved on. */
  private async dropSkipped(skipped: (SkippedClaim & { slot: Slot })[]): Promise<void> {
    for (const sk of skipped) this.slots.release(sk.slot);
    await this.s.queue.ackMany(skipped.map((sk) => sk.slot.lease)).catch((e) => this.s.log.warn({ err: e }, 'ack of skipped claims failed; their leases expire'));
    const fiIds = skipped.filter((sk) => sk.fiId && ['SUCCESS', 'FAILED', 'CANCELLED'].includes(sk.status)).map((sk) => sk.fiId!);
    if (fiIds.length) await this.coord.advance(fiIds).catch((e) => this.s.log.warn({ err: e, fiIds }, 'advance failed; the reconciler retries it'));
  }

  private async execute(slot: Slot): Promise<void> {
    let run = slot.run!;
    const policy = runPolicy(run.config);
    slot.abort = new AbortController();
    this.events.emit('taskStarted', run);
    const t0 = performance.now();
    let done: ExecOutcome;
    // The first run of a task instance fills in its templates (renderRun.ts): one that cannot be filled
    // in fails the task at once — running it again would not change that.
    let final = false;
    let notCounted = false;
    try {
      run = await renderRun(this.s.knex, this.coord.plans, run, this.s.limits.contentMaxBytes);
      slot.run = run;
      done = await executeRun(run, slot.abort, policy.timeoutMs, this.settings, this.s.limits.outputMaxBytes);
    } catch (e) {
      final = e instanceof TemplateError;
      // MySQL away while reading what the templates need: the run did not start; it is given back.
      notCounted = !final && dependencyDown(e) !== null;
      done = { ok: false, error: final ? (e as Error).message : `could not fill in the task's templates: ${(e as Error).message}`, output: null };
    }
    const endedAt = new Date();
    slot.abort = undefined;
    try {
      if (slot.abortedFor === 'cancelled' || slot.abortedFor === 'lease lost') {
        // Our row has moved on (its version changed): there is nothing of ours left to write, and our copy
        // of its flow instance is out of date.
        if (run.fiId !== null) this.coord.states.delete(run.fiId);
        this.s.log.debug({ tiId: run.tiId, why: slot.abortedFor }, 'run abandoned');
        return;
      }
      const handedBack = slot.abortedFor === 'shutdown' || notCounted;
      // Runs lost with a worker are not the task's failures: only its own count against maxRetries.
      const retry = !done.ok && !final && (handedBack || run.attempt - run.lostAttempts < policy.maxAttempts);
      const result: RunResult = done.ok
        ? { status: 'SUCCESS', output: done.output, error: null }
        : { status: retry ? 'RETRY' : 'FAILED', output: done.output, error: done.error, notCounted: handedBack };
      const retryDelayMs = handedBack ? (notCounted ? ERROR_BACKOFF_MS : 0) : backoffMs(policy.retryBackoffMs, run.attempt + 1);
      const { continued, settled } = await this.recorder.record({ slot, run, result, retryDelayMs, ms: performance.now() - t0, endedAt });
      // Committed: the flows' next runs start now, while the acks are on their way.
      await Promise.all([this.runContinued(continued), settled]);
    } finally {
      this.slots.release(slot);
    }
  }

  /**
   * Runs task instances created RUNNING for us (committed: they may run now) and leases them. The lease
   * is sent, not waited for: commands on the queue's connection arrive in order, so it lands before any
   * extension or ack of these runs. A lease Redis refuses is written again on the next extension round.
   */
  private runContinued(runs: TaskRun[]): Promise<void> {
    if (!runs.length) return Promise.resolve();
    // Runs of tasks with flow-control limits take their slot before they run (continuedLimited.ts).
    const limited = this.limited.current;
    if (limited.size && runs.some((r) => limited.has(r.taskId))) {
      const gated = runs.filter((r) => limited.has(r.taskId));
      const rest = runs.filter((r) => !limited.has(r.taskId));
      const gatedDone = runLimitedContinued(this.s, this.slots, gated, this.newOwner(), (slot) => this.track(this.execute(slot)));
      this.track(gatedDone);
      return rest.length ? this.runContinued(rest) : Promise.resolve();
    }
    const owner = this.newOwner();
    const slots = this.slots.hold(runs.map((r) => ({ tiId: r.tiId, owner, priority: r.priority })));
    const leasing = this.s.queue.lease(runs.map((r) => r.tiId), owner, this.s.config.leaseMs);
    const leased = withTimeout(leasing, this.s.config.leaseMs / 3, 'leasing continued runs').then(
      () => {},
      (e) => {
        for (const sl of slots) sl.leased = false;
        this.s.log.warn({ err: e, tiIds: runs.map((r) => r.tiId) }, 'leasing continued task instances failed; trying again on the next extension');
      },
    );
    runs.forEach((run, i) => {
      slots[i].run = run;
      this.track(this.execute(slots[i]));
    });
    return leased;
  }

  /**
   * Room for the first runs of flows this member starts (startFlow.ts): up to `wanted` free slots, set
   * aside while the start's transaction commits, which creates that many of their first task instances
   * RUNNING for this worker. So a flow started here begins as a continued one does: no trip through the
   * queue, no claim and no second commit to mark it RUNNING. Only while the worker's last claim took all
   * that was due (fewer than it had room for): a slot that work waiting in the queue (older flows, higher
   * priorities) is owed is not taken. Null otherwise, when no slot is free, or when the worker is
   * stopping: the starts' tasks are queued.
   */
  roomForStarts(wanted: number): StartRoom | null {
    const n = Math.min(wanted, this.slots.free);
    if (this.stopping || !this.queueDrained || n <= 0) return null;
    this.slots.reserve(n);
    let given = false;
    const giveBack = () => {
      if (given) return;
      given = true;
      this.slots.unreserve(n);
    };
    return {
      runHere: { workerId: this.s.memberId, max: n },
      // runContinued holds their slots before it returns, so the room can go back right after.
      take: (runs) => {
        this.track(this.runContinued(runs));
        giveBack();
      },
      giveBack,
    };
  }

  /** Stops claiming; every run (continued ones included) gets `graceMs` to finish, then is handed back. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopCtl.abort();
    this.slots.wake();
    await this.loopDone;
    const graceOver = Date.now() + graceMs;
    let handedBack = false;
    // An operator waiting on a SIGTERM sees what the drain waits for, every few seconds.
    const progress = (what: string) => {
      const held = this.slots.held();
      this.s.log.info({ running: held.length, tasks: held.slice(0, 20), graceLeftMs: Math.max(0, graceOver - Date.now()), handedBack }, what);
    };
    const waited = this.tracked.size > 0;
    if (waited) progress(`draining: waiting up to ${graceMs} ms for running tasks to finish`);
    const ticker = setInterval(() => progress('draining: still waiting for running tasks'), DRAIN_PROGRESS_MS);
    try {
      await this.drain(graceOver, () => (handedBack = true));
    } finally {
      clearInterval(ticker);
    }
    this.slots.stopExtending();
    this.limited.stop();
    if (waited) this.s.log.info({ handedBack }, handedBack ? 'drained: runs still going at the end of the grace period were handed back' : 'drained: every running task finished');
  }

  private async drain(graceOver: number, onHandBack: () => void): Promise<void> {
    let handedBack = false;
    while (this.tracked.size) {
      const left = graceOver - Date.now();
      if (left <= 0 && !handedBack) {
        this.slots.abortAll('shutdown');
        handedBack = true;
        onHandBack();
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.tracked]),
        new Promise<void>((r) => (timer = setTimeout(r, handedBack ? 1000 : Math.max(0, left)))),
      ]);
      clearTimeout(timer);
      if (handedBack) this.slots.abortAll('shutdown'); // runs continued meanwhile
    }
  }
}
