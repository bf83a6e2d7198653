// Flow control (issue 18) on two members sharing one database and Redis prefix: priorities, and the
// limits on how much runs at once. Timings come from the task instances' own start and end times.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { CronDuty } from '../src/cluster/cron.js';
import { createLogger } from '../src/infra/logger.js';
import { queueKeys, taskLimitKeys, taskShard } from '../src/redis/keys.js';
import type { WorkQueue } from '../src/queue/workQueue.js';

interface TiRow {
  ti_id: number;
  fi_id: number | null;
  priority: number;
  exec_status: string;
  start_time: Date | null;
  end_time: Date | null;
}

describe('flow control on two members', function () {
  this.timeout(90_000);
  let a: TestMember;
  let b: TestMember;

  before(async () => {
    const env = { ...isolated(), WORKER_CONCURRENCY: '3', SHELL_TASKS_ENABLED: 'true' };
    a = await startTestMember(env);
    b = await startTestMember(env);
  });
  after(async () => {
    await Promise.all([a?.stop(1000), b?.stop(1000)]);
  });

  const rows = (where: (q: any) => any): Promise<TiRow[]> =>
    where(a.services.knex('task_ins').select('ti_id', 'fi_id', 'priority', 'exec_status', 'start_time', 'end_time')).orderBy('ti_id');

  async function start(flowId: number, body?: unknown): Promise<number> {
    const r = await a.api('POST', `/exec/flow/${flowId}`, body);
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId;
  }

  describe('priority', () => {
    it('a start takes a priority 0-9; anything else, or one on a retry, is a 400 naming the field', async () => {
      const echo = await createTask(a.api, 'ECHO', 'x');
      const flowId = await createFlow(a.api, [[echo]]);
      for (const bad of [10, -1, 1.5, '9', null]) {
        const r = await a.api('POST', `/exec/flow/${flowId}`, { priority: bad });
        expect(r.status, JSON.stringify(bad)).to.equal(400);
        expect(r.body.message).to.match(/^priority: must be an integer 0-9/);
        const t = await a.api('POST', `/exec/task/${echo}`, { priority: bad });
        expect(t.status, JSON.stringify(bad)).to.equal(400);
        expect(t.body.message).to.match(/^priority: must be an integer 0-9/);
      }
      const retry = await a.api('POST', `/exec/flow/${flowId}`, { fiId: 1, niId: 1, priority: 3 });
      expect(retry.status).to.equal(400);
      expect(retry.body.message).to.match(/^priority: a retry keeps/);
    });

    it('every task instance of a flow instance carries its priority (continued steps and retries too); the monitor shows it', async () => {
      // Fails its first run (the file is not there yet), succeeds on the retry.
      const flaky = await createTask(a.api, 'SHELL', `test -f /tmp/tsq-prio-${process.pid} || { touch /tmp/tsq-prio-${process.pid}; exit 1; }`, { maxRetries: 2, retryBackoffMs: 10 });
      const echo = await createTask(a.api, 'ECHO', 'x');
      const flowId = await createFlow(a.api, [[echo], [flaky], [echo]]);
      const fiId = await start(flowId, { priority: 7 });
      expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
      const tis = await rows((q) => q.where('fi_id', fiId));
      expect(tis.map((t) => t.priority)).to.deep.equal([7, 7, 7]);
      const detail = (await a.api('POST', `/monitor/flow/detail/${fiId}`)).body.data;
      const shown = detail.flatMap((ni: any) => ni.tasks.map((t: any) => [t.priority, t.attempt]));
      expect(shown).to.deep.include([7, 2]); // the retried one
      expect((await a.api('POST', '/monitor/flow', { fiId })).body.data[0].priority).to.equal(7);
      const single = await a.api('POST', `/exec/task/${echo}`, { priority: 4 });
      expect(single.status).to.equal(200);
      const ti = await waitFor('the single run', async () => {
        const t = (await a.api('GET', `/monitor/task/${single.body.data.tiId}`)).body.data;
        return t.status === 'SUCCESS' ? t : null;
      });
      expect(ti.priority).to.equal(4);
    });

    it('a priority-9 start overtakes a queued backlog of priority 0 (two members, three slots each)', async () => {
      const wait = await createTask(a.api, 'WAIT', null, { waitMs: 300 });
      const flowId = await createFlow(a.api, [[wait]]);
      // Started all at once (one after another, a loaded machine ran most of them before the last start).
      const backlog = await Promise.all(Array.from({ length: 24 }, () => start(flowId)));
      // The slots busy with the backlog, most of it still queued.
      await waitFor('two backlog runs', async () => (await rows((q) => q.whereIn('fi_id', backlog).where('exec_status', 'RUNNING'))).length >= 1);
      const urgent = await start(flowId, { priority: 9 });
      const queuedThen = (await rows((q) => q.whereIn('fi_id', backlog).where('exec_status', 'PENDING'))).map((t) => t.ti_id);
      expect(queuedThen.length).to.be.at.least(6);
      for (const fiId of [...backlog, urgent]) expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
      const [u] = await rows((q) => q.where('fi_id', urgent));
      const later = await rows((q) => q.whereIn('ti_id', queuedThen));
      // Every backlog run still queued when the urgent one was started began after it.
      for (const t of later) expect(t.start_time!.getTime(), `ti ${t.ti_id}`).to.be.at.least(u.start_time!.getTime());
    });
  });

  /** Most runs overlapping at any instant, from their start and end times. */
  function mostAtOnce(tis: TiRow[]): number {
    const edges = tis.flatMap((t) => [[t.start_time!.getTime(), 1], [t.end_time!.getTime(), -1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let now = 0;
    let most = 0;
    for (const [, d] of edges) most = Math.max(most, (now += d));
    return most;
  }

  /**
   * Until the queue and both workers know the task's limits (the leader copies them from MySQL every 2 s,
   * the workers read them every second).
   */
  async function limitsKnown(taskId: number): Promise<void> {
    await waitFor(`task ${taskId}'s limits in the queue and the workers`, async () =>
      (await a.services.queue.limitedTasks()).has(taskId) && a.engine.worker!.limitedTasks.has(taskId) && b.engine.worker!.limitedTasks.has(taskId), 10_000);
  }

  describe('task concurrencyLimit and rateLimit', () => {
    it('are validated at save: a 400 naming the field', async () => {
      for (const [cfg, field] of [
        [{ concurrencyLimit: 0 }, 'taskConfig.concurrencyLimit'],
        [{ concurrencyLimit: 10_001 }, 'taskConfig.concurrencyLimit'],
        [{ concurrencyLimit: 1.5 }, 'taskConfig.concurrencyLimit'],
        [{ rateLimit: { max: 0, perMs: 1000 } }, 'taskConfig.rateLimit.max'],
        [{ rateLimit: { max: 3, perMs: 86_400_001 } }, 'taskConfig.rateLimit.perMs'],
        [{ rateLimit: { max: 3 } }, 'taskConfig.rateLimit.perMs'],
        [{ rateLimit: { max: 3, perMs: 1000, burst: 2 } }, 'taskConfig.rateLimit'],
      ] as const) {
        const r = await a.api('POST', '/task', { taskName: 'limited', taskType: 'ECHO', taskContent: 'x', taskConfig: cfg });
        expect(r.status, JSON.stringify(cfg)).to.equal(400);
        expect(r.body.message, JSON.stringify(cfg)).to.satisfy((m: string) => m.startsWith(`${field}:`) || m.startsWith(`${field}.`));
      }
    });

    it('concurrencyLimit 2: never 3 running at once across both members, and 2 at once (first steps and next steps alike)', async () => {
      const limited = await createTask(a.api, 'WAIT', null, { waitMs: 250, concurrencyLimit: 2 });
      const echo = await createTask(a.api, 'ECHO', 'x');
      await limitsKnown(limited);
      const first = await createFlow(a.api, [{ taskIds: [limited, limited, limited], completion: 'ALL' }]);
      const next = await createFlow(a.api, [[echo], { taskIds: [limited, limited], completion: 'ALL' }]);
      const fiIds = [await start(first), await start(next), await start(first), await start(next)];
      for (const fiId of fiIds) expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
      const runs = await rows((q) => q.whereIn('fi_id', fiIds).where('task_id', limited));
      expect(runs).to.have.length(10);
      expect(mostAtOnce(runs)).to.equal(2);
      // Nothing left behind: every slot given back, no id still listed as limited.
      // (In its task's shard, on a queue of several: TEST_REDIS_CLUSTER=1.)
      const prefix = a.services.config.redisPrefix;
      const shards = (a.services.queue as WorkQueue).shards;
      await waitFor('the slots given back', async () => (await a.services.redis.scard(taskLimitKeys(prefix, limited, shards).slots)) === 0, 5_000);
      const listed = await a.services.redis.hvals(queueKeys(prefix, taskShard(limited, shards), shards).limited);
      expect(listed.filter((t) => t === String(limited))).to.deep.equal([]);
    });

    it('a limit raised at save applies to the waiting work within seconds', async () => {
      const slow = await createTask(a.api, 'WAIT', null, { waitMs: 6000, concurrencyLimit: 1 }, 'slow limited');
      await limitsKnown(slow);
      const fiId = await start(await createFlow(a.api, [{ taskIds: [slow, slow, slow, slow], completion: 'ALL' }]));
      await waitFor('one running, three waiting', async () => (await a.services.queue.limitWaits()).find((w) => w.taskId === slow && w.waiting === 3 && w.running === 1));
      const r = await a.api('POST', '/task', { taskId: slow, taskName: 'slow limited', taskType: 'WAIT', taskConfig: { waitMs: 6000, concurrencyLimit: 4 } });
      expect(r.status, r.text).to.equal(200);
      const saved = Date.now();
      await waitFor('all four running', async () => (await rows((q) => q.where('fi_id', fiId).where('exec_status', 'RUNNING'))).length === 4, 5_000);
      expect(Date.now() - saved).to.be.below(5_000);
      await a.api('POST', `/exec/flow-ins/${fiId}/cancel`);
    });

    it('rateLimit 3 per second: no one-second window holds 4 starts', async () => {
      const rated = await createTask(a.api, 'ECHO', 'x', { rateLimit: { max: 3, perMs: 1000 } });
      await limitsKnown(rated);
      const flowId = await createFlow(a.api, [{ taskIds: [rated, rated, rated, rated, rated], completion: 'ALL' }, { taskIds: [rated, rated], completion: 'ALL' }]);
      const fiIds = [await start(flowId), await start(flowId)];
      for (const fiId of fiIds) expect((await waitForEnd(a.api, fiId, 20_000)).status).to.equal('SUCCESS');
      const starts = (await rows((q) => q.whereIn('fi_id', fiIds))).map((t) => t.start_time!.getTime()).sort((x, y) => x - y);
      expect(starts).to.have.length(14);
      // The limiter counts claims by the Redis clock; a run's start_time is written by its worker a moment
      // later (the RUNNING mark; for a continued run, just before its admission), so a few ms either way.
      const SLACK_MS = 100;
      for (let i = 3; i < starts.length; i++) expect(starts[i] - starts[i - 3], `starts ${i - 3}..${i}`).to.be.at.least(1000 - SLACK_MS);
      // Throttled, not merely spread: 14 starts at 3 per second take at least 4 windows.
      expect(starts[starts.length - 1] - starts[0]).to.be.at.least(4000 - SLACK_MS);
    });
  });

  describe('flow timeoutMs and maxActiveInstances', () => {
    async function flowWith(nodes: Parameters<typeof createFlow>[1], extra: Record<string, unknown>): Promise<number> {
      return createFlow(a.api, nodes, extra);
    }

    it('are validated at save (400 naming the field), and answered by GET /flow only when set', async () => {
      const echo = await createTask(a.api, 'ECHO', 'x');
      for (const [extra, field] of [
        [{ timeoutMs: 999 }, 'timeoutMs'],
        [{ timeoutMs: 604_800_001 }, 'timeoutMs'],
        [{ maxActiveInstances: 0 }, 'maxActiveInstances'],
        [{ maxActiveInstances: 10_001 }, 'maxActiveInstances'],
        [{ overflow: 'DROP' }, 'overflow'],
      ] as const) {
        const r = await a.api('POST', '/flow', { flowName: 'f', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(echo) }, { nodeType: 'END' }], ...extra });
        expect(r.status, JSON.stringify(extra)).to.equal(400);
        expect(r.body.message).to.match(new RegExp(`^${field}: `));
      }
      const plain = (await a.api('GET', `/flow/${await flowWith([[echo]], {})}`)).body.data;
      expect(plain).to.not.have.any.keys('timeoutMs', 'maxActiveInstances', 'overflow');
      const id = await flowWith([[echo]], { timeoutMs: 5000, maxActiveInstances: 2 });
      const f = (await a.api('GET', `/flow/${id}`)).body.data;
      expect([f.timeoutMs, f.maxActiveInstances, f.overflow]).to.deep.equal([5000, 2, 'QUEUE']);
    });

    it('timeoutMs 1000: an instance with a 5 s task is FAILED "flow timed out after 1000 ms" in about a second, its task aborted', async () => {
      const slow = await createTask(a.api, 'WAIT', null, { waitMs: 5000 });
      const flowId = await flowWith([[slow]], { timeoutMs: 1000 });
      const t0 = Date.now();
      const fiId = await start(flowId);
      const end = await waitForEnd(a.api, fiId, 10_000);
      const took = Date.now() - t0;
      expect([end.status, end.errorMsg]).to.deep.equal(['FAILED', 'flow timed out after 1000 ms']);
      expect(took).to.be.within(900, 4000);
      const [ti] = await rows((q) => q.where('fi_id', fiId));
      expect([ti.exec_status]).to.deep.equal(['CANCELLED']);
      // A retry gets a whole timeout again (not failed at once on the old deadline).
      const ni = (await a.api('POST', `/monitor/flow/detail/${fiId}`)).body.data.find((n: any) => n.nodeType === 'TASK');
      const retried = await a.api('POST', `/exec/flow/${flowId}`, { fiId, niId: ni.niId });
      expect(retried.status, retried.text).to.equal(200);
      const t1 = Date.now();
      const again = await waitForEnd(a.api, fiId, 10_000);
      expect([again.status, again.errorMsg]).to.deep.equal(['FAILED', 'flow timed out after 1000 ms']);
      expect(Date.now() - t1).to.be.at.least(800);
    });

    it('maxActiveInstances 2, overflow QUEUE: starts beyond are QUEUED (200 with fiId), start oldest first, never 3 at once; a QUEUED one can be cancelled', async () => {
      const wait = await createTask(a.api, 'WAIT', null, { waitMs: 300 });
      const flowId = await flowWith([[wait]], { maxActiveInstances: 2 });
      const fiIds: number[] = [];
      for (let i = 0; i < 6; i++) fiIds.push(await start(flowId));
      const statuses = await Promise.all(fiIds.map(async (fiId) => (await a.api('POST', '/monitor/flow', { fiId })).body.data[0].status));
      expect(statuses.filter((x) => x === 'QUEUED').length).to.be.at.least(3);
      const queued = await a.api('POST', '/monitor/flow', { flowId, status: 'QUEUED' });
      expect(queued.status).to.equal(200);
      const lastQueued = Math.max(...queued.body.data.map((r: any) => r.fiId));
      const c = await a.api('POST', `/exec/flow-ins/${lastQueued}/cancel`);
      expect(c.status, c.text).to.equal(200);
      const ended = async (fiId: number) => waitFor(`flow instance ${fiId} to end`, async () => {
        const row = (await a.api('POST', '/monitor/flow', { fiId })).body.data[0];
        return ['SUCCESS', 'FAILED', 'CANCELLED'].includes(row.status) ? row : null;
      });
      for (const fiId of fiIds) expect((await ended(fiId)).status, `fi ${fiId}`).to.equal(fiId === lastQueued ? 'CANCELLED' : 'SUCCESS');
      const runs = await rows((q) => q.whereIn('fi_id', fiIds).where('exec_status', 'SUCCESS'));
      expect(runs).to.have.length(5);
      expect(mostAtOnce(runs)).to.equal(2);
      // Oldest first: the QUEUED instances were started (made RUNNING) in the order they were queued. Two
      // started by one pass share a time, and then their tasks race between the members' claims, so the
      // order is read from the flow instances, not from their tasks' start times.
      const started = (await a.services.knex('task_flow_ins').whereIn('fi_id', fiIds).whereNot('fi_id', lastQueued).orderBy('fi_id').select('fi_id', 'start_time')) as { fi_id: number; start_time: Date }[];
      const times = started.map((r) => new Date(r.start_time).getTime());
      expect(times, JSON.stringify(started)).to.deep.equal([...times].sort((x, y) => x - y));
    });

    it('maxActiveInstances 1, overflow SKIP: a start beyond is a 409 naming the limit', async () => {
      const wait = await createTask(a.api, 'WAIT', null, { waitMs: 500 });
      const flowId = await flowWith([[wait]], { maxActiveInstances: 1, overflow: 'SKIP' });
      const first = await start(flowId);
      const r = await a.api('POST', `/exec/flow/${flowId}`);
      expect(r.status).to.equal(409);
      expect(r.body.message).to.equal(`flow ${flowId} has 1 active instances, its maxActiveInstances (1): overflow is SKIP`);
      // A cron tick beyond it is skipped (no instance), and a line says so.
      const lines: { msg: string; flowId?: number }[] = [];
      const log = createLogger('info', {}, [], { write: (l: string) => void lines.push(JSON.parse(l)) });
      const duty = new CronDuty(a.services, a.engine, log, () => true);
      await duty.start();
      try {
        expect(await duty.fire(flowId, new Date(Math.floor(Date.now() / 1000) * 1000))).to.equal('skipped');
      } finally {
        await duty.stop();
      }
      expect(lines.find((l) => l.msg === 'cron tick skipped: the flow is at its maxActiveInstances')).to.deep.include({ flowId });
      expect((await a.services.knex('task_flow_ins').count('* as n').where('flow_id', flowId).first())!.n).to.equal(1);
      expect((await waitForEnd(a.api, first)).status).to.equal('SUCCESS');
      expect((await a.api('POST', `/exec/flow/${flowId}`)).status).to.equal(200);
    });
  });
});
