// GET /task?page=&pageSize=[&name=]: live tasks, newest first. Both queries ride idx_task_live
// (deleted_time, task_id); a name filter (a substring, so no index can serve it) scans the live rows.
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

/** A LIKE pattern matching names that contain `text` as it is (%, _ and \\ in it match only themselves). */
export const containing = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

export async function listTasks(db: Knex, { page, pageSize, name }: PageQuery, secrets?: SecretNames): Promise<Page<Record<string, unknown>>> {
  const live = () => {
    const q = Task.query(db).whereNull('deleted_time');
    if (name) q.where('task_name', 'like', containing(name));
    return q;
  };
  // SELECT COUNT(*) FROM task WHERE deleted_time IS NULL [AND task_name LIKE ?]
  const total = await live().resultSize();
  // SELECT … FROM task WHERE deleted_time IS NULL ORDER BY task_id DESC LIMIT ? OFFSET ?
  const rows = await live().select(TASK_COLUMNS).orderBy('task_id', 'desc').limit(pageSize).offset((page - 1) * pageSize);
  return { total, page, pageSize, list: rows.map((r) => presentTask(r, secrets)) };
}
