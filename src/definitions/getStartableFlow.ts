// For the engine: the flow and version a new instance of `flowId` runs on (its current version), or
// null when the flow does not exist or was deleted. Pass a transaction to read it inside one.
import type { Knex } from 'knex';

export interface StartableFlow {
  flowId: number;
  flowVersion: number;
}

export async function getStartableFlow(knex: Knex, flowId: number): Promise<StartableFlow | null> {
  // SELECT flow_id, flow_version FROM task_flow WHERE flow_id = ? AND deleted_time IS NULL
  const row = (await knex('task_flow').select('flow_id', 'flow_version').where('flow_id', flowId).whereNull('deleted_time').first()) as
    | { flow_id: number; flow_version: number }
    | undefined;
  return row ? { flowId: Number(row.flow_id), flowVersion: Number(row.flow_version) } : null;
}
