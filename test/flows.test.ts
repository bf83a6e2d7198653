import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { createTask, saveTask } from './helpers/flows.js';

const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const FLOW_KEYS = ['flowId', 'flowName', 'flowDescription', 'flowNodes', 'createTime', 'updateTime', 'flowVersion', 'cronEnabled'];

describe('flow definitions API', () => {
  let m: TestMember;
  let echo: number, wait: number, exc: number;
  before(async () => {
    m = await startTestMember({ ROLES: 'web' });
    echo = await createTask(m.api, 'ECHO', 'hello', undefined, 'first task1');
    wait = await createTask(m.api, 'WAIT', '1000', undefined, 'wait task1');
    exc = await createTask(m.api, 'EXCEPTION', 'task content', undefined, 'exception task1');
  });
  after(async () => { await m.stop(); });

  const db = () => m.services.knex;
  const chain = (...taskNodes: unknown[]) => [{ nodeType: 'START' }, ...taskNodes.map((n) => (typeof n === 'object' && n !== null && !Array.isArray(n) ? { nodeType: 'TASK', ...n } : { nodeType: 'TASK', taskIds: n })), { nodeType: 'END' }];
  async function saveFlow(body: Record<string, unknown>, headers?: Record<string, string>): Promise<any> {
    const r = await m.api('POST', '/flow', { flowName: 'a flow', ...body }, headers);
    expect(r.status, r.text).to.equal(200);
    return r.body.data;
  }
  async function expect400(body: Record<string, unknown>, field: string): Promise<string> {
    const r = await m.api('POST', '/flow', body);
    expect(r.status, r.text).to.equal(400);
    expect(r.body).to.deep.include({ code: '400', data: null });
    expect(r.body.message.startsWith(`${field}: `), r.body.message).to.equal(true);
    return r.body.message;
  }
  /** Rows in task_flow and task_node: a refused save must not change them. */
  const counts = async () => Promise.all(['task_flow', 'task_node'].map(async (t) => Number((await db()(t).count({ n: '*' }))[0].n)));

  describe("the original API's requests", () => {
    it("POST /flow answers the original API's shape, and GET /flow/{id} the same", async () => {
      const body = {
        flowName: 'first flow',
        flowDescription: 'first flow for test1',
        flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: `${echo}` }, { nodeType: 'TASK', taskIds: `${wait}` }, { nodeType: 'TASK', taskIds: `${exc}` }, { nodeType: 'TASK', taskIds: `${echo}` }, { nodeType: 'END' }],
      };
      const r = await m.api('POST', '/flow', body);
      expect(r.status, r.text).to.equal(200);
      expect(r.text.startsWith('{"code":"200","message":"SUCCESS","data":{"flowId":'), r.text).to.equal(true);
      const f = r.body.data;
      expect(Object.keys(f)).to.deep.equal(FLOW_KEYS);
      expect(f).to.deep.include({ flowName: 'first flow', flowDescription: 'first flow for test1', flowVersion: 1, cronEnabled: false });
      for (const k of ['createTime', 'updateTime']) expect(f[k]).to.match(TIME);

      const nodes = f.flowNodes;
      expect(nodes.map((n: any) => n.nodeType)).to.deep.equal(['START', 'TASK', 'TASK', 'TASK', 'TASK', 'END']);
      expect(Object.keys(nodes[0])).to.deep.equal(['nodeId', 'nodeType', 'createTime', 'updateTime']);
      for (const n of nodes.slice(1, 5)) expect(Object.keys(n)).to.deep.equal(['nodeId', 'tasks', 'nodeType', 'prevNode', 'createTime', 'updateTime', 'completion']);
      expect(Object.keys(nodes[5])).to.deep.equal(['nodeId', 'nodeType', 'prevNode', 'createTime', 'updateTime']);
      nodes.forEach((n: any, i: number) => {
        if (i > 0) expect(n.prevNode).to.equal(nodes[i - 1].nodeId);
        expect(n.createTime).to.match(TIME);
      });
      expect(nodes.slice(1, 5).map((n: any) => n.tasks.map((t: any) => t.taskId))).to.deep.equal([[echo], [wait], [exc], [echo]]);
      expect(nodes.slice(1, 5).map((n: any) => n.completion)).to.deep.equal(['ANY', 'ANY', 'ANY', 'ANY']);
      const t = nodes[1].tasks[0];
      expect(Object.keys(t)).to.deep.equal(['createTime', 'updateTime', 'taskId', 'taskName', 'taskType']);
      expect(t).to.deep.include({ taskId: echo, taskName: 'first task1', taskType: 'ECHO' });
      expect(t.createTime).to.match(TIME);

      const g = await m.api('GET', `/flow/${f.flowId}`);
      expect(g.status).to.equal(200);
      expect(g.text).to.equal(r.text);
    });

    it('stores the nodes as the original API did: seq, prev_node chain, task_ids "1,2", completion for TASK nodes only', async () => {
      const f = await saveFlow({ flowNodes: chain([echo, wait], { taskIds: ` ${exc} , ${echo}`, completion: 'ALL' }, { taskIds: [echo, wait, exc], completion: 2 }) });
      const rows = await db()('task_node').where('flow_id', f.flowId).orderBy('seq');
      expect(rows.map((r: any) => [r.seq, r.node_type, r.task_ids, r.completion, r.flow_version])).to.deep.equal([
        [0, 'START', null, null, 1],
        [1, 'TASK', `${echo},${wait}`, 'ANY', 1],
        [2, 'TASK', `${exc},${echo}`, 'ALL', 1],
        [3, 'TASK', `${echo},${wait},${exc}`, '2', 1],
        [4, 'END', null, null, 1],
      ]);
      expect(rows.map((r: any) => r.prev_node)).to.deep.equal([null, ...rows.slice(0, 4).map((r: any) => r.node_id)]);
      expect(f.flowNodes.map((n: any) => n.completion ?? null)).to.deep.equal([null, 'ANY', 'ALL', 2, null]);
    });

    it('lets a node list a task more than once (each listing is its own run)', async () => {
      const f = await saveFlow({ flowNodes: chain({ taskIds: [echo, echo], completion: 2 }) });
      expect(f.flowNodes[1].tasks.map((t: any) => t.taskId)).to.deep.equal([echo, echo]);
    });
  });

  describe('versions', () => {
    it('a save with flowId makes version + 1 with new nodes; ?version=1 still answers the old ones', async () => {
      const v1 = await saveFlow({ flowNodes: chain(String(echo), String(wait)) });
      const oldRows = await db()('task_node').where('flow_id', v1.flowId).orderBy('seq');
      const v2 = await saveFlow({ flowId: v1.flowId, flowName: 'renamed', flowNodes: chain(String(exc)) });
      expect(v2).to.deep.include({ flowId: v1.flowId, flowName: 'renamed', flowVersion: 2 });
      const oldIds = v1.flowNodes.map((n: any) => n.nodeId);
      expect(v2.flowNodes).to.have.length(3);
      for (const n of v2.flowNodes) expect(oldIds).not.to.include(n.nodeId);
      expect(v2.flowNodes[1].tasks.map((t: any) => t.taskId)).to.deep.equal([exc]);

      expect((await m.api('GET', `/flow/${v1.flowId}`)).body.data).to.deep.equal(v2);
      const old = await m.api('GET', `/flow/${v1.flowId}?version=1`);
      expect(old.status).to.equal(200);
      expect(old.body.data.flowVersion).to.equal(1);
      expect(old.body.data.flowNodes).to.deep.equal(v1.flowNodes);
      expect(await db()('task_node').where({ flow_id: v1.flowId, flow_version: 1 }).orderBy('seq')).to.deep.equal(oldRows);

      for (const [q, status] of [['version=3', 404], ['version=0', 400], ['version=abc', 400], ['version=2', 200]] as const) {
        const r = await m.api('GET', `/flow/${v1.flowId}?${q}`);
        expect(r.status, q).to.equal(status);
      }
    });

    it('an unknown flowId is a 404 that says to omit it, and writes nothing', async () => {
      const before = await counts();
      const r = await m.api('POST', '/flow', { flowId: 987654321, flowName: 'x', flowNodes: chain(String(echo)) });
      expect(r.status).to.equal(404);
      expect(r.body).to.deep.include({ code: '404', data: null });
      expect(r.body.message).to.match(/flow 987654321 does not exist; omit flowId to create/);
      expect(await counts()).to.deep.equal(before);
    });

    it('five concurrent saves of one flow give five whole, distinct versions', async () => {
      const f = await saveFlow({ flowNodes: chain(String(echo)) });
      // Save i has i TASK nodes, so each version's rows show which save wrote them.
      const saves = await Promise.all(
        [1, 2, 3, 4, 5].map((i) => m.api('POST', '/flow', { flowId: f.flowId, flowName: `save ${i}`, flowNodes: chain(...Array.from({ length: i }, () => [wait])) })),
      );
      for (const s of saves) expect(s.status, s.text).to.equal(200);
      const versions = saves.map((s) => s.body.data.flowVersion);
      expect([...versions].sort()).to.deep.equal([2, 3, 4, 5, 6]);
      for (const [i, s] of saves.entries()) {
        const rows = await db()('task_node').where({ flow_id: f.flowId, flow_version: s.body.data.flowVersion }).orderBy('seq');
        expect(rows.map((r: any) => r.seq)).to.deep.equal(Array.from({ length: i + 3 }, (_, k) => k));
        expect(rows.map((r: any) => r.prev_node)).to.deep.equal([null, ...rows.slice(0, -1).map((r: any) => r.node_id)]);
        expect(s.body.data.flowNodes.map((n: any) => n.nodeId)).to.deep.equal(rows.map((r: any) => r.node_id));
      }
      const flow = await db()('task_flow').where('flow_id', f.flowId).first();
      expect(flow.flow_version).to.equal(6);
      const last = saves.find((s) => s.body.data.flowVersion === 6)!;
      expect(flow.flow_name).to.equal(last.body.data.flowName);
    });
  });

  describe('validation', () => {
    const ok = () => chain('1'); // '1' is replaced by a real task id below
    const cases: [string, Record<string, unknown>, string, RegExp?][] = [
      ['no flowName', { flowNodes: ok() }, 'flowName'],
      ['a blank flowName', { flowName: ' ', flowNodes: ok() }, 'flowName'],
      ['a flowName over 255', { flowName: 'x'.repeat(256), flowNodes: ok() }, 'flowName'],
      ['a flowDescription over 1024', { flowName: 'x', flowDescription: 'd'.repeat(1025), flowNodes: ok() }, 'flowDescription'],
      ['no flowNodes', { flowName: 'x' }, 'flowNodes'],
      ['empty flowNodes', { flowName: 'x', flowNodes: [] }, 'flowNodes'],
      ['no START first', { flowName: 'x', flowNodes: [{ nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END' }] }, 'flowNodes[0].nodeType', /first node must be START/],
      ['no END last', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }] }, 'flowNodes[1].nodeType', /last node must be END/],
      ['two STARTs', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END' }] }, 'flowNodes[1].nodeType'],
      ['two ENDs', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END' }, { nodeType: 'END' }] }, 'flowNodes[2].nodeType'],
      ['no TASK node', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'END' }] }, 'flowNodes', /at least one TASK/],
      ['an unknown nodeType', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'FORK' }, { nodeType: 'END' }] }, 'flowNodes[1].nodeType'],
      ['a node that is not an object', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, 'TASK', { nodeType: 'END' }] }, 'flowNodes[1]'],
      ['a TASK node without taskIds', { flowName: 'x', flowNodes: chain(null) }, 'flowNodes[1].taskIds'],
      ['empty taskIds', { flowName: 'x', flowNodes: chain('') }, 'flowNodes[1].taskIds'],
      ['an empty taskIds array', { flowName: 'x', flowNodes: chain([]) }, 'flowNodes[1].taskIds'],
      ['taskIds not ids', { flowName: 'x', flowNodes: chain('1,x') }, 'flowNodes[1].taskIds'],
      ['taskIds with 0', { flowName: 'x', flowNodes: chain([0]) }, 'flowNodes[1].taskIds'],
      ['taskIds as a number', { flowName: 'x', flowNodes: chain(5) }, 'flowNodes[1].taskIds'],
      ['taskIds on START', { flowName: 'x', flowNodes: [{ nodeType: 'START', taskIds: '1' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END' }] }, 'flowNodes[0].taskIds'],
      ['taskIds on END', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END', taskIds: [1] }] }, 'flowNodes[2].taskIds'],
      ['completion on END', { flowName: 'x', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END', completion: 'ALL' }] }, 'flowNodes[2].completion'],
      ['completion above the task count', { flowName: 'x', flowNodes: chain({ taskIds: '1,2', completion: 3 }) }, 'flowNodes[1].completion', /at most the node's task count \(2\)/],
      ['completion 0', { flowName: 'x', flowNodes: chain({ taskIds: '1', completion: 0 }) }, 'flowNodes[1].completion'],
      ['completion 1.5', { flowName: 'x', flowNodes: chain({ taskIds: '1,2', completion: 1.5 }) }, 'flowNodes[1].completion'],
      ['completion SOME', { flowName: 'x', flowNodes: chain({ taskIds: '1', completion: 'SOME' }) }, 'flowNodes[1].completion'],
      ['a bad cron', { flowName: 'x', cron: '61 * * * *', flowNodes: ok() }, 'cron', /not a valid cron expression/],
      ['a cron that is not a string', { flowName: 'x', cron: 5, flowNodes: ok() }, 'cron'],
      ['cronEnabled without cron', { flowName: 'x', cronEnabled: true, flowNodes: ok() }, 'cronEnabled'],
      ['cronEnabled not a boolean', { flowName: 'x', cron: '* * * * *', cronEnabled: 'yes', flowNodes: ok() }, 'cronEnabled'],
      ['a flowId that is not an id', { flowId: 'one', flowName: 'x', flowNodes: ok() }, 'flowId'],
    ];
    for (const [what, body, field, re] of cases) {
      it(`refuses ${what} (400 naming ${field})`, async () => {
        // The shape is checked with real task ids where ids are meant to be fine.
        const msg = await expect400(JSON.parse(JSON.stringify(body).replaceAll('"1"', `"${echo}"`).replaceAll('"1,2"', `"${echo},${wait}"`)), field);
        if (re) expect(msg).to.match(re);
      });
    }

    it('refuses unknown and deleted tasks, naming the node, and writes nothing', async () => {
      const gone = (await saveTask(m.api, { taskName: 'gone', taskType: 'ECHO' })).taskId;
      expect((await m.api('DELETE', `/task/${gone}`)).status).to.equal(200);
      const before = await counts();
      const msg = await expect400({ flowName: 'x', flowNodes: chain(String(echo), String(wait), `${echo},987654321`) }, 'flowNodes[3].taskIds');
      expect(msg).to.equal('flowNodes[3].taskIds: task 987654321 does not exist');
      const msg2 = await expect400({ flowName: 'x', flowNodes: chain([echo], [gone]) }, 'flowNodes[2].taskIds');
      expect(msg2).to.equal(`flowNodes[2].taskIds: task ${gone} does not exist`);
      expect(await counts()).to.deep.equal(before);
    });

    it('a refused new version leaves the flow at its version, its rows unchanged', async () => {
      const f = await saveFlow({ flowNodes: chain(String(echo)) });
      const flowRow = await db()('task_flow').where('flow_id', f.flowId).first();
      const before = await counts();
      await expect400({ flowId: f.flowId, flowName: 'changed', flowNodes: chain(String(wait), '987654321') }, 'flowNodes[2].taskIds');
      await expect400({ flowId: f.flowId, flowName: 'changed', cronEnabled: true, flowNodes: chain(String(wait)) }, 'cronEnabled');
      expect(await counts()).to.deep.equal(before);
      expect(await db()('task_flow').where('flow_id', f.flowId).first()).to.deep.equal(flowRow);
    });
  });

  describe('cron', () => {
    it('stores cron and cronEnabled; a new version leaving them out keeps them; null clears', async () => {
      const f = await saveFlow({ cron: ' */5 * * * * ', cronEnabled: true, flowNodes: chain(String(echo)) });
      // cronMisfire and nextRunTime are shown with a cron only (a flow without one answers the keys it always did).
      expect(Object.keys(f)).to.deep.equal(['flowId', 'flowName', 'flowNodes', 'createTime', 'updateTime', 'flowVersion', 'cron', 'cronEnabled', 'cronMisfire', 'nextRunTime']);
      expect(f).to.deep.include({ cron: '*/5 * * * *', cronEnabled: true, cronMisfire: 'FIRE_ONCE' });
      const row = await db()('task_flow').where('flow_id', f.flowId).first();
      expect([row.cron, row.cron_enabled]).to.deep.equal(['*/5 * * * *', 1]);

      const v2 = await saveFlow({ flowId: f.flowId, flowNodes: chain(String(wait)) });
      expect(v2).to.deep.include({ flowVersion: 2, cron: '*/5 * * * *', cronEnabled: true });
      // Six fields (seconds) are accepted too.
      expect((await saveFlow({ flowId: f.flowId, cron: '*/10 * * * * *', flowNodes: chain(String(wait)) })).cron).to.equal('*/10 * * * * *');

      const off = await saveFlow({ flowId: f.flowId, cron: null, cronEnabled: false, flowNodes: chain(String(wait)) });
      expect(off).not.to.have.property('cron');
      expect(off).not.to.have.property('cronMisfire');
      expect(off.cronEnabled).to.equal(false);
      // Clearing the cron of an enabled flow without turning it off is refused.
      const on = await saveFlow({ cron: '0 * * * *', cronEnabled: true, flowNodes: chain(String(echo)) });
      await expect400({ flowId: on.flowId, flowName: 'x', cron: null, flowNodes: chain(String(echo)) }, 'cronEnabled');
    });

    it('stores cronMisfire (FIRE_ONCE by default, or SKIP); a new version leaving it out keeps it; null is the default again', async () => {
      const f = await saveFlow({ cron: '0 0 * * *', cronMisfire: 'SKIP', flowNodes: chain(String(echo)) });
      expect(f.cronMisfire).to.equal('SKIP');
      expect((await db()('task_flow').where('flow_id', f.flowId).first()).cron_misfire).to.equal('SKIP');
      expect((await saveFlow({ flowId: f.flowId, flowNodes: chain(String(echo)) })).cronMisfire).to.equal('SKIP');
      const g = await m.api('GET', `/flow/${f.flowId}`);
      expect(g.body.data.cronMisfire).to.equal('SKIP');
      const list = await m.api('GET', '/flow?pageSize=200');
      expect(list.body.data.list.find((x: any) => x.flowId === f.flowId).cronMisfire).to.equal('SKIP');
      const back = await saveFlow({ flowId: f.flowId, cronMisfire: null, flowNodes: chain(String(echo)) });
      expect(back.cronMisfire).to.equal('FIRE_ONCE');
      expect((await db()('task_flow').where('flow_id', f.flowId).first()).cron_misfire).to.equal(null);
      const before = await counts();
      for (const bad of ['NEVER', 'skip', 1, true]) {
        expect(await expect400({ flowName: 'x', cron: '0 0 * * *', cronMisfire: bad, flowNodes: chain(String(echo)) }, 'cronMisfire')).to.contain('"FIRE_ONCE" or "SKIP"');
      }
      expect(await counts()).to.deep.equal(before);
    });
  });

  describe('X-User', () => {
    it('is recorded on the flow and its nodes; a new version changes update_user only', async () => {
      const f = await saveFlow({ flowNodes: chain(String(echo)) }, { 'X-User': 'bob' });
      await saveFlow({ flowId: f.flowId, flowNodes: chain(String(wait)) }, { 'X-User': 'carol' });
      const flow = await db()('task_flow').where('flow_id', f.flowId).first();
      expect([flow.create_user, flow.update_user]).to.deep.equal(['bob', 'carol']);
      const nodes = await db()('task_node').where('flow_id', f.flowId).orderBy('node_id');
      expect(nodes.map((n: any) => `${n.flow_version}:${n.create_user}`)).to.deep.equal(['1:bob', '1:bob', '1:bob', '2:carol', '2:carol', '2:carol']);
      const anon = await saveFlow({ flowNodes: chain(String(echo)) });
      expect((await db()('task_flow').where('flow_id', anon.flowId).first()).create_user).to.equal('system');
    });
  });

  describe('GET /flow', () => {
    it('pages live flows newest first, as summaries without nodes', async () => {
      const mine = [await saveFlow({ flowName: 'p1', flowNodes: chain(String(echo)) }), await saveFlow({ flowName: 'p2', flowDescription: 'second', flowNodes: chain(String(echo)) })];
      const gone = await saveFlow({ flowName: 'p3', flowNodes: chain(String(echo)) });
      expect((await m.api('DELETE', `/flow/${gone.flowId}`)).status).to.equal(200);
      const [{ n: live }] = await db()('task_flow').whereNull('deleted_time').count({ n: '*' });

      const r = await m.api('GET', '/flow?page=1&pageSize=2');
      expect(r.status).to.equal(200);
      expect(Object.keys(r.body.data)).to.deep.equal(['total', 'page', 'pageSize', 'list']);
      expect(r.body.data).to.deep.include({ total: Number(live), page: 1, pageSize: 2 });
      expect(r.body.data.list.map((f: any) => f.flowId)).to.deep.equal([mine[1].flowId, mine[0].flowId]);
      const item = r.body.data.list[0];
      expect(Object.keys(item)).to.deep.equal(['flowId', 'flowName', 'flowDescription', 'createTime', 'updateTime', 'flowVersion', 'cronEnabled']);
      const { flowNodes: _, ...summary } = mine[1];
      expect(item).to.deep.equal(summary);

      const p2 = await m.api('GET', '/flow?page=2&pageSize=1');
      expect(p2.body.data.list.map((f: any) => f.flowId)).to.deep.equal([mine[0].flowId]);
      for (const q of ['page=0', 'pageSize=201', 'pageSize=x']) expect((await m.api('GET', `/flow?${q}`)).status, q).to.equal(400);
    });
  });

  describe('DELETE /flow/{flowId}', () => {
    it('soft-deletes: GET is a 404 (any version), it cannot be saved or started, the rows stay', async () => {
      // A start runs on the current version (and is cancelled at once: nothing of it is left to run).
      const startsOn = async (flowId: number) => {
        const r = await m.api('POST', `/exec/flow/${flowId}`);
        expect(r.status, r.text).to.equal(200);
        expect((await m.api('POST', `/exec/flow-ins/${r.body.data.fiId}/cancel`)).status).to.equal(200);
        return (await db()('task_flow_ins').where('fi_id', r.body.data.fiId).first()).flow_version;
      };
      const f = await saveFlow({ cron: '* * * * *', cronEnabled: true, flowNodes: chain(String(echo)) });
      expect(await startsOn(f.flowId)).to.equal(1);
      await saveFlow({ flowId: f.flowId, flowNodes: chain(String(wait)) }); // it follows the current version
      expect(await startsOn(f.flowId)).to.equal(2);

      const r = await m.api('DELETE', `/flow/${f.flowId}`, undefined, { 'X-User': 'dave' });
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ code: '200', message: 'SUCCESS', data: { flowId: f.flowId } });
      const row = await db()('task_flow').where('flow_id', f.flowId).first();
      expect(row.deleted_time).to.be.instanceOf(Date);
      expect([row.update_user, row.cron_enabled]).to.deep.equal(['dave', 0]);
      expect(await db()('task_node').where('flow_id', f.flowId)).to.have.length(6);

      expect((await m.api('GET', `/flow/${f.flowId}`)).status).to.equal(404);
      expect((await m.api('GET', `/flow/${f.flowId}?version=1`)).status).to.equal(404);
      expect((await m.api('GET', '/flow?pageSize=200')).body.data.list.map((x: any) => x.flowId)).not.to.include(f.flowId);
      expect((await m.api('POST', '/flow', { flowId: f.flowId, flowName: 'x', flowNodes: chain(String(echo)) })).status).to.equal(404);
      expect((await m.api('DELETE', `/flow/${f.flowId}`)).status).to.equal(404);
      expect((await m.api('POST', `/exec/flow/${f.flowId}`)).status).to.equal(404);
      expect((await m.api('POST', '/exec/flow/987654321')).status).to.equal(404);
    });
  });
});
