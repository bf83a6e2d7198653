// Batch twin of TaskIns#markRunning (src/models/instances.ts) for WORKER task instances a poll leased:
// RUNNING for the external worker (attempt + 1, its workerId, the poll's lease token per row), committed
// before the worker is told, the API token's name as update_user, in one UPDATE for the whole poll, read back in the same round trip with
// what the worker is handed (task name, node key, input, content).
import type { Knex } from '../../infra/db.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { boundRows, sendTogether } from '../sql/multiStatement.js';
import { runOf, type SkippedClaim, type TaskRun } from '../taskRun.js';

/** A run an external worker holds: its lease, and what the answer to its poll names. */
export interface LeasedRun extends TaskRun {
  lease: ExternalLease;
  taskName: string;
  nodeId: number | null;
  flowId: number | null;
  flowVersion: number | null;
}

/** Rows that are no longer PENDING (cancelled, finished, gone) come back as `skipped`, with their lease. */
export async function startLeased(knex: Knex, leases: ExternalLease[], workerId: string, user: string): Promise<{ runs: LeasedRun[]; skipped: (SkippedClaim & { lease: ExternalLease })[] }> {
  const now = new Date();
  const ids = leases.map((l) => l.tiId);
  const results = await sendTogether(knex, [
    {
      sql: `UPDATE task_ins ti JOIN (${boundRows(['ti_id', 'token'], leases.length)}) AS r ON ti.ti_id = r.ti_id
               SET ti.exec_status = 'RUNNING', ti.attempt = ti.attempt + 1, ti.start_time = ?, ti.end_time = NULL, ti.error_msg = NULL,
                   ti.worker_id = ?, ti.lease_token = r.token, ti.version = ti.version + 1, ti.update_time = ?, ti.update_user = ?
             WHERE ti.exec_status = 'PENDING'`,
      bindings: [...leases.flatMap((l) => [l.tiId, l.token]), now, workerId, now, user],
    },
    {
      sql: `SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.lost_attempts, ti.version, ti.rendered_content, ti.rendered_config,
                   ti.lease_token, t.task_type, t.task_content, t.task_config, t.task_name, ni.node_id, fi.flow_id, fi.flow_version
              FROM task_ins ti JOIN task t ON t.task_id = ti.task_id
              LEFT JOIN task_node_ins ni ON ni.ni_id = ti.ni_id
              LEFT JOIN task_flow_ins fi ON fi.fi_id = ti.fi_id
             WHERE ti.ti_id IN (?)`,
      bindings: [ids],
    },
  ]);
  const rows: Record<string, any>[] = results[1];
  const byId = new Map(leases.map((l) => [l.tiId, l]));
  const runs: LeasedRun[] = [];
  const skipped: (SkippedClaim & { lease: ExternalLease })[] = [];
  for (const r of rows) {
    const lease = byId.get(r.ti_id)!;
    // Started by this very statement: the token is new for each lease.
    if (r.exec_status === 'RUNNING' && r.lease_token === lease.token) {
      runs.push({ ...runOf(r, now), lease, taskName: r.task_name, nodeId: r.node_id ?? null, flowId: r.flow_id ?? null, flowVersion: r.flow_version ?? null });
    } else skipped.push({ tiId: r.ti_id, fiId: r.fi_id, status: r.exec_status, lease });
  }
  const seen = new Set(rows.map((r) => r.ti_id));
  for (const l of leases) if (!seen.has(l.tiId)) skipped.push({ tiId: l.tiId, fiId: null, status: 'MISSING', lease: l });
  return { runs, skipped };
}
