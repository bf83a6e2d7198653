// The coordinator's transitions for a batch of flow instances, inside one MySQL transaction.
// Level-triggered: it reads where each instance stands and makes every transition that is due now
// (decide.ts says which: nodes end by their completion condition, a failed node fails the flow, a node
// starts once all the nodes it follows have succeeded, END succeeds the flow).
//
// Two round trips per batch, whatever its size (graphile-worker's batch twins): the reads (the flow
// instances, the latest instance of each of their nodes with the task instances of those still
// RUNNING), then every write in grouped
// multi-row statements with COMMIT (sql/transitionWrites.ts). The first write bumps each changed instance's
// `version`, checked against the version read (optimistic lock): the fencing token that refuses a
// coordinator that lost its Redis lock while paused, and that cancel and retry check too.
// One round trip when the caller records results of instances this member holds copies of
// (flowStates.ts): no reads, the results, a guard that all were written, the writes and COMMIT together;
// a copy found stale rolls it all back, and the pass is made again the two-round-trip way.
import type { FlowPlans } from './flowPlan.js';
import { decide, NeedData, type Decision, type DecideContext, type NodeInsView, type TaskInsView } from './decide.js';
import { conditionData } from './conditionData.js';
import type { Statement, Tx } from './sql/multiStatement.js';
import type { TaskRun } from './taskRun.js';
import { writeTransitions, sendFenced, guard, StaleWriteError, type TransitionWrites, type RunHere } from './sql/transitionWrites.js';
import { ALL_RESULTS_WRITTEN } from './sql/finishRuns.js';
import type { FlowStates, FlowState, BatchResults } from './flowStates.js';
import type { FiRow } from './instanceViews.js';
import type { HandOver, HandedOver } from './external/handOver.js';

export { StaleWriteError };

export interface BatchOutcome {
  /**
   * New task instances to enqueue once the transaction commits. `delayMs` back-dates them to their flow
   * instance's start, so the queue (earliest score first) serves flows that started earlier before the
   * first steps of newer ones: a flow in progress moves on at once instead of queueing behind every
   * flow started after it.
   */
  enqueue: { tiId: number; delayMs: number; queue?: string; priority?: number; taskId?: number }[];
  /** New task instances created RUNNING for `runHere.workerId` (see sql/transitionWrites.ts): to lease and run. */
  started: TaskRun[];
  /** New WORKER task instances created RUNNING for an external worker (`handOver`): to lease and hand over. */
  handedOver: HandedOver[];
  /** Task instances that were PENDING/RUNNING and are now CANCELLED: drop from the queue, abort runners. */
  cancelled: number[];
  /** Flow instances that reached an end state. */
  finished: Map<number, 'SUCCESS' | 'FAILED'>;
  /** Those of them that did not succeed, with what the log line about each says. */
  failures: FlowFailure[];
  /** Flow instances that changed. */
  changed: number[];
  /** Results of the caller's `prelude` statements, one per statement. */
  prelude: any[];
  /** What changed status, for whoever watches (the dashboard's live events); told after commit. */
  changes: StatusChange[];
  /** Instances with SUB_FLOW node instances waiting for their child to be started (subFlows.ts). */
  startChildren: number[];
  /** Child instances to cancel (their parent's SUB_FLOW node ended without them). */
  cancelChildren: number[];
  /** Parents of sub-flow instances that ended: to advance (their SUB_FLOW node can end now). */
  parents: number[];
}

/**
 * One status change of a flow, node or task instance. `niId` is null for a node instance just entered
 * (its id is not read back); `flowId` is known to the coordinator, not always to others.
 */
export interface StatusChange {
  kind: 'flow' | 'node' | 'task';
  fiId: number | null;
  flowId?: number;
  niId?: number | null;
  nodeId?: number;
  tiId?: number;
  status: string;
}

