// Where a transition is decided: given where one flow instance stands (the latest instance of each of
// its nodes, and the task instances of those still RUNNING), every transition that is due now. Pure: no
// I/O, so the rules read in one place (advanceMany.ts reads the rows and writes what this decides).
//
// The rules, level-triggered (deciding twice from the same state decides the same):
// - A node's *current* instance is its latest one, provided it was entered after the current instances
//   of all the nodes it follows, and those all succeeded; otherwise it is stale (a retry re-ran one of its
//   predecessors) and the node counts as not entered.
// - A RUNNING node instance ends when its completion condition holds or can no longer hold; the tasks it
//   no longer needs are cancelled.
// - A node that failed (or was cancelled) fails the flow with its error; the node instances still
//   running are cancelled with their tasks.
// - START is entered first; any other node is entered once every node it follows has succeeded
//   (AND-join), whatever order they finished in — so two predecessors finishing at once enter it once:
//   the pass that sees both done enters it, and the next pass finds it current.
// - END succeeds at once, and succeeds the flow.
// - A retry from node R enters R again, and every node not after R whose current instance did not
//   succeed while all it follows did (its siblings cancelled by the failure); nodes after R become stale
//   and run again as their predecessors succeed; what succeeded elsewhere is kept.
// - When the flow ends, any node instance still RUNNING is cancelled with its open tasks.
import type { FlowPlan, PlanNode } from './flowPlan.js';
import { nodeOutcome } from './completion.js';

export interface NodeInsView {
  /** null for an instance this pass enters. */
  ni_id: number | null;
  node_id: number;
  status: string;
  error_msg: string | null;
}

export interface TaskInsView {
  ti_id: number;
  ni_id: number;
  exec_status: string;
  error_msg: string | null;
}

/** What one flow instance's pass writes (advanceMany gathers these for the batch). */
export interface Decision {
  nodeEnds: { niId: number; status: 'SUCCESS' | 'FAILED' | 'CANCELLED'; error: string | null }[];
  cancels: { niId: number; tiId: number; why: string }[];
  /** In the order entered (a node after those it follows). */
  entered: { nodeId: number; status: 'RUNNING' | 'SUCCESS'; taskIds: number[] }[];
  /** `nodeKey`: the node that failed the flow (FAILED only). */
  flowEnd: { status: 'SUCCESS' | 'FAILED'; error: string | null; nodeKey?: string } | null;
}

const OPEN = ['PENDING', 'RUNNING'];
const ENDED_BADLY = ['FAILED', 'CANCELLED'];

interface Instance extends NodeInsView {
  /** Order of entering: existing instances by ni_id, new ones after all of them. */
  rank: number;
}

/** The nodes that follow `nodeId`, directly or not. */
function descendants(plan: FlowPlan, nodeId: number): Set<number> {
  const seen = new Set<number>();
  const todo = [...(plan.byId.get(nodeId)?.succs ?? [])];
  while (todo.length) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    todo.push(...(plan.byId.get(id)?.succs ?? []));
  }
  return seen;
}

/**
 * Each node's current instance (see the rules above), from the latest instance of each node: one whose
 * predecessors all have a current instance that succeeded and came before it (lower rank).
 */
function currentOf<I extends { status: string }>(plan: FlowPlan, latest: Map<number, I>, rank: (i: I) => number): Map<number, I> {
  const valid = new Map<number, I>();
  for (const n of plan.nodes) {
    const i = latest.get(n.nodeId);
    if (i && n.preds.every((p) => valid.get(p)?.status === 'SUCCESS' && rank(valid.get(p)!) < rank(i))) valid.set(n.nodeId, i);
  }
  return valid;
}

/** currentOf for instances read from the record, ranked by id. */
export function currentInstances(plan: FlowPlan, latest: NodeInsView[]): Map<number, NodeInsView> {
  return currentOf(plan, new Map(latest.map((n) => [n.node_id, n])), (i) => i.ni_id ?? 0);
}

