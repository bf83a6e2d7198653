// External workers as real processes (test/fixtures/workerProcess.ts, the TypeScript client) against
// real member processes: data through WORKER tasks in a chain and a graph; a worker SIGKILLed mid-task
// (delivered again after the lease, the old token refused, one SUCCESS); heartbeats holding a task past
// its lease; cancel and timeout seen by the worker; a member killed while polls wait on it; a worker
// stopped with SIGTERM hands its task back; a task handed over with a complete (next) whose worker is
// SIGKILLed, or whose member is killed before answering, goes back after its lease.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Processes, type MemberProc } from './helpers/processes.js';
import { isolated } from './helpers/env.js';
import { createTask, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { createKnex, type Knex } from '../src/infra/db.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface WorkerProc {
  child: ChildProcess;
  events: Record<string, any>[];
  exited: Promise<unknown>;
  alive(): boolean;
  output(): string;
}

function spawnWorker(env: Record<string, string>): WorkerProc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/workerProcess.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, any>[] = [];
  let out = '';
  let buf = '';
  let done = false;
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    buf += c.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        events.push(JSON.parse(line));
      } catch {
        // not ours
      }
    }
  });
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise((r) => child.once('exit', (code, signal) => {
    done = true;
    r({ code, signal });
  }));
  return { child, events, exited, alive: () => !done, output: () => out };
}

