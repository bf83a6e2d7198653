// Losing a member for good: a worker, then the leader, each SIGKILLed mid-run by the test. Real
// processes (a web-only member for the API, worker-only members), short leases and TTLs (helpers/processes.ts).
import { expect } from 'chai';
import type { Knex } from 'knex';
import { freshPrefix } from './helpers/env.js';
import { FAST, Processes, retireFlows, testDb } from './helpers/processes.js';
import { createFlow, createTask, startFlow } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

const TTL = Number(FAST.LEADER_TTL_MS);

describe('cluster: failover (real processes)', function () {
  this.timeout(60_000);
  let knex: Knex;
  let procs: Processes;
  let flows: number[] = [];

  before(() => { knex = testDb(); });
  after(async () => { await knex.destroy(); });
  beforeEach(() => {
    procs = new Processes(freshPrefix());
    flows = [];
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
    await procs.killAll();
    await retireFlows(knex, flows);
  });

  it('SIGKILL a worker while 40 flows WAIT: every flow ends SUCCESS, its held tasks run again once, fenced', async () => {
    const web = await procs.start({ id: 'kw-web', roles: 'web' });
    const [a, b] = await Promise.all([procs.start({ id: 'kw-a', roles: 'worker' }), procs.start({ id: 'kw-b', roles: 'worker' })]);
    expect(await procs.leader()).to.equal('kw-web');
    // No maxRetries: a run lost with its worker is put back all the same (WORKER_LOST_RETRIES).
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: 1500 });
    const flowId = await createFlow(web.api, [[wait]]);
    flows.push(flowId);
    const fiIds = await Promise.all(Array.from({ length: 40 }, () => startFlow(web.api, flowId)));

    // Kill whichever worker holds the most tasks, once it holds a few.
    const running = async () => {
      const rows: { worker_id: string; n: number }[] = await knex('task_ins').select('worker_id').count('* as n').whereIn('fi_id', fiIds).where('exec_status', 'RUNNING').groupBy('worker_id');
      return new Map(rows.map((r) => [r.worker_id, Number(r.n)]));
    };
    const byWorker = await waitFor('tasks RUNNING on the workers', async () => {
      const m = await running();
      return Math.max(m.get('kw-a') ?? 0, m.get('kw-b') ?? 0) >= 4 ? m : null;
    });
    const [victim, survivor] = (byWorker.get('kw-a') ?? 0) >= (byWorker.get('kw-b') ?? 0) ? [a, b] : [b, a];
    victim.kill('SIGKILL');
    await victim.exited;
    // What the dead worker held: rows it left RUNNING (nobody else writes them until the reaper does).
    const held: number[] = (await knex('task_ins').select('ti_id').whereIn('fi_id', fiIds).where({ exec_status: 'RUNNING', worker_id: victim.id })).map((r: any) => r.ti_id);
    expect(held.length).to.be.at.least(1);

    await waitFor('all 40 flow instances to end', async () => {
      const open = await knex('task_flow_ins').whereIn('fi_id', fiIds).where('status', 'RUNNING').count('* as n').first();
      return Number(open!.n) === 0;
    }, 40_000, 100);
    const fis = await knex('task_flow_ins').select('fi_id', 'status').whereIn('fi_id', fiIds);
    expect(fis.filter((f: any) => f.status !== 'SUCCESS')).to.deep.equal([]);

    const tis = await knex('task_ins').select('ti_id', 'fi_id', 'exec_status', 'attempt', 'version', 'worker_id', 'output').whereIn('fi_id', fiIds);
    expect(tis.length, 'one task instance per flow instance').to.equal(40);
    for (const t of tis) {
      expect(t.exec_status).to.equal('SUCCESS');
      expect(t.output).to.equal('waited 1500 ms');
      if (held.includes(t.ti_id)) {
        // started (v1), reaped (v2), started again (v3), recorded once (v4) — by the survivor.
        expect([t.attempt, t.version, t.worker_id], `held task ${t.ti_id}`).to.deep.equal([2, 4, survivor.id]);
      } else {
        // started and recorded once, nothing else
        expect([t.attempt, t.version], `task ${t.ti_id}`).to.deep.equal([1, 2]);
      }
    }
    const nodes = await knex('task_node_ins').select('fi_id', 'status').whereIn('fi_id', fiIds);
    expect(nodes.length, 'START, TASK, END per instance').to.equal(120);
    expect(nodes.every((n: any) => n.status === 'SUCCESS')).to.equal(true);
    expect(web.output()).to.match(/"msg":"reaped expired worker leases"/);
  });

  it('SIGTERM the leading worker mid-task: it hands the task back within its grace, gives up the lease at once and exits 0', async () => {
    const grace = 1_000;
    const x = await procs.start({ id: 'gt-x', roles: 'worker', env: { SHUTDOWN_GRACE_MS: String(grace) } });
    await waitFor('gt-x to lead', async () => (await procs.leader()) === 'gt-x', 10_000);
    const web = await procs.start({ id: 'gt-web', roles: 'web' });
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: 4_000 });
    const flowId = await createFlow(web.api, [[wait]]);
    flows.push(flowId);
    const fiId = await startFlow(web.api, flowId);
    await waitFor('the task to run on gt-x', async () => knex('task_ins').where({ fi_id: fiId, exec_status: 'RUNNING', worker_id: 'gt-x' }).first());

    const t0 = Date.now();
    x.kill('SIGTERM');
    const { code } = await x.exited;
    const took = Date.now() - t0;
    expect(code, x.output().slice(-3000)).to.equal(0);
    expect(took).to.be.within(grace, grace + 5_000);
    // Handed back, not failed, and not counted: its only attempt was interrupted by the shutdown, not by the task.
    const row = await knex('task_ins').select('exec_status', 'attempt').where('fi_id', fiId).first();
    expect(row).to.deep.equal({ exec_status: 'PENDING', attempt: 0 });
    // The lease was released, not left to expire: the web member leads within one try (TTL/3), not a TTL.
    await waitFor('gt-web to lead', async () => (await procs.leader()) === 'gt-web', TTL, 20);
    // Another worker picks the task up and the flow ends.
    await procs.start({ id: 'gt-y', roles: 'worker' });
    await waitFor('the flow to end', async () => (await knex('task_flow_ins').select('status').where('fi_id', fiId).first()).status !== 'RUNNING', 20_000, 100);
    expect(await knex('task_ins').select('exec_status', 'attempt', 'worker_id').where('fi_id', fiId).first()).to.deep.equal({ exec_status: 'SUCCESS', attempt: 1, worker_id: 'gt-y' });
  });

  it('SIGKILL the leader: another leads within 2 × TTL and a per-second cron fires once per tick across the change', async () => {
    const first = await procs.start({ id: 'kl-1', roles: 'worker' });
    await waitFor('kl-1 to lead', async () => (await procs.leader()) === 'kl-1', 10_000);
    const [web] = await Promise.all([procs.start({ id: 'kl-web', roles: 'web' }), procs.start({ id: 'kl-2', roles: 'worker' })]);
    const echo = await createTask(web.api, 'ECHO', 'tick');
    const flowId = await createFlow(web.api, [[echo]], { cron: '* * * * * *', cronEnabled: true });
    flows.push(flowId);
    const ticks = async (after = 0): Promise<number[]> =>
      (await knex('task_flow_ins').select('scheduled_time').where('flow_id', flowId).where('scheduled_time', '>', new Date(after)).orderBy('scheduled_time'))
        .map((r: any) => new Date(r.scheduled_time).getTime());
    await waitFor('three cron ticks under the first leader', async () => (await ticks()).length >= 3, 15_000, 100);

    const killedAt = Date.now();
    first.kill('SIGKILL');
    await first.exited;
    const next = await waitFor('a new leader', async () => {
      const id = await procs.leader();
      return id && id !== 'kl-1' ? id : null;
    }, 10_000, 20);
    const electedIn = Date.now() - killedAt;
    expect(electedIn, `new leader ${next} after ${electedIn} ms`).to.be.below(2 * TTL + 1_000);
    const electedAt = Date.now();
    await waitFor('three ticks under the new leader', async () => (await ticks(electedAt)).length >= 3, 15_000, 100);
    await knex('task_flow').where('flow_id', flowId).update({ cron_enabled: false });

    const rows = await knex('task_flow_ins').select('scheduled_time', 'trigger_type').where('flow_id', flowId);
    expect(rows.every((r: any) => r.trigger_type === 'CRON')).to.equal(true);
    const times = rows.map((r: any) => new Date(r.scheduled_time).getTime()).sort((x: number, y: number) => x - y);
    // Once per tick: whole seconds, never two instances for one tick (the unique key (flow, scheduled_time)).
    expect(times.every((t: number) => t % 1000 === 0)).to.equal(true);
    expect(new Set(times).size).to.equal(times.length);
    // Ticks go on across the change; the gap is at most the election (≤ 2 × TTL) plus a tick, with slack for a busy machine.
    const gaps = times.slice(1).map((t: number, i: number) => t - times[i]);
    expect(Math.max(...gaps), `gaps ${gaps.join(',')}`).to.be.at.most(2 * TTL + 2_000);
    expect(times.filter((t: number) => t < killedAt).length).to.be.at.least(3);
    expect(times.filter((t: number) => t > electedAt).length).to.be.at.least(3);
  });
});
