// The execution engine's contract, against real MariaDB and Redis, through the REST API.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, detail, startFlow, waitForEnd, flowRow } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

describe('execution engine', function () {
  this.timeout(60_000);
  let m: TestMember;
  let echo: number;
  let fail: number;

  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '32', SHELL_TASKS_ENABLED: 'true' });
    echo = await createTask(m.api, 'ECHO', 'hello');
    fail = await createTask(m.api, 'EXCEPTION', 'boom');
  });
  after(async () => { await m.stop(1000); });

  it("runs the original API's flow: ECHO → WAIT → EXCEPTION → ECHO fails at the EXCEPTION node and never runs the last", async () => {
    const t1 = await createTask(m.api, 'ECHO', 'hello', undefined, 'first task1');
    const t2 = await createTask(m.api, 'WAIT', '200', undefined, 'wait task1');
    const t3 = await createTask(m.api, 'EXCEPTION', 'task content', undefined, 'exception task1');
    const flowId = await createFlow(m.api, [[t1], [t2], [t3], [t1]]);
    const fiId = await startFlow(m.api, flowId);
    const row = await waitForEnd(m.api, fiId);
    expect(row.status).to.equal('FAILED');
    expect(row.errorMsg).to.equal('task content');
    expect(Object.keys(row).slice(0, 9)).to.deep.equal(['fiId', 'flowId', 'flowName', 'startTime', 'endTime', 'status', 'errorMsg', 'createTime', 'updateTime']);
    const nodes = await detail(m.api, fiId);
    expect(nodes.map((n) => [n.nodeType, n.status])).to.deep.equal([['START', 'SUCCESS'], ['TASK', 'SUCCESS'], ['TASK', 'SUCCESS'], ['TASK', 'FAILED']]);
    expect(nodes[1].tasks[0]).to.include({ taskId: t1, status: 'SUCCESS', output: 'hello', attempt: 1 });
    expect(nodes[3].tasks[0]).to.include({ taskId: t3, status: 'FAILED', errorMsg: 'task content' });
    expect(Object.keys(nodes[0]).slice(0, 8)).to.deep.equal(['niId', 'fiId', 'startTime', 'endTime', 'status', 'errorMsg', 'createTime', 'updateTime']);
  });

  it('a fixed task, then a retry from the failed node instance, ends SUCCESS', async () => {
    const broken = await createTask(m.api, 'EXCEPTION', 'not yet');
    const flowId = await createFlow(m.api, [[echo], [broken], [echo]]);
    const fiId = await startFlow(m.api, flowId);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
    const failedNode = (await detail(m.api, fiId)).find((n) => n.status === 'FAILED');

    const fix = await m.api('POST', '/task', { taskId: broken, taskName: 'fixed', taskType: 'ECHO', taskContent: 'fixed now' });
    expect(fix.status).to.equal(200);
    const retry = await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: failedNode.niId });
    expect(retry.status, retry.text).to.equal(200);
    expect(retry.body.data).to.deep.equal({ fiId });
    const row = await waitForEnd(m.api, fiId);
    expect(row.status).to.equal('SUCCESS');
    expect(row.errorMsg).to.equal('');
    const nodes = await detail(m.api, fiId);
    // START, echo, broken (FAILED), broken again (SUCCESS), echo, END
    expect(nodes.map((n) => n.status)).to.deep.equal(['SUCCESS', 'SUCCESS', 'FAILED', 'SUCCESS', 'SUCCESS', 'SUCCESS']);
    expect(nodes[3].tasks[0].output).to.equal('fixed now');
  });

  it('retry is refused unless the instance is FAILED or CANCELLED, and checks its ids', async () => {
    const flowId = await createFlow(m.api, [[echo]]);
    const fiId = await startFlow(m.api, flowId);
    await waitForEnd(m.api, fiId);
    const ni = (await detail(m.api, fiId))[1];
    const r = await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: ni.niId });
    expect(r.status).to.equal(409);
    expect(r.body).to.deep.include({ code: '409', data: null });
    expect((await m.api('POST', `/exec/flow/${flowId}`, { fiId: 99999999, niId: ni.niId })).status).to.equal(404);
    expect((await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: 99999999 })).status).to.equal(404);
    expect((await m.api('POST', `/exec/flow/${flowId}`, { fiId })).status).to.equal(400);
    expect((await m.api('POST', `/exec/flow/${flowId}`, { fiId: 'x', niId: 1 })).status).to.equal(400);
  });

  describe('completion conditions', () => {
    let slow: number;
    before(async () => { slow = await createTask(m.api, 'WAIT', null, { waitMs: 30_000 }); });

    it('ANY (default): one success lets the flow go on, and the unneeded task is cancelled', async () => {
      const flowId = await createFlow(m.api, [[echo, slow], [echo]]);
      const fiId = await startFlow(m.api, flowId);
      expect((await waitForEnd(m.api, fiId, 10_000)).status).to.equal('SUCCESS');
      const tasks = (await detail(m.api, fiId))[1].tasks;
      expect(tasks.map((t: any) => t.status).sort()).to.deep.equal(['CANCELLED', 'SUCCESS']);
    });

    it('ALL: every task must succeed; one failure fails the node at once (fail-fast)', async () => {
      const ok = await startFlow(m.api, await createFlow(m.api, [{ taskIds: [echo, echo], completion: 'ALL' }]));
      expect((await waitForEnd(m.api, ok)).status).to.equal('SUCCESS');
      const fiId = await startFlow(m.api, await createFlow(m.api, [{ taskIds: [slow, fail], completion: 'ALL' }]));
      const row = await waitForEnd(m.api, fiId, 10_000); // the 30 s WAIT is not waited for
      expect(row.status).to.equal('FAILED');
      expect(row.errorMsg).to.equal('boom');
      const tasks = (await detail(m.api, fiId))[1].tasks;
      expect(tasks.find((t: any) => t.taskId === slow).status).to.equal('CANCELLED');
    });

    it('N: at least N successes; fails once N can no longer be reached', async () => {
      const ok = await startFlow(m.api, await createFlow(m.api, [{ taskIds: [echo, fail, echo], completion: 2 }]));
      expect((await waitForEnd(m.api, ok)).status).to.equal('SUCCESS');
      const bad = await startFlow(m.api, await createFlow(m.api, [{ taskIds: [fail, fail, slow], completion: 2 }]));
      expect((await waitForEnd(m.api, bad, 10_000)).status).to.equal('FAILED');
    });

    it('ANY fails only when every task failed', async () => {
      const fiId = await startFlow(m.api, await createFlow(m.api, [[fail, fail]]));
      const row = await waitForEnd(m.api, fiId);
      expect(row.status).to.equal('FAILED');
      expect((await detail(m.api, fiId))[1].tasks.map((t: any) => t.status)).to.deep.equal(['FAILED', 'FAILED']);
    });
  });

  it('cancel: the instance, its node and its running task end CANCELLED and the runner is aborted', async () => {
    const slow = await createTask(m.api, 'WAIT', null, { waitMs: 30_000 });
    const flowId = await createFlow(m.api, [[slow], [echo]]);
    const fiId = await startFlow(m.api, flowId);
    await waitFor('the WAIT task to run', async () => (await detail(m.api, fiId))[1]?.tasks[0]?.status === 'RUNNING');
    const r = await m.api('POST', `/exec/flow-ins/${fiId}/cancel`);
    expect(r.status, r.text).to.equal(200);
    expect((await flowRow(m.api, fiId)).status).to.equal('CANCELLED');
    const nodes = await detail(m.api, fiId);
    expect(nodes.map((n) => n.status)).to.deep.equal(['SUCCESS', 'CANCELLED']);
    expect(nodes[1].tasks[0].status).to.equal('CANCELLED');
    await waitFor('the aborted runner to leave the worker', async () => m.engine.worker!.running === 0);
    expect((await m.api('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.equal(409);
    expect((await m.api('POST', '/exec/flow-ins/99999999/cancel')).status).to.equal(404);
  });

  it('a cancelled instance can be retried', async () => {
    const slow = await createTask(m.api, 'WAIT', null, { waitMs: 30_000 });
    const flowId = await createFlow(m.api, [[slow]]);
    const fiId = await startFlow(m.api, flowId);
    await m.api('POST', `/exec/flow-ins/${fiId}/cancel`);
    await m.api('POST', '/task', { taskId: slow, taskName: 'quick now', taskType: 'WAIT', taskConfig: { waitMs: 1 } });
    const ni = (await detail(m.api, fiId))[1];
    expect((await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: ni.niId })).status).to.equal(200);
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
  });

  it('a task that runs past timeoutMs fails with a timeout', async () => {
    const t = await createTask(m.api, 'WAIT', null, { waitMs: 30_000, timeoutMs: 100 });
    const fiId = await startFlow(m.api, await createFlow(m.api, [[t]]));
    const row = await waitForEnd(m.api, fiId, 10_000);
    expect(row.status).to.equal('FAILED');
    expect(row.errorMsg).to.match(/timed out after 100 ms/);
  });

  it('retries with back-off: every attempt is counted; a later success wins', async () => {
    const always = await createTask(m.api, 'EXCEPTION', 'still broken', { maxRetries: 2, retryBackoffMs: 20 });
    const fiId = await startFlow(m.api, await createFlow(m.api, [[always]]));
    expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
    const t = (await detail(m.api, fiId))[1].tasks[0];
    expect(t).to.include({ status: 'FAILED', attempt: 3, errorMsg: 'still broken' });

    const marker = `/tmp/ts-retry-${process.pid}-${Date.now()}`;
    const flaky = await createTask(m.api, 'SHELL', `test -f ${marker} && echo second || { touch ${marker}; exit 3; }`, { maxRetries: 1, retryBackoffMs: 20 });
    const fi2 = await startFlow(m.api, await createFlow(m.api, [[flaky]]));
    expect((await waitForEnd(m.api, fi2)).status).to.equal('SUCCESS');
    const t2 = (await detail(m.api, fi2))[1].tasks[0];
    expect(t2).to.include({ status: 'SUCCESS', attempt: 2 });
  });

  it('runs a single task on its own', async () => {
    const r = await m.api('POST', `/exec/task/${echo}`);
    expect(r.status, r.text).to.equal(200);
    const tiId = r.body.data.tiId;
    const t = await waitFor('the task instance to succeed', async () => {
      const x = await m.api('GET', `/monitor/task/${tiId}`);
      return x.body.data?.status === 'SUCCESS' ? x.body.data : null;
    });
    expect(t).to.include({ tiId, taskId: echo, output: 'hello', attempt: 1, niId: null, fiId: null });
    expect((await m.api('POST', '/exec/task/99999999')).status).to.equal(404);
    expect((await m.api('GET', '/monitor/task/99999999')).status).to.equal(404);
    expect((await m.api('POST', '/exec/task/abc')).status).to.equal(400);
  });

  it('bad ids get 404/400 in the envelope', async () => {
    for (const [method, path, status] of [
      ['POST', '/exec/flow/99999999', 404],
      ['POST', '/exec/flow/0', 400],
      ['POST', '/monitor/flow/detail/99999999', 404],
      ['POST', '/monitor/flow/detail/x', 400],
    ] as const) {
      const r = await m.api(method, path);
      expect(r.status, path).to.equal(status);
      expect(r.body).to.deep.equal({ code: String(status), message: r.body.message, data: null });
      expect(r.body.message).to.be.a('string').and.not.empty;
    }
    const bad = await m.api('POST', '/monitor/flow', { status: 'SLEEPING' });
    expect(bad.status).to.equal(400);
  });

  it('200 flows started at once all finish, each task recorded SUCCESS exactly once', async () => {
    const flowId = await createFlow(m.api, [[echo], { taskIds: [echo, echo], completion: 'ALL' }, [echo]]);
    const fiIds = await Promise.all(Array.from({ length: 200 }, () => startFlow(m.api, flowId)));
    expect(new Set(fiIds).size).to.equal(200);
    await waitFor('all 200 flows to end', async () => {
      const [{ n }] = await m.services.knex('task_flow_ins').whereIn('fi_id', fiIds).where('status', 'RUNNING').count({ n: '*' });
      return Number(n) === 0;
    }, 60_000, 100);
    const statuses = await m.services.knex('task_flow_ins').whereIn('fi_id', fiIds).select('status');
    expect(statuses.every((r: any) => r.status === 'SUCCESS')).to.equal(true);
    const tis = await m.services.knex('task_ins').whereIn('fi_id', fiIds).select('exec_status', 'attempt');
    expect(tis.length).to.equal(200 * 4);
    expect(tis.every((t: any) => t.exec_status === 'SUCCESS' && t.attempt === 1)).to.equal(true);
    const nis = await m.services.knex('task_node_ins').whereIn('fi_id', fiIds).count({ n: '*' });
    expect(Number(nis[0].n)).to.equal(200 * 5); // START, 3 TASK, END: no node instance made twice
  });

  it('monitor lists instances newest first, filtered and paged', async () => {
    const flowId = await createFlow(m.api, [[echo]]);
    const a = await startFlow(m.api, flowId);
    const b = await startFlow(m.api, flowId);
    await waitForEnd(m.api, a);
    await waitForEnd(m.api, b);
    const r = await m.api('POST', '/monitor/flow', { flowId });
    expect(r.body.data.map((x: any) => x.fiId)).to.deep.equal([b, a]);
    expect(r.headers.get('x-total-count')).to.equal('2');
    const p2 = await m.api('POST', '/monitor/flow', { flowId, page: 2, pageSize: 1 });
    expect(p2.body.data.map((x: any) => x.fiId)).to.deep.equal([a]);
    const failedOnly = await m.api('POST', '/monitor/flow', { flowId, status: 'FAILED' });
    expect(failedOnly.body.data).to.deep.equal([]);
  });
});