/** A flow instance that ended without succeeding (FAILED, CANCELLED): one info line each (coordinator.ts). */
export interface FlowFailure {
  fiId: number;
  flowId: number;
  status: 'FAILED' | 'CANCELLED';
  /** The node that failed it; null when cancelled. */
  nodeKey: string | null;
  error: string | null;
  /** From the instance's start to its end. */
  durationMs: number;
}

export const emptyOutcome = (): BatchOutcome => ({ enqueue: [], started: [], handedOver: [], cancelled: [], finished: new Map(), failures: [], changed: [], prelude: [], changes: [], startChildren: [], cancelChildren: [], parents: [] });

export type { FiRow };

export interface AdvanceOptions {
  user: string;
  /** When the pass began. Its writes are stamped with the time they are sent (after the reads). */
  now: Date;
  /** Statements of the caller's (e.g. recording task results), sent ahead of the reads, in the same round trip. */
  prelude?: Statement[];
  /** Called between the reads and the first write (tests use it to stand in for a paused process). */
  beforeWrites?: () => Promise<void>;
  /** Retry: re-enter this node (by node id) for the instance, and what decide.ts says goes with it. */
  resume?: Map<number, number>;
  /**
   * The instances whose coordinator lock the caller got, when it asked for the locks alongside the first
   * round trip: awaited after the reads, and only those are advanced.
   */
  locked?: Promise<number[]>;
  /** A worker that runs (some of) the new task instances itself: they are created RUNNING for it. */
  runHere?: RunHere;
  /** External workers taking their flows' next WORKER task instances (external/handOver.ts). */
  handOver?: HandOver[];
  /**
   * The instances were inserted by this very transaction (a start): their state is known (these rows,
   * no node instance yet), so the reads are skipped.
   */
  fresh?: FiRow[];
  /** Fill in `changes` (someone watches status changes: the dashboard's live events). */
  collectChanges?: boolean;
  /** This member's copies of flow instances (flowStates.ts): kept up to date by every pass it makes. */
  states?: FlowStates;
  /**
   * The results the prelude records: when every instance has a copy, the pass decides from the copies with
   * the results applied and sends the prelude, the writes and COMMIT in one round trip (guarded: all
   * `count` results written).
   */
  results?: BatchResults;
}


/** The status changes a pass wrote, in the order they happened. */
function changesOf(w: TransitionWrites, written: { enqueue: { tiId: number; fiId?: number; niId?: number }[]; started: TaskRun[] }, flowOf: Map<number, number>): StatusChange[] {
  const flowId = (fiId: number) => flowOf.get(fiId);
  const out: StatusChange[] = [];
  for (const e of w.nodeEnds) out.push({ kind: 'node', fiId: e.fiId, flowId: flowId(e.fiId), niId: e.niId, status: e.status });
  for (const c of w.cancels) out.push({ kind: 'task', fiId: c.fiId, flowId: flowId(c.fiId), tiId: c.tiId, niId: c.niId, status: 'CANCELLED' });
  for (const e of w.entered) out.push({ kind: 'node', fiId: e.fiId, flowId: flowId(e.fiId), niId: null, nodeId: e.nodeId, status: e.status });
  for (const r of written.started) out.push({ kind: 'task', fiId: r.fiId, flowId: r.fiId === null ? undefined : flowId(r.fiId), niId: r.niId, tiId: r.tiId, status: 'RUNNING' });
  for (const q of written.enqueue) out.push({ kind: 'task', fiId: q.fiId ?? null, flowId: q.fiId === undefined ? undefined : flowId(q.fiId), niId: q.niId ?? null, tiId: q.tiId, status: 'PENDING' });
  for (const f of w.flowEnds) out.push({ kind: 'flow', fiId: f.fiId, flowId: flowId(f.fiId), status: f.status });
  return out;
}

