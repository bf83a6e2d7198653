// The worker's data operations on task_ins, each one SQL statement for a whole batch where it can be.
// `version` is the fencing token: a run remembers the version it started at, and its result is
// written only if the row still has it (a reaped, cancelled or re-run attempt has moved it on).
import type { Knex } from '../infra/db.js';
import { readTaskConfig, type TaskConfig } from '../definitions/taskConfig.js';
import type { Statement } from './multiStatement.js';

export interface TaskRun {
  tiId: number;
  fiId: number | null;
  niId: number | null;
  taskId: number;
  taskType: string;
  content: string | null;
  config: TaskConfig;
  attempt: number;
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
  const marks = tiIds.map(() => '?').join(',');
  const [results] = await knex.raw(
    `UPDATE task_ins SET exec_status = 'RUNNING', attempt = attempt + 1, start_time = ?, end_time = NULL, error_msg = NULL,
        worker_id = ?, version = version + 1, update_time = ?
      WHERE ti_id IN (${marks}) AND exec_status = 'PENDING';
     SELECT ti.ti_id, ti.fi_id, ti.ni_id, ti.task_id, ti.exec_status, ti.attempt, ti.version, ti.worker_id, ti.start_time,
        t.task_type, t.task_content, t.task_config
       FROM task_ins ti JOIN task t ON t.task_id = ti.task_id
      WHERE ti.ti_id IN (${marks})`,
    [now, workerId, now, ...tiIds, ...tiIds],
  );
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
    version: r.version,
    startedAt,
  };
}

export interface RunResult {
  /** PENDING = failed, with attempts left: it will run again after its back-off. */
  status: 'SUCCESS' | 'FAILED' | 'PENDING';
  output: string | null;
  error: string | null;
}

/** Records one run's result if the row is still at the run's version; false = refused (stale). */
export async function finishRun(knex: Knex, run: TaskRun, result: RunResult): Promise<boolean> {
  const now = new Date();
  const n = await knex('task_ins')
    .where({ ti_id: run.tiId, version: run.version })
    .update({
      exec_status: result.status,
      end_time: now,
      output: result.output,
      error_msg: result.error,
      version: run.version + 1,
      update_time: now,
    });
  return n === 1;
}

/**
 * finishRun's batch twin, as statements (one fenced UPDATE per result): the worker sends them in the
 * first round trip of the transaction that also advances their flow instances. `endedAt` is when the
 * executor returned (the task's end, whatever the batch waited for); the row's update_time is now.
 */
export function finishRunStatements(items: { run: TaskRun; result: RunResult; endedAt?: Date }[]): Statement[] {
  const now = new Date();
  return items.map(({ run, result, endedAt }) => ({
    sql: 'UPDATE task_ins SET exec_status = ?, end_time = ?, output = ?, error_msg = ?, version = ?, update_time = ? WHERE ti_id = ? AND version = ?',
    bindings: [result.status, endedAt ?? now, result.output, result.error, run.version + 1, now, run.tiId, run.version],
  }));
}

/** Per result of finishRunStatements: was it written (false = refused as stale)? */
export const writtenOf = (results: { affectedRows: number }[]): boolean[] => results.map((r) => r.affectedRows === 1);
