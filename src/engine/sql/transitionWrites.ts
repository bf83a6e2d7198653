// The write half of a coordinator pass (advanceMany.ts reads, decide.ts decides, this writes): one
// round trip, COMMIT included, whatever the batch's size. Batch twin of the models' single-row transitions
// (src/models/instances.ts): FlowIns#patchIfVersion (the fence), NodeIns ends, TaskIns#cancel, and
// NodeIns.enter (a node instance with its task instances).
//
// The fence comes first: every changed flow instance must still be at the version the pass read
// (`UPDATE … WHERE fi_id = ? AND version = ?`, the optimistic lock). The reads took no locks, so a pass
// paused between them and here (its Redis lock expired) blocks nobody meanwhile, and is refused when it
// wakes. The check is made by the server, not by us between round trips: right after the fence, a guard
// statement fails the multi-statement query ("Result consisted of more than one row", a `SELECT … INTO`
// that finds two rows) unless the fence changed every row, so nothing after it runs, COMMIT included,
// and the transaction is rolled back. Only then, on that rare path, do we look which instances moved on.
//
// New node instances' task instances are inserted in the same round trip with INSERT … SELECT, joining
// the node instances just inserted (ids from LAST_INSERT_ID() on). Most are created PENDING and enqueued
// after commit. With `runHere`, up to `max` are created already RUNNING for that worker (attempt 1, its
// worker_id, started now): the worker that has just finished a flow's task runs the flow's next one
// itself, its RUNNING mark committed by the transaction that recorded the previous result. Safety is as
// for a claimed run: the row is RUNNING (committed) before anything runs; the worker leases the id in
// Redis after the commit; a worker that dies in between leaves a RUNNING row with no lease, which the
// reconciler sets PENDING again after a grace period. With `handOver`, an external worker's flows' new
// WORKER task instances are created RUNNING for it the same way (external/handOver.ts).
import { boundRows, type Statement, type Tx } from './multiStatement.js';
import { runOf, type TaskRun } from '../taskRun.js';
import { StaleVersionError } from '../../errors.js';
import { groupBy } from '../../infra/groupBy.js';
import type { EnteredStatus } from '../decide.js';
import type { TaskInsView } from '../instanceViews.js';
import { externalQueueOf } from '../external/route.js';
import { handedOverOf, handOverStatements, type HandOver, type HandedOver } from '../external/handOver.js';

/** A worker taking new task instances for itself, and how many it has room for. */
export interface RunHere {
  /** Recorded as the rows' worker_id (the member id). */
  workerId: string;
  max: number;
}

export interface TransitionWrites {
  /** Every flow instance the pass changes, at the version it read. */
  fences: { fiId: number; version: number }[];
  /** RUNNING node instances that end (CANCELLED: a sibling failed). */
  nodeEnds: { fiId: number; niId: number; status: 'SUCCESS' | 'FAILED' | 'CANCELLED'; error: string | null }[];
  /** Open task instances no longer needed. */
  cancels: { fiId: number; niId: number; tiId: number; why: string }[];
  /** Flow instances that end. */
  flowEnds: { fiId: number; status: 'SUCCESS' | 'FAILED'; error: string | null; nodeKey?: string }[];
  /**
   * Node instances entered, in order; a RUNNING one gets one task instance per task. SKIPPED and FAILED
   * ones are written ended; `dueMs`: a SIGNAL's timeout.
   */
  entered: { fiId: number; nodeId: number; status: EnteredStatus; taskIds: number[]; error?: string | null; dueMs?: number | null; items?: number[]; itemCount?: number }[];
  /** Task instances for more items of running forEach node instances (each item × each task). */
  addTasks?: { fiId: number; niId: number; nodeId: number; taskIds: number[]; items: number[] }[];
}

export interface WriteContext {
  now: Date;
  user: string;
  /** Each flow instance's start (epoch ms), to back-date its new queue entries. */
  flowStart: Map<number, number>;
  /** Each flow instance's priority (absent: 0), carried by every task instance it makes. */
  flowPriority?: Map<number, number>;
  runHere?: RunHere;
  /** External workers taking their flows' next WORKER task instances (external/handOver.ts). */
  handOver?: HandOver[];
  /** The instances were inserted by this transaction (a start): no version fence is needed. */
  unfenced?: boolean;
  /**
   * The caller's statements (recording results), sent first in the same round trip, each followed by
   * its guards: a pass decided from a copy (flowStates.ts) writes nothing unless all of them did.
   */
  prelude?: Statement[];
  /** Read back the ids of every node instance entered (ended ones too), for the member's copies (flowStates.ts). */
  readNodes?: boolean;
  /**
   * Awaited once the statements are built, right before they are sent (a pass from copies waits here for
   * its locks, having decided and built its writes while Redis answered). If it throws, nothing was sent.
   */
  beforeSend?: () => Promise<void>;
}

