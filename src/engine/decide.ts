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
// Control flow (issue 19):
// - A node that is SKIPPED ended without running (no task instance): its `when` was false when every node
//   it follows had ended, or every node it follows was SKIPPED. SKIPPED counts as ended for those after
//   it, so a node runs when at least one predecessor SUCCEEDED and the rest were SKIPPED (a join after
//   exclusive branches runs once). END is never skipped: a flow whose branches were all skipped succeeds.
// - A forEach node evaluates its path when it is entered: an array of at most MAX_FOR_EACH_ITEMS items
//   (else it fails at once, naming the path and what it found; an empty array succeeds at once). Its
//   tasks run once per item; with maxParallel only that many items have task instances open at a time,
//   the next items' made as earlier ones end. Its completion counts over all the runs, the items not
//   made yet counting as pending.
// - A SIGNAL node waits RUNNING until it is signalled (the API writes its SUCCESS) or its due time
//   passes (the leader advances it then): FAILED, or SUCCESS with a null output, as `onTimeout` says.
// - A SUB_FLOW node waits RUNNING for its child instance (started after the commit, see subFlows.ts):
//   the child's SUCCESS is the node's, a FAILED or CANCELLED child fails it; past MAX_SUB_FLOW_DEPTH it
//   fails on entering. A child still running when the parent ends is cancelled with it.
import type { FlowPlan, PlanNode } from './flowPlan.js';
import { nodeOutcome } from './completion.js';
import { describe, nextItems, range, runStatuses, waiting } from './decideControl.js';
import type { NodeInsView, TaskInsView } from './instanceViews.js';

export type { NodeInsView, TaskInsView };
import { holds, readPath, type ExprData } from '../definitions/expression.js';

import { MAX_FOR_EACH_ITEMS } from '../definitions/schemas.js';

export { MAX_FOR_EACH_ITEMS };
/** A forEach node's task instances (items × tasks) per run. */
export const MAX_FOR_EACH_RUNS = 10_000;

/** How deep sub-flows nest: an instance started on its own is depth 0, its child 1, … */
export const MAX_SUB_FLOW_DEPTH = 10;

/**
 * Thrown when a node with `when` or `forEach` is to be entered and no data was given: the caller reads
 * the data and decides again (deciding is pure, so the second call decides the same, with the data).
 * So a pass reads a flow's input and outputs only when it enters such a node.
 */
export class NeedData extends Error {
  override name = 'NeedData';
}

/** What decide needs beyond the rows: the data `when` reads, the time (timeouts), the instance's depth. */
export interface DecideContext {
  /** The start's input and the node outputs `when` and `forEach` read (null output: a SKIPPED node); absent: NeedData when needed. */
  data?: ExprData;
  nowMs?: number;
  depth?: number;
}

/** What one flow instance's pass writes (advanceMany gathers these for the batch). */
export interface Decision {
  nodeEnds: { niId: number; status: 'SUCCESS' | 'FAILED' | 'CANCELLED'; error: string | null }[];
  cancels: { niId: number; tiId: number; why: string }[];
  /**
   * In the order entered (a node after those it follows). SKIPPED and FAILED ones (a sub-flow too deep)
   * end as they are entered; `dueMs`: a SIGNAL's timeout.
   */
  entered: { nodeId: number; status: EnteredStatus; taskIds: number[]; error?: string | null; dueMs?: number | null; items?: number[]; itemCount?: number }[];
  /** More items of a running forEach node (maxParallel let them in): task instances for each item × task. */
  addTasks?: { niId: number; nodeId: number; taskIds: number[]; items: number[] }[];
  /** `nodeKey`: the node that failed the flow (FAILED only). */
  flowEnd: { status: 'SUCCESS' | 'FAILED'; error: string | null; nodeKey?: string } | null;
  /** SUB_FLOW node instances are waiting for a child to be started (entered now, or left so by a crash). */
  startChildren?: boolean;
  /** Child instances to cancel: their SUB_FLOW node ended (the parent failed or succeeded without it). */
  cancelChildren?: number[];
}

