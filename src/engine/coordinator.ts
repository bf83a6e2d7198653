// advance(fiIds): the per-instance coordinator. Whoever finishes a task (or the reaper, the
// reconciler, a retry) calls it; the Redis lock `lock:flow-ins:{fiId}` elects one coordinator per
// instance at a time. A caller that finds the lock taken leaves a "dirty" mark instead of waiting; the
// holder checks the marks when it releases and runs again, so no completion is missed and nobody
// queues on a lock. Many instances are locked in one round trip and advanced in one transaction.
// Each run commits its transitions in MySQL first, then enqueues the new task instances in Redis; a
// crash in between leaves PENDING rows that the reconciler enqueues again.
import type { Services } from '../services.js';
import { FlowPlans } from './flowPlan.js';
import { FlowLocks } from './locks.js';
import { CancelSignals } from './cancelSignals.js';
import { advanceMany, emptyOutcome, StaleWriteError, type BatchOutcome, type StatusChange } from './advanceMany.js';
import { inTx, type Statement } from './multiStatement.js';
import type { TaskRun } from './taskRuns.js';
import type { RunHere } from './passWrites.js';

/** Hooks for metrics; all optional. */
export interface EngineEvents {
  onStale?(what: string): void;
  onFinished?(fiId: number, status: string): void;
  /** The instance's lock was held by someone else (they will pick up our dirty mark). */
  onLockBusy?(fiId: number): void;
  /** One coordinator pass that changed `count` instances took `ms`. */
  onAdvance?(count: number, ms: number): void;
  /** Status changes of flow, node and task instances, once committed (the dashboard's live events). */
  onStatusChanges?(changes: StatusChange[]): void;
}

export class Coordinator {
  readonly plans: FlowPlans;
  readonly locks: FlowLocks;
  readonly cancels: CancelSignals;

  constructor(private s: Services, public events: EngineEvents = {}) {
    this.plans = new FlowPlans(s.knex);
    this.locks = new FlowLocks(s.redis, s.config.redisPrefix, s.memberId, s.config.lockTtlMs);
    this.cancels = new CancelSignals(s.redis, s.config.redisPrefix);
  }

  /** Makes every transition that is due now for these instances. Safe to call any number of times. */
  async advance(fiIds: number | number[]): Promise<void> {
    let todo = [...new Set(Array.isArray(fiIds) ? fiIds : [fiIds])];
    while (todo.length) {
      const got = await this.locks.tryLockMany(todo, true);
      if (got.length < todo.length) for (const id of todo) if (!got.includes(id)) this.events.onLockBusy?.(id);
      if (!got.length) return; // the holders will see our dirty marks when they release
      let out: BatchOutcome;
      try {
        out = await this.pass(got);
      } catch (e) {
        await this.locks.unlockMany(got);
        throw e;
      }
      const [dirty] = await Promise.all([this.locks.unlockMany(got), this.afterCommit(out)]);
      todo = dirty;
    }
  }

  /**
   * Sends `prelude` (e.g. recording task results) and advances the instances it concerns in the same
   * transaction, for those whose lock is free; the others are advanced by their holder (dirty mark).
   * With `runHere`, up to its `max` new task instances are created RUNNING for that worker instead of
   * being enqueued (passWrites.ts). Once committed, `onCommitted` (e.g. acks, and leasing and running
   * the `started` ones) runs alongside the lock release and the enqueueing, so their Redis commands
   * share one pipeline. Returns the prelude's results, one per statement.
   */
  async commitAndAdvance(
    fiIds: number[],
    prelude: Statement[],
    onCommitted: (results: any[], started: TaskRun[]) => Promise<void>,
    runHere?: RunHere,
  ): Promise<any[]> {
    const unique = [...new Set(fiIds)];
    // The locks are asked for while the transaction's first round trip (the prelude, and reads that take
    // no locks) is on its way; the pass then leaves alone the instances whose lock is not ours. Reads
    // that raced a holder's last commit are refused by the version fence, as reads by a paused pass are.
    const locking = this.locks.tryLockMany(unique, false);
    const release = async () => this.locks.unlockMany(await locking.catch(() => []));
    let out = emptyOutcome();
    let advanced: number[] = [];
    try {
      out = await this.passWith(unique, prelude, runHere, locking);
      advanced = await locking; // settled: the pass waited for it
    } catch (e) {
      if (!(e instanceof StaleWriteError)) {
        await release();
        throw e;
      }
      // Keep the prelude, leave the advancing to a fresh pass below.
      try {
        out = { ...emptyOutcome(), prelude: await inTx(this.s.knex, (tx) => tx.send(prelude)) };
      } catch (e2) {
        await release();
        throw e2;
      }
    }
    const [dirty] = await Promise.all([release(), this.afterCommit(out), onCommitted(out.prelude, out.started)]);
    const again = new Set(dirty);
    for (const id of unique) if (!advanced.includes(id)) again.add(id);
    if (again.size) await this.advance([...again]);
    return out.prelude;
  }

  private async passWith(fiIds: number[], prelude: Statement[], runHere: RunHere | undefined, locked: Promise<number[]>): Promise<BatchOutcome> {
    const t0 = performance.now();
    const out = await inTx(this.s.knex, (tx) => advanceMany(tx, this.plans, fiIds, { user: 'system', now: new Date(), prelude, runHere, locked }));
    if (out.changed.length) this.events.onAdvance?.(out.changed.length, performance.now() - t0);
    return out;
  }

  /**
   * One coordinator pass over locked instances. Instances found moved on (we lost their lock while
   * paused, and someone else advanced them) are logged, left to their new coordinator, and the pass is
   * made again for the others.
   */
  private async pass(fiIds: number[]): Promise<BatchOutcome> {
    let todo = fiIds;
    while (todo.length) {
      const t0 = performance.now();
      try {
        const out = await inTx(this.s.knex, (tx) => advanceMany(tx, this.plans, todo, { user: 'system', now: new Date() }));
        if (out.changed.length) this.events.onAdvance?.(out.changed.length, performance.now() - t0);
        return out;
      } catch (e) {
        if (!(e instanceof StaleWriteError)) throw e;
        this.s.log.warn({ fiIds: e.fiIds.length ? e.fiIds : todo, reason: e.message }, 'stale coordinator write refused');
        this.events.onStale?.('coordinator');
        if (!e.fiIds.length) break;
        const stale = new Set(e.fiIds);
        todo = todo.filter((id) => !stale.has(id));
      }
    }
    return emptyOutcome();
  }

  /** What a committed transition asks of Redis: enqueue new work, drop and abort cancelled work. */
  async afterCommit(out: BatchOutcome): Promise<void> {
    if (out.enqueue.length) await this.s.queue.enqueue(out.enqueue);
    if (out.cancelled.length) {
      await this.s.queue.remove(out.cancelled);
      await this.cancels.publish(out.cancelled);
    }
    for (const [fiId, status] of out.finished) {
      this.s.log.debug({ fiId, status }, 'flow instance finished');
      this.events.onFinished?.(fiId, status);
    }
    if (out.changes.length) this.events.onStatusChanges?.(out.changes);
  }

  async close(): Promise<void> {
    await this.cancels.close();
  }
}