export interface Written {
  /** `queue`: a WORKER task instance's external queue (src/queue/externalQueues.ts). */
  enqueue: { tiId: number; delayMs: number; priority: number; taskId: number; fiId: number; niId: number; queue?: string }[];
  started: TaskRun[];
  /** WORKER task instances created RUNNING for an external worker (`handOver`). */
  handedOver: HandedOver[];
  /** Results of `ctx.prelude`, one per statement. */
  prelude: any[];
  /** The entered RUNNING node instances' ids (by `${fiId}:${nodeId}`) and their new task instances (by ni_id). */
  entered: { niOf: Map<string, number>; tasksOf: Map<number, TaskInsView[]> };
}

/** The fence refused a pass: flow instances moved on since they were read (`fiIds`, when known). */
export class StaleWriteError extends StaleVersionError {
  override name = 'StaleWriteError';
  constructor(message: string, readonly fiIds: number[] = []) {
    super(message);
  }
}

/** A statement that fails the multi-statement query unless the SQL condition `ok` holds. */
export const guard = (ok: string, bindings: unknown[]): Statement => ({
  sql: `SELECT 1 INTO @tsq_tripped FROM (SELECT 1 AS n UNION ALL SELECT 2) AS two WHERE NOT (${ok})`,
  bindings,
});

export async function writeTransitions(tx: Tx, w: TransitionWrites, ctx: WriteContext): Promise<Written> {
  const { now, user } = ctx;
  const fiIds = w.fences.map((f) => f.fiId);
  // (An array value is a list, `IN (?)`; an array of arrays a list of tuples: see multiStatement.ts.)
  // A start's pass has no fence (ctx.unfenced): its instances were inserted by this very transaction, so
  // no other pass can have read them, and nothing can move them on before it commits.
  const fence: Statement[] = ctx.unfenced
    ? []
    : [
        {
          sql: 'UPDATE task_flow_ins SET version = version + 1, update_time = ?, update_user = ? WHERE fi_id IN (?) AND (fi_id, version) IN (?)',
          bindings: [now, user, fiIds, w.fences.map((f) => [f.fiId, f.version])],
        },
        { sql: 'SET @tsq_fenced = ROW_COUNT()', bindings: [] },
        guard('@tsq_fenced = ?', [fiIds.length]),
      ];
  const prelude = ctx.prelude ?? [];
  const statements: Statement[] = [
    ...prelude,
    ...fence,
    // Every writer of a node instance's status bumps its flow instance's version, so past the fence the
    // node instances read RUNNING are still RUNNING.
    ...[...groupBy(w.nodeEnds, (u) => `${u.status}\u0000${u.error ?? ''}`).values()].map((g) => ({
      sql: `UPDATE task_node_ins SET status = ?, end_time = ?, error_msg = ?, version = version + 1, update_time = ?, update_user = ?
             WHERE ni_id IN (?) AND status = 'RUNNING'`,
      bindings: [g[0].status, now, g[0].error, now, user, g.map((u) => u.niId)],
    })),
    ...[...groupBy(w.cancels, (c) => c.why).values()].map((g) => ({
      sql: `UPDATE task_ins SET exec_status = 'CANCELLED', end_time = ?, error_msg = ?, version = version + 1, update_time = ?, update_user = ?
             WHERE ti_id IN (?) AND exec_status IN ('PENDING', 'RUNNING')`,
      bindings: [now, g[0].why, now, user, g.map((c) => c.tiId)],
    })),
    ...[...groupBy(w.flowEnds, (f) => `${f.status}\u0000${f.error ?? ''}`).values()].map((g) => ({
      sql: `UPDATE task_flow_ins SET status = ?, end_time = ?, error_msg = ?, update_time = ?, update_user = ?
             WHERE fi_id IN (?) AND status = 'RUNNING'`,
      bindings: [g[0].status, now, g[0].error, now, user, g.map((f) => f.fiId)],
    })),
  ];
  const taskRows = w.entered.some((e) => e.status === 'RUNNING' && e.taskIds.length);
  if (w.entered.length) {
    statements.push(
      {
        sql: `INSERT INTO task_node_ins (fi_id, node_id, start_time, end_time, status, error_msg, due_time, item_count, version, create_time, create_user, update_time, update_user)
              VALUES ?`,
        bindings: [w.entered.map((e) => [e.fiId, e.nodeId, now, e.status === 'RUNNING' ? null : now, e.status, e.error ?? null, e.dueMs == null ? null : new Date(e.dueMs), e.itemCount ?? null, 0, now, user, now, user])],
      },
      // A multi-row insert's ids need not be consecutive (MySQL 8's interleaved auto-increment), but they
      // are ≥ the first (LAST_INSERT_ID()), and these instances' rows are ours until commit.
      { sql: 'SET @tsq_first_ni = LAST_INSERT_ID()', bindings: [] },
    );
  }
  const nodesAt = ctx.readNodes && w.entered.length ? statements.length : -1;
  if (nodesAt >= 0) statements.push({ sql: 'SELECT ni_id, fi_id, node_id FROM task_node_ins WHERE fi_id IN (?) AND ni_id >= @tsq_first_ni', bindings: [[...new Set(w.entered.map((e) => e.fiId))]] });
  const readBacks: number[] = []; // indexes of the statements that read new task instances back
  let handOverAt = -1;
  let insertedOf: { fiId: number; nodeId: number }[] = [];
  if (taskRows) {
    const ins = taskInserts(w.entered, ctx);
    insertedOf = ins.rowsOf;
    statements.push(...ins.insert);
    if (ins.handOver.length) {
      statements.push(...ins.handOver);
      handOverAt = statements.length - 1;
    }
    statements.push(ins.readBack);
    readBacks.push(statements.length - 1);
  }
  if (w.addTasks?.length) {
    statements.push(...addedTasks(w.addTasks, ctx));
    readBacks.push(statements.length - 1);
  }
  await ctx.beforeSend?.();
  const results = await sendFenced(tx, statements, w.fences);
  const out: Written = {
    enqueue: [],
    started: [],
    handedOver: handOverAt < 0 ? [] : handedOverOf(results[handOverAt], now),
    prelude: results.slice(0, prelude.length),
    entered: enteredOf(taskRows ? results[readBacks[0]] : [], insertedOf),
  };
  if (nodesAt >= 0) for (const r of results[nodesAt] as { ni_id: number; fi_id: number; node_id: number }[]) out.entered.niOf.set(`${r.fi_id}:${r.node_id}`, r.ni_id);
  for (const k of readBacks) {
    for (const r of results[k] as Record<string, any>[]) {
      if (r.exec_status === 'RUNNING' && r.task_type === 'WORKER') continue; // handed over (out.handedOver)
      if (r.exec_status === 'RUNNING') out.started.push(runOf(r, now));
      else out.enqueue.push({ tiId: r.ti_id, fiId: r.fi_id, niId: r.ni_id, priority: r.priority ?? 0, taskId: r.task_id, delayMs: Math.min(0, (ctx.flowStart.get(r.fi_id) ?? now.getTime()) - now.getTime()), ...externalQueueOf(r) });
    }
  }
  return out;
}