export async function advanceMany(tx: Tx, plans: FlowPlans, fiIds: number[], opts: AdvanceOptions): Promise<BatchOutcome> {
  const out = emptyOutcome();
  const ids = [...new Set(fiIds)].sort((a, b) => a - b); // one lock order: no deadlocks between batches
  const prelude = opts.prelude ?? [];
  if (!ids.length) {
    out.prelude = await tx.send(prelude);
    return out;
  }

  // Round trip 1, the reads (after the caller's prelude): the instances, their node instances (the latest
  // of each node is what counts), and the task instances of those still RUNNING.
  type NiRow = NodeInsView & { fi_id: number; ti_id: number | null; exec_status: string | null; ti_error: string | null; due_time: Date | null; item_index: number | null };
  const { states, results } = opts;
  const copies = states && results && prelude.length && !opts.fresh ? ids.map((id) => states.get(id)) : [];
  if (copies.length && copies.every((c) => c !== undefined)) {
    try {
      const done = await passFromCopies(tx, plans, ids, copies as FlowState[], opts);
      states!.report('used');
      return done;
    } catch (e) {
      if (e instanceof StaleWriteError) {
        // Rolled back, results and all: a copy was stale (or a result refused). The pass is made again from a read.
        states!.report('stale');
      } else if (!(e instanceof NeedData) && !(e instanceof NotAllLocked)) throw e;
      // (NeedData: a node's `when` or `forEach` reads outputs, the ones these results write among them;
      // NotAllLocked: a lock is another's. Nothing was sent yet, and the pass that reads sends the results
      // first.) Either way the copies are gone.
    }
  }
  let fis: FiRow[] = opts.fresh ?? [];
  let rows: NiRow[] = [];
  if (!opts.fresh) {
    const read = await tx.send([
      ...prelude,
      {
        sql: 'SELECT fi_id, flow_id, flow_version, status, version, start_time, parent_fi_id, depth, priority FROM task_flow_ins WHERE fi_id IN (?) ORDER BY fi_id',
        bindings: [ids],
      },
      {
        // Every node instance of each (a retry's earlier ones are few): the latest of each node is kept below.
        // (A waiting SIGNAL's due time; a SUB_FLOW's child, with the child's status while the node waits.)
        sql: `SELECT ni.ni_id, ni.fi_id, ni.node_id, ni.status, ni.error_msg, ni.due_time, ni.child_fi_id, c.status AS child_status, c.error_msg AS child_error, ni.item_count,
                     ti.ti_id, ti.exec_status, ti.error_msg AS ti_error, ti.item_index
                FROM task_node_ins ni
                LEFT JOIN task_ins ti ON ti.ni_id = ni.ni_id AND ni.status = 'RUNNING'
                LEFT JOIN task_flow_ins c ON c.fi_id = ni.child_fi_id AND ni.status = 'RUNNING'
               WHERE ni.fi_id IN (?)
               ORDER BY ni.ni_id, ti.ti_id`,
        bindings: [ids],
      },
    ]);
    out.prelude = read.slice(0, prelude.length);
    [fis, rows] = read.slice(prelude.length) as [FiRow[], NiRow[]];
  } else if (prelude.length) {
    out.prelude = await tx.send(prelude);
  }
  const tasksByNi = new Map<number, TaskInsView[]>();
  const latestOf = new Map<number, Map<number, NodeInsView>>(); // fi → node → its latest instance (rows come by ni_id)
  for (const r of rows) {
    let byNode = latestOf.get(r.fi_id);
    if (!byNode) latestOf.set(r.fi_id, (byNode = new Map()));
    if (byNode.get(r.node_id)?.ni_id !== r.ni_id) {
      byNode.set(r.node_id, {
        ni_id: r.ni_id, node_id: r.node_id, status: r.status, error_msg: r.error_msg,
        due_ms: r.due_time ? new Date(r.due_time).getTime() : null, child_fi_id: r.child_fi_id ?? null, child_status: r.child_status ?? null, child_error: r.child_error ?? null, item_count: r.item_count ?? null,
      });
    }
    if (r.ti_id !== null) {
      const tl = tasksByNi.get(r.ni_id!) ?? [];
      tl.push({ ti_id: r.ti_id, ni_id: r.ni_id!, exec_status: r.exec_status!, error_msg: r.ti_error, item_index: r.item_index });
      tasksByNi.set(r.ni_id!, tl);
    }
  }

  const lockedByUs = opts.locked ? new Set(await opts.locked) : null;
  const running = fis.filter((f) => f.status === 'RUNNING' && (!lockedByUs || lockedByUs.has(f.fi_id)));
  if (states) for (const id of ids) states.delete(id); // a pass that reads makes new copies (or none)
  if (!running.length) return out;
  return decideAndWrite(tx, plans, out, running, latestOf, tasksByNi, opts);
}

