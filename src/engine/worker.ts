// The worker role: WORKER_CONCURRENCY slots fed by one dispatcher loop. It reads top to bottom:
// claim a batch from Redis → mark it RUNNING in MySQL (committed before anything runs) → run each
// with its executor under a timeout and an AbortSignal (leases extended while it runs) → record
// SUCCESS / FAILED / retry-later, fenced by `version`, in batches, in the same transaction that
// advances their flow instances → ack in Redis.
// A slot is held from claim until the result is recorded. The slots a batch of results frees go to
// their flows' next tasks first: the recording transaction creates them RUNNING for this worker
// (passWrites.ts), which runs them at once and leases them. So a flow in progress moves on without a
// second commit or a trip through the queue, and new flows are claimed only into slots left over.
// Idle, it blocks on the queue's wake-up (no polling); a full house waits for a free slot.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { startRuns, finishRunsStatements, writtenOf, type TaskRun, type RunResult, type FinishedRun } from './taskRuns.js';
import { Batcher } from './batcher.js';
import { getExecutor } from '../executors/registry.js';
import { executorSettings } from '../executors/settings.js';
import { backoffMs, runPolicy } from '../definitions/taskConfig.js';

const IDLE_WAIT_MS = 5_000;

export interface WorkerEvents {
  onTaskStarted?(run: TaskRun): void;
  onTaskFinished?(run: TaskRun, status: RunResult['status'], ms: number): void;
  onStale?(what: string): void;
}

interface Finished extends FinishedRun {
  retryDelayMs: number;
  ms: number;
}

interface Active {
  run: TaskRun;
  abort: AbortController;
  /** Why it was aborted by us (not by its timeout): then its result is not a task failure. */
  handBack?: 'shutdown' | 'lease lost' | 'cancelled';
}

export class Worker {
  /** Runs executing now. */
  private active = new Map<number, Active>();
  /**
   * Everything claimed and not yet acked (being marked RUNNING, executing, or waiting to be recorded):
   * these take the WORKER_CONCURRENCY slots, and their leases are kept alive.
   */
  private held = new Set<number>();
  /** Slots set aside for the next tasks of flows whose results are being recorded. */
  private reserved = 0;
  private stopping = false;
  private stopCtl = new AbortController();
  private slotFreed: (() => void) | null = null;
  private loopDone: Promise<void> | null = null;
  private leaseTimer: NodeJS.Timeout | null = null;
  private runsDone = new Set<Promise<void>>();
  /** Results are recorded in batches: one transaction writes them and advances their flows. */
  private recorder: Batcher<Finished, boolean>;

  constructor(private s: Services, private coord: Coordinator, public events: WorkerEvents = {}) {
    this.recorder = new Batcher((items) => this.record(items), 2, 1000);
  }

  get running(): number {
    return this.active.size;
  }

