// advance(fiIds): the per-instance coordinator's lock protocol. Whoever finishes a task (or the reaper,
// the reconciler, a retry) calls it; the Redis lock `lock:flow-ins:{fiId}` elects one coordinator per
// instance at a time. A caller that finds the lock taken leaves a "dirty" mark instead of waiting; the
// holder checks the marks when it releases and runs again, so no completion is missed and nobody
// queues on a lock. A holder whose lock expired mid-pass runs again too (the release reports it), since
// whoever took the lock meanwhile may have looked before our commit. Many instances are locked in one
// round trip and advanced in one transaction (advanceMany.ts decides, sql/transitionWrites.ts writes).
// Each pass commits its transitions in MySQL first, then tells Redis (enqueue new task instances, drop
// and abort cancelled ones): MySQL is the record, so Redis trouble after a commit is logged, never
// thrown — the reconciler rebuilds whatever Redis missed.
import type { Services } from '../services.js';
import { UnavailableError } from '../errors.js';
import { FlowPlans } from './flowPlan.js';
import { FlowLocks } from './locks.js';
import { CancelSignals } from './cancelSignals.js';
import { advanceMany, emptyOutcome, StaleWriteError, type AdvanceOptions, type BatchOutcome, type StatusChange } from './advanceMany.js';
import { inTx } from './sql/multiStatement.js';
import { REDIS_AFTER_COMMIT_MS, withTimeout } from '../infra/timeout.js';
import { followUps, hasFollowUps } from './subFlows.js';

/** Hooks for metrics and live events; all optional. */
export interface EngineEvents {
  onStale?(what: string): void;
  onFinished?(fiId: number, status: string): void;
  /** The instance's lock was held by someone else (they will pick up our dirty mark). */
  onLockBusy?(fiId: number): void;
  /** One coordinator pass that changed `count` instances took `ms`. */
  onAdvance?(count: number, ms: number): void;
  /** Status changes of flow, node and task instances, once committed (the dashboard's live events). */
  onStatusChanges?(changes: StatusChange[]): void;
  /** Whether anyone wants status changes now (they are not even built otherwise). */
  watching?(): boolean;
}

export class Coordinator {
  readonly plans: FlowPlans;
  readonly locks: FlowLocks;
  readonly cancels: CancelSignals;

  constructor(private s: Services, public events: EngineEvents = {}) {
    this.plans = new FlowPlans(s.knex);
    this.locks = new FlowLocks(s.redis, s.config.redisPrefix, s.memberId, s.config.lockTtlMs, s.log);
    this.cancels = new CancelSignals(s.redis, s.config.redisPrefix, s.log);
  }

  /** Whether status changes are wanted now (the dashboard's live events are being watched). */
  get watching(): boolean {
    return this.events.watching?.() ?? false;
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
      if (got.length < todo.length) for (const id of todo) if (!got.includes(id)) this.events.onLockBusy?.(id);
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
    const out = await inTx(this.s.knex, (tx) => advanceMany(tx, this.plans, fiIds, { user: 'system', now: new Date(), collectChanges: this.watching, ...opts }));
    if (out.changed.length) this.events.onAdvance?.(out.changed.length, performance.now() - t0);
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
    this.events.onStale?.('coordinator');
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
    if (hasFollowUps(out)) await followUps(this.s, this, out); // sub-flows: start, cancel, wake parents (never throws)
    try {
      for (const [fiId, status] of out.finished) {
        log.debug({ fiId, status }, 'flow instance finished');
        this.events.onFinished?.(fiId, status);
      }
      if (out.changes.length) this.events.onStatusChanges?.(out.changes);
    } catch (e) {
      log.warn({ err: e }, 'an engine event hook failed'); // watchers must never break the engine
    }
  }

  async close(): Promise<void> {
    await this.cancels.close();
  }
}
