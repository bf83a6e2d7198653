// The optimistic lock (row `version`) fences writers that lost their lock or lease.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { freshPrefix } from './helpers/env.js';
import { createFlow, createTask, detail } from './helpers/flows.js';
import { finishRun, type TaskRun } from '../src/engine/taskRuns.js';
import { StaleWriteError, Transition } from '../src/engine/transition.js';

describe('fencing by version', () => {
  let m: TestMember;
  before(async () => { m = await startTestMember({ REDIS_PREFIX: freshPrefix(), ROLES: 'web' }); });
  after(async () => { await m.stop(); });

  it('a task result from a run whose version moved on is refused and changes nothing', async () => {
    const knex = m.services.knex;
    const taskId = await createTask(m.api, 'ECHO', 'x');
    const now = new Date();
    const [tiId] = await knex('task_ins').insert({ task_id: taskId, exec_status: 'RUNNING', attempt: 1, version: 5, create_time: now, update_time: now });
    const stale: TaskRun = { tiId, fiId: null, niId: null, taskId, taskType: 'ECHO', content: 'x', config: {}, attempt: 1, version: 4, startedAt: now };
    expect(await finishRun(knex, stale, { status: 'SUCCESS', output: 'late', error: null })).to.equal(false);
    const row = await knex('task_ins').where('ti_id', tiId).first();
    expect(row).to.include({ exec_status: 'RUNNING', version: 5, output: null });
    expect(await finishRun(knex, { ...stale, version: 5 }, { status: 'SUCCESS', output: 'ok', error: null })).to.equal(true);
    expect(await knex('task_ins').where('ti_id', tiId).first()).to.include({ exec_status: 'SUCCESS', version: 6, output: 'ok' });
  });

  it('a coordinator holding an old view of the instance is refused and its whole transaction rolled back', async () => {
    const knex = m.services.knex;
    const wait = await createTask(m.api, 'ECHO', 'y');
    const flowId = await createFlow(m.api, [[wait], [wait]]);
    // web-only member: nothing runs the task, so the instance sits at its first TASK node
    const fiId = await m.engine.startFlow(flowId);
    const fi = await knex('task_flow_ins').where('fi_id', fiId!).first();
    const plan = await m.engine.coordinator.plans.get(fi.flow_id, fi.flow_version);
    const nodeInsBefore = await detail(m.api, fiId!);
    // The task "finishes", and another coordinator moves the instance on (version + 1)...
    await knex('task_ins').where('fi_id', fiId!).update({ exec_status: 'SUCCESS' });
    await knex('task_flow_ins').where('fi_id', fiId!).update({ version: fi.version + 1 });
    // ...then the paused one wakes up with its old view and tries to advance.
    const last = { ni_id: nodeInsBefore[1].niId, node_id: nodeInsBefore[1].nodeId, status: 'RUNNING', error_msg: null };
    let err: unknown;
    try {
      await knex.transaction((trx) => new Transition(trx, plan, { fi_id: fiId!, status: 'RUNNING', version: fi.version }, 'stale', new Date()).run(last));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(StaleWriteError);
    expect((await detail(m.api, fiId!)).length).to.equal(nodeInsBefore.length);
    expect((await knex('task_node_ins').where('ni_id', last.ni_id).first()).status).to.equal('RUNNING');
    // The current coordinator does it right.
    await m.engine.advance(fiId!);
    expect((await detail(m.api, fiId!)).length).to.equal(nodeInsBefore.length + 1);
  });
});
