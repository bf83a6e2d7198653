// The reconciler (leader only, every RECONCILE_INTERVAL_MS, once right after an election, and on demand):
// Redis is not the truth, MySQL is. Each pass walks the open rows in pages (by primary key, through the
// (status, id) indexes) and rebuilds what Redis lost:
//  1. PENDING task instances (single tasks, or of a RUNNING flow instance) in neither `ready` nor
//     `inflight` → enqueued (enqueue is idempotent: an id already queued or leased is left alone).
//  2. RUNNING task instances Redis does not know (it was flushed or restarted while they ran) → set
//     PENDING with version + 1 (version-checked) and enqueued. Why not lease them back to their recorded
//     worker (a `restore` op)? Because a worker that finds its lease gone — its next extension, within
//     LEASE_MS/3 — aborts the run as "lease lost" and abandons it without writing. By the time a
//     reconcile pass runs, the recorded worker has almost always given the run up already, so a restored
//     lease would only sit there until it expires and then cost the task one of its attempts through
//     the reaper ("worker lost" for a task that did nothing wrong). Requeueing runs it again at once;
//     a worker still finishing the old run is fenced by the version bump (its result is refused).
//     The interrupted run is not counted (attempt - 1): Redis losing the lease is no fault of the task's,
//     nor a worker lost, so it eats neither budget.
//     Only rows untouched for STUCK_GRACE_MS: a worker leases the next task of a flow it created
//     RUNNING for itself just after the commit (sql/transitionWrites.ts), so a fresh RUNNING row may not be
//     in Redis yet.
//  3. RUNNING flow instances with no open task instance Redis knows (none open at all — a crash between a
//     task's result and the advance, or a lost dirty mark — or all of them unknown) → advanced. Only
//     instances untouched for STUCK_GRACE_MS: a flow just started or just moved on is being handled.
//  4. RUNNING sub-flows whose parent has ended (a member died between the parent's end and the cascade)
//     → cancelled (orphans.ts). Instances that only wait (SIGNAL, SUB_FLOW) are not advanced (waiting.ts).
// The work per pass is capped; a sweep that stops at the cap goes on from there on the next pass.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import type { ReconcileReport } from './types.js';
import { advanceAll } from './advance.js';
import { FlowIns, TaskIns } from '../models/index.js';
import { deleteExpiredKeys } from '../engine/idempotency.js';
import { waitingOnly } from './waiting.js';
import { cancelOrphans } from './orphans.js';
import { externalQueueOf } from '../engine/external/route.js';

/**
 * An open task instance as a pass sees it; `queue` when it is a WORKER task's (its external queue); its
 * priority and task (flow control) so it is queued again where it was.
 */
interface Open {
  id: number;
  version: number;
  updated: number;
  queue?: string;
  priority?: number;
  taskId?: number;
}

const PAGE = 500;
/** Rows looked at per kind per pass. */
const MAX_ROWS_PER_PASS = 20_000;
const MAX_ADVANCES_PER_PASS = 500;
export const STUCK_GRACE_MS = 3_000;

type Kind = 'pending' | 'running' | 'flows';

export interface ReconcileDetail extends ReconcileReport {
  scanned: Record<Kind, number>;
  /** RUNNING task instances Redis did not know but too fresh to release: another pass is due after the grace. */
  deferred: number;
  ms: number;
}

export class Reconciler {
  /** Where the next periodic pass goes on from, per kind (0 = from the start). */
  private cursors: Record<Kind, number> = { pending: 0, running: 0, flows: 0 };

  constructor(private s: Services, private engine: Engine, private log: Logger) {}