/**
 * A pass decided from this member's copies: each instance's copy with the batch's results applied, the
 * prelude (the results), its guard and the writes sent in one round trip. Throws StaleWriteError, with
 * everything rolled back, when a copy was not what MySQL holds (the fence) or a result was refused.
 */
async function passFromCopies(tx: Tx, plans: FlowPlans, ids: number[], copies: FlowState[], opts: AdvanceOptions): Promise<BatchOutcome> {
  const out = emptyOutcome();
  const { byTask } = opts.results!;
  const tasksByNi = new Map<number, TaskInsView[]>();
  const latestOf = new Map<number, Map<number, NodeInsView>>();
  copies.forEach((c, k) => {
    latestOf.set(ids[k], new Map([...c.latest].map(([nodeId, v]) => [nodeId, { ...v }])));
    for (const [niId, ts] of c.tasks) {
      tasksByNi.set(niId, ts.map((t) => {
        const r = byTask.get(t.ti_id);
        return r ? { ...t, exec_status: r.status, error_msg: r.error } : { ...t };
      }));
    }
  });
  const running = copies.map((c) => ({ ...c.fi }));
  for (const id of ids) opts.states!.delete(id);
  // The locks were asked for alongside; the pass is decided and its writes built while Redis answers, and
  // nothing is sent before it has: every instance the pass changes must be ours, or nothing is sent and
  // the pass is made from a read, which advances only the instances whose lock we hold.
  const allLocked = async (changed: number[]) => {
    if (!opts.locked) return;
    const lockedByUs = new Set(await opts.locked);
    if (!changed.every((id) => lockedByUs.has(id))) throw new NotAllLocked();
  };
  return decideAndWrite(tx, plans, out, running, latestOf, tasksByNi, opts, allLocked);
}

/** A pass from copies changes an instance whose lock another holds: nothing was sent; it is made from a read. */
class NotAllLocked extends Error {
  override name = 'NotAllLocked';
}

/**
 * Decides each instance and writes the transitions. A pass from copies passes `locksFor`: awaited with
 * the instances it changes, once its writes (the prelude first) are built, right before they are sent.
 */
