// Batch twin of TaskIns.finishRun (src/models/instances.ts): a batch of runs' results recorded in one
// statement, each fenced by the version its run started at (a reaped, cancelled or re-run attempt has
// moved the row on: its result is refused, and told apart afterwards).
import type { Knex } from '../../infra/db.js';
import { statusOf, type FinishedRun } from '../taskRun.js';
import type { Statement } from './multiStatement.js';

/**
 * A column's value per row as SQL: one `?` when every row has the same value (a batch's results are
 * mostly alike: SUCCESS, no error), else `CASE ti_id WHEN ? THEN ? … END`.
 */
function perRow(ids: number[], values: unknown[]): { sql: string; bindings: unknown[] } {
  const first = values[0];
  const same = values.every((v) => (v instanceof Date && first instanceof Date ? v.getTime() === first.getTime() : v === first));
  if (same) return { sql: '?', bindings: [first] };
  return { sql: `CASE ti_id ${'WHEN ? THEN ? '.repeat(ids.length)}END`, bindings: ids.flatMap((id, i) => [id, values[i]]) };
}

/**
 * As statements: one UPDATE for the whole batch, each row fenced by its run's version (`(ti_id, version)
 * IN …`), its values picked by id (CASE), then the count it changed (the last statement's `n`). One
 * query block: the same update joined with the results as a derived table (SELECT … UNION ALL …, a block
 * per row for the server to prepare) cost MariaDB about half as much again. The worker sends them in the
 * first round trip of the transaction that also advances their flow instances. `now` is the rows'
 * update_time (and tells our writes apart in writtenOf).
 */
export function finishRunsStatements(items: FinishedRun[], now: Date): Statement[] {
  const ids = items.map((it) => it.run.tiId);
  const status = perRow(ids, items.map((it) => statusOf(it.result)));
  const endTime = perRow(ids, items.map((it) => it.endedAt));
  const output = perRow(ids, items.map((it) => it.result.output));
  const error = perRow(ids, items.map((it) => it.result.error));
  const uncount = perRow(ids, items.map((it) => (it.result.notCounted ? 1 : 0)));
  return [
    {
      sql: `UPDATE task_ins SET exec_status = ${status.sql}, end_time = ${endTime.sql}, output = ${output.sql}, error_msg = ${error.sql},
                   attempt = attempt - ${uncount.sql}, version = version + 1, update_time = ?
             WHERE ti_id IN (?) AND (ti_id, version) IN (?)`,
      bindings: [...status.bindings, ...endTime.bindings, ...output.bindings, ...error.bindings, ...uncount.bindings, now, ids, items.map((it) => [it.run.tiId, it.run.version])],
    },
    // The count, kept in a variable as well: a pass that records these results and decides from its
    // copies (advanceMany.ts) guards on it, so that it writes nothing unless every result was written.
    { sql: 'SET @tsq_results = ROW_COUNT()', bindings: [] },
    { sql: 'SELECT @tsq_results AS n', bindings: [] },
  ];
}

/** The SQL condition that every result of a finishRunsStatements batch of `n` was written. */
export const ALL_RESULTS_WRITTEN = '@tsq_results = ?';

/**
 * Per item of finishRunsStatements, given its results: was it written (false = refused as stale)?
 * All of them when the count says so. Otherwise (rare: a reaper, a cancel or the reconciler moved a row
 * on) the rows are read back: ours are those that hold exactly what we wrote, at the version we wrote.
 */
export async function writtenOf(knex: Knex, items: FinishedRun[], now: Date, results: any[]): Promise<boolean[]> {
  if (Number(results[2]?.[0]?.n) === items.length) return items.map(() => true);
  const rows: { ti_id: number; version: number; exec_status: string; end_time: Date | null; update_time: Date | null }[] = await knex('task_ins')
    .select('ti_id', 'version', 'exec_status', 'end_time', 'update_time')
    .whereIn('ti_id', items.map((it) => it.run.tiId));
  const byId = new Map(rows.map((r) => [r.ti_id, r]));
  return items.map(({ run, result, endedAt }) => {
    const r = byId.get(run.tiId);
    return !!r && r.version === run.version + 1 && r.exec_status === statusOf(result) && r.end_time?.getTime() === endedAt.getTime() && r.update_time?.getTime() === now.getTime();
  });
}
