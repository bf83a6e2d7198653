import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { saveTask } from './helpers/flows.js';

const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const ORIGINAL_TASK_KEYS = ['createTime', 'updateTime', 'taskId', 'taskName', 'taskType', 'taskContent'];

describe('task definitions API', () => {
  let m: TestMember;
  before(async () => { m = await startTestMember({ ROLES: 'web' }); });
  after(async () => { await m.stop(); });

  const db = () => m.services.knex;
  /** An ECHO task unless `body` says otherwise. */
  const aTask = (body: Record<string, unknown> = {}, headers?: Record<string, string>) => saveTask(m.api, { taskName: 'a task', taskType: 'ECHO', taskContent: 'hi', ...body }, headers);
  async function expect400(body: unknown, field: string): Promise<string> {
    const r = await m.api('POST', '/task', body);
    expect(r.status, r.text).to.equal(400);
    expect(r.body).to.deep.include({ code: '400', data: null });
    expect(r.body.message.startsWith(`${field}: `), r.body.message).to.equal(true);
    return r.body.message;
  }

  describe("the original API's requests", () => {
    const original = [
      { taskName: 'first task1', taskType: 'ECHO', taskContent: 'hello' },
      { taskName: 'wait task1', taskType: 'WAIT', taskContent: '1000' },
      { taskName: 'exception task1', taskType: 'EXCEPTION', taskContent: 'task content' },
    ];
    for (const body of original) {
      it(`POST /task ${body.taskType} answers the original API's shape, and GET /task/{id} the same`, async () => {
        const r = await m.api('POST', '/task', body);
        expect(r.status).to.equal(200);
        expect(r.text.startsWith('{"code":"200","message":"SUCCESS","data":{"createTime":"'), r.text).to.equal(true);
        const t = r.body.data;
        expect(Object.keys(t)).to.deep.equal(ORIGINAL_TASK_KEYS);
        expect(t.createTime).to.match(TIME);
        expect(t.updateTime).to.equal(t.createTime);
        expect(t.taskId).to.be.a('number').and.above(0);
        expect({ taskName: t.taskName, taskType: t.taskType, taskContent: t.taskContent }).to.deep.equal(body);

        const g = await m.api('GET', `/task/${t.taskId}`);
        expect(g.status).to.equal(200);
        expect(g.text).to.equal(r.text);
      });
    }
  });

  describe('POST /task', () => {
    it("adds taskDescription and taskConfig after the original API's keys, and takes taskConfig as a JSON string too", async () => {
      const t = await aTask({ taskType: 'WAIT', taskDescription: 'waits', taskConfig: '{"waitMs":5,"maxRetries":2}' });
      expect(Object.keys(t)).to.deep.equal([...ORIGINAL_TASK_KEYS, 'taskDescription', 'taskConfig']);
      expect(t.taskConfig).to.deep.equal({ waitMs: 5, maxRetries: 2 });
      const row = await db()('task').where('task_id', t.taskId).first();
      expect(JSON.parse(row.task_config)).to.deep.equal({ waitMs: 5, maxRetries: 2 });
    });

    it('leaves out null keys (no taskContent, no description)', async () => {
      const t = await aTask({ taskContent: null });
      expect(Object.keys(t)).to.deep.equal(['createTime', 'updateTime', 'taskId', 'taskName', 'taskType']);
    });

    it('records X-User as create_user and update_user, default system', async () => {
      const a = await aTask({}, { 'X-User': 'alice' });
      const b = await aTask();
      const rows = await db()('task').whereIn('task_id', [a.taskId, b.taskId]).orderBy('task_id');
      expect(rows.map((r: any) => [r.create_user, r.update_user])).to.deep.equal([['alice', 'alice'], ['system', 'system']]);
    });

    it('updates the task named by taskId: left-out fields kept, null clears, update_user recorded', async () => {
      const t = await aTask({ taskDescription: 'd', taskConfig: { timeoutMs: 1000 } }, { 'X-User': 'alice' });
      const r = await m.api('POST', '/task', { taskId: t.taskId, taskName: 'renamed', taskType: 'EXCEPTION', taskDescription: null }, { 'X-User': 'bob' });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.data).to.deep.include({ taskId: t.taskId, taskName: 'renamed', taskType: 'EXCEPTION', taskContent: 'hi', taskConfig: { timeoutMs: 1000 } });
      expect(r.body.data).not.to.have.property('taskDescription');
      expect(r.body.data.createTime).to.equal(t.createTime);
      const row = await db()('task').where('task_id', t.taskId).first();
      expect([row.create_user, row.update_user, row.task_description]).to.deep.equal(['alice', 'bob', null]);
    });

    it('accepts taskId as a digit string', async () => {
      const t = await aTask();
      const r = await m.api('POST', '/task', { taskId: String(t.taskId), taskName: 'again', taskType: 'ECHO' });
      expect(r.status).to.equal(200);
      expect(r.body.data.taskId).to.equal(t.taskId);
    });

    it('an unknown or deleted taskId is a 404 that says to omit it', async () => {
      const r = await m.api('POST', '/task', { taskId: 987654321, taskName: 'x', taskType: 'ECHO' });
      expect(r.status).to.equal(404);
      expect(r.body).to.deep.include({ code: '404', data: null });
      expect(r.body.message).to.match(/task 987654321 does not exist; omit taskId to create/);
      const t = await aTask();
      expect((await m.api('DELETE', `/task/${t.taskId}`)).status).to.equal(200);
      expect((await m.api('POST', '/task', { taskId: t.taskId, taskName: 'x', taskType: 'ECHO' })).status).to.equal(404);
    });

    it('refuses a bad taskType, name, description, content', async () => {
      await expect400({ taskName: 'x', taskType: 'PYTHON' }, 'taskType');
      await expect400({ taskName: 'x' }, 'taskType');
      await expect400({ taskType: 'ECHO' }, 'taskName');
      await expect400({ taskName: '   ', taskType: 'ECHO' }, 'taskName');
      await expect400({ taskName: 'x'.repeat(256), taskType: 'ECHO' }, 'taskName');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskDescription: 'd'.repeat(1025) }, 'taskDescription');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskContent: { a: 1 } }, 'taskContent');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskId: 0 }, 'taskId');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskId: 'abc' }, 'taskId');
      // The limits are inclusive.
      expect((await m.api('POST', '/task', { taskName: 'x'.repeat(255), taskType: 'ECHO', taskDescription: 'd'.repeat(1024) })).status).to.equal(200);
    });

    it('checks taskConfig against the task type', async () => {
      await expect400({ taskName: 'x', taskType: 'ECHO', taskConfig: [1] }, 'taskConfig');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskConfig: 'not json' }, 'taskConfig');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskConfig: '[1,2]' }, 'taskConfig');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskConfig: 7 }, 'taskConfig');
      await expect400({ taskName: 'x', taskType: 'WAIT', taskConfig: { waitMs: -1 } }, 'taskConfig.waitMs');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskConfig: { waitMs: 5 } }, 'taskConfig');
      await expect400({ taskName: 'x', taskType: 'ECHO', taskConfig: { timeoutMs: 'soon' } }, 'taskConfig.timeoutMs');
      await expect400({ taskName: 'x', taskType: 'HTTP' }, 'taskConfig.url');
      await expect400({ taskName: 'x', taskType: 'HTTP', taskConfig: { url: 'ftp://example.com' } }, 'taskConfig.url');
      const h = await aTask({ taskType: 'HTTP', taskConfig: { url: 'http://127.0.0.1:1/x', method: 'POST' } });
      expect(h.taskConfig).to.deep.equal({ url: 'http://127.0.0.1:1/x', method: 'POST' });
      // A stored config that does not fit a new type is refused, with a hint.
      const w = await aTask({ taskType: 'WAIT', taskConfig: { waitMs: 10 } });
      const msg = await expect400({ taskId: w.taskId, taskName: 'x', taskType: 'ECHO' }, 'taskConfig');
      expect(msg).to.match(/stored taskConfig/);
      // … and accepted once a fitting one is sent (null clears it).
      const r = await m.api('POST', '/task', { taskId: w.taskId, taskName: 'x', taskType: 'ECHO', taskConfig: null });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.data).not.to.have.property('taskConfig');
    });

    it('a refused create writes nothing', async () => {
      const [{ n: before }] = await db()('task').count({ n: '*' });
      await expect400({ taskName: 'x', taskType: 'WAIT', taskConfig: { waitMs: 'long' } }, 'taskConfig.waitMs');
      const [{ n: after }] = await db()('task').count({ n: '*' });
      expect(Number(after)).to.equal(Number(before));
    });
  });

  describe('GET /task', () => {
    it('pages live tasks newest first', async () => {
      const mine = [await aTask({ taskName: 'p1' }), await aTask({ taskName: 'p2' }), await aTask({ taskName: 'p3' })];
      const gone = await aTask({ taskName: 'p4' });
      expect((await m.api('DELETE', `/task/${gone.taskId}`)).status).to.equal(200);
      const [{ n: live }] = await db()('task').whereNull('deleted_time').count({ n: '*' });

      const p1 = await m.api('GET', '/task?page=1&pageSize=2');
      expect(p1.status).to.equal(200);
      expect(Object.keys(p1.body.data)).to.deep.equal(['total', 'page', 'pageSize', 'list']);
      expect(p1.body.data).to.deep.include({ total: Number(live), page: 1, pageSize: 2 });
      expect(p1.body.data.list.map((t: any) => t.taskId)).to.deep.equal([mine[2].taskId, mine[1].taskId]);
      expect(p1.body.data.list[0]).to.deep.equal(mine[2]);
      const p2 = await m.api('GET', '/task?page=2&pageSize=2');
      expect(p2.body.data.list[0].taskId).to.equal(mine[0].taskId);

      const all = await m.api('GET', '/task?pageSize=200');
      expect(all.body.data.list.map((t: any) => t.taskId)).not.to.include(gone.taskId);
      const ids = all.body.data.list.map((t: any) => t.taskId);
      expect(ids).to.deep.equal([...ids].sort((a: number, b: number) => b - a));

      const dflt = await m.api('GET', '/task');
      expect(dflt.body.data).to.deep.include({ page: 1, pageSize: 20 });
      expect(dflt.body.data.list.length).to.equal(Math.min(20, Number(live)));

      const far = await m.api('GET', '/task?page=100000&pageSize=200');
      expect(far.body.data.list).to.deep.equal([]);
    });

    it('refuses bad page and pageSize values', async () => {
      for (const [q, field] of [['page=0', 'page'], ['page=abc', 'page'], ['pageSize=0', 'pageSize'], ['pageSize=201', 'pageSize'], ['pageSize=-5', 'pageSize'], ['page=1&page=2', 'page']]) {
        const r = await m.api('GET', `/task?${q}`);
        expect(r.status, q).to.equal(400);
        expect(r.body.message.startsWith(`${field}: `), r.body.message).to.equal(true);
      }
    });
  });

  describe('DELETE /task/{taskId}', () => {
    it('soft-deletes: the row stays with deleted_time and update_user, GET is a 404, a second delete a 404', async () => {
      const t = await aTask();
      const r = await m.api('DELETE', `/task/${t.taskId}`, undefined, { 'X-User': 'carol' });
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ code: '200', message: 'SUCCESS', data: { taskId: t.taskId } });
      const row = await db()('task').where('task_id', t.taskId).first();
      expect(row.deleted_time).to.be.instanceOf(Date);
      expect(row.update_user).to.equal('carol');
      expect((await m.api('GET', `/task/${t.taskId}`)).status).to.equal(404);
      expect((await m.api('DELETE', `/task/${t.taskId}`)).status).to.equal(404);
      expect((await m.api('DELETE', '/task/abc')).status).to.equal(400);
    });

    it('is a 409 naming the flow while its current version uses the task; allowed once a new version drops it', async () => {
      const a = await aTask();
      const b = await aTask();
      const nodes = (ids: string) => [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: ids }, { nodeType: 'END' }];
      const f = await m.api('POST', '/flow', { flowName: 'uses a', flowNodes: nodes(`${a.taskId},${b.taskId}`) });
      expect(f.status, f.text).to.equal(200);
      const flowId = f.body.data.flowId;

      const r = await m.api('DELETE', `/task/${a.taskId}`);
      expect(r.status).to.equal(409);
      expect(r.body.code).to.equal('409');
      expect(r.body.message).to.include(`flow ${flowId} "uses a"`);
      expect((await m.api('GET', `/task/${a.taskId}`)).status).to.equal(200);

      // The new version no longer names a: the old version still does, which does not matter.
      expect((await m.api('POST', '/flow', { flowId, flowName: 'uses b', flowNodes: nodes(String(b.taskId)) })).status).to.equal(200);
      expect((await m.api('DELETE', `/task/${a.taskId}`)).status).to.equal(200);
      // The old version still shows the deleted task it ran.
      const v1 = await m.api('GET', `/flow/${flowId}?version=1`);
      expect(v1.body.data.flowNodes[1].tasks.map((t: any) => t.taskId)).to.deep.equal([a.taskId, b.taskId]);

      // A deleted flow no longer holds its tasks.
      expect((await m.api('DELETE', `/task/${b.taskId}`)).status).to.equal(409);
      expect((await m.api('DELETE', `/flow/${flowId}`)).status).to.equal(200);
      expect((await m.api('DELETE', `/task/${b.taskId}`)).status).to.equal(200);
    });

    it('does not mistake task 1 for task 11 in "11,12"', async () => {
      const t = await aTask();
      const other = Number(`${t.taskId}1`);
      await db()('task').insert({ task_id: other, task_name: 'lookalike', task_type: 'ECHO', create_time: new Date(), update_time: new Date() });
      const f = await m.api('POST', '/flow', { flowName: 'lookalike', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: [other] }, { nodeType: 'END' }] });
      expect(f.status, f.text).to.equal(200);
      expect((await m.api('DELETE', `/task/${other}`)).status).to.equal(409);
      expect((await m.api('DELETE', `/task/${t.taskId}`)).status).to.equal(200);
    });
  });

  // For both definitions areas: the middleware's answers hold on these endpoints, never a 500.
  describe('malformed requests on /task and /flow', () => {
    for (const path of ['/task', '/flow']) {
      it(`POST ${path}: bad JSON is a 400, a non-JSON body a 415, a body over 1mb a 413, all in the envelope`, async () => {
        const bad = await m.api('POST', path, '{bad json');
        expect(bad.status).to.equal(400);
        expect(bad.body).to.deep.include({ code: '400', data: null });
        expect(bad.body.message).to.be.a('string').and.not.equal('internal error');
        const plain = await m.api('POST', path, '{"taskName":"x"}', { 'content-type': 'text/plain' });
        expect(plain.status).to.equal(415);
        expect(plain.body).to.deep.include({ code: '415', data: null });
        const big = await m.api('POST', path, JSON.stringify({ taskName: 'x', flowName: 'x', taskType: 'ECHO', taskContent: 'x'.repeat(1024 * 1024 + 10) }));
        expect(big.status).to.equal(413);
        expect(big.body).to.deep.include({ code: '413', data: null });
        for (const body of ['[1,2]', '"x"', 'null', '']) {
          const r = await m.api('POST', path, body, { 'content-type': 'application/json' });
          expect(r.status, JSON.stringify(body)).to.equal(400);
          expect(r.body.code).to.equal('400');
        }
        expect((await m.api('POST', path, '[1,2]')).body.message).to.match(/^body: /);
      });

      const name = path === '/task' ? 'taskId' : 'flowId';
      it(`GET and DELETE ${path}/{${name}}: an id that is not a positive integer is a 400, an unknown one a 404`, async () => {
        for (const bad of ['abc', '0', '-1', '1.5', '1e3', '99999999999999999999']) {
          for (const method of ['GET', 'DELETE']) {
            const r = await m.api(method, `${path}/${bad}`);
            expect(r.status, `${method} ${bad}`).to.equal(400);
            expect(r.body.message).to.match(new RegExp(`^${name} must be a positive integer`));
          }
        }
        const what = path.slice(1);
        expect((await m.api('GET', `${path}/987654321`)).body).to.deep.equal({ code: '404', message: `${what} 987654321 does not exist`, data: null });
      });
    }
  });

  describe('OpenAPI', () => {
    it('describes every definitions endpoint', async () => {
      const doc = (await m.api('GET', '/openapi.json')).body as any;
      expect(Object.keys(doc.paths['/task'])).to.have.members(['post', 'get']);
      expect(Object.keys(doc.paths['/task/{taskId}'])).to.have.members(['get', 'delete']);
      expect(Object.keys(doc.paths['/flow'])).to.have.members(['post', 'get']);
      expect(Object.keys(doc.paths['/flow/{flowId}'])).to.have.members(['get', 'patch', 'delete']);
      expect(doc.paths['/flow'].post.responses['200'].content['application/json'].schema.properties.data.properties).to.have.property('flowNodes');
      expect(doc.paths['/task/{taskId}'].delete.responses).to.have.property('409');
    });
  });
});
