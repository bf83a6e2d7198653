// Batch twin of TaskIns#markRunning (src/models/instances.ts): claimed task instances become RUNNING
// for this worker (attempt + 1), committed before anything runs, in one UPDATE for the whole claim, read
// back with what running them needs in the same round trip.
import type { Knex } from '../../infra/db.js';
import { runOf, type SkippedClaim, type TaskRun } from '../taskRun.js';
import { sendTogether } from './multiStatement.js';

/** Rows that are no longer PENDING (cancelled, already finished) come back as `skipped`. */
export async function startRuns(knex: Knex, tiIds: number[], workerId: string): Promise<{ runs: TaskRun[]; skipped: SkippedClaim[] }> {
  const now = new Date();
  // One round trip: the UPDATE (autocommit: RUNNING is durable before anything runs) and the read-back.
  const results = await sendTogether(knex, [
    {
      sql: `UPDATE task_ins SET exec_status = 'RUNNING', attempt = attempt + 1, start_time = ?, end_time = NULL, error_msg = NULL,
                   worker_id = ?, version = version + 1, update_time = ?
             WHERE ti_id IN (?) AND exec_status = 'PENDING'`,
      bindings: [now, workerId, now, tiIds],
    },
    {
      sql: `SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.lost_attempts, ti.version, ti.priority, ti.rendered_content, ti.rendered_config, ti.worker_id, ti.start_time,
                   t.task_type, t.task_content, t.task_config
              FROM task_ins ti JOIN task t ON t.task_id = ti.task_id
             WHERE ti.ti_id IN (?)`,
      bindings: [tiIds],
    },
  ]);
  const rows: Record<string, any>[] = results[1];
  const runs: TaskRun[] = [];
  const skipped: SkippedClaim[] = [];
  for (const r of rows) {
    // Started by this very statement: same worker, same start instant.
    const startedHere = r.exec_status === 'RUNNING' && r.worker_id === workerId && r.start_time?.getTime() === now.getTime();
    if (startedHere) runs.push(runOf(r, now));
    else skipped.push({ tiId: r.ti_id, fiId: r.fi_id, status: r.exec_status });
  }
  const seen = new Set(rows.map((r) => r.ti_id));
  for (const id of tiIds) if (!seen.has(id)) skipped.push({ tiId: id, fiId: null, status: 'MISSING' });
  return { runs, skipped };
}
