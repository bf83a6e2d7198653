// GET /task?page=&pageSize=: live tasks, newest first. Both queries ride idx_task_live
// (deleted_time, task_id).
import type { Knex } from 'knex';
import { presentTask, TASK_COLUMNS, type TaskRow } from './present.js';
import type { PageQuery } from './schemas.js';
import type { SecretNames } from './secrets.js';

export interface Page<T> {
  total: number;
  page: number;
  pageSize: number;
  list: T[];
}

export async function listTasks(db: Knex, { page, pageSize }: PageQuery, secrets?: SecretNames): Promise<Page<Record<string, unknown>>> {
  // SELECT COUNT(*) FROM task WHERE deleted_time IS NULL
  const [{ total }] = (await db('task').whereNull('deleted_time').count({ total: '*' })) as { total: number | string }[];
  // SELECT … FROM task WHERE deleted_time IS NULL ORDER BY task_id DESC LIMIT ? OFFSET ?
  const rows = (await db('task')
    .select(TASK_COLUMNS)
    .whereNull('deleted_time')
    .orderBy('task_id', 'desc')
    .limit(pageSize)
    .offset((page - 1) * pageSize)) as TaskRow[];
  return { total: Number(total), page, pageSize, list: rows.map((r) => presentTask(r, secrets)) };
}
