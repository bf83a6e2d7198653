// The optimistic lock (row `version`) fences writers that lost their lock or lease.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, detail } from './helpers/flows.js';
import { finishRunsStatements, writtenOf } from '../src/engine/sql/finishRuns.js';
import type { TaskRun } from '../src/engine/taskRun.js';
import { inTx, sendTogether } from '../src/engine/sql/multiStatement.js';
import { advanceMany, StaleWriteError } from '../src/engine/advanceMany.js';
import { TaskIns } from '../src/models/index.js';
import { StaleVersionError } from '../src/errors.js';

describe('fencing by version', () => {
  let m: TestMember;
  before(async () => { m = await startTestMember({ ...isolated(), ROLES: 'web' }); });
  after(async () => { await m.stop(); });

  it('a task result from a run whose version moved on is refused (StaleVersionError) and changes nothing', async () => {
    const knex = m.services.knex;
    const taskId = await createTask(m.api, 'ECHO', 'x');
    const now = new Date();
    const [tiId] = await knex('task_ins').insert({ task_id: taskId, exec_status: 'RUNNING', attempt: 1, version: 5, create_time: now, update_time: now });
    const end = { exec_status: 'SUCCESS' as const, end_time: now, output: 'late', error_msg: null };
    let err: unknown;
    try {
      await TaskIns.finishRun(tiId, 4, end, now, knex);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(StaleVersionError);
    expect(await knex('task_ins').where('ti_id', tiId).first()).to.include({ exec_status: 'RUNNING', version: 5, output: null });
    await TaskIns.finishRun(tiId, 5, { ...end, output: 'ok' }, now, knex);
    expect(await knex('task_ins').where('ti_id', tiId).first()).to.include({ exec_status: 'SUCCESS', version: 6, output: 'ok' });
  });

  it('a batch of results is written in one statement: the stale ones are refused and told apart, the others written', async () => {
    const knex = m.services.knex;
    const taskId = await createTask(m.api, 'ECHO', 'x');
    const now = new Date();
    const ids: number[] = [];
    for (const v of [1, 7, 1]) ids.push((await knex('task_ins').insert({ task_id: taskId, exec_status: 'RUNNING', attempt: 1, version: v, create_time: now, update_time: now }))[0]);
    const run = (tiId: number, version: number): TaskRun => ({ tiId, fiId: null, niId: null, taskId, taskType: 'ECHO', content: 'x', config: {}, attempt: 1, lostAttempts: 0, version, priority: 0, startedAt: now });
    const endedAt = new Date(now.getTime() + 5);
    // The second run started at version 6: the row moved on to 7 since (a reaper, say).
    const items = [
      { run: run(ids[0], 1), result: { status: 'SUCCESS' as const, output: 'a', error: null }, endedAt },
      { run: run(ids[1], 6), result: { status: 'SUCCESS' as const, output: 'late', error: null }, endedAt },
      { run: run(ids[2], 1), result: { status: 'FAILED' as const, output: null, error: 'boom' }, endedAt },
    ];
    const at = new Date();
    const results = await sendTogether(knex, finishRunsStatements(items, at));
    expect(await writtenOf(knex, items, at, results)).to.deep.equal([true, false, true]);
    const rows = await knex('task_ins').select('ti_id', 'exec_status', 'version', 'output', 'error_msg', 'end_time').whereIn('ti_id', ids).orderBy('ti_id');
    expect(rows.map((r: any) => [r.exec_status, r.version, r.output, r.error_msg])).to.deep.equal([['SUCCESS', 2, 'a', null], ['RUNNING', 7, null, null], ['FAILED', 2, null, 'boom']]);
    expect(rows[0].end_time.getTime()).to.equal(endedAt.getTime());
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
    const outs = await Promise.allSettled(
      Array.from({ length: 5 }, () => inTx(knex, (tx) => advanceMany(tx, m.engine.coordinator.plans, [fiId], { user: 'race', now: new Date() }))),
    );
    // One wins; each other one is refused by the version fence, or (if it read after the winner
    // committed) finds nothing left to do.
    const changedSomething = outs.filter((o) => o.status === 'fulfilled' && o.value.changed.length > 0);
    expect(changedSomething).to.have.length(1);
    for (const o of outs) {
      if (o.status === 'rejected') expect(o.reason).to.be.instanceOf(StaleWriteError);
    }
    const after = await detail(m.api, fiId);
    expect(after.map((n) => n.status)).to.deep.equal(['SUCCESS', 'SUCCESS', 'RUNNING']);
    expect(after[2].tasks).to.have.length(1);
    const fi = await knex('task_flow_ins').where('fi_id', fiId).first();
    expect(fi.version).to.equal(versionBefore + 1); // bumped once, by the one pass that changed something
  });

  it('a coordinator paused between its reads and its writes blocks nobody, and is refused when it wakes', async () => {
    const knex = m.services.knex;
    const t = await createTask(m.api, 'ECHO', 'z');
    const fiId = (await m.engine.startFlow(await createFlow(m.api, [[t], [t]])))!;
    await knex('task_ins').where('fi_id', fiId).update({ exec_status: 'SUCCESS' });
    let paused!: () => void;
    const reachedPause = new Promise<void>((r) => (paused = r));
    let wake!: () => void;
    const wakeUp = new Promise<void>((r) => (wake = r));
    // The paused coordinator: it has read the instance and decided, then stops (as under SIGSTOP,
    // after its Redis lock expired).
    const pausedPass = inTx(knex, (tx) =>
      advanceMany(tx, m.engine.coordinator.plans, [fiId], { user: 'paused', now: new Date(), beforeWrites: async () => { paused(); await wakeUp; } }),
    );
    await reachedPause;
    // Meanwhile another member advances the instance: nothing of the paused one's is in its way.
    await m.engine.advance(fiId);
    expect((await detail(m.api, fiId)).map((n) => n.status)).to.deep.equal(['SUCCESS', 'SUCCESS', 'RUNNING']);
    wake();
    let err: unknown;
    try {
      await pausedPass;
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(StaleWriteError);
    expect((err as StaleWriteError).fiIds).to.deep.equal([fiId]);
    const after = await detail(m.api, fiId);
    expect(after.map((n) => n.status)).to.deep.equal(['SUCCESS', 'SUCCESS', 'RUNNING']); // nothing of the paused pass
    expect(after.every((n) => n.createTime)).to.equal(true);
    expect(await knex('task_node_ins').where({ fi_id: fiId, create_user: 'paused' }).count({ n: '*' })).to.deep.equal([{ n: 0 }]);
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
