// Redis losing state, and a member that stalls: real processes, killed, paused and resumed by the test.
// The Redis server is shared (other tests, other people's runs), so "FLUSHALL" is done as what it is for a
// member: every key under this test's prefix deleted at once.
import { expect } from 'chai';
import type { Knex } from 'knex';
import { freshPrefix, testRun } from './helpers/env.js';
import { deleteKeys } from './helpers/hooks.js';
import { Processes, retireFlows, testDb, type MemberProc } from './helpers/processes.js';
import { createFlow, createTask, startFlow } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

/** The JSON log lines of a member with this msg. */
function logLines(p: MemberProc, msg: string): any[] {
  return p.output().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l));
}

describe('cluster: Redis loss and a stalled member (real processes)', function () {
  this.timeout(60_000);
  let knex: Knex;
  let procs: Processes;
  let flows: number[] = [];
  let paused: MemberProc | null = null;

  before(() => { knex = testDb(); });
  after(async () => { await knex.destroy(); });
  beforeEach(() => {
    procs = new Processes(freshPrefix());
    flows = [];
    paused = null;
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
    paused?.kill('SIGCONT');
    await procs.killAll();
    await retireFlows(knex, flows);
  });

  const openCount = async (fiIds: number[]) => Number((await knex('task_flow_ins').whereIn('fi_id', fiIds).where('status', 'RUNNING').count('* as n').first())!.n);

  it("every key of the cluster deleted mid-run (a FLUSHALL for the members): every flow still finishes", async () => {
    const web = await procs.start({ id: 'fl-web', roles: 'web' });
    const small = { WORKER_CONCURRENCY: '4' };
    await Promise.all([procs.start({ id: 'fl-a', roles: 'worker', env: small }), procs.start({ id: 'fl-b', roles: 'worker', env: small })]);
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: 1000 });
    const echo = await createTask(web.api, 'ECHO', 'after');
    const flowId = await createFlow(web.api, [[wait], [echo]]);
    flows.push(flowId);
    const fiIds = await Promise.all(Array.from({ length: 24 }, () => startFlow(web.api, flowId)));
    // Some tasks running (leased in `inflight`), the rest waiting in `ready`.
    await waitFor('tasks running', async () => {
      const r = await knex('task_ins').whereIn('fi_id', fiIds).where('exec_status', 'RUNNING').count('* as n').first();
      return Number(r!.n) >= 4;
    });
    const deleted = await deleteKeys(testRun.redisUrl, procs.prefix);
    expect(deleted).to.be.at.least(3); // ready, inflight and its hashes, the leader lease, heartbeats…

    await waitFor('all 24 flow instances to end', async () => (await openCount(fiIds)) === 0, 45_000, 100);
    const fis = await knex('task_flow_ins').select('status').whereIn('fi_id', fiIds);
    expect(fis.map((f: any) => f.status)).to.deep.equal(Array(24).fill('SUCCESS'));
    const tis = await knex('task_ins').select('fi_id', 'exec_status').whereIn('fi_id', fiIds);
    expect(tis.length, 'two task instances per flow instance, none made twice').to.equal(48);
    expect(tis.every((t: any) => t.exec_status === 'SUCCESS')).to.equal(true);
    // It was the reconciler that brought the work back: some pass requeued or released something.
    const passes = procs.procs.flatMap((p) => logLines(p, 'reconcile pass'));
    expect(passes.some((l) => l.requeued + l.released > 0), JSON.stringify(passes)).to.equal(true);
  });

  it('SIGSTOP a worker mid-task past its lease: the task is reaped and finished elsewhere; after SIGCONT its late result is refused or abandoned', async () => {
    const web = await procs.start({ id: 'st-web', roles: 'web' });
    const [a, b] = await Promise.all([procs.start({ id: 'st-a', roles: 'worker' }), procs.start({ id: 'st-b', roles: 'worker' })]);
    expect(await procs.leader()).to.equal('st-web');
    const wait = await createTask(web.api, 'WAIT', null, { waitMs: 2500, maxRetries: 1, retryBackoffMs: 0 });
    const echo = await createTask(web.api, 'ECHO', 'next');
    const flowId = await createFlow(web.api, [[wait], [echo]]);
    flows.push(flowId);
    const fiId = await startFlow(web.api, flowId);
    const first = await waitFor('the WAIT task to run', async () =>
      knex('task_ins').select('ti_id', 'worker_id', 'version').where({ fi_id: fiId, exec_status: 'RUNNING' }).first());
    const [victim, other] = first.worker_id === a.id ? [a, b] : [b, a];
    victim.kill('SIGSTOP');
    paused = victim;

    // Its lease runs out, the reaper hands the task to the other worker, which finishes it and the flow.
    await waitFor('the flow to end', async () => (await openCount([fiId])) === 0, 30_000, 100);
    const row = async () => knex('task_ins').select('exec_status', 'attempt', 'version', 'worker_id', 'output').where('ti_id', first.ti_id).first();
    const done = await row();
    expect(done).to.deep.equal({ exec_status: 'SUCCESS', attempt: 2, version: first.version + 3, worker_id: other.id, output: 'waited 2500 ms' });

    // Resumed, the paused worker's WAIT is long over: it tries to record its result, and is refused.
    victim.kill('SIGCONT');
    paused = null;
    // Which comes first on waking is a race, and both are right: its lease extension finds the lease gone
    // and abandons the run, or the run ends first and its write is refused by the version fence.
    const refused = await waitFor('the stale result to be refused or abandoned', async () =>
      logLines(victim, 'stale task result refused: the task instance moved on').find((l) => l.tiId === first.ti_id && l.attempt === 1) ??
      logLines(victim, 'leases lost: aborting those runs').find((l) => l.tiIds.includes(first.ti_id)), 15_000, 50);
    expect(refused).to.be.an('object');
    expect(await row()).to.deep.equal(done);
    const fi = await knex('task_flow_ins').select('status').where('fi_id', fiId).first();
    expect(fi.status).to.equal('SUCCESS');
    const nodes = await knex('task_node_ins').select('status').where('fi_id', fiId).orderBy('ni_id');
    expect(nodes.map((n: any) => n.status)).to.deep.equal(['SUCCESS', 'SUCCESS', 'SUCCESS', 'SUCCESS']);
    expect(Number((await knex('task_ins').where('fi_id', fiId).count('* as n').first())!.n)).to.equal(2);
    expect(victim.alive()).to.equal(true);
  });
});
