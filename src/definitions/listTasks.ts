// GET /task?page=&pageSize=: live tasks, newest first. Both queries ride idx_task_live
// (deleted_time, task_id).
import type { Knex } from 'knex';
import { Task } from '../models/index.js';
import { presentTask, TASK_COLUMNS } from './present.js';
import type { PageQuery } from './schemas.js';
import type { SecretNames } from './secrets.js';

export interface Page<T> {
  total: number;
  page: number;
  pageSize: number;
  list: T[];
}

export async function listTasks(db: Knex, { page, pageSize }: PageQuery, secrets?: SecretNames): Promise<Page<Record<string, unknown>>> {
  const live = () => Task.query(db).whereNull('deleted_time');
  // SELECT COUNT(*) FROM task WHERE deleted_time IS NULL
  const total = await live().resultSize();
  // SELECT … FROM task WHERE deleted_time IS NULL ORDER BY task_id DESC LIMIT ? OFFSET ?
  const rows = await live().select(TASK_COLUMNS).orderBy('task_id', 'desc').limit(pageSize).offset((page - 1) * pageSize);
  return { total, page, pageSize, list: rows.map((r) => presentTask(r, secrets)) };
}
