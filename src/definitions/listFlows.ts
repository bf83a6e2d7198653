// GET /flow?page=&pageSize=[&name=]: live flows, newest first, as summaries without their nodes (GET
// /flow/{flowId} gives those), so a page costs two indexed queries whatever the flows' sizes.
import type { Knex } from 'knex';
import { Flow } from '../models/index.js';
import { FLOW_COLUMNS, presentFlow } from './present.js';
import { containing, type Page } from './listTasks.js';
import type { PageQuery } from './schemas.js';

export async function listFlows(db: Knex, { page, pageSize, name }: PageQuery): Promise<Page<Record<string, unknown>>> {
  const live = () => {
    const q = Flow.query(db).whereNull('deleted_time');
    if (name) q.where('flow_name', 'like', containing(name));
    return q;
  };
  // SELECT COUNT(*) FROM task_flow WHERE deleted_time IS NULL [AND flow_name LIKE ?]
  const total = await live().resultSize();
  // SELECT … FROM task_flow WHERE deleted_time IS NULL ORDER BY flow_id DESC LIMIT ? OFFSET ?
  const rows = await live().select(FLOW_COLUMNS).orderBy('flow_id', 'desc').limit(pageSize).offset((page - 1) * pageSize);
  return { total, page, pageSize, list: rows.map((f) => presentFlow(f)) };
}
