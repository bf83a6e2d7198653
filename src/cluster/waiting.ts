// Flow instances that are only waiting — every RUNNING node instance of theirs is a SIGNAL not yet due
// or a SUB_FLOW whose child still runs — have nothing in flight and nothing to advance: the reconciler
// leaves them alone (advancing 10,000 waiting instances every pass would be a steady load for nothing).
// A signal, a timeout (dueSignals.ts) or the child's end advances them.
import type { Services } from '../services.js';

export async function waitingOnly(s: Services, fiIds: number[]): Promise<Set<number>> {
  if (!fiIds.length) return new Set();
  const [rows] = (await s.knex.raw(
    `SELECT ni.fi_id,
            COUNT(*) AS running,
            SUM(CASE WHEN (n.node_type = 'SIGNAL' AND (ni.due_time IS NULL OR ni.due_time > ?))
                       OR (n.node_type = 'SUB_FLOW' AND c.status = 'RUNNING') THEN 1 ELSE 0 END) AS waiting
       FROM task_node_ins ni
       JOIN task_node n ON n.node_id = ni.node_id
       LEFT JOIN task_flow_ins c ON c.fi_id = ni.child_fi_id
      WHERE ni.fi_id IN (?) AND ni.status = 'RUNNING'
      GROUP BY ni.fi_id`,
    [new Date(), fiIds],
  )) as [{ fi_id: number; running: number; waiting: number }[]];
  return new Set(rows.filter((r) => Number(r.running) > 0 && Number(r.running) === Number(r.waiting)).map((r) => Number(r.fi_id)));
}
