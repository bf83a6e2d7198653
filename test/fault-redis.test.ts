// Redis faults with real member processes on a redis-server of the test's own (helpers/privateServices.ts):
// SIGKILLed and restarted empty, frozen (SIGSTOP) past every TTL, out of memory (noeviction) for 10 s,
// and frozen while the API is asked for work. MySQL is the run's own database (isolated()). What every
// case must show (issue 9, "Stay up"): every flow ends SUCCESS, no task is recorded SUCCESS twice, no
// member exits; during an outage the API answers 503 at once; after it, the cluster serves again.
import { FAST, type MemberProc } from './helpers/processes.js';
import { privateRedisRig } from './helpers/faultRig.js';
import { createFlow, createTask } from './helpers/flows.js';
import { checkOutcome, midRun, report, rerunCount, sleep, startMany, taskCounts, waitAllEnded } from './helpers/faultRun.js';
import { RunLog, type FinishedRun } from './helpers/runLog.js';
import { waitFor } from './helpers/wait.js';

/** Flows of three 300 ms WAIT steps on two members of 8 slots: ~4 s of work, so a fault lands mid-run. */
const FLOWS = 80;
const STEPS = 3;
const STEP_MS = 300;
const SETTLE_MS = 60_000;
/** An API call that has not answered in this long is hanging (the issue: 503 quickly, never a hang). */
const API_DEADLINE_MS = 6_000;

/** The stdout a SHELL task's output (JSON text) holds, or null. */
function stdoutOf(output: string | null): string | null {
  try {
    return output ? JSON.parse(output).stdout ?? null : null;
  } catch {
    return null;
  }
}

