// The optimistic lock (row `version`) fences writers that lost their lock or lease.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, detail } from './helpers/flows.js';
import { finishRun, type TaskRun } from '../src/engine/taskRuns.js';
import { advanceMany } from '../src/engine/advanceMany.js';
import { inTransaction } from '../src/engine/coordinator.js';

describe('fencing by version', () => {
  let m: TestMember;
  before(async () => { m = await startTestMember({ ...isolated(), ROLES: 'web' }); });
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

  it('coordinators racing on one instance without their Redis lock still make each transition once', async () => {
    const knex = m.services.knex;
    const t = await createTask(m.api, 'ECHO', 'y');
    const flowId = await createFlow(m.api, [[t], [t]]);
    // web-only member: nothing runs the task, so the instance sits at its first TASK node
    const fiId = (await m.engine.startFlow(flowId))!;
    const before = await detail(m.api, fiId);
    expect(before.map((n) => n.status)).to.deep.equal(['SUCCESS', 'RUNNING']);
    await knex('task_ins').where('fi_id', fiId).update({ exec_status: 'SUCCESS' });
    const versionBefore = (await knex('task_flow_ins').where('fi_id', fiId).first()).version;
    // Five coordinators that all believe they hold the lock (e.g. one paused past its TTL).
    const outs = await Promise.all(
      Array.from({ length: 5 }, () => inTransaction(knex, (trx) => advanceMany(trx, m.engine.coordinator.plans, [fiId], { user: 'race', now: new Date() }))),
    );
    expect(outs.filter((o) => o.changed.length > 0)).to.have.length(1);
    const after = await detail(m.api, fiId);
    expect(after.map((n) => n.status)).to.deep.equal(['SUCCESS', 'SUCCESS', 'RUNNING']);
    expect(after[2].tasks).to.have.length(1);
    const fi = await knex('task_flow_ins').where('fi_id', fiId).first();
    expect(fi.version).to.equal(versionBefore + 1); // bumped once, by the one pass that changed something
  });

  it('a retry is refused once the instance has moved on (409), and changes nothing', async () => {
    const t = await createTask(m.api, 'EXCEPTION', 'nope');
    const flowId = await createFlow(m.api, [[t]]);
    const fiId = (await m.engine.startFlow(flowId))!;
    const ni = (await detail(m.api, fiId))[1];
    await m.services.knex('task_ins').where('fi_id', fiId).update({ exec_status: 'FAILED', error_msg: 'nope' });
    await m.engine.advance(fiId);
    expect((await m.services.knex('task_flow_ins').where('fi_id', fiId).first()).status).to.equal('FAILED');
    const first = await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: ni.niId });
    expect(first.status).to.equal(200);
    const second = await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: ni.niId });
    expect(second.status).to.equal(409);
    expect((await detail(m.api, fiId)).length).to.equal(3); // START, failed node, one retried node
  });
});
