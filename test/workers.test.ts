// External workers (issue 17), against a real member: the WORKER task type and its validation, the
// protocol (poll, heartbeat, complete, fail) driven over HTTP as any worker would, data through WORKER
// tasks in a chain and a graph, leases that run out, cancel and timeout reaching the worker as 409, a
// client that goes away mid-poll, bad input naming the field, and the token kinds.
import { expect } from 'chai';
import http from 'node:http';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, flowRow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { Worker } from '../src/client/worker.js';
import { workerApi } from './helpers/workerApi.js';

const START = { nodeType: 'START' };
const END = { nodeType: 'END' };

describe('external workers (WORKER tasks)', function () {
  this.timeout(60_000);
  let m: TestMember;
  before(async () => {
    m = await startTestMember({ ...isolated(), REAP_INTERVAL_MS: '200', ROLES: 'web,worker' });
  });
  after(async () => {
    await m.stop(1000);
  });

  const { poll, call } = workerApi(() => m);
  const row = async (tiId: number) => (await m.services.knex('task_ins').where('ti_id', tiId))[0];
  const q = () => `q${Math.random().toString(36).slice(2, 8)}`;
  const flowOf = async (nodes: Record<string, unknown>[]) => {
    const r = await m.api('POST', '/flow', { flowName: 'workers', flowNodes: [START, ...nodes, END] });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.flowId as number;
  };
  const start = async (flowId: number, input?: unknown) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, input === undefined ? undefined : { input });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };

  describe('the task type', () => {
    it('saves a WORKER task and refuses a bad config, naming the field', async () => {
      const ok = await m.api('POST', '/task', { taskName: 'w', taskType: 'WORKER', taskConfig: { queue: 'resize.v1:a-b_c', input: { a: [1, '${input.x}'] }, leaseMs: 5000, maxRetries: 1 } });
      expect(ok.status, ok.text).to.equal(200);
      expect(ok.body.data.taskConfig).to.deep.equal({ queue: 'resize.v1:a-b_c', input: { a: [1, '${input.x}'] }, leaseMs: 5000, maxRetries: 1 });
      const bad = async (taskConfig: unknown, field: string) => {
        const r = await m.api('POST', '/task', { taskName: 'w', taskType: 'WORKER', taskConfig });
        expect(r.status, r.text).to.equal(400);
        expect(r.body.message).to.match(new RegExp(`^${field.replace(/[.[\]]/g, '\\$&')}: `));
      };
      await bad({}, 'taskConfig.queue');
      await bad({ queue: 'has space' }, 'taskConfig.queue');
      await bad({ queue: 'x'.repeat(129) }, 'taskConfig.queue');
      await bad({ queue: 'a', leaseMs: 999 }, 'taskConfig.leaseMs');
      await bad({ queue: 'a', leaseMs: 3_600_001 }, 'taskConfig.leaseMs');
      await bad({ queue: 'a', waitMs: 3 }, 'taskConfig');
    });
  });

  describe('the protocol', () => {
    it('runs data through WORKER tasks in a chain: input and content rendered, output walked into by the next node', async () => {
      const queue = q();
      const a = await createTask(m.api, 'WORKER', 'hello ${input.name}', { queue, input: { name: '${input.name}', n: 2, list: ['${input.name}!'] } });
      const b = await createTask(m.api, 'WORKER', null, { queue, input: { width: '${nodes.a.output.size.w}', whole: '${nodes.a.output}' } });
      const flowId = await flowOf([{ nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(b) }]);
      const fiId = await start(flowId, { name: 'Ada' });
      const [t1] = await poll([queue]);
      expect(t1).to.include({ queue, taskId: a, fiId, nodeKey: 'a', attempt: 1, leaseMs: 30000, content: 'hello Ada' });
      expect(t1.input).to.deep.equal({ name: 'Ada', n: 2, list: ['Ada!'] });
      expect(t1.leaseToken).to.be.a('string');
      expect(await row(t1.tiId)).to.include({ exec_status: 'RUNNING', worker_id: 'w-1', lease_token: t1.leaseToken });
      const hb = await call('/worker/heartbeat', { tiId: t1.tiId, leaseToken: t1.leaseToken });
      expect(hb.status, hb.text).to.equal(200);
      expect(hb.body.data).to.deep.equal({ leaseMs: 30000 });
      const c = await call('/worker/complete', { tiId: t1.tiId, leaseToken: t1.leaseToken, output: { size: { w: 640, h: 480 } } });
      expect(c.status, c.text).to.equal(200);
      const [t2] = await poll([queue]);
      expect(t2).to.include({ taskId: b, nodeKey: 'b', content: null });
      expect(t2.input).to.deep.equal({ width: '640', whole: '{"size":{"w":640,"h":480}}' });
      expect((await call('/worker/complete', { tiId: t2.tiId, leaseToken: t2.leaseToken, output: 'done' })).status).to.equal(200);
      const fi = await waitForEnd(m.api, fiId);
      expect(fi.status).to.equal('SUCCESS');
      // The same complete again: 200, nothing changes.
      const before = await row(t2.tiId);
      const again = await call('/worker/complete', { tiId: t2.tiId, leaseToken: t2.leaseToken, output: 'other' });
      expect(again.status, again.text).to.equal(200);
      expect(await row(t2.tiId)).to.deep.equal(before);
      expect(before.output).to.equal('"done"');
      // Another token: 409, nothing recorded.
      const other = await call('/worker/complete', { tiId: t2.tiId, leaseToken: 'nope', output: 'x' });
      expect(other.status, other.text).to.equal(409);
      expect(await row(t2.tiId)).to.deep.equal(before);
    });

    it('runs WORKER tasks side by side in a graph and joins them; the members never run them', async () => {
      const queue = q();
      const w = await createTask(m.api, 'WORKER', null, { queue, input: { who: '${input.who}' } });
      const first = await createTask(m.api, 'ECHO', 'first');
      const echo = await createTask(m.api, 'ECHO', 'joined ${nodes.b.output.v} ${nodes.c.output.v}');
      const flowId = await flowOf([
        { nodeType: 'TASK', nodeKey: 'a', taskIds: String(first) },
        { nodeType: 'TASK', nodeKey: 'b', taskIds: String(w), prevNodes: ['a'] },
        { nodeType: 'TASK', nodeKey: 'c', taskIds: String(w), prevNodes: ['a'] },
        { nodeType: 'TASK', nodeKey: 'd', taskIds: String(echo), prevNodes: ['b', 'c'] },
      ]);
      const fiId = await start(flowId, { who: 'x' });
      const got: any[] = [];
      await waitFor('both branches leased', async () => {
        got.push(...(await poll([queue], { max: 10, waitMs: 1000 })));
        return got.length >= 2;
      });
      expect(got.map((t) => t.nodeKey).sort()).to.deep.equal(['b', 'c']);
      for (const t of got) expect(t.input).to.deep.equal({ who: 'x' });
      // Leased to the external worker, not to the member that ran node a (and moved the flow on).
      for (const t of got) expect((await row(t.tiId)).worker_id).to.equal('w-1');
      for (const t of got) expect((await call('/worker/complete', { tiId: t.tiId, leaseToken: t.leaseToken, output: { v: t.nodeKey } })).status).to.equal(200);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const rows = await detail(m.api, fiId);
      expect(JSON.stringify(rows)).to.contain('joined b c');
    });

    it('the TypeScript client keeps several polls out, never runs more than its concurrency, and completes each task once', async () => {
      const queue = q();
      let now = 0;
      let most = 0;
      const seen: number[] = [];
      const w = new Worker({
        url: m.url!,
        queues: [queue],
        workerId: 'client-1',
        concurrency: 6,
        polls: 3,
        waitMs: 2000,
        handler: async (t) => {
          seen.push(t.tiId);
          most = Math.max(most, ++now);
          await new Promise((r) => setTimeout(r, 30));
          now--;
          return { n: t.tiId };
        },
      }).start();
      try {
        await waitFor('three polls waiting', async () => m.engine.external.hub.waiting === 3);
        const t = await createTask(m.api, 'WORKER', null, { queue });
        const ids: number[] = [];
        for (let i = 0; i < 20; i++) ids.push((await m.api('POST', `/exec/task/${t}`)).body.data.tiId);
        await waitFor('every task done', async () => (await m.services.knex('task_ins').whereIn('ti_id', ids).where('exec_status', 'SUCCESS')).length === ids.length);
        expect(most).to.be.within(1, 6);
        expect([...seen].sort((a, b) => a - b)).to.deep.equal([...ids].sort((a, b) => a - b));
        for (const id of ids) expect(await row(id)).to.include({ worker_id: 'client-1', attempt: 1 });
      } finally {
        await w.stop(1000);
      }
      await waitFor('its polls gone', async () => m.engine.external.hub.waiting === 0);
    });

    it('hands a task to exactly one of many polls', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue });
      const polls = Array.from({ length: 8 }, () => poll([queue], { waitMs: 1500 }));
      await new Promise((r) => setTimeout(r, 200));
      const r = await m.api('POST', `/exec/task/${t}`);
      expect(r.status).to.equal(200);
      const answers = await Promise.all(polls);
      expect(answers.flat().map((x) => x.tiId)).to.deep.equal([r.body.data.tiId]);
    });

    it('retries a failed attempt per maxRetries, then FAILED; retryable:false fails at once', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue, maxRetries: 1, retryBackoffMs: 0 });
      const tiId = (await m.api('POST', `/exec/task/${t}`)).body.data.tiId;
      const [a1] = await poll([queue]);
      const f1 = await call('/worker/fail', { tiId, leaseToken: a1.leaseToken, error: 'x'.repeat(20_000) });
      expect(f1.status, f1.text).to.equal(200);
      expect(f1.body.data).to.deep.equal({ status: 'PENDING' });
      const [a2] = await poll([queue]);
      expect(a2).to.include({ tiId, attempt: 2 });
      expect((await call('/worker/heartbeat', { tiId, leaseToken: a1.leaseToken })).status).to.equal(409);
      const f2 = await call('/worker/fail', { tiId, leaseToken: a2.leaseToken, error: 'again' });
      expect(f2.body.data).to.deep.equal({ status: 'FAILED' });
      const r = await row(tiId);
      expect(r).to.include({ exec_status: 'FAILED', error_msg: 'again', attempt: 2 });
      const t2 = await createTask(m.api, 'WORKER', null, { queue, maxRetries: 5 });
      const ti2 = (await m.api('POST', `/exec/task/${t2}`)).body.data.tiId;
      const [b1] = await poll([queue]);
      const f3 = await call('/worker/fail', { tiId: ti2, leaseToken: b1.leaseToken, error: 'y'.repeat(20_000), retryable: false });
      expect(f3.body.data).to.deep.equal({ status: 'FAILED' });
      expect(Buffer.byteLength((await row(ti2)).error_msg)).to.be.at.most(8 * 1024);
    });

    it('a lease that runs out: the task goes back with attempt + 1 and a new token; the old token gets 409; heartbeats hold a task past its lease', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue, leaseMs: 1000 });
      const tiId = (await m.api('POST', `/exec/task/${t}`)).body.data.tiId;
      const [a1] = await poll([queue]);
      // Heartbeats hold it for three leases.
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 400));
        const hb = await call('/worker/heartbeat', { tiId, leaseToken: a1.leaseToken });
        expect(hb.status, hb.text).to.equal(200);
      }
      expect(await row(tiId)).to.include({ exec_status: 'RUNNING', lease_token: a1.leaseToken, attempt: 1 });
      // Then silence: the reaper takes it back, and a poll gets it again.
      const [a2] = await poll([queue], { waitMs: 10_000 });
      expect(a2).to.include({ tiId, attempt: 2 });
      expect(a2.leaseToken).not.to.equal(a1.leaseToken);
      expect((await row(tiId)).lost_attempts).to.equal(1);
      expect((await call('/worker/heartbeat', { tiId, leaseToken: a1.leaseToken })).status).to.equal(409);
      expect((await call('/worker/complete', { tiId, leaseToken: a1.leaseToken, output: 1 })).status).to.equal(409);
      expect((await call('/worker/complete', { tiId, leaseToken: a2.leaseToken, output: 2 })).status).to.equal(200);
      expect(await row(tiId)).to.include({ exec_status: 'SUCCESS', output: '2' });
    });

    it('cancel and timeout reach the worker as 409 on its next heartbeat', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue });
      const flowId = await flowOf([{ nodeType: 'TASK', taskIds: String(t) }]);
      const fiId = await start(flowId);
      const [a] = await poll([queue]);
      expect((await m.api('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.be.oneOf([200]);
      const hb = await call('/worker/heartbeat', { tiId: a.tiId, leaseToken: a.leaseToken });
      expect(hb.status, hb.text).to.equal(409);
      expect(hb.body.message).to.match(/^leaseToken: .*CANCELLED/);
      expect((await call('/worker/complete', { tiId: a.tiId, leaseToken: a.leaseToken, output: 1 })).status).to.equal(409);
      expect((await flowRow(m.api, fiId)).status).to.equal('CANCELLED');

      const slow = await createTask(m.api, 'WORKER', null, { queue, timeoutMs: 300 });
      const tiId = (await m.api('POST', `/exec/task/${slow}`)).body.data.tiId;
      const [b] = await poll([queue]);
      await new Promise((r) => setTimeout(r, 400));
      const hb2 = await call('/worker/heartbeat', { tiId, leaseToken: b.leaseToken });
      expect(hb2.status, hb2.text).to.equal(409);
      expect(hb2.body.message).to.match(/timed out after 300 ms/);
      expect(await row(tiId)).to.include({ exec_status: 'FAILED', error_msg: 'timed out after 300 ms' });
    });

    it('a client that goes away mid-poll is leased nothing: the task goes to the next poll at once', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue });
      const url = new URL(`${m.url}/worker/poll`);
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => {});
      req.end(JSON.stringify({ queues: [queue], workerId: 'gone', waitMs: 20_000 }));
      await waitFor('the poll waiting', async () => m.engine.external.hub.waiting > 0);
      req.destroy();
      await waitFor('the poll gone', async () => m.engine.external.hub.waiting === 0);
      const tiId = (await m.api('POST', `/exec/task/${t}`)).body.data.tiId;
      const t0 = Date.now();
      const [a] = await poll([queue]);
      expect(a).to.include({ tiId, attempt: 1 });
      expect(Date.now() - t0).to.be.below(5_000);
      expect((await row(tiId)).worker_id).to.equal('w-1');
    });

    it('hands back at once what a poll claimed for a client that went away before the answer: PENDING, not counted', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue });
      const tiId = (await m.api('POST', `/exec/task/${t}`)).body.data.tiId;
      // A client already gone: nothing is claimed for it.
      const gone = new AbortController();
      gone.abort();
      expect(await m.engine.external.poll({ queues: [queue], workerId: 'gone', max: 1, waitMs: 1000, user: 'system' }, gone.signal)).to.deep.equal([]);
      expect(await row(tiId)).to.include({ exec_status: 'PENDING', attempt: 0 });
      // Claimed, then the answer could not be written (what the route does when the response closes first).
      const [a] = await poll([queue]);
      await m.engine.external.handBackTasks([a]);
      expect(await row(tiId)).to.include({ exec_status: 'PENDING', attempt: 0 });
      const [b] = await poll([queue], { waitMs: 2000 });
      expect(b).to.include({ tiId, attempt: 1 });
      expect((await call('/worker/heartbeat', { tiId, leaseToken: a.leaseToken })).status).to.equal(409);
      expect((await call('/worker/complete', { tiId, leaseToken: b.leaseToken, output: 'ok' })).status).to.equal(200);
    });

    it('shows per-queue depth and oldest waiting, polls waiting, leased, finished and expired leases in /metrics', async () => {
      const queue = q();
      const t = await createTask(m.api, 'WORKER', null, { queue });
      await m.api('POST', `/exec/task/${t}`);
      await m.api('POST', `/exec/task/${t}`);
      const waiting = poll(['nothing-here'], { waitMs: 3000 });
      await waitFor('a poll waiting', async () => m.engine.external.hub.waiting > 0);
      const text = (await m.api('GET', '/metrics')).text;
      expect(text).to.match(new RegExp(`task_schedule_worker_queue_depth\\{queue="${queue}",state="due"\\} 2`));
      expect(text).to.match(new RegExp(`task_schedule_worker_queue_oldest_waiting_seconds\\{queue="${queue}"\\} [0-9.]+`));
      expect(text).to.match(/task_schedule_worker_polls_waiting [1-9]/);
      expect(text).to.match(/task_schedule_worker_tasks_leased_total\{queue="q[a-z0-9]+"\} [1-9]/);
      expect(text).to.match(/task_schedule_worker_tasks_finished_total\{queue="q[a-z0-9]+",status="SUCCESS"\} [1-9]/);
      expect(text).to.match(/task_schedule_worker_leases_expired_total\{queue="q[a-z0-9]+"\} [1-9]/);
      expect(text).to.match(/task_schedule_worker_calls_refused_total\{call="heartbeat"\} [1-9]/);
      await waiting;
    });

    it('refuses bad input with a 4xx naming the field', async () => {
      const bad = async (path: string, body: unknown, status: number, field: RegExp) => {
        const r = await call(path, body);
        expect(r.status, r.text).to.equal(status);
        expect(r.body.message).to.match(field);
      };
      await bad('/worker/poll', { queues: ['a b'], workerId: 'w' }, 400, /^queues\[0\]: /);
      await bad('/worker/poll', { queues: [], workerId: 'w' }, 400, /^queues: /);
      await bad('/worker/poll', { queues: Array.from({ length: 33 }, (_, i) => `q${i}`), workerId: 'w' }, 400, /^queues: /);
      await bad('/worker/poll', { queues: ['a'], workerId: 'w', max: 0 }, 400, /^max: /);
      await bad('/worker/poll', { queues: ['a'], workerId: 'w', max: 101 }, 400, /^max: /);
      await bad('/worker/poll', { queues: ['a'], workerId: 'w', waitMs: 1e9 }, 400, /^waitMs: /);
      await bad('/worker/poll', { queues: ['a'], workerId: 'bad id' }, 400, /^workerId: /);
      await bad('/worker/poll', { queues: ['a'] }, 400, /^workerId: /);
      await bad('/worker/heartbeat', { tiId: 0, leaseToken: 'x' }, 400, /^tiId: /);
      await bad('/worker/heartbeat', { tiId: 1 }, 400, /^leaseToken: /);
      await bad('/worker/heartbeat', { tiId: 999_999_999, leaseToken: 'x' }, 404, /^tiId: /);
      await bad('/worker/fail', { tiId: 1, leaseToken: 'x', error: 3 }, 400, /^error: /);
      await bad('/worker/complete', { tiId: 1, leaseToken: 'x', output: 'x'.repeat(1024 * 1024) }, 400, /^output: /);
      const huge = await m.api('POST', '/worker/complete', JSON.stringify({ tiId: 1, leaseToken: 'x', output: 'x'.repeat(1200 * 1024) }));
      expect(huge.status).to.equal(413);
      expect(huge.body.message).to.match(/^output: /);
      // A task of another type is no WORKER task.
      const echo = await createTask(m.api, 'ECHO', 'e');
      const tiId = (await m.api('POST', `/exec/task/${echo}`)).body.data.tiId;
      await bad('/worker/complete', { tiId, leaseToken: 'x', output: 1 }, 404, /^tiId: /);
    });
  });

  describe('WORKER_MAX_POLLS', () => {
    let small: TestMember;
    before(async () => {
      small = await startTestMember({ ...isolated(), ROLES: 'web', WORKER_MAX_POLLS: '2' });
    });
    after(async () => {
      await small.stop(100);
    });

    it('holds at most WORKER_MAX_POLLS polls waiting; beyond, 503 with Retry-After', async () => {
      const body = { queues: ['full'], workerId: 'w', waitMs: 3000 };
      const held = [small.api('POST', '/worker/poll', body), small.api('POST', '/worker/poll', body)];
      await waitFor('two polls waiting', async () => small.engine.external.hub.waiting === 2);
      const over = await small.api('POST', '/worker/poll', body);
      expect(over.status, over.text).to.equal(503);
      expect(over.headers.get('retry-after')).to.equal('1');
      expect(over.body.message).to.match(/WORKER_MAX_POLLS/);
      for (const r of await Promise.all(held)) expect(r.status).to.equal(200);
      expect((await small.api('POST', '/worker/poll', { ...body, waitMs: 0 })).status).to.equal(200);
    });
  });

  describe('tokens', () => {
    const W = 'worker-secret-0123456789';
    const RW = 'write-secret-0123456789';
    const RO = 'read-secret-01234567890';
    let a: TestMember;
    before(async () => {
      a = await startTestMember({ ...isolated(), ROLES: 'web', API_TOKENS: `bot:${W}:worker,alice:${RW},viewer:${RO}:read` });
    });
    after(async () => {
      await a.stop(100);
    });

    it('worker tokens may call /worker/* only; write tokens may too; read-only tokens may not; none → 401', async () => {
      const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
      const body = { queues: ['auth'], workerId: 'w', waitMs: 0 };
      const pollAs = async (h: Record<string, string>) => (await a.api('POST', '/worker/poll', body, h)).status;
      expect(await pollAs({})).to.equal(401);
      expect(await pollAs(auth('wrong-secret-0123456789'))).to.equal(401);
      expect(await pollAs(auth(W))).to.equal(200);
      expect(await pollAs(auth(RW))).to.equal(200);
      expect(await pollAs(auth(RO))).to.equal(403);
      for (const [method, path] of [['GET', '/task'], ['POST', '/task'], ['POST', '/monitor/flow'], ['GET', '/metrics'], ['POST', '/exec/task/1']]) {
        const r = await a.api(method!, path!, method === 'POST' ? {} : undefined, auth(W));
        expect(r.status, `${method} ${path}`).to.equal(403);
        expect(r.body.message).to.match(/worker token/);
      }
      expect((await a.api('GET', '/task', undefined, auth(RW))).status).to.equal(200);
      expect((await a.api('GET', '/healthz', undefined, auth(W))).status).to.equal(200);
    });

    it('records the token name as the worker\'s user, on a member without the worker role', async () => {
      const auth = { authorization: `Bearer ${RW}` };
      const t = (await a.api('POST', '/task', { taskName: 'w', taskType: 'WORKER', taskConfig: { queue: 'auth2' } }, auth)).body.data.taskId;
      const tiId = (await a.api('POST', `/exec/task/${t}`, undefined, auth)).body.data.tiId;
      const r = await a.api('POST', '/worker/poll', { queues: ['auth2'], workerId: 'w-9', waitMs: 5000 }, { authorization: `Bearer ${W}` });
      expect(r.body.data.map((x: any) => x.tiId)).to.deep.equal([tiId]);
      const [ti] = await a.services.knex('task_ins').where('ti_id', tiId);
      expect(ti).to.include({ update_user: 'bot', worker_id: 'w-9', exec_status: 'RUNNING' });
    });
  });
});

