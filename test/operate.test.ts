// Operating it day to day (issue 22): mistakes caught when they are made (a WAIT content that is not
// milliseconds, a start body with a field the start does not take), and a monitor detail that names
// each node instance's node.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { createFlow, createTask, detail, startFlow, waitForEnd } from './helpers/flows.js';

describe('operate: mistakes caught when they are made', () => {
  let m: TestMember;
  before(async () => { m = await startTestMember({ ROLES: 'web,worker' }); });
  after(async () => { await m.stop(); });

  async function refused(method: string, path: string, body: unknown, field: string, message?: RegExp): Promise<string> {
    const r = await m.api(method, path, body);
    expect(r.status, r.text).to.equal(400);
    expect(r.body).to.deep.include({ code: '400', data: null });
    expect(r.body.message.startsWith(`${field}: `), r.body.message).to.equal(true);
    if (message) expect(r.body.message).to.match(message);
    return r.body.message;
  }
  const taskRows = async () => Number((await m.services.knex('task').count({ n: '*' }))[0].n);

  describe('a WAIT task\'s content', () => {
    it('"5s", "-1", "1.5", "999999999999" are a 400 naming taskContent at save, and no row is written', async () => {
      const before = await taskRows();
      for (const content of ['5s', '-1', '1.5', '999999999999', 'soon']) {
        await refused('POST', '/task', { taskName: 'w', taskType: 'WAIT', taskContent: content }, 'taskContent', /whole number of milliseconds/);
      }
      expect(await taskRows()).to.equal(before);
    });

    it('the original API\'s "1000", an empty content, a number, a template and any content beside taskConfig.waitMs are saved', async () => {
      await createTask(m.api, 'WAIT', '1000');
      await createTask(m.api, 'WAIT', ' 250 ');
      await createTask(m.api, 'WAIT', null);
      await createTask(m.api, 'WAIT', '86400000');
      await createTask(m.api, 'WAIT', '${input.delayMs}');
      await createTask(m.api, 'WAIT', '5s', { waitMs: 10 });
      const r = await m.api('POST', '/task', { taskName: 'n', taskType: 'WAIT', taskContent: 1000 });
      expect(r.status, r.text).to.equal(200);
    });

    it('an update to WAIT that keeps a content which is not milliseconds is refused, naming taskContent', async () => {
      const echo = await createTask(m.api, 'ECHO', 'hello');
      await refused('POST', '/task', { taskId: echo, taskName: 'now a wait', taskType: 'WAIT' }, 'taskContent');
      await refused('POST', '/task', { taskId: await createTask(m.api, 'WAIT', '5s', { waitMs: 5 }), taskName: 'w', taskType: 'WAIT', taskConfig: null }, 'taskContent');
    });
  });

  describe('a start\'s body', () => {
    let flowId: number;
    before(async () => { flowId = await createFlow(m.api, [[await createTask(m.api, 'ECHO', 'hello ${input.name}')]]); });

    it('{"name":"Ada"} is a 400 naming name, saying where the input goes, and starts nothing', async () => {
      const count = async () => Number((await m.services.knex('task_flow_ins').where('flow_id', flowId).count({ n: '*' }))[0].n);
      const msg = await refused('POST', `/exec/flow/${flowId}`, { name: 'Ada' }, 'name');
      expect(msg).to.equal('name: unknown field; the start\'s input goes in {"input": {…}}');
      await refused('POST', `/exec/flow/${flowId}`, { input: { name: 'Ada' }, inputs: {} }, 'inputs');
      await refused('POST', `/exec/flow/${flowId}`, { fiId: 1, niId: 1, force: true }, 'force');
      expect(await count()).to.equal(0);
    });

    it('{"input": {…}} and no body still start', async () => {
      const fiId = (await m.api('POST', `/exec/flow/${flowId}`, { input: { name: 'Ada' } })).body.data.fiId;
      expect(fiId).to.be.a('number');
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      expect(await startFlow(m.api, flowId)).to.be.a('number');
    });
  });

  describe('the monitor\'s detail', () => {
    it('gives every node instance its nodeKey and nodeType', async () => {
      const echo = await createTask(m.api, 'ECHO', 'x');
      const r = await m.api('POST', '/flow', {
        flowName: 'keyed',
        flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(echo), nodeKey: 'first' }, { nodeType: 'TASK', taskIds: String(echo) }, { nodeType: 'END' }],
      });
      expect(r.status, r.text).to.equal(200);
      const fiId = await startFlow(m.api, r.body.data.flowId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const rows = await detail(m.api, fiId);
      expect(rows.map((n) => [n.nodeType, n.nodeKey])).to.deep.equal([['START', 'n0'], ['TASK', 'first'], ['TASK', 'n2'], ['END', 'n3']]);
    });
  });
});