  /**
   * One pass. `fromStart` (an on-demand pass) sweeps from the first row instead of the saved cursor.
   * `lookAtFresh` (a pass right after an election or an outage, when Redis may have lost the runs in
   * flight) also looks at RUNNING rows still in their grace, to count them (`deferred`) for a follow-up
   * pass; a routine pass leaves them to MySQL's filter, so it reads only rows that may be lost.
   */
  async pass(fromStart = false, lookAtFresh = false): Promise<ReconcileDetail> {
    const t0 = performance.now();
    const cursors = fromStart ? { pending: 0, running: 0, flows: 0 } : this.cursors;
    const scanned: Record<Kind, number> = { pending: 0, running: 0, flows: 0 };
    const report: ReconcileReport = { requeued: 0, released: 0, advanced: 0 };

    await this.sweep('pending', cursors, scanned, async (lastId) => {
      const rows = await this.openTasks('PENDING', lastId);
      report.requeued += await this.requeuePending(rows);
      return rows;
    });
    let deferred = 0;
    await this.sweep('running', cursors, scanned, async (lastId) => {
      const rows = await this.openTasks('RUNNING', lastId, lookAtFresh ? undefined : new Date(Date.now() - STUCK_GRACE_MS));
      const r = await this.releaseRunning(rows, Date.now() - STUCK_GRACE_MS);
      report.released += r.released;
      deferred += r.deferred;
      return rows;
    });
    const stuck: number[] = [];
    await this.sweep('flows', cursors, scanned, async (lastId) => {
      const rows = await this.runningFlows(lastId);
      stuck.push(...(await this.stuckFlows(rows)));
      return rows.map((r) => ({ id: r.fi_id }));
    }, () => stuck.length >= MAX_ADVANCES_PER_PASS);
    const toAdvance = stuck.slice(0, MAX_ADVANCES_PER_PASS);
    await deleteExpiredKeys(this.s.knex, this.s.config.idempotencyTtlMs);
    await cancelOrphans(this.s.knex, this.engine, this.log);
    await advanceAll(this.engine, toAdvance, this.log, 'reconciler');
    report.advanced = toAdvance.length;

    const detail = { ...report, scanned, deferred, ms: Math.round(performance.now() - t0) };
    const did = report.requeued + report.released + report.advanced > 0;
    this.log[did ? 'info' : 'debug'](detail, 'reconcile pass');
    return detail;
  }

  /** Pages through one kind from its cursor until the end, the per-pass cap, or `enough()`. */
  private async sweep(
    kind: Kind,
    cursors: Record<Kind, number>,
    scanned: Record<Kind, number>,
    page: (lastId: number) => Promise<{ id: number }[]>,
    enough: () => boolean = () => false,
  ): Promise<void> {
    while (scanned[kind] < MAX_ROWS_PER_PASS && !enough()) {
      const rows = await page(cursors[kind]);
      scanned[kind] += rows.length;
      if (rows.length < PAGE) {
        cursors[kind] = 0; // reached the end: the next pass starts over
        return;
      }
      cursors[kind] = rows[rows.length - 1].id;
    }
  }

  /**
   * Open task instances of one status that still matter: single tasks, or of a RUNNING flow instance;
   */
  private async openTasks(status: 'PENDING' | 'RUNNING', afterId: number, untouchedSince?: Date): Promise<Open[]> {
    const rows = await TaskIns.query(this.s.knex)
      .alias('ti')
      .leftJoin('task_flow_ins as fi', 'fi.fi_id', 'ti.fi_id')
      .leftJoin('task as t', 't.task_id', 'ti.task_id')
      .select('ti.ti_id', 'ti.version', 'ti.update_time', 'ti.priority', 'ti.task_id', 't.task_type', 't.task_config')
      .where('ti.exec_status', status)
      .where('ti.ti_id', '>', afterId)
      .where((q) => q.whereNull('ti.fi_id').orWhere('fi.status', 'RUNNING'))
      .modify((q) => { if (untouchedSince) q.where('ti.update_time', '<', untouchedSince); })
      .orderBy('ti.ti_id')
      .limit(PAGE);
    return (rows as unknown as Record<string, any>[]).map((r) => ({ id: r.ti_id, version: r.version, updated: new Date(r.update_time).getTime(), priority: r.priority ?? 0, taskId: r.task_id, ...externalQueueOf(r) }));
  }

