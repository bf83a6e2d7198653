// A member that ran a flow's next task (or started the flow) keeps a copy of the flow instance as it
// committed it, and records that task's result from the copy: the result, the flow's next transitions and COMMIT in one round
// trip, no read (src/engine/flowStates.ts). What that must keep: the same rows a pass that reads would
// write, and nothing written from a copy MySQL no longer agrees with — the version fence (another writer
// moved the instance on) or a refused result (the run lost its task instance) rolls the whole round
// trip back, and the pass is made again from a read.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, startFlow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { workerApi } from './helpers/workerApi.js';
import { flowDirtyKey, flowLockKey } from '../src/redis/keys.js';

type Node = Record<string, unknown>;
const graphNode = (nodeKey: string, taskId: number, prevNodes?: string[]): Node => ({ nodeType: 'TASK', nodeKey, taskIds: String(taskId), ...(prevNodes ? { prevNodes } : {}) });

describe('passes from copies: a result recorded and its flow moved on in one round trip', function () {
  this.timeout(60_000);
  let m: TestMember;
  const outcomes: string[] = [];
  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '4' });
    m.engine.events.on('fromCopies', (o) => outcomes.push(o));
  });
  after(async () => { await m.stop(1000); });
  beforeEach(() => { outcomes.length = 0; });

  const saveFlow = async (flowNodes: Node[]): Promise<number> => {
    const r = await m.api('POST', '/flow', { flowName: 'copies', flowNodes: [{ nodeType: 'START', nodeKey: 's' }, ...flowNodes, { nodeType: 'END', nodeKey: 'e' }] });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.flowId;
  };
  const chain = (taskIds: number[]): Promise<number> => saveFlow(taskIds.map((t, i) => graphNode(`n${i}`, t, i ? [`n${i - 1}`] : ['s'])));

  /** An instance's rows as a pass leaves them (times and ids aside): what both kinds of pass must agree on. */
  const rowsOf = async (fiId: number) => {
    const { knex } = m.services;
    const fi = await knex('task_flow_ins').where('fi_id', fiId).first('status', 'version', 'error_msg');
    const nis = await knex('task_node_ins as ni').join('task_node as n', 'n.node_id', 'ni.node_id').where('ni.fi_id', fiId).orderBy('ni.ni_id').select('n.node_key', 'ni.status', 'ni.version', 'ni.error_msg');
    const tis = await knex('task_ins').where('fi_id', fiId).orderBy('ti_id').select('exec_status', 'attempt', 'version', 'output', 'error_msg', 'worker_id');
    return { fi, nis, tis };
  };

  it('a chain: each step is recorded from a copy, and leaves the rows a pass that reads would', async () => {
    const echo = await createTask(m.api, 'ECHO', 'out');
    const flowId = await chain([echo, echo, echo, echo, echo]);
    const fiId = await startFlow(m.api, flowId);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    // Every step recorded from a copy: the first one's kept by the start (its task queued for this
    // engine's workers), the others' by the pass that ran them here.
    expect(outcomes).to.deep.equal(['used', 'used', 'used', 'used', 'used']);
    const metrics = await (await fetch(`${m.url}/metrics`)).text();
    expect(metrics).to.match(/^task_schedule_passes_from_copies_total\{outcome="used"\} [5-9]/m);

    // The same flow with copies kept from nobody: every pass reads.
    const states = m.engine.coordinator.states;
    const get = states.get.bind(states);
    states.get = () => undefined;
    try {
      const twin = await startFlow(m.api, flowId);
      expect((await waitForEnd(m.api, twin)).status).to.equal('SUCCESS');
      expect(outcomes).to.have.length(5);
      expect(await rowsOf(twin)).to.deep.equal(await rowsOf(fiId));
    } finally {
      states.get = get;
    }
  });

  it('external WORKER steps: a complete (with next) is recorded from the copy the start or the last complete kept', async () => {
    const worker = await createTask(m.api, 'WORKER', null, { queue: 'copies' });
    const fiId = await startFlow(m.api, await chain([worker, worker, worker]));
    expect(m.engine.coordinator.states.get(fiId), 'kept by the start').to.not.equal(undefined);
    const { poll, call } = workerApi(() => m);
    let [task] = await poll(['copies']);
    for (let step = 1; step <= 3; step++) {
      const r = await call('/worker/complete', { tiId: task.tiId, leaseToken: task.leaseToken, output: { step }, next: { queues: ['copies'], workerId: 'w-1' } });
      expect(r.status, r.text).to.equal(200);
      [task] = r.body.data.next;
      if (step < 3) expect(task, `step ${step + 1} handed over`).to.include({ fiId });
    }
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    expect(outcomes).to.deep.equal(['used', 'used', 'used']);
    const { tis } = await rowsOf(fiId);
    expect(tis.map((t: any) => [t.exec_status, t.attempt, JSON.parse(t.output)])).to.deep.equal([1, 2, 3].map((step) => ['SUCCESS', 1, { step }]));
  });

  it('a node with `when` after the step: decided from a read, which sees the output the result writes', async () => {
    const check = await createTask(m.api, 'ECHO', '{"score": 150}');
    const echo = await createTask(m.api, 'ECHO', 'e');
    const flowId = await saveFlow([graphNode('check', check, ['s']), { ...graphNode('high', echo, ['check']), when: 'nodes.check.output.score > 100' }, { ...graphNode('low', echo, ['check']), when: 'nodes.check.output.score <= 100' }]);
    const fiId = await startFlow(m.api, flowId);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    const { nis } = await rowsOf(fiId);
    expect(Object.fromEntries(nis.map((n: any) => [n.node_key, n.status]))).to.deep.equal({ s: 'SUCCESS', check: 'SUCCESS', high: 'SUCCESS', low: 'SKIPPED', e: 'SUCCESS' });
    // check's result not from the start's copy (the conditions read its output), and high's neither: the
    // pass that entered it entered low SKIPPED too, whose id it does not read back, so it kept no copy.
    expect(outcomes).to.deep.equal([]);
  });

  it('a fork and a join: branches recorded from copies side by side, the join entered once', async () => {
    const wait = await createTask(m.api, 'WAIT', null, { waitMs: 50 });
    const echo = await createTask(m.api, 'ECHO', 'j');
    const flowId = await saveFlow([graphNode('a', echo, ['s']), graphNode('b', wait, ['a']), graphNode('c', echo, ['a']), graphNode('d', wait, ['b', 'c'])]);
    const fiIds = await Promise.all([1, 2, 3].map(() => startFlow(m.api, flowId)));
    for (const fiId of fiIds) {
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const { nis, tis } = await rowsOf(fiId);
      expect(nis.map((n: any) => n.node_key).sort()).to.deep.equal(['a', 'b', 'c', 'd', 'e', 's']);
      expect(tis.map((t: any) => [t.exec_status, t.attempt])).to.deep.equal(Array(4).fill(['SUCCESS', 1]));
    }
    expect(outcomes).to.include('used');
  });

  describe('a copy MySQL no longer agrees with', () => {
    /** A chain whose second step waits: the test changes the rows while it runs, then lets it end. */
    const runningSecondStep = async () => {
      const echo = await createTask(m.api, 'ECHO', 'x');
      const wait = await createTask(m.api, 'WAIT', null, { waitMs: 400 });
      const fiId = await startFlow(m.api, await chain([echo, wait, echo]));
      const ti = await waitFor('the second step running here', async () => {
        const rows = await m.services.knex('task_ins').where('fi_id', fiId).orderBy('ti_id').select('ti_id', 'exec_status');
        return rows.length === 2 && rows[1].exec_status === 'RUNNING' ? rows[1] : null;
      });
      expect(m.engine.coordinator.states.get(fiId), 'the copy kept by the pass that started it').to.not.equal(undefined);
      return { fiId, tiId: ti.ti_id as number };
    };

    it('moved on by another writer: the fence rolls the round trip back, and the pass made again from a read moves the flow on', async () => {
      const { fiId } = await runningSecondStep();
      // Another writer's pass (it bumps the version, as every writer of a node instance's status does).
      await m.services.knex('task_flow_ins').where('fi_id', fiId).increment('version', 1);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      // The first step from the start's copy; the second's copy stale; the third's made by the read.
      expect(outcomes).to.deep.equal(['used', 'stale', 'used']);
      const { nis, tis } = await rowsOf(fiId);
      // Nothing of the refused round trip is left: one instance per node, each task once.
      expect(nis.map((n: any) => [n.node_key, n.status])).to.deep.equal([['s', 'SUCCESS'], ['n0', 'SUCCESS'], ['n1', 'SUCCESS'], ['n2', 'SUCCESS'], ['e', 'SUCCESS']]);
      expect(tis.map((t: any) => [t.exec_status, t.attempt])).to.deep.equal(Array(3).fill(['SUCCESS', 1]));
    });

    it("its lock held by another member's pass: the result is recorded, and the flow is left to the holder (a dirty mark), not moved on from the copy", async () => {
      const { fiId, tiId } = await runningSecondStep();
      // The pass that records the second result asks for the lock alongside; the answer is that another
      // holds it: the result is recorded, the flow not moved on from the copy (nor from a read).
      const { redis, config } = m.services;
      await redis.set(flowLockKey(config.redisPrefix, fiId), 'another-member|1', 'PX', 30_000);
      try {
        await waitFor('the second result recorded', async () => (await m.services.knex('task_ins').where('ti_id', tiId).first()).exec_status === 'SUCCESS');
        await waitFor('the holder asked to advance it again (a dirty mark)', async () => (await redis.exists(flowDirtyKey(config.redisPrefix, fiId))) === 1);
        const { fi, nis } = await rowsOf(fiId);
        expect(fi.status).to.equal('RUNNING');
        expect(nis.map((n: any) => [n.node_key, n.status]), 'not moved on under another holder').to.deep.equal([['s', 'SUCCESS'], ['n0', 'SUCCESS'], ['n1', 'RUNNING']]);
      } finally {
        await redis.del(flowLockKey(config.redisPrefix, fiId));
      }
      // The holder, releasing, finds the dirty mark and advances it (as locks.ts has it do).
      await m.engine.coordinator.advance(fiId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const { tis } = await rowsOf(fiId);
      expect(tis.map((t: any) => [t.exec_status, t.attempt])).to.deep.equal(Array(3).fill(['SUCCESS', 1]));
    });

    it('a result refused (the task instance moved on, as a reaper leaves it): nothing is written, the flow does not move on', async () => {
      const { fiId, tiId } = await runningSecondStep();
      await m.services.knex('task_ins').where('ti_id', tiId).update({ exec_status: 'PENDING', version: 99 });
      await waitFor('the pass from the copy refused', async () => outcomes.includes('stale'));
      // The pass made again from a read finds the result refused too: no node ended, no next step.
      await waitFor('the result settled', async () => (await m.services.knex('task_ins').where('ti_id', tiId).first()).version === 99 && !m.engine.worker!.running);
      const { fi, nis, tis } = await rowsOf(fiId);
      expect(fi.status).to.equal('RUNNING');
      expect(nis.map((n: any) => [n.node_key, n.status])).to.deep.equal([['s', 'SUCCESS'], ['n0', 'SUCCESS'], ['n1', 'RUNNING']]);
      expect(tis.map((t: any) => [t.exec_status, t.version])).to.deep.equal([['SUCCESS', 2], ['PENDING', 99]]);
      expect(m.engine.coordinator.states.get(fiId)).to.equal(undefined);
      expect((await m.api('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.equal(200);
    });
  });
});
