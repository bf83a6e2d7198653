// advance(fiId): the per-instance coordinator. Whoever finishes a task (or the reaper, the
// reconciler, a retry) calls it; the Redis lock `lock:flow-ins:{fiId}` elects one coordinator at a
// time. A caller that finds the lock taken leaves a "dirty" mark instead of waiting; the holder checks
// the mark after releasing and runs again, so no completion is missed and nobody queues on the lock.
// Each run commits its transitions in MySQL first, then enqueues the new task instances in Redis; a
// crash in between leaves PENDING rows that the reconciler enqueues again.
import type { Services } from '../services.js';
import { FlowPlans } from './flowPlan.js';
import { FlowLocks } from './locks.js';
import { CancelSignals } from './cancelSignals.js';
import { StaleWriteError, Transition, type TransitionOutcome, type NiState } from './transition.js';

const DIRTY_TTL_MS = 60_000;

/** Hooks for metrics; all optional. */
export interface EngineEvents {
  onStale?(what: string): void;
  onFinished?(fiId: number, status: string): void;
  /** The instance's lock was held by someone else (they will pick up our dirty mark). */
  onLockBusy?(fiId: number): void;
  /** One coordinator pass that changed something took `ms`. */
  onAdvance?(fiId: number, ms: number): void;
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

  private dirtyKey(fiId: number): string {
    return `${this.s.config.redisPrefix}dirty:flow-ins:${fiId}`;
  }

  /** Makes every transition of the instance that is due now. Safe to call any number of times. */
  async advance(fiId: number): Promise<void> {
    const dirty = this.dirtyKey(fiId);
    await this.s.redis.set(dirty, '1', 'PX', DIRTY_TTL_MS);
    for (;;) {
      const lock = await this.locks.tryAcquire(fiId);
      if (!lock) {
        this.events.onLockBusy?.(fiId);
        return; // the holder will see the dirty mark when it releases
      }
      try {
        await this.s.redis.del(dirty);
        await this.advanceOnce(fiId);
      } finally {
        await this.locks.release(lock);
      }
      if (!(await this.s.redis.exists(dirty))) return;
    }
  }

  /** One coordinator pass; call only while holding the instance's lock. */
  async advanceOnce(fiId: number): Promise<TransitionOutcome | null> {
    const { knex, log } = this.s;
    let out: TransitionOutcome | null = null;
    const t0 = performance.now();
    try {
      out = await knex.transaction(
        async (trx) => {
          const fi = await trx('task_flow_ins').select('fi_id', 'flow_id', 'flow_version', 'status', 'version').where('fi_id', fiId).first();
          if (!fi || fi.status !== 'RUNNING') return null;
          const plan = await this.plans.get(fi.flow_id, fi.flow_version);
          const last: NiState | undefined = await trx('task_node_ins')
            .select('ni_id', 'node_id', 'status', 'error_msg')
            .where('fi_id', fiId)
            .orderBy('ni_id', 'desc')
            .first();
          return new Transition(trx, plan, fi, 'system', new Date()).run(last);
        },
        { isolationLevel: 'read committed' },
      );
    } catch (e) {
      if (e instanceof StaleWriteError) {
        log.warn({ fiId, reason: e.message }, 'stale coordinator write refused');
        this.events.onStale?.('coordinator');
        return null;
      }
      throw e;
    }
    if (out) {
      await this.afterCommit(fiId, out);
      if (out.changed) this.events.onAdvance?.(fiId, performance.now() - t0);
    }
    return out;
  }

  /** What a committed transition asks of Redis: enqueue new work, drop and abort cancelled work. */
  async afterCommit(fiId: number, out: TransitionOutcome): Promise<void> {
    if (out.enqueue.length) await this.s.queue.enqueue(out.enqueue.map((tiId) => ({ tiId })));
    if (out.cancelled.length) {
      await this.s.queue.remove(out.cancelled);
      await this.cancels.publish(out.cancelled);
    }
    if (out.finished) {
      this.s.log.debug({ fiId, status: out.finished }, 'flow instance finished');
      this.events.onFinished?.(fiId, out.finished);
    }
  }

  async close(): Promise<void> {
    await this.cancels.close();
  }
}