  /** Those of the rows neither queue knows: the members' own, or a WORKER task's external queue. */
  private async unknown<T extends { id: number; queue?: string }>(rows: T[]): Promise<T[]> {
    if (!rows.length) return [];
    const external = rows.filter((r): r is T & { queue: string } => r.queue !== undefined);
    const own = rows.filter((r) => r.queue === undefined);
    const [knownOwn, knownExternal] = await Promise.all([
      own.length ? this.s.queue.known(own.map((r) => r.id)) : new Set<number>(),
      this.s.queue.external.known(external.map((r) => ({ tiId: r.id, queue: r.queue }))),
    ]);
    return rows.filter((r) => !knownOwn.has(r.id) && !knownExternal.has(r.id));
  }

  private async requeuePending(rows: Open[]): Promise<number> {
    const lost = await this.unknown(rows);
    await this.s.queue.enqueue(lost.map((r) => ({ tiId: r.id, queue: r.queue, priority: r.priority, taskId: r.taskId })));
    return lost.length;
  }

  /**
   * RUNNING rows Redis does not know, untouched since `before`, are put back to PENDING and queued; those
   * touched since are left for a later pass (`deferred`): a worker may be about to lease them.
   */
  private async releaseRunning(rows: Open[], before: number): Promise<{ released: number; deferred: number }> {
    const unknown = await this.unknown(rows);
    const lost = unknown.filter((r) => r.updated < before);
    const deferred = unknown.length - lost.length;
    if (!lost.length) return { released: 0, deferred };
    const { knex } = this.s;
    const ids = lost.map((r) => r.id);
    const n = await TaskIns.patchEachIfVersion<TaskIns>(lost.map((r) => [r.id, r.version]), {
      exec_status: 'PENDING',
      error_msg: 'lease lost with Redis; trying again',
      attempt: TaskIns.raw('GREATEST(attempt, 1) - 1'),
      update_time: new Date(),
      lease_token: null,
    }, knex);
    // Queue those PENDING now, whoever made them so (a row that moved on to RUNNING or an end is left).
    const pending = await TaskIns.query(knex).select('ti_id', 'priority', 'task_id').whereIn('ti_id', ids).where('exec_status', 'PENDING');
    const queueOf = new Map(lost.map((r) => [r.id, r.queue]));
    await this.s.queue.enqueue(pending.map((r) => ({ tiId: r.ti_id, queue: queueOf.get(r.ti_id), priority: r.priority ?? 0, taskId: r.task_id })));
    return { released: n, deferred };
  }

  private async runningFlows(afterId: number): Promise<{ fi_id: number; update_time: Date }[]> {
    return FlowIns.query(this.s.knex)
      .select('fi_id', 'update_time')
      .where('status', 'RUNNING')
      .where('fi_id', '>', afterId)
      .orderBy('fi_id')
      .limit(PAGE);
  }

  /** Of these RUNNING flow instances, those with no open task instance that Redis knows. */
  private async stuckFlows(flows: { fi_id: number; update_time: Date }[]): Promise<number[]> {
    const settled = flows.filter((f) => Date.now() - new Date(f.update_time).getTime() > STUCK_GRACE_MS).map((f) => f.fi_id);
    if (!settled.length) return [];
    const open = (await TaskIns.query(this.s.knex)
      .alias('ti')
      .leftJoin('task as t', 't.task_id', 'ti.task_id')
      .select('ti.ti_id', 'ti.fi_id', 't.task_type', 't.task_config')
      .whereIn('ti.fi_id', settled)
      .whereIn('ti.exec_status', ['PENDING', 'RUNNING'])) as unknown as Record<string, any>[];
    const unknownIds = new Set((await this.unknown(open.map((r) => ({ id: r.ti_id as number, ...externalQueueOf(r) })))).map((r) => r.id));
    const alive = new Set(open.filter((r) => !unknownIds.has(r.ti_id)).map((r) => r.fi_id as number));
    const candidates = settled.filter((fiId) => !alive.has(fiId));
    const waiting = await waitingOnly(this.s, candidates);
    return candidates.filter((fiId) => !waiting.has(fiId));
  }
}
