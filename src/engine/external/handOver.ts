// Continuation for WORKER steps (issue 17): an external worker that completes a flow's task with `next`
// is handed the flow's next WORKER task instance in the complete's answer, already RUNNING for it. The
// transaction that records the result and advances the flow (Coordinator.commitAndAdvance) also marks
// the new instance RUNNING for that worker under a new lease token — one commit per step, as the
// members' own continuation (sql/transitionWrites.ts `runHere`), instead of an enqueue, a poll, a claim
// and a second commit for the RUNNING mark.
//
// These statements run in that transaction right after the new task instances are inserted (PENDING, as
// every WORKER instance is), so they only ever touch rows this very transaction made. An instance is
// handed over only when its task is a WORKER task of a queue the worker named, without flow-control
// limits (a limited task's slot is taken by a claim, wqClaim.lua: its instances go through the queue);
// the rest stay PENDING and are enqueued as always. The limits test is the leader's own coarse one
// (cluster/limits.ts: the config text names concurrencyLimit or rateLimit), so a doubtful task is queued.
//
// Safety is a poll's: the row is RUNNING (committed) before the worker hears of it, and its lease is
// registered in the queue's lease set just after the commit (wqLease.lua). Should the member die between
// the two, the reconciler finds a RUNNING row Redis does not know and queues it again (after its grace);
// should it die after, or the worker go away, the lease runs out and the reaper queues it again.
import { randomBytes } from 'node:crypto';
import { boundRows, type Statement } from '../sql/multiStatement.js';
import { runOf, type TaskRun } from '../taskRun.js';

/** A worker asking, with its result, for its flow's next WORKER tasks. */
export interface NextRequest {
  workerId: string;
  queues: string[];
  /** How many of the flow's new task instances it takes at most (its free slots). */
  max: number;
  /** The API token's name (or X-User): recorded as the rows' update_user. */
  user: string;
}

/** One flow instance's hand-over: its new WORKER task instances go to this worker. */
export interface HandOver extends NextRequest {
  fiId: number;
}

/** A task instance created RUNNING for an external worker by the recording transaction. */
export interface HandedOver extends TaskRun {
  fiId: number;
  token: string;
  workerId: string;
  queue: string;
  taskName: string;
  nodeId: number | null;
  flowId: number | null;
  flowVersion: number | null;
}

/** n random lease tokens (16 bytes each) from one call. */
export function newTokens(n: number): string[] {
  const b = randomBytes(16 * n);
  return Array.from({ length: n }, (_, i) => b.toString('base64url', i * 16, i * 16 + 16));
}

/**
 * The statements that hand over the task instances just inserted (ids from LAST_INSERT_ID() on), then
 * read those handed over back; `rowsOf(fiId)` is how many task instances the insert made for the flow
 * instance (no more tokens are offered than that). The last statement's result goes to handedOverOf.
 */
export function handOverStatements(handOvers: HandOver[], rowsOf: (fiId: number) => number, now: Date): Statement[] {
  const allowed: unknown[][] = [];
  const offers: unknown[][] = [];
  for (const h of handOvers) {
    const n = Math.min(h.max, rowsOf(h.fiId));
    if (n <= 0) continue;
    for (const q of h.queues) allowed.push([h.fiId, q]);
    newTokens(n).forEach((token, i) => offers.push([h.fiId, i + 1, h.workerId, token, h.user]));
  }
  if (!offers.length) return [];
  const fiIds = [...new Set(offers.map((o) => o[0]))];
  return [
    {
      // The candidates: this transaction's new PENDING WORKER instances of each flow instance whose queue
      // its worker named and whose task has no limits, numbered per flow instance; the k-th gets offer k.
      sql: `UPDATE task_ins ti
              JOIN (SELECT x.ti_id, x.fi_id, ROW_NUMBER() OVER (PARTITION BY x.fi_id ORDER BY x.ti_id) AS k
                      FROM task_ins x
                      JOIN task t ON t.task_id = x.task_id
                      JOIN (${boundRows(['fi_id', 'queue'], allowed.length)}) AS a ON a.fi_id = x.fi_id AND a.queue = JSON_VALUE(t.task_config, '$.queue')
                     WHERE x.fi_id IN (?) AND x.ti_id >= LAST_INSERT_ID() AND x.exec_status = 'PENDING' AND t.task_type = 'WORKER'
                       AND t.task_config NOT LIKE '%concurrencyLimit%' AND t.task_config NOT LIKE '%rateLimit%') AS c ON c.ti_id = ti.ti_id
              JOIN (${boundRows(['fi_id', 'k', 'worker_id', 'token', 'user'], offers.length)}) AS o ON o.fi_id = c.fi_id AND o.k = c.k
               SET ti.exec_status = 'RUNNING', ti.attempt = ti.attempt + 1, ti.start_time = ?, ti.worker_id = o.worker_id, ti.lease_token = o.token,
                   ti.version = ti.version + 1, ti.update_time = ?, ti.update_user = o.user`,
      bindings: [...allowed.flat(), fiIds, ...offers.flat(), now, now],
    },
    {
      sql: `SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.lost_attempts, ti.version, ti.priority, ti.rendered_content, ti.rendered_config,
                   ti.lease_token, ti.worker_id, t.task_type, t.task_content, t.task_config, t.task_name, ni.node_id, fi.flow_id, fi.flow_version
              FROM task_ins ti JOIN task t ON t.task_id = ti.task_id
              LEFT JOIN task_node_ins ni ON ni.ni_id = ti.ni_id
              LEFT JOIN task_flow_ins fi ON fi.fi_id = ti.fi_id
             WHERE ti.fi_id IN (?) AND ti.ti_id >= LAST_INSERT_ID() AND ti.exec_status = 'RUNNING' AND ti.lease_token IN (?)
             ORDER BY ti.ti_id`,
      bindings: [fiIds, offers.map((o) => o[3])],
    },
  ];
}

/** The handed-over rows, as handOverStatements' last statement read them back. */
export function handedOverOf(rows: Record<string, any>[], now: Date): HandedOver[] {
  return rows.map((r) => {
    const run = runOf(r, now);
    return {
      ...run,
      fiId: r.fi_id,
      token: r.lease_token,
      workerId: r.worker_id,
      queue: run.config.queue ?? '',
      taskName: r.task_name,
      nodeId: r.node_id ?? null,
      flowId: r.flow_id ?? null,
      flowVersion: r.flow_version ?? null,
    };
  });
}