/** The new task instances, read back in the order they were inserted (ti_id), matched to their rows. */
function enteredOf(rows: Record<string, any>[], insertedOf: { fiId: number; nodeId: number }[]): Written['entered'] {
  const niOf = new Map<string, number>();
  const tasksOf = new Map<number, TaskInsView[]>();
  if (rows.length !== insertedOf.length) return { niOf, tasksOf };
  rows.forEach((r, k) => {
    if (r.fi_id !== insertedOf[k].fiId) return;
    niOf.set(`${r.fi_id}:${insertedOf[k].nodeId}`, r.ni_id);
    const ts = tasksOf.get(r.ni_id) ?? [];
    ts.push({ ti_id: r.ti_id, ni_id: r.ni_id, exec_status: r.exec_status, error_msg: null, item_index: null });
    tasksOf.set(r.ni_id, ts);
  });
  return { niOf, tasksOf };
}

const READ_BACK = `SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.lost_attempts, ti.version, ti.priority, ti.rendered_content, ti.rendered_config, t.task_type, t.task_content, t.task_config
              FROM task_ins ti LEFT JOIN task t ON t.task_id = ti.task_id`;

/** Task instances (PENDING) for more items of running forEach node instances, read back to be queued. */
function addedTasks(adds: NonNullable<TransitionWrites['addTasks']>, ctx: WriteContext): Statement[] {
  const { now, user } = ctx;
  const rows: unknown[][] = [];
  for (const a of adds) for (const item of a.items) for (const taskId of a.taskIds) rows.push([a.niId, a.fiId, taskId, 'PENDING', 0, 0, item, ctx.flowPriority?.get(a.fiId) ?? 0, now, user, now, user]);
  return [
    {
      sql: 'INSERT INTO task_ins (ni_id, fi_id, task_id, exec_status, attempt, version, item_index, priority, create_time, create_user, update_time, update_user) VALUES ?',
      bindings: [rows],
    },
    { sql: `${READ_BACK} WHERE ti.ni_id IN (?) AND ti.ti_id >= LAST_INSERT_ID() ORDER BY ti.ti_id`, bindings: [[...new Set(adds.map((a) => a.niId))]] },
  ];
}

