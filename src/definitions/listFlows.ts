// GET /flow?page=&pageSize=: live flows, newest first, as summaries without their nodes (GET
// /flow/{flowId} gives those), so a page costs two indexed queries whatever the flows' sizes.
import type { Knex } from 'knex';
import { FLOW_COLUMNS, presentFlow, type FlowRow } from './present.js';
import type { Page } from './listTasks.js';
import type { PageQuery } from './schemas.js';

export async function listFlows(db: Knex, { page, pageSize }: PageQuery): Promise<Page<Record<string, unknown>>> {
  // SELECT COUNT(*) FROM task_flow WHERE deleted_time IS NULL
  const [{ total }] = (await db('task_flow').whereNull('deleted_time').count({ total: '*' })) as { total: number | string }[];
  // SELECT … FROM task_flow WHERE deleted_time IS NULL ORDER BY flow_id DESC LIMIT ? OFFSET ?
  const rows = (await db('task_flow')
    .select(FLOW_COLUMNS)
    .whereNull('deleted_time')
    .orderBy('flow_id', 'desc')
    .limit(pageSize)
    .offset((page - 1) * pageSize)) as FlowRow[];
  return { total: Number(total), page, pageSize, list: rows.map((f) => presentFlow(f)) };
}
