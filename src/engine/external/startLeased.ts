// Batch twin of TaskIns#markRunning (src/models/instances.ts) for WORKER task instances polls leased:
// RUNNING for the external worker (attempt + 1, its workerId, the poll's lease token per row), committed
// before the worker is told, the API token's name as update_user, in one UPDATE, read back in the same
// round trip with what the worker is handed (task name, node key, input, content). The polls that claim
// while such a statement is on its way are marked together in the next one (LeaseStarter), so a busy
// member pays one round trip and one commit for many polls.
import type { Knex } from '../../infra/db.js';
import type { ExternalLease } from '../../queue/externalQueues.js';
import { boundRows, sendTogether } from '../sql/multiStatement.js';
import { runOf, type SkippedClaim, type TaskRun } from '../taskRun.js';
import { Batcher } from '../batcher.js';

/** A run an external worker holds: its lease, and what the answer to its poll names. */
export interface LeasedRun extends TaskRun {
  lease: ExternalLease;
  taskName: string;
  nodeId: number | null;
  flowId: number | null;
  flowVersion: number | null;
}

/** A lease to mark RUNNING, for whom. */
interface Claimed {
  lease: ExternalLease;
  workerId: string;
  user: string;
}

type Started = { run: LeasedRun } | { skipped: SkippedClaim & { lease: ExternalLease } };

/** Marks polls' leases RUNNING, those of polls that arrive together in one statement. */
export class LeaseStarter {
  private batcher: Batcher<Claimed, Started>;

  constructor(private knex: Knex) {
    this.batcher = new Batcher((items) => startLeased(this.knex, items), 2, 500);
  }

  /** Rows that are no longer PENDING (cancelled, finished, gone) come back as `skipped`, with their lease. */
  async start(leases: ExternalLease[], workerId: string, user: string): Promise<{ runs: LeasedRun[]; skipped: (SkippedClaim & { lease: ExternalLease })[] }> {
    const out = await Promise.all(leases.map((lease) => this.batcher.add({ lease, workerId, user })));
    const runs: LeasedRun[] = [];
    const skipped: (SkippedClaim & { lease: ExternalLease })[] = [];
    for (const o of out) {
      if ('run' in o) runs.push(o.run);
      else skipped.push(o.skipped);
    }
    return { runs, skipped };
  }
}

/** One statement for the claims of one or more polls; per claim, its run or why it was skipped. */
async function startLeased(knex: Knex, items: Claimed[]): Promise<Started[]> {
  const now = new Date();
  const results = await sendTogether(knex, [
    {
      sql: `UPDATE task_ins ti JOIN (${boundRows(['ti_id', 'token', 'worker_id', 'user'], items.length)}) AS r ON ti.ti_id = r.ti_id
               SET ti.exec_status = 'RUNNING', ti.attempt = ti.attempt + 1, ti.start_time = ?, ti.end_time = NULL, ti.error_msg = NULL,
                   ti.worker_id = r.worker_id, ti.lease_token = r.token, ti.version = ti.version + 1, ti.update_time = ?, ti.update_user = r.user
             WHERE ti.exec_status = 'PENDING'`,
      bindings: [...items.flatMap((i) => [i.lease.tiId, i.lease.token, i.workerId, i.user]), now, now],
    },
    {
      sql: `SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.lost_attempts, ti.version, ti.rendered_content, ti.rendered_config,
                   ti.lease_token, t.task_type, t.task_content, t.task_config, t.task_name, ni.node_id, fi.flow_id, fi.flow_version
              FROM task_ins ti JOIN task t ON t.task_id = ti.task_id
              LEFT JOIN task_node_ins ni ON ni.ni_id = ti.ni_id
              LEFT JOIN task_flow_ins fi ON fi.fi_id = ti.fi_id
             WHERE ti.ti_id IN (?)`,
      bindings: [items.map((i) => i.lease.tiId)],
    },
  ]);
  const byId = new Map((results[1] as Record<string, any>[]).map((r) => [r.ti_id as number, r]));
  return items.map(({ lease }): Started => {
    const r = byId.get(lease.tiId);
    if (!r) return { skipped: { tiId: lease.tiId, fiId: null, status: 'MISSING', lease } };
    // Started by this very statement: the token is new for each lease.
    if (r.exec_status === 'RUNNING' && r.lease_token === lease.token) {
      return { run: { ...runOf(r, now), lease, taskName: r.task_name, nodeId: r.node_id ?? null, flowId: r.flow_id ?? null, flowVersion: r.flow_version ?? null } };
    }
    return { skipped: { tiId: r.ti_id, fiId: r.fi_id, status: r.exec_status, lease } };
  });
}