  async start(): Promise<void> {
    await this.coord.cancels.subscribe((ids) => this.abortRuns(ids, 'cancelled'));
    this.leaseTimer = setInterval(() => void this.extendLeases(), Math.max(200, Math.floor(this.s.config.leaseMs / 3)));
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    const { config, queue, memberId, log } = this.s;
    while (!this.stopping) {
      try {
        // A slow MySQL keeps results waiting to be recorded, which keeps their slots: it slows claiming.
        const free = config.workerConcurrency - this.held.size - this.reserved;
        if (free <= 0) {
          await new Promise<void>((resolve) => (this.slotFreed = resolve));
          continue;
        }
        const { ids, nextDueInMs } = await queue.claim(memberId, free, config.leaseMs);
        if (ids.length === 0) {
          await queue.waitForWork(Math.min(nextDueInMs ?? IDLE_WAIT_MS, IDLE_WAIT_MS), this.stopCtl.signal);
          continue;
        }
        // Marking RUNNING commits in MySQL before anything runs; the loop claims on meanwhile, so several
        // such commits can be in flight (and share an fsync) while the claimed ids hold their slots.
        for (const id of ids) this.held.add(id);
        this.track(this.startBatch(ids));
      } catch (e) {
        if (this.stopping) break;
        log.error({ err: e }, 'worker loop error, backing off');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private async startBatch(ids: number[]): Promise<void> {
    try {
      const { runs, skipped } = await startRuns(this.s.knex, ids, this.s.memberId);
      for (const run of runs) this.track(this.execute(run));
      if (skipped.length) {
        for (const sk of skipped) this.held.delete(sk.tiId);
        this.track(this.dropSkipped(skipped));
      }
    } catch (e) {
      // Nothing ran: the leases run out and the reaper hands the ids to someone else.
      for (const id of ids) this.held.delete(id);
      this.s.log.error({ err: e, tiIds: ids }, 'marking claimed task instances RUNNING failed');
    } finally {
      this.freeSlot();
    }
  }

  private track(p: Promise<void>): void {
    this.runsDone.add(p);
    p.finally(() => this.runsDone.delete(p));
  }

  /** Claimed ids whose rows were not PENDING: release them, and make sure their flow moved on. */
  private async dropSkipped(skipped: { tiId: number; fiId: number | null; status: string }[]): Promise<void> {
    await this.s.queue.ackMany(skipped.map((sk) => sk.tiId), this.s.memberId);
    const fiIds = skipped.filter((sk) => sk.fiId && ['SUCCESS', 'FAILED', 'CANCELLED'].includes(sk.status)).map((sk) => sk.fiId!);
    if (fiIds.length) await this.advance(fiIds);
  }

  private async execute(run: TaskRun): Promise<void> {
    const { log } = this.s;
    const policy = runPolicy(run.config);
    const active: Active = { run, abort: new AbortController() };
    this.active.set(run.tiId, active);
    this.held.add(run.tiId);
    this.events.onTaskStarted?.(run);
    const t0 = performance.now();
    const timer = setTimeout(() => active.abort.abort(new Error(`timed out after ${policy.timeoutMs} ms`)), policy.timeoutMs);
    let result: RunResult;
    let endedAt = new Date();
    try {
      const executor = getExecutor(run.taskType);
      if (!executor) throw new Error(`no executor for task type ${run.taskType}`);
      const output = await executor.run({
        tiId: run.tiId,
        taskId: run.taskId,
        content: run.content,
        config: run.config,
        attempt: run.attempt,
        signal: active.abort.signal,
        settings: executorSettings(this.s.config),
      });
      if (active.abort.signal.aborted) throw active.abort.signal.reason;
      result = { status: 'SUCCESS', output: output ?? null, error: null };
    } catch (e) {
      const err = e as Error & { output?: string };
      const retry = run.attempt < policy.maxAttempts || active.handBack === 'shutdown';
      result = { status: retry ? 'PENDING' : 'FAILED', output: err?.output ?? null, error: err?.message ?? String(e) };
    } finally {
      clearTimeout(timer);
      endedAt = new Date();
      this.active.delete(run.tiId);
    }

    try {
      if (active.handBack === 'cancelled' || active.handBack === 'lease lost') {
        // Our row has moved on (its version changed): there is nothing of ours left to write.
        log.debug({ tiId: run.tiId, why: active.handBack }, 'run abandoned');
        return;
      }
      const retryDelayMs = active.handBack === 'shutdown' ? 0 : backoffMs(policy.retryBackoffMs, run.attempt + 1);
      await this.recorder.add({ run, result, retryDelayMs, ms: performance.now() - t0, endedAt });
    } catch (e) {
      // The row is the truth: whatever did not reach Redis is redone by the reaper and the reconciler.
      log.error({ err: e, tiId: run.tiId }, 'recording a task result failed');
    } finally {
      this.held.delete(run.tiId);
      this.freeSlot();
    }
  }

  private freeSlot(): void {
    const wake = this.slotFreed;
    this.slotFreed = null;
    wake?.();
  }

  /**
   * Writes a batch of results (each fenced by its run's version) and advances their flow instances in
   * the same transaction, then acks them in Redis (a retry goes back to ready after its back-off).
   * The next tasks of those flows are created RUNNING for this worker, into the slots these results
   * free and any left over, and run as soon as that transaction has committed.
   */
  private async record(items: Finished[]): Promise<boolean[]> {
    const { config } = this.s;
    const fiIds = items.filter((i) => i.run.fiId && i.result.status !== 'PENDING').map((i) => i.run.fiId!);
    const room = this.stopping ? 0 : items.length + Math.max(0, config.workerConcurrency - this.held.size - this.reserved);
    this.reserved += room;
    try {
      return await this.recordAndContinue(items, fiIds, room);
    } finally {
      this.reserved -= room;
      this.freeSlot();
    }
  }

  private async recordAndContinue(items: Finished[], fiIds: number[], room: number): Promise<boolean[]> {
    const { queue, memberId, log } = this.s;
    let written: boolean[] = [];
    const now = new Date();
    await this.coord.commitAndAdvance(fiIds, finishRunsStatements(items, now), async (results, started) => {
      written = await writtenOf(this.s.knex, items, now, results);
      const acks: number[] = [];
      const requeues: Promise<unknown>[] = [];
      for (const [i, it] of items.entries()) {
        if (!written[i]) {
          // Whoever moved the row on (reaper, cancel, a decided node) also took our lease out of Redis;
          // the id may be leased again by now, even to this member, so it is not ours to ack.
          log.warn({ tiId: it.run.tiId, fiId: it.run.fiId, attempt: it.run.attempt }, 'stale task result refused: the task instance moved on');
          this.events.onStale?.('worker');
          continue;
        }
        this.events.onTaskFinished?.(it.run, it.result.status, it.ms);
        if (it.result.status === 'PENDING') requeues.push(queue.ackAndRequeue(it.run.tiId, memberId, it.retryDelayMs));
        else acks.push(it.run.tiId);
      }
      await Promise.all([queue.ackMany(acks, memberId), ...requeues, this.runStarted(started)]);
    }, { owner: memberId, max: room });
    return written;
  }

  /**
   * Runs task instances created RUNNING for us (committed: they may run now) and leases them. The lease
   * is sent, not waited for: commands on the queue's connection arrive in order, so it lands before any
   * extension or ack of these runs, and a lease that fails is found missing by the next extension,
   * which aborts the run (its row is left to the reconciler).
   */
  private runStarted(runs: TaskRun[]): Promise<void> {
    if (!runs.length) return Promise.resolve();
    const leased = this.s.queue.lease(runs.map((r) => r.tiId), this.s.memberId, this.s.config.leaseMs).catch((e) => {
      this.s.log.error({ err: e, tiIds: runs.map((r) => r.tiId) }, 'leasing new task instances failed');
    });
    for (const run of runs) this.track(this.execute(run));
    return leased.then(() => {});
  }

  private async advance(fiIds: number[]): Promise<void> {
    try {
      await this.coord.advance(fiIds);
    } catch (e) {
      this.s.log.error({ err: e, fiIds }, 'advance failed; the reconciler will retry it');
    }
  }

  private abortRuns(tiIds: number[], why: Active['handBack']): void {
    for (const id of tiIds) {
      const a = this.active.get(id);
      if (a && !a.abort.signal.aborted) {
        a.handBack = why;
        a.abort.abort(new Error(why));
      }
    }
  }

  private async extendLeases(): Promise<void> {
    const ids = [...this.held];
    if (ids.length === 0) return;
    try {
      const lost = await this.s.queue.extend(ids, this.s.memberId, this.s.config.leaseMs);
      if (lost.length) {
        this.s.log.warn({ tiIds: lost }, 'leases lost: aborting those runs');
        this.abortRuns(lost, 'lease lost');
      }
    } catch (e) {
      this.s.log.warn({ err: e }, 'lease extension failed');
    }
  }

  /** Stops claiming; running tasks get `graceMs` to finish, then are handed back to the queue. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.stopCtl.abort();
    this.slotFreed?.();
    await this.loopDone;
    const all = Promise.allSettled([...this.runsDone]);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace'>((r) => (timer = setTimeout(() => r('grace'), graceMs)));
    if ((await Promise.race([all, graceOver])) === 'grace') {
      this.abortRuns([...this.active.keys()], 'shutdown');
      await all;
    }
    clearTimeout(timer);
    if (this.leaseTimer) clearInterval(this.leaseTimer);
  }
}