const COLUMNS = ['fi_id', 'node_id', 'task_id', 'exec_status', 'attempt', 'version', 'start_time', 'worker_id', 'item_index', 'priority', 'ord'];

/**
 * INSERT … SELECT of the entered nodes' task instances, checked by count; those handed over to external
 * workers (`ctx.handOver`); and the read-back of the new instances with their tasks.
 */
function taskInserts(entered: TransitionWrites['entered'], ctx: WriteContext): { insert: Statement[]; handOver: Statement[]; readBack: Statement; rowsOf: { fiId: number; nodeId: number }[] } {
  const { now, user, runHere } = ctx;
  let local = runHere ? Math.max(0, runHere.max) : 0;
  const rows: unknown[][] = []; // in COLUMNS' order
  for (const e of entered) {
    if (e.status !== 'RUNNING') continue;
    // A forEach node: each task once per item made now (the rest as maxParallel lets them in).
    for (const item of e.items ?? [null]) {
      for (const taskId of e.taskIds) {
        const runsHere = local-- > 0;
        rows.push([e.fiId, e.nodeId, taskId, runsHere ? 'RUNNING' : 'PENDING', runsHere ? 1 : 0, runsHere ? 1 : 0, runsHere ? now : null, runsHere ? runHere!.workerId : null, item, ctx.flowPriority?.get(e.fiId) ?? 0, rows.length]);
      }
    }
  }
  const values = boundRows(COLUMNS, rows.length);
  // A WORKER task is never run here: it is created PENDING and goes to its external queue.
  const external = runHere ? "t.task_type = 'WORKER'" : 'FALSE';
  const fiIds = [...new Set(entered.map((e) => e.fiId))];
  const made = new Map<number, number>();
  for (const r of rows) made.set(r[0] as number, (made.get(r[0] as number) ?? 0) + 1);
  const insert: Statement[] = [
    {
      sql: `INSERT INTO task_ins (ni_id, fi_id, task_id, exec_status, attempt, version, start_time, worker_id, item_index, priority, create_time, create_user, update_time, update_user)
            SELECT ni.ni_id, v.fi_id, v.task_id, IF(${external}, 'PENDING', v.exec_status), IF(${external}, 0, v.attempt), IF(${external}, 0, v.version),
                   IF(${external}, NULL, v.start_time), IF(${external}, NULL, v.worker_id), v.item_index, v.priority, ?, ?, ?, ?
              FROM (${values}) AS v
              JOIN task_node_ins ni ON ni.fi_id = v.fi_id AND ni.node_id = v.node_id AND ni.ni_id >= @tsq_first_ni
              LEFT JOIN task t ON t.task_id = v.task_id
             ORDER BY v.ord`,
      bindings: [now, user, now, user, ...rows.flat()],
    },
    { sql: 'SET @tsq_made = ROW_COUNT()', bindings: [] },
    guard('@tsq_made = ?', [rows.length]),
  ];
  return {
    insert,
    handOver: ctx.handOver?.length ? handOverStatements(ctx.handOver, (fiId) => made.get(fiId) ?? 0, now) : [],
    readBack: { sql: `${READ_BACK} WHERE ti.fi_id IN (?) AND ti.ti_id >= LAST_INSERT_ID() ORDER BY ti.ti_id`, bindings: [fiIds] },
    rowsOf: rows.map((r) => ({ fiId: r[0] as number, nodeId: r[1] as number })),
  };
}

/**
 * Sends the writes with COMMIT; if a guard trips, rolls back and finds the instances whose version is no
 * longer the one read (after the rollback, only others' changes are left to see). With no fences (a pass
 * from copies that changed nothing: its results and their guard only), a trip is a result refused.
 */
export async function sendFenced(tx: Tx, statements: Statement[], fences: TransitionWrites['fences']): Promise<any[]> {
  try {
    return await tx.send(statements, { commit: true });
  } catch (e) {
    if ((e as { code?: string }).code !== 'ER_TOO_MANY_ROWS') throw e;
    try {
      await tx.rollback();
    } catch {
      throw new StaleWriteError('a pass found its rows moved on'); // a transaction that cannot roll back in part
    }
    if (!fences.length) throw new StaleWriteError('a result was refused');
    const [rows] = (await tx.send([tx.q('task_flow_ins').select('fi_id', 'version').whereIn('fi_id', fences.map((f) => f.fiId))])) as [{ fi_id: number; version: number }[]];
    const versionNow = new Map(rows.map((r) => [r.fi_id, r.version]));
    const stale = fences.filter((f) => versionNow.get(f.fiId) !== f.version).map((f) => f.fiId);
    throw new StaleWriteError(stale.length ? `flow instances ${stale.join(',')} moved on since they were read` : 'a pass found its rows moved on', stale);
  }
}
