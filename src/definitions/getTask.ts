// GET /task/{taskId}: a live (not deleted) task.
import type { Knex } from 'knex';
import { NotFoundError } from '../errors.js';
import { Task } from '../models/index.js';
import { presentTask, TASK_COLUMNS, type TaskRow } from './present.js';
import type { SecretNames } from './secrets.js';

/** The live task, or undefined. `lock` takes the row for the rest of the caller's transaction. */
export async function findLiveTask(db: Knex, taskId: number, lock = false): Promise<TaskRow | undefined> {
  // SELECT … FROM task WHERE task_id = ? AND deleted_time IS NULL [FOR UPDATE]
  const q = Task.query(db).select(TASK_COLUMNS).findById(taskId).whereNull('deleted_time');
  return lock ? q.forUpdate() : q;
}

export async function getTask(db: Knex, taskId: number, secrets?: SecretNames): Promise<Record<string, unknown>> {
  const row = await findLiveTask(db, taskId);
  if (!row) throw new NotFoundError(`task ${taskId} does not exist`);
  return presentTask(row, secrets);
}
