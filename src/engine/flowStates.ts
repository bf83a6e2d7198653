// What this member last wrote of a flow instance, kept so that recording its next result needs no read.
// A pass that ran a flow instance's next task here (runHere) or handed it to an external worker through
// this member (handOver), or a start that queued its first task, knows the instance exactly as it
// committed it: its row at the version it wrote, its node instances, and the one task instance of each
// RUNNING node. When that task's result comes back to this member, the pass can decide from this copy and
// send the result, the transitions and COMMIT in one round trip instead of two (advanceMany.ts). (Another
// member that gets the result reads, as before; a copy never used is dropped with the oldest.)
//
// The copy is only a guess; the version fence is the check. Every writer of a node instance's status
// bumps its flow instance's version, so a copy at the version MySQL still holds is what MySQL holds —
// but for task statuses, which results write without a bump. Hence a copy is kept only while every
// RUNNING node instance has exactly one task instance (a task's result is the only thing that ends such
// a node, and ending it bumps the version), and the results the pass brings are applied to it. A copy
// that turns out stale trips the fence: the pass is rolled back and made again from a read.
import type { FiRow, NodeInsView, TaskInsView } from './instanceViews.js';
import type { TransitionWrites, Written } from './sql/transitionWrites.js';
import { groupBy } from '../infra/groupBy.js';
import { statusOf, type FinishedRun } from './taskRun.js';

/**
 * A batch's results, for a pass that decides from copies: task instance → the status and error it leaves;
 * `count` results recorded by the batch in all (RETRYs included), which a guard checks were all written.
 */
export interface BatchResults {
  byTask: Map<number, { status: string; error: string | null }>;
  count: number;
}

export interface FlowState {
  /** The flow instance's row, `version` as it was committed. */
  fi: FiRow;
  /** The latest instance of each node, in the order a read would give them. */
  latest: Map<number, NodeInsView>;
  /** The task instances of the RUNNING node instances (one each), by node instance. */
  tasks: Map<number, TaskInsView[]>;
}

/** How many flow instances' copies a member keeps (each a few hundred bytes); the oldest go first. */
const MAX_STATES = 10_000;

export class FlowStates {
  private states = new Map<number, FlowState>();

  /** `report` hears of each pass made from copies: used, or found stale (and made again from a read). */
  constructor(readonly report: (outcome: 'used' | 'stale') => void = () => {}) {}

  get(fiId: number): FlowState | undefined {
    return this.states.get(fiId);
  }

  set(fiId: number, state: FlowState): void {
    this.states.delete(fiId);
    this.states.set(fiId, state);
    if (this.states.size > MAX_STATES) this.states.delete(this.states.keys().next().value!);
  }

  delete(fiId: number): void {
    this.states.delete(fiId);
  }

  /**
   * A batch's results, when every one that moves a flow on (all but RETRYs) has a copy to be decided
   * from; else undefined (the pass reads).
   */
  resultsOf(items: FinishedRun[]): BatchResults | undefined {
    const moving = items.filter((i) => i.result.status !== 'RETRY').map((i) => ({ tiId: i.run.tiId, fiId: i.run.fiId }));
    if (!moving.length || !this.covers(moving)) return undefined;
    return { byTask: new Map(items.map((i) => [i.run.tiId, { status: statusOf(i.result), error: i.result.error }])), count: items.length };
  }

  /**
   * Whether results can be decided from copies: each result's task instance is the one task of a
   * RUNNING node instance in its flow instance's copy.
   */
  covers(results: { tiId: number; fiId: number | null }[]): boolean {
    for (const r of results) {
      if (r.fiId === null) return false;
      const st = this.states.get(r.fiId);
      if (!st) return false;
      let found = false;
      for (const ts of st.tasks.values()) if (ts[0]?.ti_id === r.tiId) found = true;
      if (!found) return false;
    }
    return true;
  }

  /**
   * After a committed pass: the copies of the instances it changed, as it left them, for those whose every
   * RUNNING node instance has exactly one task instance (and is a plain TASK node: no child, no due time,
   * no items), at least one of them run here — or, after a start (`fresh`: the instances were inserted by
   * the pass, at version 0, unfenced), queued for this engine's workers (not an external queue).
   * Instances that ended, or that do not qualify, keep none.
   */
  keepAfter(w: TransitionWrites, written: Written, running: FiRow[], latestOf: Map<number, Map<number, NodeInsView>>, tasksByNi: Map<number, TaskInsView[]>, fresh: boolean): void {
    const odd = new Set<number>([...w.flowEnds, ...w.cancels, ...(w.addTasks ?? [])].map((x) => x.fiId));
    const fenced = new Set(w.fences.map((f) => f.fiId));
    // Tasks whose result should come back to this member: run by its worker, handed over to an external
    // worker through it (a complete's `next`), or — after a start — queued (their first claim or poll may
    // well be here; a copy nobody uses is dropped with the oldest).
    const here = new Set([...written.started, ...written.handedOver].map((r) => r.tiId));
    if (fresh) for (const q of written.enqueue) here.add(q.tiId);
    const endsOf = groupBy(w.nodeEnds, (e) => e.fiId);
    const enteredOf = groupBy(w.entered, (e) => e.fiId);
    const { niOf, tasksOf } = written.entered;
    for (const fi of running) {
      if (!fenced.has(fi.fi_id) || odd.has(fi.fi_id)) continue;
      const latest = new Map(latestOf.get(fi.fi_id) ?? []);
      const ends = new Map((endsOf.get(fi.fi_id) ?? []).map((e) => [e.niId, e]));
      for (const [nodeId, v] of latest) {
        const e = v.ni_id === null ? undefined : ends.get(v.ni_id);
        if (e) latest.set(nodeId, { ...v, status: e.status, error_msg: e.error });
      }
      let ok = true;
      for (const e of enteredOf.get(fi.fi_id) ?? []) {
        const niId = niOf.get(`${fi.fi_id}:${e.nodeId}`);
        if (niId === undefined) ok = false;
        else latest.set(e.nodeId, { ni_id: niId, node_id: e.nodeId, status: e.status, error_msg: e.error ?? null, due_ms: e.dueMs ?? null, child_fi_id: null, child_status: null, child_error: null, item_count: e.itemCount ?? null });
      }
      const tasks = new Map<number, TaskInsView[]>();
      let ours = false;
      for (const v of latest.values()) {
        if (!ok || v.status !== 'RUNNING') continue;
        const ts = tasksOf.get(v.ni_id!) ?? tasksByNi.get(v.ni_id!) ?? [];
        if (ts.length !== 1 || v.child_fi_id || v.due_ms != null || v.item_count != null) ok = false;
        else {
          tasks.set(v.ni_id!, ts);
          if (here.has(ts[0].ti_id)) ours = true;
        }
      }
      // The pass bumped the version it read (its fence), but for a start's: the copy is at the one it committed.
      if (ok && ours) this.set(fi.fi_id, { fi: { ...fi, version: fresh ? fi.version : fi.version + 1 }, latest, tasks });
    }
  }
}