export function decide(plan: FlowPlan, latest: NodeInsView[], tasksOf: (niId: number) => TaskInsView[], resumeNodeId?: number): Decision {
  const d: Decision = { nodeEnds: [], cancels: [], entered: [], flowEnd: null };
  const inst = new Map<number, Instance>();
  let nextRank = 1;
  for (const n of latest) {
    inst.set(n.node_id, { ...n, rank: n.ni_id ?? 0 });
    if ((n.ni_id ?? 0) >= nextRank) nextRank = (n.ni_id ?? 0) + 1;
  }

  const enter = (node: PlanNode) => {
    const status = node.type === 'TASK' && node.taskIds.length > 0 ? 'RUNNING' : 'SUCCESS';
    inst.set(node.nodeId, { ni_id: null, node_id: node.nodeId, status, error_msg: null, rank: nextRank++ });
    d.entered.push({ nodeId: node.nodeId, status, taskIds: node.taskIds });
  };
  const current = () => currentOf(plan, inst, (i) => i.rank);
  const succeeded = (valid: Map<number, Instance>, n: PlanNode) => n.preds.every((p) => valid.get(p)?.status === 'SUCCESS');
  /** When the flow ends: every node instance still RUNNING (current or not) ends CANCELLED, with its open tasks. */
  const cancelRunning = (why: string) => {
    for (const i of inst.values()) {
      if (i.status !== 'RUNNING' || i.ni_id === null) continue;
      d.nodeEnds.push({ niId: i.ni_id, status: 'CANCELLED', error: why });
      for (const t of tasksOf(i.ni_id)) if (OPEN.includes(t.exec_status)) d.cancels.push({ niId: i.ni_id, tiId: t.ti_id, why });
      i.status = 'CANCELLED';
    }
  };

  if (resumeNodeId !== undefined) {
    // R, and what did not succeed beside it; what follows R runs again as R's new run succeeds.
    const valid = current();
    const after = descendants(plan, resumeNodeId);
    for (const n of plan.nodes) {
      const redo = n.nodeId === resumeNodeId ||
        (n.type !== 'START' && !after.has(n.nodeId) && valid.has(n.nodeId) && valid.get(n.nodeId)!.status !== 'SUCCESS' && succeeded(valid, n));
      if (redo) enter(n);
    }
  }

  // One sweep suffices: only instances read from the record can end now (a node entered in this pass
  // has not run), so failures are known before anything is entered; entering goes in topological order,
  // so a node entered SUCCESS at once (START, END) lets those after it in on the same sweep.
  const valid = current();
  // Node instances whose tasks have decided them.
  for (const n of plan.nodes) {
    const i = valid.get(n.nodeId);
    if (!i || i.status !== 'RUNNING' || i.ni_id === null) continue;
    const tasks = tasksOf(i.ni_id);
    const outcome = n.type === 'TASK' ? nodeOutcome(n.completion, tasks.map((t) => t.exec_status)) : 'SUCCESS';
    if (outcome === 'RUNNING') continue;
    const error = outcome === 'FAILED' ? (tasks.find((t) => t.exec_status === 'FAILED')?.error_msg ?? 'task failed') : null;
    d.nodeEnds.push({ niId: i.ni_id, status: outcome, error });
    const why = `not needed: node ${outcome === 'SUCCESS' ? 'succeeded' : 'failed'}`;
    for (const t of tasks) if (OPEN.includes(t.exec_status)) d.cancels.push({ niId: i.ni_id, tiId: t.ti_id, why });
    i.status = outcome;
    i.error_msg = error;
  }
  // A failed node fails the flow; what still runs is cancelled.
  const failed = plan.nodes.find((n) => ENDED_BADLY.includes(valid.get(n.nodeId)?.status ?? ''));
  if (failed) {
    const f = valid.get(failed.nodeId)!;
    cancelRunning(`cancelled: node ${failed.key} failed`);
    d.flowEnd = { status: 'FAILED', error: f.error_msg || `node ${failed.key} ${f.status.toLowerCase()}`, nodeKey: failed.key };
    return d;
  }
  // Every node whose predecessors have all succeeded, and that has no current instance, is entered.
  for (const n of plan.nodes) {
    if (valid.has(n.nodeId) || !succeeded(valid, n)) continue;
    if (n.preds.length === 0 && n.type !== 'START') continue; // only START starts from nothing
    enter(n);
    valid.set(n.nodeId, inst.get(n.nodeId)!);
  }
  if (valid.get(plan.end.nodeId)?.status === 'SUCCESS') {
    cancelRunning('not needed: the flow succeeded');
    d.flowEnd = { status: 'SUCCESS', error: null };
  }
  return d;
}
