// The coordinator's transitions for a batch of flow instances, inside one MySQL transaction.
// Level-triggered: it reads where each instance stands and makes every transition that is due now:
// START succeeds at once; a TASK node instance gets one task instance per task; a node ends when its
// completion condition holds or can no longer hold (tasks it no longer needs are cancelled); a failed
// node fails the flow with its error; END succeeds it.
//
// Two round trips per batch, whatever its size (graphile-worker's batch twins): the reads (the flow
// instances, their last node instances with those nodes' task instances), then every write in grouped
// multi-row statements with COMMIT (sql/transitionWrites.ts). The first write bumps each changed instance's
// `version`, checked against the version read (optimistic lock): the fencing token that refuses a
// coordinator that lost its Redis lock while paused, and that cancel and retry check too.
import type { FlowPlan, FlowPlans, PlanNode } from './flowPlan.js';
import { nodeOutcome } from './completion.js';
import type { Statement, Tx } from './sql/multiStatement.js';
import type { TaskRun } from './taskRun.js';
import { writeTransitions, groupBy, StaleWriteError, type TransitionWrites, type RunHere } from './sql/transitionWrites.js';

export { StaleWriteError };

export interface BatchOutcome {
  /**
   * New task instances to enqueue once the transaction commits. `delayMs` back-dates them to their flow
   * instance's start, so the queue (earliest score first) serves flows that started earlier before the
   * first steps of newer ones: a flow in progress moves on at once instead of queueing behind every
   * flow started after it.
   */
  enqueue: { tiId: number; delayMs: number }[];
  /** New task instances created RUNNING for `runHere.workerId` (see sql/transitionWrites.ts): to lease and run. */
  started: TaskRun[];
  /** Task instances that were PENDING/RUNNING and are now CANCELLED: drop from the queue, abort runners. */
  cancelled: number[];
  /** Flow instances that reached an end state. */
  finished: Map<number, 'SUCCESS' | 'FAILED'>;
  /** Flow instances that changed. */
  changed: number[];
  /** Results of the caller's `prelude` statements, one per statement. */
  prelude: any[];
  /** What changed status, for whoever watches (the dashboard's live events); told after commit. */
  changes: StatusChange[];
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

export const emptyOutcome = (): BatchOutcome => ({ enqueue: [], started: [], cancelled: [], finished: new Map(), changed: [], prelude: [], changes: [] });

interface NiView {
  ni_id: number | null; // null until inserted
  fi_id: number;
  node_id: number;
  status: string;
  error_msg: string | null;
  isNew?: boolean;
}

export interface FiRow {
  fi_id: number;
  flow_id: number;
  flow_version: number;
  status: string;
  version: number;
  start_time: Date;
}

export interface AdvanceOptions {
  user: string;
  /** When the pass began. Its writes are stamped with the time they are sent (after the reads). */
  now: Date;
  /** Statements of the caller's (e.g. recording task results), sent ahead of the reads, in the same round trip. */
  prelude?: Statement[];
  /** Called between the reads and the first write (tests use it to stand in for a paused process). */
  beforeWrites?: () => Promise<void>;
  /** Retry: re-enter this node (by node id) for the instance before walking on. */
  resume?: Map<number, number>;
  /**
   * The instances whose coordinator lock the caller got, when it asked for the locks alongside the first
   * round trip: awaited after the reads, and only those are advanced.
   */
  locked?: Promise<number[]>;
  /** A worker that runs (some of) the new task instances itself: they are created RUNNING for it. */
  runHere?: RunHere;
  /**
   * The instances were inserted by this very transaction (a start): their state is known (these rows,
   * no node instance yet), so the reads are skipped.
   */
  fresh?: FiRow[];
}

const OPEN = ['PENDING', 'RUNNING'];

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
  const { now, user } = opts;

  // Round trip 1, the reads (after the caller's prelude): the instances, and each one's last node instance with the task instances
  // of those still RUNNING.
  type NiRow = NiView & { ti_id: number | null; exec_status: string | null; ti_error: string | null };
  let fis: FiRow[] = opts.fresh ?? [];
  let rows: NiRow[] = [];
  if (!opts.fresh) {
    const read = await tx.send([
      ...prelude,
      {
        sql: 'SELECT fi_id, flow_id, flow_version, status, version, start_time FROM task_flow_ins WHERE fi_id IN (?) ORDER BY fi_id',
        bindings: [ids],
      },
      {
        sql: `SELECT ni.ni_id, ni.fi_id, ni.node_id, ni.status, ni.error_msg, ti.ti_id, ti.exec_status, ti.error_msg AS ti_error
                FROM task_node_ins ni
                LEFT JOIN task_ins ti ON ti.ni_id = ni.ni_id AND ni.status = 'RUNNING'
               WHERE ni.ni_id IN (SELECT MAX(ni_id) FROM task_node_ins WHERE fi_id IN (?) GROUP BY fi_id)
               ORDER BY ni.ni_id, ti.ti_id`,
        bindings: [ids],
      },
    ]);
    out.prelude = read.slice(0, prelude.length);
    [fis, rows] = read.slice(prelude.length) as [FiRow[], NiRow[]];
  } else if (prelude.length) {
    out.prelude = await tx.send(prelude);
  }
  const lockedByUs = opts.locked ? new Set(await opts.locked) : null;
  const running = fis.filter((f) => f.status === 'RUNNING' && (!lockedByUs || lockedByUs.has(f.fi_id)));
  if (!running.length) return out;
  const lastByFi = new Map<number, NiView>();
  const tis: { ti_id: number; ni_id: number; exec_status: string; error_msg: string | null }[] = [];
  for (const r of rows) {
    if (!lastByFi.has(r.fi_id)) lastByFi.set(r.fi_id, { ni_id: r.ni_id, fi_id: r.fi_id, node_id: r.node_id, status: r.status, error_msg: r.error_msg });
    if (r.ti_id !== null) tis.push({ ti_id: r.ti_id, ni_id: r.ni_id!, exec_status: r.exec_status!, error_msg: r.ti_error });
  }
  const tisByNi = groupBy(tis, (t) => String(t.ni_id));