async function decideAndWrite(
  tx: Tx,
  plans: FlowPlans,
  out: BatchOutcome,
  running: FiRow[],
  latestOf: Map<number, Map<number, NodeInsView>>,
  tasksByNi: Map<number, TaskInsView[]>,
  opts: AdvanceOptions,
  locksFor?: (changed: number[]) => Promise<void>,
): Promise<BatchOutcome> {
  const fromCopies = !!locksFor;
  const { now, user } = opts;
  const preludeGuarded = fromCopies ? [...opts.prelude!, guard(ALL_RESULTS_WRITTEN, [opts.results!.count])] : [];
  // Decide each instance in memory (decide.ts), collecting the writes.
  const w: TransitionWrites = { fences: [], nodeEnds: [], cancels: [], flowEnds: [], entered: [], addTasks: [] };
  const changed = new Set<number>();
  for (const fi of running) {
    const plan = await plans.get(fi.flow_id, fi.flow_version);
    const ctx: DecideContext = { nowMs: now.getTime(), depth: fi.depth ?? 0 };
    const latest = [...(latestOf.get(fi.fi_id)?.values() ?? [])];
    const tasksOf = (niId: number) => tasksByNi.get(niId) ?? [];
    let d: Decision;
    try {
      d = decide(plan, latest, tasksOf, opts.resume?.get(fi.fi_id), ctx);
    } catch (e) {
      // Only a pass that enters a node with `when` or `forEach` pays for reading the input and outputs —
      // after the results it records (a pass from copies has not sent them: it is made from a read instead).
      if (!(e instanceof NeedData) || fromCopies) throw e;
      ctx.data = await conditionData(tx, plans, plan, fi.fi_id);
      d = decide(plan, latest, tasksOf, opts.resume?.get(fi.fi_id), ctx);
    }
    const fiId = fi.fi_id;
    if (d.startChildren) out.startChildren.push(fiId);
    if (d.cancelChildren) out.cancelChildren.push(...d.cancelChildren);
    for (const e of d.nodeEnds) w.nodeEnds.push({ fiId, ...e });
    for (const c of d.cancels) w.cancels.push({ fiId, ...c });
    for (const e of d.entered) w.entered.push({ fiId, ...e });
    for (const a of d.addTasks ?? []) w.addTasks!.push({ fiId, ...a });
    if (d.flowEnd) w.flowEnds.push({ fiId, ...d.flowEnd });
    if (d.nodeEnds.length || d.cancels.length || d.entered.length || d.flowEnd || d.addTasks?.length) changed.add(fiId);
  }
  if (!changed.size) {
    if (locksFor) {
      await locksFor([]);
      out.prelude = await sendFenced(tx, preludeGuarded, []);
    }
    return out;
  }

  // Round trip 2, the writes and COMMIT, behind the version fence.
  out.changed = [...changed];
  await opts.beforeWrites?.();
  const versionOf = new Map(running.map((f) => [f.fi_id, f.version]));
  w.fences = out.changed.map((fiId) => ({ fiId, version: versionOf.get(fiId)! }));
  const flowStart = new Map(running.map((f) => [f.fi_id, f.start_time?.getTime() ?? now.getTime()]));
  const flowPriority = new Map(running.map((f) => [f.fi_id, f.priority ?? 0]));
  const written = await writeTransitions(tx, w, { now: new Date(), user, flowStart, flowPriority, runHere: opts.runHere, handOver: opts.handOver, unfenced: !!opts.fresh, prelude: fromCopies ? preludeGuarded : undefined, readNodes: !!opts.fresh && !!opts.states, beforeSend: locksFor && (() => locksFor(out.changed)) });
  if (fromCopies) out.prelude = written.prelude.slice(0, opts.prelude!.length);
  opts.states?.keepAfter(w, written, running, latestOf, tasksByNi, !!opts.fresh);
  out.enqueue = written.enqueue;
  out.started = written.started;
  out.handedOver = written.handedOver;
  out.cancelled = w.cancels.map((c) => c.tiId);
  for (const f of w.flowEnds) {
    out.finished.set(f.fiId, f.status);
    if (f.status !== 'SUCCESS') {
      const fi = running.find((r) => r.fi_id === f.fiId)!;
      out.failures.push({ fiId: f.fiId, flowId: fi.flow_id, status: f.status, nodeKey: f.nodeKey ?? null, error: f.error, durationMs: Date.now() - flowStart.get(f.fiId)! });
    }
  }
  const parentOf = new Map(running.map((f) => [f.fi_id, f.parent_fi_id ?? null]));
  for (const f of w.flowEnds) if (parentOf.get(f.fiId)) out.parents.push(parentOf.get(f.fiId)!);
  if (opts.collectChanges) out.changes = changesOf(w, { enqueue: written.enqueue, started: [...written.started, ...written.handedOver] }, new Map(running.map((f) => [f.fi_id, f.flow_id])));
  return out;
}
