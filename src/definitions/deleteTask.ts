// DELETE /task/{taskId}: soft delete (deleted_time), refused with a 409 while the current version of
// a live flow uses the task. Older versions may keep naming it: instances that ran on them still
// show it, since the row stays.
import type { Knex } from 'knex';
import { ConflictError, NotFoundError } from '../errors.js';
import { findLiveTask } from './getTask.js';
import { Flow, Task } from '../models/index.js';

/** Live flows whose current version has a TASK node naming the task (at most `limit`). */
export async function flowsUsingTask(db: Knex, taskId: number, limit = 5): Promise<{ flow_id: number; flow_name: string }[]> {
  // SELECT DISTINCT f.flow_id, f.flow_name FROM task_flow f
  //   JOIN task_node n ON n.flow_id = f.flow_id AND n.flow_version = f.flow_version
  //  WHERE f.deleted_time IS NULL AND n.node_type = 'TASK' AND FIND_IN_SET(?, n.task_ids) > 0
  //  ORDER BY f.flow_id LIMIT ?
  return Flow.query(db)
    .alias('f')
    .distinct('f.flow_id', 'f.flow_name')
    .joinRelated('nodes', { alias: 'n' })
    .whereNull('f.deleted_time')
    .where('n.node_type', 'TASK')
    .whereRaw('FIND_IN_SET(?, n.task_ids) > 0', [String(taskId)])
    .orderBy('f.flow_id')
    .limit(limit);
}

export async function deleteTask(knex: Knex, taskId: number, user: string): Promise<{ taskId: number }> {
  return knex.transaction(async (trx) => {
    // The row lock orders this against a flow save naming the task (saveFlow share-locks the tasks it
    // names): either the save sees the task deleted, or this sees the save's new version. The usage
    // query below is this transaction's first plain read, so its snapshot is taken after the lock.
    if (!(await findLiveTask(trx, taskId, true))) throw new NotFoundError(`task ${taskId} does not exist`);
    const users = await flowsUsingTask(trx, taskId);
    if (users.length) {
      const names = users.map((f) => `flow ${f.flow_id} "${f.flow_name}"`).join(', ');
      throw new ConflictError(`task ${taskId} is used by the current version of ${names}; save a new version of the flow without it (or delete the flow) first`);
    }
    const now = new Date();
    // UPDATE task SET deleted_time = ?, update_time = ?, update_user = ? WHERE task_id = ?
    await Task.query(trx).findById(taskId).patch({ deleted_time: now, update_time: now, update_user: user });
    return { taskId };
  });
}
