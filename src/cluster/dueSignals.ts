// SIGNAL timeouts (leader only, every second): the waiting SIGNAL node instances whose due time has
// passed are found through the (status, due_time) index — a range read that finds nothing while nothing
// is due, however many instances wait — and their instances advanced; decide.ts ends each such node as
// its `onTimeout` says. A node signalled meanwhile is no longer RUNNING and is not found; one whose
// advance fails is found again on the next scan.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import { NodeIns } from '../models/index.js';
import { advanceAll } from './advance.js';

export const DUE_SCAN_MS = 1_000;
/** Instances advanced per scan; more due at once wait for the next scan. */
const MAX_PER_SCAN = 1_000;

export async function advanceDueSignals(s: Services, engine: Engine, log: Logger): Promise<number> {
  // SELECT fi_id FROM task_node_ins WHERE status = 'RUNNING' AND due_time <= ? ORDER BY due_time LIMIT ?   (idx_node_ins_due)
  const rows = await NodeIns.query(s.knex).select('fi_id').where('status', 'RUNNING').where('due_time', '<=', new Date()).orderBy('due_time').limit(MAX_PER_SCAN);
  const fiIds = [...new Set(rows.map((r) => Number(r.fi_id)))];
  if (fiIds.length) {
    log.info({ instances: fiIds.length }, 'signal timeouts due: advancing');
    await advanceAll(engine, fiIds, log, 'signal timeouts');
  }
  return fiIds.length;
}
