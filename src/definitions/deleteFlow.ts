// DELETE /flow/{flowId}: soft delete. The flow and all its versions' nodes stay for the instances
// that ran on them; a deleted flow is a 404 to GET and cannot be started. Refused with a 409 while the
// current version of another live flow starts it as a SUB_FLOW (that node would fail at every run).
import type { Knex } from 'knex';
import { ConflictError, NotFoundError } from '../errors.js';
import { Flow, parseNodeOptions } from '../models/index.js';

/** Live flows (other than `flowId`) whose current version has a SUB_FLOW node starting `flowId` (at most `limit`). */
export async function flowsUsingFlow(db: Knex, flowId: number, limit = 5): Promise<{ flow_id: number; flow_name: string }[]> {
  // SELECT f.flow_id, f.flow_name, n.node_options FROM task_flow f
  //   JOIN task_node n ON n.flow_id = f.flow_id AND n.flow_version = f.flow_version
  //  WHERE f.deleted_time IS NULL AND n.node_type = 'SUB_FLOW' AND f.flow_id <> ? ORDER BY f.flow_id
  const rows = (await Flow.query(db)
    .alias('f')
    .select('f.flow_id', 'f.flow_name', 'n.node_options')
    .joinRelated('nodes', { alias: 'n' })
    .whereNull('f.deleted_time')
    .where('n.node_type', 'SUB_FLOW')
    .whereNot('f.flow_id', flowId)
    .orderBy('f.flow_id')) as unknown as { flow_id: number; flow_name: string; node_options: string | null }[];
  const users = new Map<number, { flow_id: number; flow_name: string }>();
  for (const r of rows) if (parseNodeOptions(r.node_options).flowId === flowId) users.set(r.flow_id, { flow_id: r.flow_id, flow_name: r.flow_name });
  return [...users.values()].slice(0, limit);
}

export async function deleteFlow(knex: Knex, flowId: number, user: string): Promise<{ flowId: number }> {
  const users = await flowsUsingFlow(knex, flowId);
  if (users.length) {
    const names = users.map((f) => `flow ${f.flow_id} "${f.flow_name}"`).join(', ');
    throw new ConflictError(`flow ${flowId} is started as a sub-flow by the current version of ${names}; save a new version of it without that node (or delete it) first`);
  }
  const now = new Date();
  // cron_enabled is cleared too, so a cron scheduler that forgets to look at deleted_time still
  // cannot fire a deleted flow.
  // UPDATE task_flow SET deleted_time = ?, cron_enabled = 0, update_time = ?, update_user = ?
  //  WHERE flow_id = ? AND deleted_time IS NULL
  const n = await Flow.query(knex)
    .patch({ deleted_time: now, cron_enabled: false, update_time: now, update_user: user })
    .where('flow_id', flowId)
    .whereNull('deleted_time');
  if (n === 0) throw new NotFoundError(`flow ${flowId} does not exist`);
  return { flowId };
}
