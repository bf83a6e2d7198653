// Starts a flow: inserts the flow instance (RUNNING, pinned to the flow's current version) and makes
// its first transitions (START, the first TASK node and its task instances) in the same transaction,
// so a started instance is never seen half-made. Nobody else knows the new instance yet, so this
// needs no lock; later transitions go through Coordinator.advance.
import type { Services } from '../services.js';
import type { Coordinator } from './coordinator.js';
import { advanceMany } from './advanceMany.js';
import { inTransaction } from './coordinator.js';
import { notFound } from '../api/http.js';

export interface StartOptions {
  user?: string;
  trigger?: 'API' | 'CRON';
  /** For cron starts: the tick. (flow_id, scheduled_time) is unique, so a tick starts one instance. */
  scheduledTime?: Date;
}

/** Returns the new fiId, or null when a cron tick already started this flow. */
export async function startFlow(s: Services, coord: Coordinator, flowId: number, opts: StartOptions = {}): Promise<number | null> {
  const user = opts.user ?? 'system';
  const flow = await s.knex('task_flow').select('flow_id', 'flow_version').where('flow_id', flowId).whereNull('deleted_time').first();
  if (!flow) throw notFound(`flow ${flowId} does not exist`);
  const now = new Date();
  let fiId: number;
  let out;
  try {
    [fiId, out] = await inTransaction(s.knex, async (trx) => {
        const [id] = await trx('task_flow_ins').insert({
          flow_id: flowId,
          flow_version: flow.flow_version,
          start_time: now,
          status: 'RUNNING',
          trigger_type: opts.trigger ?? 'API',
          scheduled_time: opts.scheduledTime ?? null,
          version: 0,
          create_time: now,
          create_user: user,
          update_time: now,
          update_user: user,
        });
        return [id, await advanceMany(trx, coord.plans, [id], { user, now })] as const;
      });
  } catch (e) {
    if (opts.scheduledTime && (e as { code?: string }).code === 'ER_DUP_ENTRY') return null;
    throw e;
  }
  await coord.afterCommit(out);
  return fiId;
}