describe('external workers as processes', function () {
  this.timeout(120_000);
  const iso = isolated();
  const procs = new Processes(iso.REDIS_PREFIX, { env: { DATABASE_URL: iso.DATABASE_URL } });
  const workers: WorkerProc[] = [];
  let a: MemberProc;
  let knex: Knex;
  const worker = (url: string, queues: string[], id: string, env: Record<string, string> = {}) => {
    const w = spawnWorker({ URL: url, QUEUES: queues.join(','), WORKER_ID: id, ...env });
    workers.push(w);
    return w;
  };
  const event = (w: WorkerProc, what: string, pred: (e: Record<string, any>) => boolean = () => true) =>
    waitFor(`${what} from a worker`, async () => w.events.find((e) => e.event === what && pred(e)), 30_000);
  const row = async (tiId: number) => (await knex('task_ins').where('ti_id', tiId))[0];
  const flow = async (nodes: Record<string, unknown>[]) => {
    const r = await a.api('POST', '/flow', { flowName: 'w', flowNodes: [{ nodeType: 'START' }, ...nodes, { nodeType: 'END' }] });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.flowId as number;
  };
  const start = async (flowId: number, input: unknown = {}) => (await a.api('POST', `/exec/flow/${flowId}`, { input })).body.data.fiId as number;

  before(async () => {
    a = await procs.start({ id: 'a', roles: 'web,worker' });
    knex = createKnex(iso.DATABASE_URL, 2);
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      console.log(procs.dump());
      for (const w of workers) console.log(`--- worker ---\n${w.output().slice(-3000)}`);
    }
  });
  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await procs.killAll();
    await knex?.destroy();
  });

  it('runs data through WORKER tasks in a chain and a graph, worked by two worker processes', async () => {
    const q = 'chain';
    const w1 = worker(a.url!, [q], 'w1', { CONCURRENCY: '2' });
    const w2 = worker(a.url!, [q], 'w2', { CONCURRENCY: '2' });
    await Promise.all([event(w1, 'ready'), event(w2, 'ready')]);
    const t1 = await createTask(a.api, 'WORKER', '${input.n}', { queue: q, input: { n: '${input.n}' } });
    const t2 = await createTask(a.api, 'WORKER', null, { queue: q, input: { prev: '${nodes.a.output.got.n}' } });
    const t3 = await createTask(a.api, 'WORKER', null, { queue: q, input: { left: '${nodes.b.output.got.prev}', right: '${nodes.c.output.got.prev}' } });
    const chain = await flow([
      { nodeType: 'TASK', nodeKey: 'a', taskIds: String(t1) },
      { nodeType: 'TASK', nodeKey: 'b', taskIds: String(t2) },
    ]);
    const graph = await flow([
      { nodeType: 'TASK', nodeKey: 'a', taskIds: String(t1) },
      { nodeType: 'TASK', nodeKey: 'b', taskIds: String(t2), prevNodes: ['a'] },
      { nodeType: 'TASK', nodeKey: 'c', taskIds: String(t2), prevNodes: ['a'] },
      { nodeType: 'TASK', nodeKey: 'd', taskIds: String(t3), prevNodes: ['b', 'c'] },
    ]);
    const fis = await Promise.all([...Array.from({ length: 6 }, (_, i) => start(chain, { n: `c${i}` })), ...Array.from({ length: 4 }, (_, i) => start(graph, { n: `g${i}` }))]);
    for (const fi of fis) expect((await waitForEnd(a.api, fi, 60_000)).status).to.equal('SUCCESS');
    for (const [i, fi] of fis.slice(6).entries()) {
      const [d] = await knex('task_ins').where({ fi_id: fi, task_id: t3 });
      expect(JSON.parse(d.output).got).to.deep.equal({ left: `g${i}`, right: `g${i}` });
      expect(['w1', 'w2']).to.include(d.worker_id);
    }
    const byWorker = await knex('task_ins').whereIn('fi_id', fis).groupBy('worker_id').select('worker_id').count({ n: '*' });
    expect(byWorker.map((r: any) => r.worker_id).sort()).to.deep.equal(['w1', 'w2']);
    w1.child.kill('SIGKILL');
    w2.child.kill('SIGKILL');
  });

  it('a worker SIGKILLed mid-task: delivered again after the lease, the old token refused, one SUCCESS', async () => {
    const q = 'kill';
    const ws = [worker(a.url!, [q], 'k1'), worker(a.url!, [q], 'k2')];
    await Promise.all(ws.map((w) => event(w, 'ready')));
    const t = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 2000, input: { mode: 'hang-first' } });
    const fi = await start(await flow([{ nodeType: 'TASK', taskIds: String(t) }]));
    const held = await waitFor('a worker holding the task', async () => ws.find((w) => w.events.some((e) => e.event === 'holding')), 30_000);
    const { tiId, leaseToken } = held.events.find((e) => e.event === 'holding')!;
    const survivor = ws.find((w) => w !== held)!;
    held.child.kill('SIGKILL');
    const killedAt = Date.now();
    expect((await waitForEnd(a.api, fi, 30_000)).status).to.equal('SUCCESS');
    const redelivered = survivor.events.find((e) => e.event === 'start' && e.tiId === tiId)!;
    expect(redelivered.attempt).to.equal(2);
    expect(redelivered.leaseToken).not.to.equal(leaseToken);
    expect(Date.now() - killedAt).to.be.below(20_000);
    const r = await row(tiId);
    expect(r).to.include({ exec_status: 'SUCCESS', attempt: 2, lost_attempts: 1, worker_id: survivor === ws[0] ? 'k1' : 'k2' });
    expect(JSON.parse(r.output)).to.include({ attempt: 2 });
    const late = await a.api('POST', '/worker/complete', { tiId, leaseToken, output: 'late' });
    expect(late.status, late.text).to.equal(409);
    expect((await a.api('POST', '/worker/heartbeat', { tiId, leaseToken })).status).to.equal(409);
    expect((await row(tiId)).output).to.equal(r.output);
    expect(await knex('task_ins').where({ fi_id: fi, exec_status: 'SUCCESS' }).count({ n: '*' })).to.deep.equal([{ n: 1 }]);
    survivor.child.kill('SIGKILL');
  });

  it('heartbeats hold a task past its lease; cancel and timeout reach the worker (409 on a heartbeat)', async () => {
    const q = 'hold';
    const w = worker(a.url!, [q], 'h1', { CONCURRENCY: '3' });
    await event(w, 'ready');
    const long = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000, input: { mode: 'sleep', ms: 3500 } });
    const held = (await a.api('POST', `/exec/task/${long}`)).body.data.tiId;
    const abortable = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000, input: { mode: 'wait-abort' } });
    const fi = await start(await flow([{ nodeType: 'TASK', taskIds: String(abortable) }]));
    const slow = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000, timeoutMs: 1500, input: { mode: 'wait-abort' } });
    const timed = (await a.api('POST', `/exec/task/${slow}`)).body.data.tiId;
    const cancelStart = await event(w, 'start', (e) => e.tiId !== held && e.tiId !== timed);
    expect((await a.api('POST', `/exec/flow-ins/${fi}/cancel`)).status).to.equal(200);
    const aborted = await event(w, 'aborted', (e) => e.tiId === cancelStart.tiId);
    expect(aborted.reason).to.match(/CANCELLED/);
    const timedOut = await event(w, 'aborted', (e) => e.tiId === timed);
    expect(timedOut.reason).to.match(/timed out after 1500 ms/);
    expect(await row(timed)).to.include({ exec_status: 'FAILED', error_msg: 'timed out after 1500 ms' });
    await waitFor('the long task done', async () => (await row(held)).exec_status === 'SUCCESS', 20_000);
    expect(await row(held)).to.include({ attempt: 1, lost_attempts: 0 });
    w.child.kill('SIGKILL');
  });

  it('a member killed while polls wait on it leases nothing to nobody; its worker carries on with backoff', async () => {
    const q = 'dead';
    const c = await procs.start({ id: 'c', roles: 'web' });
    const onDead = worker(c.url!, [q], 'd1');
    await event(onDead, 'ready');
    await new Promise((r) => setTimeout(r, 500)); // its first poll waits on c
    c.kill('SIGKILL');
    await c.exited;
    const onLive = worker(a.url!, [q], 'd2');
    await event(onLive, 'ready');
    const t = await createTask(a.api, 'WORKER', null, { queue: q });
    const tiId = (await a.api('POST', `/exec/task/${t}`)).body.data.tiId;
    const t0 = Date.now();
    await waitFor('the task done', async () => (await row(tiId)).exec_status === 'SUCCESS', 20_000);
    expect(Date.now() - t0).to.be.below(10_000); // far less than a lease (30 s)
    expect(await row(tiId)).to.include({ worker_id: 'd2', attempt: 1, lost_attempts: 0 });
    await event(onDead, 'error');
    expect(onDead.alive()).to.equal(true);
    onDead.child.kill('SIGKILL');
    onLive.child.kill('SIGKILL');
  });

  it('a member killed between claiming a task for a poll and answering: handed out again within about its lease, one SUCCESS', async () => {
    const q = 'held';
    // Member h holds its answer to a poll handing out a task named "held" (marked RUNNING, not answered).
    const h = await procs.start({ id: 'h', roles: 'web', env: { TASK_SCHEDULE_TEST_HOLD_POLL_ANSWER: 'held:120000' } });
    const onH = worker(h.url!, [q], 'h1');
    await event(onH, 'ready');
    // A first task on the queue: h learns the queue's leaseMs (1 s).
    const warm = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000 }, 'warm');
    const warmTi = (await a.api('POST', `/exec/task/${warm}`)).body.data.tiId;
    await waitFor('the first task done', async () => (await row(warmTi)).exec_status === 'SUCCESS', 20_000);
    const t = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000 }, 'held');
    const tiId = (await a.api('POST', `/exec/task/${t}`)).body.data.tiId;
    await waitFor('the task RUNNING for h1, its answer held', async () => (await row(tiId)).worker_id === 'h1', 20_000);
    h.kill('SIGKILL');
    await h.exited;
    const killedAt = Date.now();
    const onA = worker(a.url!, [q], 'h2');
    await waitFor('the task done by h2', async () => (await row(tiId)).exec_status === 'SUCCESS', 20_000);
    // The provisional lease was the task's 1 s, not 10 s: back within about a lease (plus reaper and poll).
    expect(Date.now() - killedAt).to.be.below(6_000);
    expect(await row(tiId)).to.include({ worker_id: 'h2', attempt: 2, lost_attempts: 1 });
    expect(onH.events.some((e) => e.event === 'start' && e.tiId === tiId)).to.equal(false);
    expect(await knex('task_ins').where({ task_id: t, exec_status: 'SUCCESS' }).count({ n: '*' })).to.deep.equal([{ n: 1 }]);
    onA.child.kill('SIGKILL');
    onH.child.kill('SIGKILL');
  });

  const handedOver = async (queue: string, m: MemberProc = a) => {
    const hit = new RegExp(`task_schedule_worker_tasks_handed_over_total\\{queue="${queue}"\\} (\\d+)`).exec((await m.api('GET', '/metrics')).text);
    return hit ? Number(hit[1]) : 0;
  };

  it('a worker SIGKILLed holding a task handed over with its complete (next): delivered again after the lease, the old token refused', async () => {
    const q = 'next-kill';
    const w1 = worker(a.url!, [q], 'n1');
    await event(w1, 'ready');
    const first = await createTask(a.api, 'WORKER', null, { queue: q });
    const second = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000, input: { mode: 'hang-first' } });
    const fi = await start(await flow([{ nodeType: 'TASK', nodeKey: 'a', taskIds: String(first) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(second) }]));
    const held = await event(w1, 'holding');
    // It came in the answer to the complete of the step before, not from a poll.
    expect(await handedOver(q)).to.equal(1);
    expect(await row(held.tiId)).to.include({ exec_status: 'RUNNING', worker_id: 'n1', lease_token: held.leaseToken, attempt: 1 });
    w1.child.kill('SIGKILL');
    const w2 = worker(a.url!, [q], 'n2');
    expect((await waitForEnd(a.api, fi, 30_000)).status).to.equal('SUCCESS');
    expect(w2.events.find((e) => e.event === 'start' && e.tiId === held.tiId)).to.include({ attempt: 2 });
    expect(await row(held.tiId)).to.include({ exec_status: 'SUCCESS', attempt: 2, lost_attempts: 1, worker_id: 'n2' });
    expect((await a.api('POST', '/worker/heartbeat', { tiId: held.tiId, leaseToken: held.leaseToken })).status).to.equal(409);
    w2.child.kill('SIGKILL');
  });

  it('a member killed after the commit that hands a task over, before answering: the task goes back within about its lease, one SUCCESS', async () => {
    const q = 'next-held';
    // Member h holds its answer to a complete handing over a task named "held" (RUNNING, leased, not answered).
    const h = await procs.start({ id: 'h2', roles: 'web', env: { TASK_SCHEDULE_TEST_HOLD_POLL_ANSWER: 'held:120000' } });
    const onH = worker(h.url!, [q], 'm1');
    await event(onH, 'ready');
    const first = await createTask(a.api, 'WORKER', null, { queue: q }, 'first');
    const t = await createTask(a.api, 'WORKER', null, { queue: q, leaseMs: 1000 }, 'held');
    const fi = await start(await flow([{ nodeType: 'TASK', nodeKey: 'a', taskIds: String(first) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(t) }]));
    const [b] = await waitFor('the next task RUNNING for m1, its answer held', async () => {
      const rows = await knex('task_ins').where({ fi_id: fi, task_id: t, exec_status: 'RUNNING', worker_id: 'm1' });
      return rows.length ? rows : null;
    }, 20_000);
    await waitFor('h counting it handed over', async () => (await handedOver(q, h)) === 1);
    h.kill('SIGKILL');
    await h.exited;
    const killedAt = Date.now();
    const onA = worker(a.url!, [q], 'm2');
    expect((await waitForEnd(a.api, fi, 20_000)).status).to.equal('SUCCESS');
    expect(Date.now() - killedAt).to.be.below(10_000);
    expect(await row(b.ti_id)).to.include({ exec_status: 'SUCCESS', worker_id: 'm2', attempt: 2, lost_attempts: 1 });
    expect(onH.events.some((e) => e.event === 'start' && e.tiId === b.ti_id)).to.equal(false);
    onA.child.kill('SIGKILL');
    onH.child.kill('SIGKILL');
  });

  it('a worker stopped with SIGTERM hands a task it cannot finish back: run again at once, not counted', async () => {
    const q = 'term';
    const w = worker(a.url!, [q], 's1', { GRACE_MS: '300' });
    await event(w, 'ready');
    const t = await createTask(a.api, 'WORKER', null, { queue: q, input: { mode: 'wait-abort' } });
    const tiId = (await a.api('POST', `/exec/task/${t}`)).body.data.tiId;
    await event(w, 'start', (e) => e.tiId === tiId);
    w.child.kill('SIGTERM');
    await event(w, 'stopped');
    const r = await row(tiId);
    expect(r).to.include({ exec_status: 'PENDING', attempt: 0, error_msg: 'handed back by its worker' });
  });
});
