// A TASK node's completion condition, and what its task instances' statuses say about it.
// ANY (the original API's behaviour): one success lets the flow go on. ALL: every task must succeed.
// N: at least N successes. The node fails as soon as the condition can no longer hold.

import type { Completion } from '../models/index.js';

export type { Completion };
export type NodeOutcome = 'RUNNING' | 'SUCCESS' | 'FAILED';

export function required(c: Completion, taskCount: number): number {
  if (c.kind === 'ANY') return Math.min(1, taskCount);
  if (c.kind === 'ALL') return taskCount;
  return Math.min(c.n, taskCount);
}

/** `statuses` are the node's task-instance statuses (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED). */
export function nodeOutcome(c: Completion, statuses: readonly string[]): NodeOutcome {
  const need = required(c, statuses.length);
  let ok = 0;
  let lost = 0;
  for (const st of statuses) {
    if (st === 'SUCCESS') ok++;
    else if (st === 'FAILED' || st === 'CANCELLED') lost++;
  }
  if (ok >= need) return 'SUCCESS';
  if (statuses.length - lost < need) return 'FAILED';
  return 'RUNNING';
}
