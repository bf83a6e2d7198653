// The shape every fault test shares: start many flow instances, wait until they are mid-run, hit the
// cluster with a fault, wait (a poll with a deadline) until every instance has ended, then check what
// the issue asks of every fault: all SUCCESS, no task SUCCESS twice in one node instance, no node
// instance made twice, and no member exited. Failures say what was left and how the members ended.
import type { Knex } from 'knex';
import type { Api } from './member.js';
import { describeExit, type MemberProc, type Processes } from './processes.js';
import { startFlow } from './flows.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Starts `n` instances of a flow through the API, `parallel` requests at a time; returns their ids. */
export async function startMany(api: Api, flowId: number, n: number, parallel = 8): Promise<number[]> {
  const ids: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < n) {
      next += 1;
      ids.push(await startFlow(api, flowId));
    }
  }));
  return ids.sort((a, b) => a - b);
}

/** Task instances of these flow instances by status, e.g. {SUCCESS: 40, RUNNING: 8, PENDING: 12}. */
export async function taskCounts(knex: Knex, fiIds: number[]): Promise<Record<string, number>> {
  const rows: { exec_status: string; n: number }[] = await knex('task_ins').select('exec_status').count('* as n').whereIn('fi_id', fiIds).groupBy('exec_status');
  return Object.fromEntries(rows.map((r) => [r.exec_status, Number(r.n)]));
}

export async function flowCounts(knex: Knex, fiIds: number[]): Promise<Record<string, number>> {
  const rows: { status: string; n: number }[] = await knex('task_flow_ins').select('status').count('* as n').whereIn('fi_id', fiIds).groupBy('status');
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** Task instances that were started more than once (`attempt` counts the runs): for the report. */
export async function rerunCount(knex: Knex, fiIds: number[]): Promise<number> {
  const r = await knex('task_ins').whereIn('fi_id', fiIds).where('attempt', '>', 1).count('* as n').first();
  return Number(r!.n);
}

async function progress(knex: Knex, fiIds: number[]): Promise<string> {
  try {
    return `flow instances ${JSON.stringify(await flowCounts(knex, fiIds))}, task instances ${JSON.stringify(await taskCounts(knex, fiIds))}`;
  } catch (e) {
    return `(progress unknown: ${(e as Error).message})`;
  }
}

function exitReport(procs: MemberProc[]): string {
  return procs.map((p) => `member ${p.id} ${describeExit(p)}; its output ends:\n${p.output().slice(-2500)}`).join('\n');
}

/**
 * Waits until the instances are mid-run: at least `succeeded` task instances ended SUCCESS and at least
 * `running` are RUNNING now, so the fault finds work done, work in hand and work still queued.
 */
export async function midRun(knex: Knex, fiIds: number[], want: { succeeded: number; running: number }, timeoutMs = 30_000): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, number> = {};
  for (;;) {
    last = await taskCounts(knex, fiIds);
    if ((last.SUCCESS ?? 0) >= want.succeeded && (last.RUNNING ?? 0) >= want.running) return last;
    if (Date.now() > deadline) throw new Error(`the flows never got mid-run (${JSON.stringify(want)}) within ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await sleep(20);
  }
}

/**
 * Polls until no instance is RUNNING and returns when that was seen (Date.now()). Errors of the poll
 * itself (the test's own MySQL connection during a MySQL fault) are retried. Gives up at once when no
 * worker member is left alive (nothing could finish them); a member that died while others go on is
 * reported by checkOutcome.
 */
export async function waitAllEnded(knex: Knex, fiIds: number[], procs: Processes, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const open = await knex('task_flow_ins').whereIn('fi_id', fiIds).where('status', 'RUNNING').count('* as n').first();
      if (Number(open!.n) === 0) return Date.now();
    } catch {
      // the test's own connection may be down with the fault; try again
    }
    const workers = procs.procs.filter((p) => p.roles.includes('worker'));
    if (workers.length && workers.every((p) => !p.alive())) {
      throw new Error(`every worker member is gone; the flows cannot end. ${await progress(knex, fiIds)}\n${exitReport(procs.procs)}`);
    }
    if (Date.now() > deadline) {
      const dead = procs.unexpectedExits();
      throw new Error(`not every flow instance ended within ${timeoutMs} ms: ${await progress(knex, fiIds)}` +
        (dead.length ? `\nmembers that exited: ${dead.map((p) => `${p.id} (${describeExit(p)})`).join(', ')}` : ''));
    }
    await sleep(100);
  }
}

/**
 * The checks every fault case makes once its instances have ended. All problems are gathered and
 * reported together (a member that crashed and a flow that failed are both worth knowing).
 */
export async function checkOutcome(knex: Knex, fiIds: number[], procs: Processes, shape: { tasksPerFlow: number }): Promise<void> {
  const problems: string[] = [];
  const notSuccess: { fi_id: number; status: string; error_msg: string | null }[] = await knex('task_flow_ins')
    .select('fi_id', 'status', 'error_msg').whereIn('fi_id', fiIds).whereNot('status', 'SUCCESS').orderBy('fi_id');
  if (notSuccess.length) {
    problems.push(`${notSuccess.length} of ${fiIds.length} flow instances did not end SUCCESS, e.g. ${JSON.stringify(notSuccess.slice(0, 5))}`);
  }
  // No node instance has two SUCCESS task instances of one task (a task recorded SUCCESS twice).
  const twice: { ni_id: number; task_id: number; n: number }[] = await knex('task_ins')
    .select('ni_id', 'task_id').select(knex.raw("SUM(exec_status = 'SUCCESS') AS n"))
    .whereIn('fi_id', fiIds).groupBy('ni_id', 'task_id').havingRaw("SUM(exec_status = 'SUCCESS') > 1");
  if (twice.length) problems.push(`task instances recorded SUCCESS twice in one node instance: ${JSON.stringify(twice.slice(0, 10))}`);
  // No node made twice for one flow instance (a transition made twice would run its tasks twice).
  const nodesTwice: { fi_id: number; node_id: number; n: number }[] = await knex('task_node_ins')
    .select('fi_id', 'node_id').count('* as n').whereIn('fi_id', fiIds).groupBy('fi_id', 'node_id').havingRaw('COUNT(*) > 1');
  if (nodesTwice.length) problems.push(`node instances made twice for one flow instance: ${JSON.stringify(nodesTwice.slice(0, 10))}`);
  // Each flow instance has exactly its tasks' instances, each SUCCESS (nothing lost, nothing extra).
  const tasks = await taskCounts(knex, fiIds);
  const want = { SUCCESS: fiIds.length * shape.tasksPerFlow };
  if (JSON.stringify(tasks) !== JSON.stringify(want)) problems.push(`task instances by status ${JSON.stringify(tasks)}, expected ${JSON.stringify(want)}`);
  const dead = procs.unexpectedExits();
  if (dead.length) problems.push(`members exited during the fault:\n${exitReport(dead)}`);
  if (problems.length) throw new Error(problems.join('\n'));
}

/** One line the lead can copy into the README: what was measured in this fault case. */
export function report(label: string, figures: Record<string, number | string>): void {
  console.log(`    [fault] ${label}: ${Object.entries(figures).map(([k, v]) => `${k} ${typeof v === 'number' ? `${v} ms` : v}`).join(', ')}`);
}
