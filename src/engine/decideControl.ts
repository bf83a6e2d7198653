// decide.ts's rules for the control-flow nodes (issue 19), pure like it: where a waiting SIGNAL or
// SUB_FLOW node stands, a forEach node's runs (items not made yet count as pending) and the items
// maxParallel lets in now, and what a forEach path found (for its error message).
import type { PlanNode } from './flowPlan.js';
import type { NodeInsView, TaskInsView } from './instanceViews.js';

const OPEN = ['PENDING', 'RUNNING'];

/** Where a waiting node (SIGNAL, SUB_FLOW; START/END read RUNNING succeed) stands, with the error of a failure. */
export function waiting(n: PlanNode, i: NodeInsView, nowMs: number): ['RUNNING' | 'SUCCESS' | 'FAILED', string | null] {
  if (n.type === 'SIGNAL') {
    if (i.due_ms == null || i.due_ms > nowMs) return ['RUNNING', null];
    if (n.signal?.onTimeout === 'SUCCESS') return ['SUCCESS', null];
    return ['FAILED', `signal "${n.key}" timed out after ${n.signal?.timeoutMs} ms`];
  }
  if (n.type === 'SUB_FLOW') {
    if (!i.child_fi_id || i.child_status === 'RUNNING' || !i.child_status) return ['RUNNING', null];
    if (i.child_status === 'SUCCESS') return ['SUCCESS', null];
    return ['FAILED', `sub-flow instance ${i.child_fi_id} ${i.child_status.toLowerCase()}${i.child_error ? `: ${i.child_error}` : ''}`];
  }
  return ['SUCCESS', null];
}

export const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);

/** What a forEach path found, for its error message. */
export function describe(v: unknown): string {
  if (v === null || v === undefined) return 'null (no such path)';
  if (Array.isArray(v)) return `an array of ${v.length} items`;
  if (typeof v === 'string') return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)})`;
  return `${typeof v === 'object' ? 'an object' : `a ${typeof v}`}`;
}

/** A TASK node's run statuses: a forEach node's items not made yet count as PENDING. */
export function runStatuses(n: PlanNode, i: NodeInsView, tasks: TaskInsView[]): string[] {
  const statuses = tasks.map((t) => t.exec_status);
  if (!n.forEach || !i.item_count) return statuses;
  const total = i.item_count * n.taskIds.length;
  for (let k = statuses.length; k < total; k++) statuses.push('PENDING');
  return statuses;
}

/** The items a running forEach node may start now: up to maxParallel items open at once, in order. */
export function nextItems(n: PlanNode, i: NodeInsView, tasks: TaskInsView[]): number[] {
  const count = i.item_count ?? 0;
  let made = 0;
  const open = new Set<number>();
  for (const t of tasks) {
    const idx = t.item_index ?? 0;
    if (idx + 1 > made) made = idx + 1;
    if (OPEN.includes(t.exec_status)) open.add(idx);
  }
  const room = (n.forEach!.maxParallel ?? count) - open.size;
  return room > 0 ? range(made, Math.min(count, made + room)) : [];
}
