// Sub-flows whose parent ended while they still run (the parent was cancelled or failed, and the member
// died between that commit and cancelling its children): the reconciler cancels them, as the parent's
// end would have. Found through idx_flow_ins_status and the parent's primary key; a few per pass.
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import type { Knex } from '../infra/db.js';

const MAX_PER_PASS = 100;

export async function cancelOrphans(knex: Knex, engine: Engine, log: Logger): Promise<number> {
  const rows: { fi_id: number }[] = await knex('task_flow_ins as c')
    .join('task_flow_ins as p', 'p.fi_id', 'c.parent_fi_id')
    .select('c.fi_id')
    .where('c.status', 'RUNNING')
    .whereNot('p.status', 'RUNNING')
    .limit(MAX_PER_PASS);
  let n = 0;
  for (const r of rows) {
    try {
      await engine.cancelFlow(Number(r.fi_id), 'system');
      n++;
    } catch (e) {
      log.warn({ err: e, fiId: r.fi_id }, 'cancelling a sub-flow whose parent ended failed; the next pass tries again');
    }
  }
  if (n) log.info({ cancelled: n }, 'sub-flows whose parent had ended: cancelled');
  return n;
}
