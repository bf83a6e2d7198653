// What the dashboard needs from the API: ?name= on GET /task and GET /flow, the node a FAILED instance
// failed at on POST /monitor/flow, and a single task run with an input.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { freshPrefix } from './helpers/env.js';
import { FAST, retireFlows } from './helpers/processes.js';
import { createFlow, createTask, startFlow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

describe('list filters and the failing node', function () {
  this.timeout(60_000);
  let m: TestMember;
  const flows: number[] = [];
  const tag = `t${Date.now().toString(36)}`;

  before(async () => {
    m = await startTestMember({ ...FAST, REDIS_PREFIX: freshPrefix(), ROLES: 'web,worker', MEMBER_ID: 'lists-a' });
  });
  after(async () => {
    // The member stops even when retiring fails: left running, it would work on the next files' rows.
    try {
      await retireFlows(m.services.knex, flows);
    } finally {
      await m.stop(1000);
    }
  });

  it('?name= keeps the tasks and flows whose name contains it (any case; % and _ match only themselves)', async () => {
    const a = await createTask(m.api, 'ECHO', 'x', undefined, `${tag} Nightly_Report`);
    const b = await createTask(m.api, 'ECHO', 'x', undefined, `${tag} nightly-backup 100%`);
    await createTask(m.api, 'ECHO', 'x', undefined, `${tag} hourly`);
    const names = async (path: string, name: string) => {
      const r = await m.api('GET', `${path}?pageSize=200&name=${encodeURIComponent(name)}`);
      expect(r.status, r.text).to.equal(200);
      return { total: r.body.data.total, ids: r.body.data.list.map((t: any) => t.taskId ?? t.flowId) };
    };
    expect(await names('/task', `${tag} NIGHTLY`)).to.deep.equal({ total: 2, ids: [b, a] });
    expect((await names('/task', `${tag} nightly_`)).ids).to.deep.equal([a]);
    expect((await names('/task', '100%')).ids).to.include(b);
    expect((await names('/task', `${tag}%hourly`)).ids).to.deep.equal([]);

    const f1 = await createFlow(m.api, [[a]], { flowName: `${tag} Billing run` });
    const f2 = await createFlow(m.api, [[a]], { flowName: `${tag} other` });
    flows.push(f1, f2);
    expect(await names('/flow', `${tag} billing`)).to.deep.equal({ total: 1, ids: [f1] });
    const bad = await m.api('GET', `/flow?name=${'x'.repeat(256)}`);
    expect(bad.status).to.equal(400);
    expect(bad.body.message).to.match(/^name: /);
    const twice = await m.api('GET', '/task?name=a&name=b');
    expect(twice.status).to.equal(400);
    expect(twice.body.message).to.match(/^name: /);
  });

  it('a FAILED instance in the list names the node it failed at; others carry no failedNode', async () => {
    const ok = await createTask(m.api, 'ECHO', 'fine');
    const boom = await createTask(m.api, 'EXCEPTION', 'boom');
    const flowId = await createFlow(m.api, [[ok], [boom]]);
    const good = await createFlow(m.api, [[ok]]);
    flows.push(flowId, good);
    const failed = await startFlow(m.api, flowId);
    expect((await waitForEnd(m.api, failed)).status).to.equal('FAILED');
    const fine = await startFlow(m.api, good);
    expect((await waitForEnd(m.api, fine)).status).to.equal('SUCCESS');
    const node = (await m.api('GET', `/flow/${flowId}`)).body.data.flowNodes[2];
    const rows = (await m.api('POST', '/monitor/flow', { pageSize: 50 })).body.data as any[];
    const row = rows.find((r) => r.fiId === failed);
    expect(row.failedNode).to.deep.include({ nodeId: node.nodeId, nodeKey: 'n2' });
    expect(row.failedNode.niId).to.be.a('number');
    expect(rows.find((r) => r.fiId === fine)).to.not.have.property('failedNode');
  });

  it('runs a task on its own with an input its templates read; an input that cannot fill them is a 400 and queues nothing', async () => {
    const greet = await createTask(m.api, 'ECHO', 'hello ${input.name}', undefined, 'greet');
    const run = await m.api('POST', `/exec/task/${greet}`, { input: { name: 'Ada' } });
    expect(run.status, run.text).to.equal(200);
    const done = await waitFor('the run to end', async () => {
      const r = (await m.api('GET', `/monitor/task/${run.body.data.tiId}`)).body.data;
      return ['SUCCESS', 'FAILED'].includes(r.status) ? r : null;
    });
    expect(done).to.include({ status: 'SUCCESS', output: 'hello Ada', renderedContent: 'hello Ada' });

    const count = async () => Number((await m.services.knex('task_ins').where('task_id', greet).count({ n: '*' }))[0].n);
    const before = await count();
    for (const [body, msg] of [
      [{ input: { other: 1 } }, 'input: template ${input.name}: input has no field "name"'],
      [{ input: [1] }, 'input: must be a JSON object'],
    ] as const) {
      const r = await m.api('POST', `/exec/task/${greet}`, body);
      expect(r.status, r.text).to.equal(400);
      expect(r.body.message).to.equal(msg);
    }
    expect(await count()).to.equal(before);
    // Without an input the run is queued as before, and fails on its template.
    const bare = await m.api('POST', `/exec/task/${greet}`);
    expect(bare.status, bare.text).to.equal(200);
  });
});