describe('faults: Redis (private redis-server, real member processes)', function () {
  this.timeout(180_000);
  const rig = privateRedisRig();

  /** A web+worker member (it leads: started first) and a worker, on the private Redis. */
  async function twoMembers(tag: string, env: Record<string, string> = {}): Promise<[MemberProc, MemberProc]> {
    const a = await rig.procs.start({ id: `${tag}-a`, roles: 'web,worker', env: { WORKER_CONCURRENCY: '8', ...env } });
    const b = await rig.procs.start({ id: `${tag}-b`, roles: 'worker', env: { WORKER_CONCURRENCY: '8', ...env } });
    return [a, b];
  }

  async function waitFlows(web: MemberProc): Promise<number[]> {
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: STEP_MS });
    const flowId = await createFlow(web.api, Array.from({ length: STEPS }, () => [wait]));
    return startMany(web.api, flowId, FLOWS);
  }

  it('a. SIGKILL mid-run, restarted empty on its port after 1.5 s: every flow ends SUCCESS, nothing twice, no member exits', async () => {
    const [web] = await twoMembers('rk');
    const fiIds = await waitFlows(web);
    const at = await midRun(rig.knex, fiIds, { succeeded: 40, running: 4 });

    const killedAt = Date.now();
    await rig.redis.kill();
    await sleep(1_500); // the outage itself
    await rig.redis.restart();
    const backAt = Date.now();
    const settledAt = await waitAllEnded(rig.knex, fiIds, rig.procs, SETTLE_MS);
    report('Redis SIGKILL + empty restart', { 'at the kill': JSON.stringify(at), 'kill → all settled': settledAt - killedAt, 'Redis back → all settled': settledAt - backAt, 'task instances run more than once': String(await rerunCount(rig.knex, fiIds)) });
    await checkOutcome(rig.knex, fiIds, rig.procs, { tasksPerFlow: STEPS });
  });

  it('b. SIGSTOP for 5.5 s (past the lease, leader, lock and heartbeat TTLs), then SIGCONT: every flow ends SUCCESS, nothing twice, no member exits', async () => {
    const longest = Math.max(Number(FAST.LEASE_MS), Number(FAST.LEADER_TTL_MS), Number(FAST.LOCK_TTL_MS), 3 * Number(FAST.HEARTBEAT_MS));
    const frozenMs = longest + 2_500;
    const [web] = await twoMembers('rs');
    const fiIds = await waitFlows(web);
    const at = await midRun(rig.knex, fiIds, { succeeded: 40, running: 4 });

    const stoppedAt = Date.now();
    rig.redis.signal('SIGSTOP');
    await sleep(frozenMs);
    rig.redis.signal('SIGCONT');
    const backAt = Date.now();
    const settledAt = await waitAllEnded(rig.knex, fiIds, rig.procs, SETTLE_MS);
    report(`Redis SIGSTOP ${frozenMs} ms`, { 'at the stop': JSON.stringify(at), 'stop → all settled': settledAt - stoppedAt, 'SIGCONT → all settled': settledAt - backAt, 'task instances run more than once': String(await rerunCount(rig.knex, fiIds)) });
    await checkOutcome(rig.knex, fiIds, rig.procs, { tasksPerFlow: STEPS });
  });

  it('c. out of memory (maxmemory below used, noeviction) for 10 s, then lifted: every flow ends SUCCESS, nothing twice, no member exits, and no run that finished in the window ran again', async () => {
    // Runs are recorded outside the program (helpers/runLog.ts): SHELL steps, a task of its own per step
    // of each flow, so a key is one task instance, and a start logged after its end is a second run.
    const runLog = new RunLog();
    try {
      const flows = 40;
      const [web] = await twoMembers('ro', { WORKER_CONCURRENCY: '4', SHELL_TASKS_ENABLED: 'true' });
      const keyOf = new Map<number, string>(); // task id → key
      const flowIds = await Promise.all(Array.from({ length: flows }, async (_, f) => {
        const taskIds: number[] = [];
        for (let s = 0; s < STEPS; s++) {
          const key = `f${f}-s${s}`;
          const id = await createTask(web.api, 'SHELL', runLog.command(key, STEP_MS), undefined, key);
          keyOf.set(id, key);
          taskIds.push(id);
        }
        return createFlow(web.api, taskIds.map((id) => [id]));
      }));
      const fiIds = (await Promise.all(flowIds.map((id) => startMany(web.api, id, 1, 1)))).flat();
      const at = await midRun(rig.knex, fiIds, { succeeded: 20, running: 4 });

      // Full for the whole window: the limit is set below what Redis already uses, so every command that
      // may grow memory (and every script calling one) is answered OOM, whatever the members delete.
      // (A limit just above used_memory lets the members' own deletes make room again within
      // milliseconds: tried, 20 OOM replies in 10 s, and most of the work went through.)
      const admin = rig.redis.client();
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      const oomFrom = Date.now();
      await admin.config('SET', 'maxmemory', '1');
      await sleep(10_000);
      await admin.config('SET', 'maxmemory', '0');
      const oomTo = Date.now();
      const oomReplies = Number(/errorstat_OOM:count=(\d+)/.exec(await admin.info('errorstats'))?.[1] ?? 0);
      type Row = { task_id: number; exec_status: string; attempt: number; output: string | null; end_time: Date | null };
      const rowsByKey = async () => {
        const rows: Row[] = await rig.knex('task_ins').select('task_id', 'exec_status', 'attempt', 'output', 'end_time').whereIn('fi_id', fiIds);
        return new Map(rows.map((r) => [keyOf.get(r.task_id)!, r]));
      };
      const atLift = await rowsByKey();
      const settledAt = await waitAllEnded(rig.knex, fiIds, rig.procs, SETTLE_MS);

      // The runs that finished while Redis refused writes, and whether their task instance ran again.
      const runs = runLog.runs();
      const inWindow: FinishedRun[] = [...runs.values()].flatMap((k) => k.ends).filter((r) => r.at >= oomFrom && r.at <= oomTo);
      const startsAfter = (r: FinishedRun) => runs.get(r.key)!.starts.filter((t) => t > r.at);
      const rerun = inWindow.filter((r) => startsAfter(r).length > 0);
      const end = await rowsByKey();
      report('Redis OOM 10 s', {
        'at the start': JSON.stringify(at), 'OOM replies served': String(oomReplies), 'runs finished in the window': String(inWindow.length),
        'of them run again': String(rerun.length), 'of them with attempt > 1': String(inWindow.filter((r) => (end.get(r.key)?.attempt ?? 0) > 1).length),
        'task instances started more than once (whole test)': String([...runs.values()].filter((k) => k.starts.length > 1).length),
        'lifted → all settled': settledAt - oomTo,
      });
      const problems: string[] = [];
      await checkOutcome(rig.knex, fiIds, rig.procs, { tasksPerFlow: STEPS }).catch((e) => problems.push((e as Error).message));
      // The fault really happened and caught runs finishing (else this test proves nothing).
      if (oomReplies === 0) problems.push('Redis never answered OOM: the window did not bite');
      if (inWindow.length < 3) problems.push(`only ${inWindow.length} runs finished inside the OOM window (at least 3 are needed to test anything)`);
      if (rerun.length) {
        problems.push(`${rerun.length} of the ${inWindow.length} runs that finished in the OOM window ran again (their result was not kept), e.g. ` +
          rerun.slice(0, 5).map((r) => `${r.key}: finished at +${r.at - oomFrom} ms, started again at ${startsAfter(r).map((t) => `+${t - oomFrom}`).join(', ')} ms`).join('; '));
      }
      // The row holds that very run: its output, an end time at its end, and no attempt after the window.
      const wrong: string[] = [];
      for (const r of inWindow.filter((x) => !rerun.includes(x))) {
        const row = end.get(r.key);
        const stdout = stdoutOf(row?.output ?? null);
        const endedAt = row?.end_time ? new Date(row.end_time).getTime() : NaN;
        if (!row || row.exec_status !== 'SUCCESS' || stdout !== RunLog.printed(r) || !(endedAt >= r.at - 1_000 && endedAt <= r.at + 5_000) || row.attempt !== atLift.get(r.key)?.attempt) {
          wrong.push(`${r.key}: run ${r.n} ended at +${r.at - oomFrom} ms; row ${JSON.stringify({ status: row?.exec_status, attempt: row?.attempt, attemptAtLift: atLift.get(r.key)?.attempt, stdout, endedAt: endedAt - oomFrom })}`);
        }
      }
      if (wrong.length) problems.push(`task instances whose row does not hold their in-window run: ${wrong.slice(0, 5).join('; ')}`);
      if (problems.length) throw new Error(problems.join('\n'));
    } finally {
      runLog.remove();
    }
  });

  it('g. while Redis is frozen, /readyz and the API calls that need it answer 503 in the envelope at once (a start, committed, answers 200 and runs once Redis is back), and all serves again once it is back', async () => {
    const m = await rig.procs.start({ id: 'ra-web', roles: 'web,worker' });
    const echo = await createTask(m.api, 'ECHO', 'hello');
    const longWait = await createTask(m.api, 'WAIT', null, { waitMs: 60_000 });
    const flowId = await createFlow(m.api, [[longWait]]);
    const [fiId] = await startMany(m.api, flowId, 1, 1);
    await waitFor('the long task to run', async () => (await taskCounts(rig.knex, [fiId])).RUNNING === 1);
    // A client that gives up: a call still unanswered after API_DEADLINE_MS is reported as a hang.
    const api = m.api;
    const timed = async (method: string, path: string) => {
      const t0 = Date.now();
      try {
        const r = await Promise.race([
          api(method, path),
          sleep(API_DEADLINE_MS).then(() => { throw new Error(`${method} ${path} did not answer within ${API_DEADLINE_MS} ms (a hang)`); }),
        ]);
        return { ...r, ms: Date.now() - t0 };
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${m.alive() ? '' : `the member ${m.id} is gone: ${m.output().slice(-3000)}`}`);
      }
    };

    rig.redis.signal('SIGSTOP');
    const stoppedAt = Date.now();
    const problems: string[] = [];
    const figures: Record<string, number> = {};
    // A start is committed in MySQL before Redis is asked to queue it: committed work is never a 503 —
    // it answers 200 and the reconciler queues it once Redis is back (checked below).
    let startedWhileFrozen: number | null = null;
    for (const [method, path] of [['GET', '/readyz'], ['POST', `/exec/task/${echo}`], ['POST', `/exec/flow-ins/${fiId}/cancel`]] as const) {
      try {
        const r = await timed(method, path);
        figures[`${method} ${path}`] = r.ms;
        if (path.startsWith('/exec/task/') && r.status === 200) startedWhileFrozen = r.body.data.tiId;
        else if (r.status !== 503 || r.body?.code !== '503') problems.push(`${method} ${path} answered ${r.status}: ${r.text.slice(0, 300)}`);
        else if (path === '/readyz') {
          if (r.body.data?.redis === 'ok' || r.body.data?.mysql !== 'ok') problems.push(`/readyz says ${JSON.stringify(r.body.data)}`);
        } else if (r.body.data !== null || !/redis/i.test(r.body.message)) problems.push(`${method} ${path}: not the envelope naming Redis: ${r.text.slice(0, 300)}`);
      } catch (e) {
        problems.push((e as Error).message);
      }
    }
    report('Redis frozen: answer times', figures);
    rig.redis.signal('SIGCONT');
    const backAt = Date.now();
    if (!m.alive()) problems.push(`the member exited while Redis was frozen (${m.exitStatus()?.code}): ${m.output().slice(-3000)}`);

    // Back: ready again, and a task started now runs to its end.
    try {
      await waitFor('/readyz 200 after SIGCONT', async () => (await api('GET', '/readyz')).status === 200, 20_000, 100);
      const readyIn = Date.now() - backAt;
      const r = await timed('POST', `/exec/task/${echo}`);
      if (r.status !== 200) throw new Error(`POST /exec/task/${echo} after the outage answered ${r.status}: ${r.text.slice(0, 300)}`);
      const tiId = r.body.data.tiId;
      const done = await waitFor('the task started after the outage to end', async () => {
        const t = await api('GET', `/monitor/task/${tiId}`);
        return ['SUCCESS', 'FAILED', 'CANCELLED'].includes(t.body?.data?.status) ? t.body.data : null;
      }, 20_000, 100);
      if (done.status !== 'SUCCESS') throw new Error(`the task started after the outage ended ${done.status}: ${JSON.stringify(done)}`);
      if (startedWhileFrozen !== null) {
        const frozenStart = await waitFor('the task started while Redis was frozen to end', async () => {
          const t = await api('GET', `/monitor/task/${startedWhileFrozen}`);
          return ['SUCCESS', 'FAILED', 'CANCELLED'].includes(t.body?.data?.status) ? t.body.data : null;
        }, 30_000, 100);
        if (frozenStart.status !== 'SUCCESS') throw new Error(`the task started while Redis was frozen ended ${frozenStart.status}`);
      }
      report('Redis frozen, then back', { 'frozen for': backAt - stoppedAt, 'SIGCONT → /readyz 200': readyIn });
    } catch (e) {
      problems.push(`after Redis came back: ${(e as Error).message}`);
    }
    const dead = rig.procs.unexpectedExits();
    if (dead.length) problems.push(`members exited: ${dead.map((p) => `${p.id}: ${p.output().slice(-2000)}`).join('\n')}`);
    if (problems.length) throw new Error(problems.join('\n'));
  });
});
