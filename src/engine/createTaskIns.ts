// The last round trip of a coordinator pass (advanceMany.ts): the task instances of the node
// instances it entered, with COMMIT riding along. Most are created PENDING and enqueued once the
// transaction commits. With `runHere`, up to `max` of them are created already RUNNING for that
// worker (attempt 1, its worker_id, started now): the worker that has just finished a flow's task
// runs the flow's next one itself, and the RUNNING mark is committed by the very transaction that
// recorded the previous result — one commit per step instead of two, and no trip through `ready`.
// Safety is as for a claimed run: the row is RUNNING (committed) before anything runs, the worker
// leases the id in Redis after the commit, and a worker that dies in between leaves a RUNNING row
// with no lease, which the reconciler sets PENDING again (after a grace period).
import type { Tx } from './multiStatement.js';
import { runOf, type TaskRun } from './taskRuns.js';

/** A worker taking new task instances for itself, and how many it has room for. */
export interface RunHere {
  owner: string;
  max: number;
}

export interface EnteredNode {
  niId: number;
  fiId: number;
  taskIds: number[];
}

export interface CreatedTaskIns {
  /** Created PENDING: to enqueue after commit (delayMs back-dates them to their flow's start). */
  enqueue: { tiId: number; delayMs: number }[];
  /** Created RUNNING for `runHere.owner`: to lease and run after commit. */
  started: TaskRun[];
}

export async function createTaskIns(
  tx: Tx,
  entered: EnteredNode[],
  flowStart: Map<number, number>,
  user: string,
  runHere?: RunHere,
): Promise<CreatedTaskIns> {
  const now = new Date();
  const stamp = { create_time: now, create_user: user, update_time: now, update_user: user };
  let local = Math.max(0, runHere?.max ?? 0);
  const rows: Record<string, unknown>[] = [];
  for (const { niId, fiId, taskIds } of entered) {
    for (const taskId of taskIds) {
      const row = { ni_id: niId, fi_id: fiId, task_id: taskId, ...stamp };
      if (runHere && local > 0) {
        local--;
        rows.push({ ...row, exec_status: 'RUNNING', attempt: 1, version: 1, start_time: now, worker_id: runHere.owner });
      } else {
        rows.push({ ...row, exec_status: 'PENDING', attempt: 0, version: 0, start_time: null, worker_id: null });
      }
    }
  }
  if (!rows.length) return { enqueue: [], started: [] };
  // Everything that could refuse the transaction has been checked by now: COMMIT rides along.
  const [, made] = (await tx.send(
    [
      tx.q('task_ins').insert(rows),
      tx.q('task_ins as ti')
        .leftJoin('task as t', 't.task_id', 'ti.task_id')
        .select('ti.ti_id', 'ti.fi_id', 'ti.ni_id', 'ti.task_id', 'ti.exec_status', 'ti.attempt', 'ti.version', 't.task_type', 't.task_content', 't.task_config')
        .whereIn('ti.ni_id', entered.map((e) => e.niId))
        .orderBy('ti.ti_id'),
    ],
    { commit: true },
  )) as [unknown, Record<string, any>[]];
  const out: CreatedTaskIns = { enqueue: [], started: [] };
  for (const r of made) {
    if (r.exec_status === 'RUNNING') out.started.push(runOf(r, now));
    else out.enqueue.push({ tiId: r.ti_id, delayMs: Math.min(0, (flowStart.get(r.fi_id) ?? now.getTime()) - now.getTime()) });
  }
  return out;
}
