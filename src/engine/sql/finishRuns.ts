// Batch twin of TaskIns.finishRun (src/models/instances.ts): a batch of runs' results recorded in one
// statement, each fenced by the version its run started at (a reaped, cancelled or re-run attempt has
// moved the row on: its result is refused, and told apart afterwards).
import type { Knex } from '../../infra/db.js';
import { statusOf, type FinishedRun } from '../taskRun.js';
import { boundRows, type Statement } from './multiStatement.js';

/**
 * As statements: one UPDATE for the whole batch, joined with the results as a derived table, each row
 * fenced by its run's version, then the count it changed. The worker sends them in the first round trip
 * of the transaction that also advances their flow instances. `now` is the rows' update_time (and tells
 * our writes apart in writtenOf).
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
