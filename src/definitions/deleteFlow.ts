// DELETE /flow/{flowId}: soft delete. The flow and all its versions' nodes stay for the instances
// that ran on them; a deleted flow is a 404 to GET and cannot be started.
import type { Knex } from 'knex';
import { NotFoundError } from '../errors.js';
import { Flow } from '../models/index.js';

export async function deleteFlow(knex: Knex, flowId: number, user: string): Promise<{ flowId: number }> {
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
