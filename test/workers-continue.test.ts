// Continuation for WORKER steps (issue 17): a worker that completes a flow's task with `next` is handed
// the flow's next WORKER task in the complete's answer, RUNNING for it and leased, made by the same
// transaction that recorded the result. Against a real member: a chain handed over step by step with
// its data (one poll in all), the protocol without `next` unchanged, a continued task whose worker goes
// away (delivered again after its lease, the old token refused), a task with limits or of another
// queue going through the queue instead, cancel reaching a continued task, bad `next` naming the field,
// and the TypeScript client taking its next steps without polling.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, waitForEnd } from './helpers/flows.js';
import { Worker } from '../src/client/worker.js';
import { workerApi } from './helpers/workerApi.js';

const START = { nodeType: 'START' };
const END = { nodeType: 'END' };

describe('external workers: the next step handed over with a complete (next)', function () {
  this.timeout(60_000);
  let m: TestMember;
  before(async () => {
    m = await startTestMember({ ...isolated(), REAP_INTERVAL_MS: '200', ROLES: 'web,worker' });
  });
  after(async () => {
    await m.stop(1000);
  });

  const { poll, call } = workerApi(() => m);
  /** A complete asking for the next step; its answer's data. */
  const completeNext = async (t: any, output: unknown, queues: string[], extra: Record<string, unknown> = {}) => {
    const r = await call('/worker/complete', { tiId: t.tiId, leaseToken: t.leaseToken, output, next: { queues, workerId: 'w-1', ...extra } });
    expect(r.status, r.text).to.equal(200);
    return r.body.data as { status: string; next: any[] };
  };
  const row = async (tiId: number) => (await m.services.knex('task_ins').where('ti_id', tiId))[0];
  const q = () => `q${Math.random().toString(36).slice(2, 8)}`;
  const flowOf = async (nodes: Record<string, unknown>[]) => {
    const r = await m.api('POST', '/flow', { flowName: 'continue', flowNodes: [START, ...nodes, END] });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.flowId as number;
  };
  const start = async (flowId: number, input?: unknown) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, input === undefined ? undefined : { input });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };
  const counter = async (name: string, queue: string) => {
    const text = (await m.api('GET', '/metrics')).text;
    const hit = new RegExp(`task_schedule_worker_${name}\\{queue="${queue}"\\} (\\d+)`).exec(text);
    return hit ? Number(hit[1]) : 0;
  };
  /** A chain START → a → b → … → END, each node its own task made by `task(i)`. */
  const chain = async (n: number, task: (i: number) => Promise<number>) => {
    const nodes = [];
    for (let i = 0; i < n; i++) nodes.push({ nodeType: 'TASK', nodeKey: `s${i}`, taskIds: String(await task(i)) });
    return flowOf(nodes);
  };

  it('hands each step of a WORKER chain over in the answer to the complete of the one before, with its data; one poll in all', async () => {
    const queue = q();
    const flowId = await chain(4, (i) =>
      createTask(m.api, 'WORKER', i === 0 ? 'first ${input.name}' : `step ${i}`, { queue, input: i === 0 ? { n: 0 } : { n: `\${nodes.s${i - 1}.output.n}` } }, `step-${i}`),
    );
    const fiId = await start(flowId, { name: 'Ada' });
    let [t] = await poll([queue]);
    expect(t).to.include({ nodeKey: 's0', content: 'first Ada', attempt: 1 });
    for (let i = 1; i < 4; i++) {
      const done = await completeNext(t, { n: i * 10 }, [queue]);
      expect(done.status).to.equal('SUCCESS');
      expect(done.next).to.have.length(1);
      const next = done.next[0];
      // The same shape as a poll's, its templates filled in from the step before.
      expect(next).to.include({ queue, fiId, nodeKey: `s${i}`, taskName: `step-${i}`, attempt: 1, leaseMs: 30000, content: `step ${i}` });
      expect(next.input).to.deep.equal({ n: String(i * 10) });
      expect(Object.keys(next).sort()).to.deep.equal(Object.keys(t).sort());
      // RUNNING for the worker under the answer's token, and leased in its queue: a heartbeat renews it.
      expect(await row(next.tiId)).to.include({ exec_status: 'RUNNING', worker_id: 'w-1', lease_token: next.leaseToken, attempt: 1 });
      expect(await m.services.redis.zscore(m.services.queue.external.keys(queue).leases, String(next.tiId))).to.be.a('string');
      const hb = await call('/worker/heartbeat', { tiId: next.tiId, leaseToken: next.leaseToken });
      expect(hb.status, hb.text).to.equal(200);
      t = next;
    }
    // The last step: nothing to hand over; the flow ends.
    const last = await completeNext(t, { n: 40 }, [queue]);
    expect(last).to.deep.equal({ status: 'SUCCESS', next: [] });
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    expect(JSON.parse((await row(t.tiId)).output)).to.deep.equal({ n: 40 });
    // Four leased, three of them handed over (one poll).
    expect(await counter('tasks_leased_total', queue)).to.equal(4);
    expect(await counter('tasks_handed_over_total', queue)).to.equal(3);
    // The same complete again: 200, nothing more handed over.
    expect(await completeNext(t, { n: 40 }, [queue])).to.deep.equal({ status: 'SUCCESS', next: [] });
  });

  it('without next, the answer and the queue are as before: the next step goes to a poll', async () => {
    const queue = q();
    const flowId = await chain(2, () => createTask(m.api, 'WORKER', null, { queue }));
    await start(flowId);
    const [a] = await poll([queue]);
    const r = await call('/worker/complete', { tiId: a.tiId, leaseToken: a.leaseToken, output: 1 });
    expect(r.body.data).to.deep.equal({ status: 'SUCCESS' });
    const [b] = await poll([queue]);
    expect(b).to.include({ nodeKey: 's1', attempt: 1 });
    expect(await counter('tasks_handed_over_total', queue)).to.equal(0);
  });

  it('a continued task whose worker goes away is delivered again after its lease; the old token gets 409', async () => {
    const queue = q();
    const second = q(); // nothing is ever enqueued to it: its leases are reaped all the same
    const a = await createTask(m.api, 'WORKER', null, { queue });
    const b = await createTask(m.api, 'WORKER', null, { queue: second, leaseMs: 1000 });
    const fiId = await start(await flowOf([{ nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(b) }]));
    const [t1] = await poll([queue]);
    const [b1] = (await completeNext(t1, 'a', [queue, second])).next;
    expect(b1).to.include({ nodeKey: 'b', queue: second, attempt: 1, leaseMs: 1000 });
    // The worker says nothing more: the reaper takes the lease back and a poll gets the task again.
    const [b2] = await poll([second], { waitMs: 10_000, workerId: 'w-2' });
    expect(b2).to.include({ tiId: b1.tiId, attempt: 2 });
    expect(b2.leaseToken).not.to.equal(b1.leaseToken);
    expect(await row(b1.tiId)).to.include({ worker_id: 'w-2', lost_attempts: 1 });
    expect((await call('/worker/heartbeat', { tiId: b1.tiId, leaseToken: b1.leaseToken })).status).to.equal(409);
    expect((await call('/worker/complete', { tiId: b1.tiId, leaseToken: b1.leaseToken, output: 'late' })).status).to.equal(409);
    expect((await call('/worker/complete', { tiId: b2.tiId, leaseToken: b2.leaseToken, output: 'ok' })).status).to.equal(200);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    expect(await row(b1.tiId)).to.include({ exec_status: 'SUCCESS', output: '"ok"' });
  });

  it('a next step whose task has limits, or of a queue the worker did not name, or not a WORKER task, goes through its queue', async () => {
    const queue = q();
    const other = q();
    const a = await createTask(m.api, 'WORKER', null, { queue });
    const limited = await createTask(m.api, 'WORKER', null, { queue, concurrencyLimit: 5 });
    const rated = await createTask(m.api, 'WORKER', null, { queue, rateLimit: { max: 100, perMs: 1000 } });
    const elsewhere = await createTask(m.api, 'WORKER', null, { queue: other });
    const echo = await createTask(m.api, 'ECHO', 'echoed');
    for (const [next, via] of [[limited, queue], [rated, queue], [elsewhere, other]] as const) {
      const fiId = await start(await flowOf([{ nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(next) }]));
      const [t] = await poll([queue]);
      expect(t.fiId).to.equal(fiId);
      expect(await completeNext(t, 1, [queue])).to.deep.equal({ status: 'SUCCESS', next: [] });
      const [b] = await poll([via]);
      expect(b).to.include({ fiId, nodeKey: 'b', attempt: 1 });
      expect((await call('/worker/complete', { tiId: b.tiId, leaseToken: b.leaseToken, output: 2 })).status).to.equal(200);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    }
    // An ECHO step after a WORKER one is run by the members, as always.
    const fiId = await start(await flowOf([{ nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(echo) }]));
    const [t] = await poll([queue]);
    expect(await completeNext(t, 1, [queue])).to.deep.equal({ status: 'SUCCESS', next: [] });
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    expect(await counter('tasks_handed_over_total', queue)).to.equal(0);
  });

  it('hands over at most next.max of a fork, the rest to the queue', async () => {
    const queue = q();
    const w = await createTask(m.api, 'WORKER', null, { queue });
    const fiId = await start(await flowOf([
      { nodeType: 'TASK', nodeKey: 'a', taskIds: String(w) },
      { nodeType: 'TASK', nodeKey: 'b', taskIds: String(w), prevNodes: ['a'] },
      { nodeType: 'TASK', nodeKey: 'c', taskIds: String(w), prevNodes: ['a'] },
      { nodeType: 'TASK', nodeKey: 'd', taskIds: String(w), prevNodes: ['a'] },
    ]));
    const [t] = await poll([queue]);
    const handed = (await completeNext(t, 1, [queue], { max: 2 })).next;
    expect(handed).to.have.length(2);
    const [rest] = await poll([queue]);
    const keys = [...handed, rest].map((x) => x.nodeKey).sort();
    expect(keys).to.deep.equal(['b', 'c', 'd']);
    for (const x of [...handed, rest]) expect((await call('/worker/complete', { tiId: x.tiId, leaseToken: x.leaseToken, output: 1 })).status).to.equal(200);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
  });

  it('cancel of the flow reaches a continued task as 409 on its heartbeat', async () => {
    const queue = q();
    const fiId = await start(await chain(2, () => createTask(m.api, 'WORKER', null, { queue })));
    const [t] = await poll([queue]);
    const [b] = (await completeNext(t, 1, [queue])).next;
    expect((await m.api('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.equal(200);
    const hb = await call('/worker/heartbeat', { tiId: b.tiId, leaseToken: b.leaseToken });
    expect(hb.status, hb.text).to.equal(409);
    expect(hb.body.message).to.match(/^leaseToken: .*CANCELLED/);
    expect((await call('/worker/complete', { tiId: b.tiId, leaseToken: b.leaseToken, output: 1, next: { queues: [queue], workerId: 'w-1' } })).status).to.equal(409);
    expect(await m.services.redis.zscore(m.services.queue.external.keys(queue).leases, String(b.tiId))).to.equal(null);
  });

  it('refuses a bad next with a 400 naming the field, recording nothing', async () => {
    const queue = q();
    const t = await createTask(m.api, 'WORKER', null, { queue });
    const tiId = (await m.api('POST', `/exec/task/${t}`)).body.data.tiId;
    const [a] = await poll([queue]);
    const bad = async (next: unknown, field: RegExp) => {
      const r = await call('/worker/complete', { tiId, leaseToken: a.leaseToken, output: 1, next });
      expect(r.status, r.text).to.equal(400);
      expect(r.body.message).to.match(field);
    };
    await bad('soon', /^next: /);
    await bad({ workerId: 'w' }, /^next\.queues: /);
    await bad({ queues: [], workerId: 'w' }, /^next\.queues: /);
    await bad({ queues: ['a b'], workerId: 'w' }, /^next\.queues\[0\]: /);
    await bad({ queues: ['a'] }, /^next\.workerId: /);
    await bad({ queues: ['a'], workerId: 'bad id' }, /^next\.workerId: /);
    await bad({ queues: ['a'], workerId: 'w', max: 0 }, /^next\.max: /);
    await bad({ queues: ['a'], workerId: 'w', max: 101 }, /^next\.max: /);
    expect(await row(tiId)).to.include({ exec_status: 'RUNNING' });
    // A task run on its own has no next step: SUCCESS, nothing handed over.
    expect(await completeNext(a, 1, [queue])).to.deep.equal({ status: 'SUCCESS', next: [] });
  });

  it('the TypeScript client runs each flow\'s next steps from its completes, polling only for the first', async () => {
    const queue = q();
    const flows = 8;
    const steps = 5;
    const flowId = await chain(steps, (i) => createTask(m.api, 'WORKER', null, { queue, input: { n: i === 0 ? '${input.n}' : `\${nodes.s${i - 1}.output.n}` } }));
    const handled: { tiId: number; n: number }[] = [];
    const w = new Worker({
      url: m.url!,
      queues: [queue],
      workerId: 'client-next',
      concurrency: 3,
      waitMs: 2000,
      handler: (t) => {
        const n = Number((t.input as { n: string }).n);
        handled.push({ tiId: t.tiId, n });
        return { n: n + 1 };
      },
    }).start();
    try {
      const fiIds: number[] = [];
      for (let i = 0; i < flows; i++) fiIds.push(await start(flowId, { n: i * 100 }));
      for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      expect(handled).to.have.length(flows * steps);
      // Each flow's data went through all its steps.
      for (let i = 0; i < flows; i++) for (let k = 0; k < steps; k++) expect(handled.some((h) => h.n === i * 100 + k), `flow ${i} step ${k}`).to.equal(true);
      // Every step after the first came with the complete of the step before: polls brought the first ones only.
      expect(await counter('tasks_leased_total', queue)).to.equal(flows * steps);
      expect(await counter('tasks_handed_over_total', queue)).to.equal(flows * (steps - 1));
    } finally {
      await w.stop(1000);
    }
    expect(w.busy).to.equal(0);
  });
});
