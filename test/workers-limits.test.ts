// Flow control (issue 18) for WORKER tasks: a task's concurrencyLimit and rateLimit hold for external
// workers too, cluster-wide — two members, worker processes (the TypeScript client) polling either. The
// limits are applied in the external queue's own slot (lua/wqClaim.lua). Timings come from the task
// instances' start and end times (a lease covers [start_time, end_time] and a little more).
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import type { WorkQueue } from '../src/queue/workQueue.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface WorkerProc {
  child: ChildProcess;
  events: Record<string, any>[];
}

function spawnWorker(env: Record<string, string>): WorkerProc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/workerProcess.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
  const events: Record<string, any>[] = [];
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => {
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
  return { child, events };
}

interface TiRow {
  ti_id: number;
  exec_status: string;
  attempt: number;
  worker_id: string | null;
  start_time: Date | null;
  end_time: Date | null;
}

/** Most runs overlapping at any instant, from their start and end times. */
function mostAtOnce(tis: TiRow[]): number {
  const edges = tis.flatMap((t) => [[t.start_time!.getTime(), 1], [t.end_time!.getTime(), -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

describe('flow control for WORKER tasks (external workers, two members)', function () {
  this.timeout(120_000);
  let a: TestMember;
  let b: TestMember;
  const workers: WorkerProc[] = [];

  before(async () => {
    const env = { ...isolated(), REAP_INTERVAL_MS: '200' };
    a = await startTestMember(env);
    b = await startTestMember(env);
  });
  afterEach(() => {
    for (const w of workers.splice(0)) w.child.kill('SIGKILL');
  });
  after(async () => {
    await Promise.all([a?.stop(1000), b?.stop(1000)]);
  });

  const worker = (m: TestMember, queue: string, id: string, concurrency: number) => {
    const w = spawnWorker({ URL: m.url!, QUEUES: queue, WORKER_ID: id, CONCURRENCY: String(concurrency) });
    workers.push(w);
    return w;
  };
  const ready = (ws: WorkerProc[]) => waitFor('the workers ready', async () => ws.every((w) => w.events.some((e) => e.event === 'ready')), 30_000);
  const rows = (fiIds: number[]): Promise<TiRow[]> =>
    a.services.knex('task_ins').select('ti_id', 'exec_status', 'attempt', 'worker_id', 'start_time', 'end_time').whereIn('fi_id', fiIds).orderBy('ti_id');
  const start = async (flowId: number) => {
    const r = await a.api('POST', `/exec/flow/${flowId}`);
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };
  /** Until the queue and both members' enqueues know the task's limits (the leader copies them from MySQL every 2 s). */
  const limitsKnown = (taskId: number) =>
    waitFor(`task ${taskId}'s limits known`, async () => {
      if (!(await a.services.queue.limitedTasks()).has(taskId)) return false;
      // An enqueue reads the table at most a second old: one to refresh it.
      for (const m of [a, b]) await m.services.queue.enqueue([{ tiId: 1e12, queue: 'limits-probe', taskId }]);
      return [a, b].every((m) => (m.services.queue as WorkQueue).cachedLimits(taskId) !== undefined);
    }, 10_000);

  it('concurrencyLimit 2: never 3 leased at once across members and workers, and 2 at once; nothing left behind', async () => {
    const queue = 'lim-c';
    const ws = [worker(a, queue, 'c1', 2), worker(b, queue, 'c2', 2), worker(a, queue, 'c3', 2)];
    await ready(ws);
    const t = await createTask(a.api, 'WORKER', null, { queue, concurrencyLimit: 2, input: { mode: 'sleep', ms: 200 } });
    await limitsKnown(t);
    const flowId = await createFlow(a.api, [{ taskIds: [t, t, t, t], completion: 'ALL' }, { taskIds: [t, t], completion: 'ALL' }]);
    const fiIds = [await start(flowId), await start(flowId)];
    for (const fiId of fiIds) expect((await waitForEnd(a.api, fiId, 30_000)).status).to.equal('SUCCESS');
    const runs = await rows(fiIds);
    expect(runs).to.have.length(12);
    expect(mostAtOnce(runs)).to.equal(2);
    // Several workers took part (the limit, not one worker's capacity, bounded them).
    expect(new Set(runs.map((r) => r.worker_id)).size).to.be.at.least(2);
    const prefix = a.services.config.redisPrefix;
    await waitFor('the slots given back', async () => (await a.services.redis.scard(`${prefix}{wq:${queue}}:{task:${t}}:slots`)) === 0, 5_000);
    expect(await a.services.redis.zcard(`${prefix}{wq:${queue}}:{task:${t}}:waiting`)).to.equal(0);
    const listed = await a.services.redis.hvals(`${prefix}{wq:${queue}}:limited`);
    expect(listed.filter((x) => x === String(t))).to.deep.equal([]);
  });

  it('rateLimit 3 per second: no one-second window holds 4 hand-outs', async () => {
    const queue = 'lim-r';
    const ws = [worker(a, queue, 'r1', 4), worker(b, queue, 'r2', 4)];
    await ready(ws);
    const t = await createTask(a.api, 'WORKER', null, { queue, rateLimit: { max: 3, perMs: 1000 } });
    await limitsKnown(t);
    const flowId = await createFlow(a.api, [{ taskIds: [t, t, t, t, t], completion: 'ALL' }, { taskIds: [t, t], completion: 'ALL' }]);
    const fiIds = [await start(flowId), await start(flowId)];
    for (const fiId of fiIds) expect((await waitForEnd(a.api, fiId, 30_000)).status).to.equal('SUCCESS');
    const starts = (await rows(fiIds)).map((r) => r.start_time!.getTime()).sort((x, y) => x - y);
    expect(starts).to.have.length(14);
    // Counted by the Redis clock at the claim; start_time is written a moment later (the RUNNING mark).
    const SLACK_MS = 100;
    for (let i = 3; i < starts.length; i++) expect(starts[i] - starts[i - 3], `starts ${i - 3}..${i}`).to.be.at.least(1000 - SLACK_MS);
    expect(starts[starts.length - 1] - starts[0]).to.be.at.least(4000 - SLACK_MS);
  });

  it('a worker SIGKILLed holding both slots: the slots come back after the lease, the rest wait meanwhile, all SUCCESS', async () => {
    const queue = 'lim-k';
    const t = await createTask(a.api, 'WORKER', null, { queue, concurrencyLimit: 2, leaseMs: 2000, input: { mode: 'hang-in', worker: 'k1' } });
    await limitsKnown(t);
    const k1 = worker(a, queue, 'k1', 4);
    await ready([k1]);
    const fiId = await start(await createFlow(a.api, [{ taskIds: [t, t, t, t, t], completion: 'ALL' }]));
    await waitFor('k1 holding two', async () => k1.events.filter((e) => e.event === 'holding').length === 2, 20_000);
    // k1 has room for four, but only two are its: the others wait on the limit.
    const prefix = a.services.config.redisPrefix;
    await waitFor('three waiting', async () => (await a.services.redis.zcard(`${prefix}{wq:${queue}}:{task:${t}}:waiting`)) === 3, 5_000);
    expect(k1.events.filter((e) => e.event === 'start')).to.have.length(2);
    k1.child.kill('SIGKILL');
    const k2 = worker(b, queue, 'k2', 4);
    await ready([k2]);
    expect((await waitForEnd(a.api, fiId, 40_000)).status).to.equal('SUCCESS');
    const runs = await rows([fiId]);
    expect(runs.map((r) => r.exec_status)).to.deep.equal(Array(5).fill('SUCCESS'));
    expect(runs.every((r) => r.worker_id === 'k2')).to.equal(true);
    expect(runs.filter((r) => r.attempt === 2)).to.have.length(2); // the two k1 held, delivered again
    expect(mostAtOnce(runs)).to.be.at.most(2);
    await waitFor('the slots given back', async () => (await a.services.redis.scard(`${prefix}{wq:${queue}}:{task:${t}}:slots`)) === 0, 5_000);
  });
});