export type EnteredStatus = 'RUNNING' | 'SUCCESS' | 'SKIPPED' | 'FAILED';

const OPEN = ['PENDING', 'RUNNING'];
const ENDED_BADLY = ['FAILED', 'CANCELLED'];
/** Ended in a way that lets the nodes after it go on. */
export const ENDED_OK = (status: string | undefined): boolean => status === 'SUCCESS' || status === 'SKIPPED';

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
    if (i && n.preds.every((p) => ENDED_OK(valid.get(p)?.status) && rank(valid.get(p)!) < rank(i))) valid.set(n.nodeId, i);
  }
  return valid;
}

/** currentOf for instances read from the record, ranked by id. */
export function currentInstances(plan: FlowPlan, latest: NodeInsView[]): Map<number, NodeInsView> {
  return currentOf(plan, new Map(latest.map((n) => [n.node_id, n])), (i) => i.ni_id ?? 0);
}

export function decide(plan: FlowPlan, latest: NodeInsView[], tasksOf: (niId: number) => TaskInsView[], resumeNodeId?: number, ctx: DecideContext = {}): Decision {
  // The control-flow fields (startChildren, cancelChildren, addTasks) are set only when there is something in them.
  const d: Decision = { nodeEnds: [], cancels: [], entered: [], flowEnd: null };
  const nowMs = ctx.nowMs ?? Date.now();
  const data = (): ExprData => {
    if (!ctx.data) throw new NeedData('this pass enters a node with when or forEach');
    return ctx.data;
  };
  const inst = new Map<number, Instance>();
  let nextRank = 1;
  for (const n of latest) {
    inst.set(n.node_id, { ...n, rank: n.ni_id ?? 0 });
    if ((n.ni_id ?? 0) >= nextRank) nextRank = (n.ni_id ?? 0) + 1;
  }

  const enter = (node: PlanNode, valid: Map<number, Instance>) => {
    let status: EnteredStatus = 'SUCCESS';
    let error: string | null = null;
    let dueMs: number | null = null;
    let items: number[] | undefined;
    let itemCount: number | undefined;
    const allSkipped = node.preds.length > 0 && node.preds.every((p) => valid.get(p)?.status === 'SKIPPED');
    if (node.type !== 'START' && node.type !== 'END' && (allSkipped || (node.when && !holds(node.when, data())))) status = 'SKIPPED';
    else if (node.type === 'TASK' && node.forEach) {
      const found = readPath(node.forEach.path, data());
      const problem = !Array.isArray(found)
        ? `found ${describe(found)}`
        : found.length > MAX_FOR_EACH_ITEMS
          ? `found ${found.length} items`
          : found.length * node.taskIds.length > MAX_FOR_EACH_RUNS
            ? `found ${found.length} items × ${node.taskIds.length} tasks, more than ${MAX_FOR_EACH_RUNS} runs`
            : null;
      if (problem) {
        status = 'FAILED';
        error = `forEach ${node.forEach.text}: expected an array of at most ${MAX_FOR_EACH_ITEMS} items, ${problem}`;
      } else {
        itemCount = (found as unknown[]).length;
        status = itemCount ? 'RUNNING' : 'SUCCESS';
        items = range(0, Math.min(itemCount, node.forEach.maxParallel ?? itemCount));
      }
    } else if (node.type === 'TASK' && node.taskIds.length > 0) status = 'RUNNING';
    else if (node.type === 'SIGNAL') {
      status = 'RUNNING';
      if (node.signal?.timeoutMs != null) dueMs = nowMs + node.signal.timeoutMs;
    } else if (node.type === 'SUB_FLOW') {
      if ((ctx.depth ?? 0) >= MAX_SUB_FLOW_DEPTH) {
        status = 'FAILED';
        error = `sub-flow "${node.key}": sub-flows nest at most ${MAX_SUB_FLOW_DEPTH} deep; this instance is at depth ${ctx.depth}`;
      } else {
        status = 'RUNNING';
        d.startChildren = true;
      }
    }
    inst.set(node.nodeId, { ni_id: null, node_id: node.nodeId, status, error_msg: error, rank: nextRank++ });
    d.entered.push({
      nodeId: node.nodeId, status, taskIds: status === 'RUNNING' ? node.taskIds : [],
      ...(error !== null ? { error } : {}), ...(dueMs !== null ? { dueMs } : {}), ...(itemCount !== undefined ? { items, itemCount } : {}),
    });
  };
  const current = () => currentOf(plan, inst, (i) => i.rank);
  const succeeded = (valid: Map<number, Instance>, n: PlanNode) => n.preds.every((p) => ENDED_OK(valid.get(p)?.status));
  /** When the flow ends: every node instance still RUNNING (current or not) ends CANCELLED, with its open tasks. */
  const cancelRunning = (why: string) => {
    for (const i of inst.values()) {
      if (i.status !== 'RUNNING' || i.ni_id === null) continue;
      d.nodeEnds.push({ niId: i.ni_id, status: 'CANCELLED', error: why });
      for (const t of tasksOf(i.ni_id)) if (OPEN.includes(t.exec_status)) d.cancels.push({ niId: i.ni_id, tiId: t.ti_id, why });
      if (i.child_fi_id && i.child_status === 'RUNNING') (d.cancelChildren ??= []).push(i.child_fi_id);
      if (d.addTasks) d.addTasks = d.addTasks.filter((a) => a.niId !== i.ni_id); // no more runs for it
      i.status = 'CANCELLED';
    }
  };

  if (resumeNodeId !== undefined) {
    // R, and what did not succeed beside it; what follows R runs again as R's new run succeeds.
    const valid = current();
    const after = descendants(plan, resumeNodeId);
    for (const n of plan.nodes) {
      const redo = n.nodeId === resumeNodeId ||
        (n.type !== 'START' && !after.has(n.nodeId) && valid.has(n.nodeId) && !ENDED_OK(valid.get(n.nodeId)!.status) && succeeded(valid, n));
      if (redo) enter(n, valid);
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
    const [outcome, waitError] = n.type === 'TASK' ? [nodeOutcome(n.completion, runStatuses(n, i, tasks)), null] : waiting(n, i, nowMs);
    if (outcome === 'RUNNING' && n.forEach) {
      const more = nextItems(n, i, tasks);
      if (more.length) (d.addTasks ??= []).push({ niId: i.ni_id, nodeId: n.nodeId, taskIds: n.taskIds, items: more });
    }
    if (outcome === 'RUNNING') {
      if (n.type === 'SUB_FLOW' && !i.child_fi_id) d.startChildren = true;
      continue;
    }
    const error = outcome === 'FAILED' ? (waitError ?? tasks.find((t) => t.exec_status === 'FAILED')?.error_msg ?? 'task failed') : null;
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
  // Every node whose predecessors have all ended (succeeded or skipped), and that has no current
  // instance, is entered.
  for (const n of plan.nodes) {
    if (valid.has(n.nodeId) || !succeeded(valid, n)) continue;
    if (n.preds.length === 0 && n.type !== 'START') continue; // only START starts from nothing
    enter(n, valid);
    valid.set(n.nodeId, inst.get(n.nodeId)!);
  }
  // A node that failed as it was entered (a sub-flow too deep) fails the flow.
  const failedNow = d.entered.find((e) => e.status === 'FAILED');
  if (failedNow) {
    // Nodes entered beside it in this pass would only be cancelled: they are not made at all.
    d.entered = d.entered.filter((e) => e.status !== 'RUNNING');
    const key = plan.byId.get(failedNow.nodeId)!.key;
    cancelRunning(`cancelled: node ${key} failed`);
    d.flowEnd = { status: 'FAILED', error: failedNow.error ?? 'node failed', nodeKey: key };
    return d;
  }
  if (valid.get(plan.end.nodeId)?.status === 'SUCCESS') {
    cancelRunning('not needed: the flow succeeded');
    d.flowEnd = { status: 'SUCCESS', error: null };
  }
  return d;
}
