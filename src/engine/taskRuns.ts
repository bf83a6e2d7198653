// The worker's data operations on task_ins, each one SQL statement for a whole batch where it can be.
// `version` is the fencing token: a run remembers the version it started at, and its result is
// written only if the row still has it (a reaped, cancelled or re-run attempt has moved it on).
import type { Knex } from '../infra/db.js';
import { readTaskConfig, type TaskConfig } from '../definitions/taskConfig.js';
import { boundRows, sendTogether, type Statement } from './multiStatement.js';

export interface TaskRun {
  tiId: number;
  fiId: number | null;
  niId: number | null;
  taskId: number;
  taskType: string;
  content: string | null;
  config: TaskConfig;
  /** Runs started (this one included). */
  attempt: number;
  /** Of those, runs lost with their worker (reaped): they do not count against the task's maxRetries. */
  lostAttempts: number;
  version: number;
  startedAt: Date;
}

export interface SkippedClaim {
  tiId: number;
  fiId: number | null;
  status: string;
}

/**
 * Marks claimed task instances RUNNING (attempt + 1) and loads what running them needs.
 * Rows that are no longer PENDING (cancelled, already finished) come back as `skipped`.
 */
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
      sql: `SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.lost_attempts, ti.version, ti.worker_id, ti.start_time,
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
    // Ours only if this very statement started it: same worker, same start instant.
    const mine = r.exec_status === 'RUNNING' && r.worker_id === workerId && r.start_time?.getTime() === now.getTime();
    if (!mine) {
      skipped.push({ tiId: r.ti_id, fiId: r.fi_id, status: r.exec_status });
      continue;
    }
    runs.push(runOf(r, now));
  }
  const seen = new Set(rows.map((r) => r.ti_id));
  for (const id of tiIds) if (!seen.has(id)) skipped.push({ tiId: id, fiId: null, status: 'MISSING' });
  return { runs, skipped };
}

/** A task instance row joined with its task (ti.*, t.task_type, t.task_content, t.task_config) as a run. */
export function runOf(r: Record<string, any>, startedAt: Date): TaskRun {
  return {
    tiId: r.ti_id,
    fiId: r.fi_id,
    niId: r.ni_id,
    taskId: r.task_id,
    taskType: r.task_type,
    content: r.task_content,
    config: readTaskConfig(r.task_config),
    attempt: r.attempt,
    lostAttempts: r.lost_attempts ?? 0,
    version: r.version,
    startedAt,
  };
}

export interface RunResult {
  /** RETRY = not done, to run again after its back-off: the row goes back to PENDING. */
  status: 'SUCCESS' | 'FAILED' | 'RETRY';
  output: string | null;
  error: string | null;
  /**
   * The run is not counted as an attempt (attempt - 1): it was handed back at shutdown, through no fault
   * of the task's.
   */
  notCounted?: boolean;
}

/** The task_ins.exec_status a result leaves its row in. */
export const statusOf = (r: RunResult): string => (r.status === 'RETRY' ? 'PENDING' : r.status);

/** Records one run's result if the row is still at the run's version; false = refused (stale). */
export async function finishRun(knex: Knex, run: TaskRun, result: RunResult): Promise<boolean> {
  const now = new Date();
  const n = await knex('task_ins')
    .where({ ti_id: run.tiId, version: run.version })
    .update({
      exec_status: statusOf(result),
      end_time: now,
      output: result.output,
      error_msg: result.error,
      version: run.version + 1,
      update_time: now,
    });
  return n === 1;
}

export interface FinishedRun {
  run: TaskRun;
  result: RunResult;
  /** When the executor returned: the task's end_time. */
  endedAt: Date;
}

/**
 * finishRun's batch twin, as statements: one UPDATE for the whole batch, joined with the results as a
 * derived table, each row fenced by its run's version, then the count it changed. The worker sends
 * them in the first round trip of the transaction that also advances their flow instances. `now` is
 * the rows' update_time (and tells our writes apart in writtenOf).
 */
export function finishRunsStatements(items: FinishedRun[], now: Date): Statement[] {
  const rows = boundRows(['ti_id', 'version', 'exec_status', 'end_time', 'output', 'error_msg', 'uncount'], items.length);
  return [
    {
      sql: `UPDATE task_ins ti JOIN (${rows}) AS r ON ti.ti_id = r.ti_id AND ti.version = r.version
               SET ti.exec_status = r.exec_status, ti.end_time = r.end_time, ti.output = r.output, ti.error_msg = r.error_msg,
                   ti.attempt = ti.attempt - r.uncount, ti.version = r.version + 1, ti.update_time = ?`,
      bindings: [
        ...items.flatMap(({ run, result, endedAt }) => [run.tiId, run.version, statusOf(result), endedAt, result.output, result.error, result.notCounted ? 1 : 0]),
        now,
      ],
    },
    { sql: 'SELECT ROW_COUNT() AS n', bindings: [] },
  ];
}

/**
 * Per item of finishRunsStatements, given its results: was it written (false = refused as stale)?
 * All of them when the count says so. Otherwise (rare: a reaper, a cancel or the reconciler moved a row
 * on) the rows are read back: ours are those that hold exactly what we wrote, at the version we wrote.
 */
export async function writtenOf(knex: Knex, items: FinishedRun[], now: Date, results: any[]): Promise<boolean[]> {
  if (Number(results[1]?.[0]?.n) === items.length) return items.map(() => true);
  const rows: { ti_id: number; version: number; exec_status: string; end_time: Date | null; update_time: Date | null }[] = await knex('task_ins')
    .select('ti_id', 'version', 'exec_status', 'end_time', 'update_time')
    .whereIn('ti_id', items.map((it) => it.run.tiId));
  const byId = new Map(rows.map((r) => [r.ti_id, r]));
  return items.map(({ run, result, endedAt }) => {
    const r = byId.get(run.tiId);
    return !!r && r.version === run.version + 1 && r.exec_status === statusOf(result) && r.end_time?.getTime() === endedAt.getTime() && r.update_time?.getTime() === now.getTime();
  });
}