  // Walk each instance in memory, collecting the writes.
  const w: TransitionWrites = { fences: [], nodeEnds: [], cancels: [], flowEnds: [], entered: [] };
  const changed = new Set<number>();

  for (const fi of running) {
    const plan: FlowPlan = await plans.get(fi.flow_id, fi.flow_version);
    const enter = (node: PlanNode): NiView => {
      const status = node.type !== 'TASK' || node.taskIds.length === 0 ? 'SUCCESS' : 'RUNNING';
      w.entered.push({ fiId: fi.fi_id, nodeId: node.nodeId, status, taskIds: node.taskIds });
      changed.add(fi.fi_id);
      return { ni_id: null, fi_id: fi.fi_id, node_id: node.nodeId, status, error_msg: null, isNew: true };
    };
    const finish = (status: 'SUCCESS' | 'FAILED', error: string | null) => {
      w.flowEnds.push({ fiId: fi.fi_id, status, error });
      changed.add(fi.fi_id);
    };

    const resumeNode = opts.resume?.get(fi.fi_id);
    let last: NiView | undefined = resumeNode !== undefined ? enter(plan.byId.get(resumeNode)!) : lastByFi.get(fi.fi_id);
    for (;;) {
      if (!last) {
        last = enter(plan.nodes[0]);
        continue;
      }
      const node = plan.byId.get(last.node_id);
      if (!node) {
        finish('FAILED', `node ${last.node_id} is not part of flow version ${plan.version}`);
        break;
      }
      if (last.status === 'RUNNING') {
        if (last.isNew) break; // its task instances are about to be created
        const nodeTis = tisByNi.get(String(last.ni_id)) ?? [];
        const outcome = node.type === 'TASK' ? nodeOutcome(node.completion, nodeTis.map((t) => t.exec_status)) : 'SUCCESS';
        if (outcome === 'RUNNING') break;
        const error = outcome === 'FAILED' ? (nodeTis.find((t) => t.exec_status === 'FAILED')?.error_msg ?? 'task failed') : null;
        w.nodeEnds.push({ fiId: fi.fi_id, niId: last.ni_id!, status: outcome, error });
        const why = `not needed: node ${outcome === 'SUCCESS' ? 'succeeded' : 'failed'}`;
        for (const t of nodeTis) if (OPEN.includes(t.exec_status)) w.cancels.push({ fiId: fi.fi_id, niId: t.ni_id, tiId: t.ti_id, why });
        changed.add(fi.fi_id);
        last = { ...last, status: outcome, error_msg: error };
        continue;
      }
      if (last.status === 'SUCCESS') {
        const next = plan.nodes[plan.nodes.indexOf(node) + 1];
        if (!next) {
          finish('SUCCESS', null);
          break;
        }
        last = enter(next);
        continue;
      }
      finish('FAILED', last.error_msg || `node ${node.nodeId} ${last.status.toLowerCase()}`);
      break;
    }
  }
  if (!changed.size) return out;

  // Round trip 2, the writes and COMMIT, behind the version fence.
  out.changed = [...changed];
  await opts.beforeWrites?.();
  const versionOf = new Map(running.map((f) => [f.fi_id, f.version]));
  w.fences = out.changed.map((fiId) => ({ fiId, version: versionOf.get(fiId)! }));
  const flowStart = new Map(running.map((f) => [f.fi_id, f.start_time?.getTime() ?? now.getTime()]));
  const written = await writeTransitions(tx, w, { now: new Date(), user, flowStart, runHere: opts.runHere });
  out.enqueue = written.enqueue;
  out.started = written.started;
  out.cancelled = w.cancels.map((c) => c.tiId);
  for (const f of w.flowEnds) out.finished.set(f.fiId, f.status);
  out.changes = changesOf(w, written, new Map(running.map((f) => [f.fi_id, f.flow_id])));
  return out;
}
