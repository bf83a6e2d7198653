// advance(fiIds): the per-instance coordinator's lock protocol. Whoever finishes a task (or the reaper,
// the reconciler, a retry) calls it; the Redis lock `lock:flow-ins:{fiId}` elects one coordinator per
// instance at a time. A caller that finds the lock taken leaves a "dirty" mark instead of waiting; the
// holder checks the marks when it releases and runs again, so no completion is missed and nobody
// queues on a lock. A holder whose lock expired mid-pass runs again too (the release reports it), since
// whoever took the lock meanwhile may have looked before our commit. Many instances are locked in one
// round trip and advanced in one transaction (advanceMany.ts reads, decide.ts decides,
// sql/transitionWrites.ts writes).
// Each pass commits its transitions in MySQL first, then tells Redis (enqueue new task instances, drop
// and abort cancelled ones): MySQL is the record, so Redis trouble after a commit is logged, never
// thrown — the reconciler rebuilds whatever Redis missed.
//
// commitAndAdvance is the worker's transaction: its statements (recording a batch of task results) and
// the advance of the flow instances those results belong to, committed together, so a step costs one
// commit. The locks are asked for while the transaction's first round trip (the statements, and reads
// that take no locks) is on its way; the pass then advances only the instances whose lock it got, and
// leaves the others to their holders (a dirty mark). Reads that raced a holder's last commit are refused
// by the version fence, as reads by a paused pass are. When Redis cannot give the locks, the results are
// committed all the same and the advancing is left for later (the reconciler finds the instances with
// nothing in flight).
import type { Services } from '../services.js';
import { UnavailableError } from '../errors.js';
import { FlowPlans } from './flowPlan.js';
import { FlowLocks } from './locks.js';
import { CancelSignals } from './cancelSignals.js';
import { advanceMany, emptyOutcome, StaleWriteError, type AdvanceOptions, type BatchOutcome } from './advanceMany.js';
import { inTx, type Statement } from './sql/multiStatement.js';
import type { RunHere } from './sql/transitionWrites.js';
import type { TaskRun } from './taskRun.js';
import type { LockRequest } from './locks.js';
import { REDIS_AFTER_COMMIT_MS, withTimeout } from '../infra/timeout.js';
import type { EngineEvents } from './events.js';
import type { HandOver, HandedOver } from './external/handOver.js';
import { FlowStates } from './flowStates.js';

/** A committed commitAndAdvance. */
export interface Committed {
  /** The statements' results, one per statement. */
  results: any[];
  /** Task instances created RUNNING for the worker (`runHere`): committed, so they may run now. */
  started: TaskRun[];
  /** WORKER task instances created RUNNING for external workers (`handOver`): committed, to lease and hand over. */
  handedOver: HandedOver[];
  /** Settles (never rejects) once the locks are released, Redis is told, and busy instances are seen to. */
  settled: Promise<void>;
}

export class Coordinator {
  readonly plans: FlowPlans;
  readonly locks: FlowLocks;
  readonly cancels: CancelSignals;
  /** This member's copies of the flow instances it runs the next task of (flowStates.ts). */
  readonly states: FlowStates;
  /**
   * What a committed pass asks of other flow instances (sub-flows: start children, cancel them, wake
   * parents; subFlows.ts). Set by the Engine, so this module does not import the code that calls it back.
   * Never throws.
   */
  followUps: ((out: BatchOutcome) => Promise<void>) | null = null;

  constructor(private s: Services, readonly events: EngineEvents) {
    this.plans = new FlowPlans(s.knex);
    this.locks = new FlowLocks(s.redis, s.config.redisPrefix, s.memberId, s.config.lockTtlMs, s.log);
    this.cancels = new CancelSignals(s.redis, s.config.redisPrefix, s.log);
    this.states = new FlowStates((outcome) => events.emit('fromCopies', outcome));
  }

  /** Whether status changes are wanted now (the dashboard's live events are being watched). */
  get watching(): boolean {
    return this.events.watching;
  }

  /** How long a pass waits for Redis to answer a lock request before it goes on without the locks. */
  get lockWaitMs(): number {
    return Math.max(50, Math.min(1000, Math.floor(this.s.config.lockTtlMs / 4)));
  }

  /**
   * Makes every transition that is due now for these instances. Safe to call any number of times.
   * Throws UnavailableError when Redis cannot give the locks (nothing was changed then).
   */
  async advance(fiIds: number | number[]): Promise<void> {
    let todo = [...new Set(Array.isArray(fiIds) ? fiIds : [fiIds])];
    while (todo.length) {
      const locks = this.locks.request(todo, { markBusy: true, waitMs: this.lockWaitMs });
      const got = await locks.granted;
      if (locks.error()) throw new UnavailableError(`Redis could not give the flow locks: ${(locks.error() as Error).message}`);
      if (got.length < todo.length) for (const id of todo) if (!got.includes(id)) this.events.emit('lockBusy', id);
      if (!got.length) return; // the holders will see our dirty marks when they release
      let out: BatchOutcome;
      try {
        out = await this.transition(got);
      } catch (e) {
        await locks.release();
        throw e;
      }
      const [again] = await Promise.all([locks.release(), this.afterCommit(out)]);
      todo = again;
    }
  }

  /**
   * One advanceMany transaction, timed for the metrics. With `locked`, only the instances it resolves to
   * are advanced (the caller asked for their locks alongside the transaction's first round trip).
   */
  async advanceInTx(fiIds: number[], opts: Omit<AdvanceOptions, 'user' | 'now'>): Promise<BatchOutcome> {
    const t0 = performance.now();
    const out = await inTx(this.s.knex, (tx) => advanceMany(tx, this.plans, fiIds, { user: 'system', now: new Date(), collectChanges: this.watching, states: this.states, ...opts }));
    if (out.changed.length) this.events.emit('advance', out.changed.length, performance.now() - t0);
    return out;
  }

