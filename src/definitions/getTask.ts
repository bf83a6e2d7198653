// GET /task/{taskId}: a live (not deleted) task.
import type { Knex } from 'knex';
import { NotFoundError } from '../errors.js';
import { presentTask, TASK_COLUMNS, type TaskRow } from './present.js';
import type { SecretNames } from './secrets.js';

/** The live task row, or undefined. `lock` takes the row for the rest of the caller's transaction. */
export async function findLiveTask(db: Knex, taskId: number, lock = false): Promise<TaskRow | undefined> {
  // SELECT … FROM task WHERE task_id = ? AND deleted_time IS NULL [FOR UPDATE]
  const q = db('task').select(TASK_COLUMNS).where('task_id', taskId).whereNull('deleted_time').first();
  return (await (lock ? q.forUpdate() : q)) as TaskRow | undefined;
}

export async function getTask(db: Knex, taskId: number, secrets?: SecretNames): Promise<Record<string, unknown>> {
  const row = await findLiveTask(db, taskId);
  if (!row) throw new NotFoundError(`task ${taskId} does not exist`);
  return presentTask(row, secrets);
}