  /**
   * A pass over locked instances. Instances found moved on (we lost their lock while paused, and someone
   * else advanced them) are logged, left to their new coordinator, and the pass is made again for the others.
   */
  private async transition(fiIds: number[]): Promise<BatchOutcome> {
    let todo = fiIds;
    while (todo.length) {
      try {
        return await this.advanceInTx(todo, {});
      } catch (e) {
        if (!(e instanceof StaleWriteError)) throw e;
        this.staleRefused(e, todo);
        if (!e.fiIds.length) break;
        const stale = new Set(e.fiIds);
        todo = todo.filter((id) => !stale.has(id));
      }
    }
    return emptyOutcome();
  }

  staleRefused(e: StaleWriteError, fiIds: number[]): void {
    this.s.log.warn({ fiIds: e.fiIds.length ? e.fiIds : fiIds, reason: e.message }, 'stale coordinator write refused');
    this.events.emit('stale', 'coordinator');
  }

  /**
   * What a committed transition asks of Redis: enqueue new work, drop and abort cancelled work. Never
   * throws: the transition is committed, and what Redis missed the reconciler rebuilds (PENDING rows are
   * enqueued again; a cancelled id left in the queue is skipped when claimed; a run that misses its abort
   * has its result refused by the version fence).
   */
  async afterCommit(out: BatchOutcome): Promise<void> {
    const { queue, log } = this.s;
    const redisWork: Promise<unknown>[] = [];
    // Bounded: a Redis that does not answer must not hold up the caller (an API request, a worker's
    // slots); a command given up on may still land later, and each of these is idempotent.
    const bounded = (p: Promise<unknown>, what: string, then: string) =>
      withTimeout(p, REDIS_AFTER_COMMIT_MS, what).catch((e) => log.warn({ err: e }, `${what} failed after commit; ${then}`));
    if (out.enqueue.length) redisWork.push(bounded(queue.enqueue(out.enqueue), 'enqueueing new task instances', 'the reconciler enqueues them'));
    if (out.cancelled.length) {
      redisWork.push(
        bounded(queue.remove(out.cancelled), 'dropping cancelled task instances from the queue', 'they are skipped when claimed'),
        bounded(this.cancels.publish(out.cancelled), 'the cancel signal', "the runs' results will be refused by the version fence"),
      );
    }
    await Promise.all(redisWork);
    if (this.followUps) await this.followUps(out); // sub-flows: start, cancel, wake parents (never throws)
    // At info: what an operator reads first. Only the instances that did not succeed (no cost per task).
    for (const f of out.failures) log.info(f, 'flow instance did not succeed');
    for (const [fiId, status] of out.finished) {
      log.debug({ fiId, status }, 'flow instance finished');
      this.events.emit('finished', fiId, status);
    }
    if (out.changes.length) this.events.emit('statusChanges', out.changes);
  }

  /**
   * Sends `statements` and advances the instances they concern in the same transaction. With `runHere`, up
   * to its `max` new task instances are created RUNNING for that worker instead of being enqueued
   * (sql/transitionWrites.ts); with `handOver`, new WORKER task instances go RUNNING to those external
   * workers (external/handOver.ts). Resolves as soon as it has committed, so the caller's own Redis commands
   * (acks, leasing the started runs) go out in the same pipeline turn as the lock release and the
   * enqueueing. Rejects only when nothing was committed.
   */
  async commitAndAdvance(fiIds: number[], statements: Statement[], runHere?: RunHere, handOver?: HandOver[], results?: AdvanceOptions['results']): Promise<Committed> {
    const unique = [...new Set(fiIds)];
    const locks = this.locks.request(unique, { markBusy: false, waitMs: this.lockWaitMs });
    let out: BatchOutcome;
    try {
      out = await this.advanceInTx(unique, { prelude: statements, runHere, handOver, locked: locks.granted, results });
    } catch (e) {
      if (!(e instanceof StaleWriteError)) {
        await locks.release();
        throw e;
      }
      // Keep the statements; the advancing is left to a fresh pass below.
      this.staleRefused(e, unique);
      try {
        out = { ...emptyOutcome(), prelude: await inTx(this.s.knex, (tx) => tx.send(statements, { commit: true })) };
      } catch (e2) {
        await locks.release();
        throw e2;
      }
    }
    // Committed: nothing after this may throw.
    return { results: out.prelude, started: out.started, handedOver: out.handedOver, settled: this.afterCommitted(unique, locks, out) };
  }

  /** Releases the locks and tells Redis; instances whose lock was busy (or came back dirty) are advanced again. */
  private async afterCommitted(fiIds: number[], locks: LockRequest, out: BatchOutcome): Promise<void> {
    const [again] = await Promise.all([locks.release(), this.afterCommit(out)]);
    const advanced = new Set(await locks.granted);
    const more = new Set(again);
    for (const id of fiIds) if (!advanced.has(id)) more.add(id);
    if (more.size) {
      // Instances whose lock was busy get a dirty mark (their holder advances them); with Redis away this
      // fails and the reconciler advances them once it is back.
      await this.advance([...more]).catch((e) => this.s.log.warn({ err: e, fiIds: more.size }, 'advance after recording failed; the reconciler retries it'));
    }
  }

  async close(): Promise<void> {
    await this.cancels.close();
  }
}
