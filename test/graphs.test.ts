// Flows as graphs (nodeKey, prevNodes) and data passed between tasks (flow input, templates), against a
// real member: what a save answers and refuses, how a graph runs (branches side by side, a join once
// all its predecessors succeeded, exactly once however many finish at once), retry from a failed
// branch, and templates filled in from the input and from earlier nodes' outputs.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, flowRow, waitForEnd } from './helpers/flows.js';

type Node = Record<string, unknown>;
const START = { nodeType: 'START' };
const END = { nodeType: 'END' };
const task = (nodeKey: string, taskIds: number | number[], prevNodes?: string[], extra: Node = {}): Node => ({
  nodeType: 'TASK',
  nodeKey,
  taskIds: Array.isArray(taskIds) ? taskIds : String(taskIds),
  ...(prevNodes ? { prevNodes } : {}),
  ...extra,
});

describe('flows as graphs, and data between tasks', function () {
  this.timeout(60_000);
  let m: TestMember;
  let echo: number;
  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '32' });
    echo = await createTask(m.api, 'ECHO', 'e');
  });
  after(async () => { await m.stop(1000); });

  const save = async (flowNodes: Node[], extra: Node = {}) => {
    const r = await m.api('POST', '/flow', { flowName: 'graph', flowNodes, ...extra });
    expect(r.status, r.text).to.equal(200);
    return r.body.data;
  };
  const start = async (flowId: number, body?: unknown) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, body);
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };
  const tasksOf = (fiId: number) =>
    m.services.knex('task_ins as ti').join('task_node_ins as ni', 'ni.ni_id', 'ti.ni_id').join('task_node as n', 'n.node_id', 'ni.node_id')
      .select('ti.*', 'n.node_key', 'ni.ni_id as node_ins').where('ti.fi_id', fiId).orderBy('ti.ti_id');

  describe('saving', () => {
    it("answers the issue's example START → a → (b, c) → d → END with keys and predecessors (node ids); prevNode is the first", async () => {
      const f = await save([START, task('a', echo), task('b', echo, ['a']), task('c', echo, ['a']), task('d', echo, ['b', 'c']), END]);
      const [s, a, b, c, d, e] = f.flowNodes;
      expect(s).to.include({ nodeType: 'START', nodeKey: 'n0' });
      expect(s).not.to.have.property('prevNodes');
      expect(a).to.include({ nodeKey: 'a', prevNode: s.nodeId });
      expect(a.prevNodes).to.deep.equal([s.nodeId]);
      expect(b.prevNodes).to.deep.equal([a.nodeId]);
      expect(c.prevNodes).to.deep.equal([a.nodeId]);
      expect(d).to.include({ prevNode: b.nodeId });
      expect(d.prevNodes).to.deep.equal([b.nodeId, c.nodeId]);
      expect(e).to.include({ nodeType: 'END', nodeKey: 'n5', prevNode: d.nodeId });
      expect(e.prevNodes).to.deep.equal([d.nodeId]);
      expect(Object.keys(d)).to.deep.equal(['nodeId', 'tasks', 'nodeType', 'prevNode', 'createTime', 'updateTime', 'completion', 'nodeKey', 'prevNodes']);
      expect((await m.api('GET', `/flow/${f.flowId}`)).body.data).to.deep.equal(f);
    });

    it('a chain answers as the original API did; a key given on a chain is shown on that node only', async () => {
      const f = await save([START, { nodeType: 'TASK', taskIds: String(echo) }, { nodeType: 'TASK', taskIds: String(echo), nodeKey: 'last' }, END]);
      expect(Object.keys(f.flowNodes[1])).to.deep.equal(['nodeId', 'tasks', 'nodeType', 'prevNode', 'createTime', 'updateTime', 'completion']);
      expect(f.flowNodes[2]).to.include({ nodeKey: 'last', prevNode: f.flowNodes[1].nodeId });
      expect(f.flowNodes[2]).not.to.have.property('prevNodes');
    });

    it('refuses a cycle, an unknown key, an unreachable node, duplicate keys and predecessors on START/END: 400 naming the node, nothing written', async () => {
      const counts = async () => Promise.all(['task_flow', 'task_node'].map(async (t) => Number((await m.services.knex(t).count({ n: '*' }))[0].n)));
      const before = await counts();
      const cases: [Node[], RegExp][] = [
        [[START, task('a', echo), task('b', echo, ['c']), task('c', echo, ['b']), END], /^flowNodes\[\d\]\.prevNodes: node "[bc]" is in a cycle: /],
        [[START, task('a', echo), task('b', echo, ['nope']), END], /^flowNodes\[2\]\.prevNodes: no node has the key "nope"/],
        [[START, task('a', echo), task('b', echo, []), END], /^flowNodes\[2\]\.prevNodes: node "b" cannot be reached from START/],
        [[START, task('a', echo), task('a', echo, ['a']), END], /^flowNodes\[2\]\.nodeKey: "a" is the key of flowNodes\[1\] too/],
        [[START, task('a', echo), { ...END, prevNodes: ['a'] }], /^flowNodes\[2\]\.prevNodes: a END node does not take prevNodes/],
        [[START, task('a', echo, ['n2']), END], /^flowNodes\[1\]\.prevNodes: END comes last/],
        [[START, task('bad key', echo), END], /^flowNodes\[1\]\.nodeKey: /],
      ];
      for (const [flowNodes, message] of cases) {
        const r = await m.api('POST', '/flow', { flowName: 'bad', flowNodes });
        expect(r.status, r.text).to.equal(400);
        expect(r.body).to.deep.include({ code: '400', data: null });
        expect(r.body.message).to.match(message);
      }
      expect(await counts()).to.deep.equal(before);
    });
  });

  describe('running', () => {
    it('runs b and c side by side, and d once both have ended', async () => {
      const slow = await createTask(m.api, 'WAIT', null, { waitMs: 600 });
      const f = await save([START, task('a', echo), task('b', slow, ['a']), task('c', slow, ['a']), task('d', echo, ['b', 'c']), END]);
      const fiId = await start(f.flowId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const rows = await tasksOf(fiId);
      const by = (k: string) => rows.filter((r: any) => r.node_key === k);
      const [b, c, d] = ['b', 'c', 'd'].map((k) => by(k)[0]);
      expect(b.start_time.getTime()).to.be.below(c.end_time.getTime());
      expect(c.start_time.getTime()).to.be.below(b.end_time.getTime()); // the intervals overlap
      expect(d.start_time.getTime()).to.be.at.least(Math.max(b.end_time.getTime(), c.end_time.getTime()));
      expect(rows).to.have.length(4);
      const nodes = await detail(m.api, fiId);
      expect(nodes.map((n) => n.status)).to.deep.equal(Array(6).fill('SUCCESS'));
    });

    it('200 instances of one node → 20 → one: each enters its join node exactly once', async () => {
      const wide = Array.from({ length: 20 }, (_, i) => task(`w${i}`, echo, ['fan']));
      const f = await save([START, task('fan', echo), ...wide, task('join', echo, wide.map((w) => w.nodeKey as string)), END]);
      const joinNode = f.flowNodes[22].nodeId;
      const fiIds = await Promise.all(Array.from({ length: 200 }, () => start(f.flowId)));
      for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId, 60_000)).status).to.equal('SUCCESS');
      const joins = await m.services.knex('task_node_ins').select('fi_id').count({ n: '*' }).whereIn('fi_id', fiIds).where('node_id', joinNode).groupBy('fi_id');
      expect(joins).to.have.length(200);
      expect(joins.every((j: any) => Number(j.n) === 1)).to.equal(true);
      const tasks = await m.services.knex('task_ins').whereIn('fi_id', fiIds).count({ n: '*' });
      expect(Number(tasks[0].n)).to.equal(200 * 22);
    });

    it('a failed branch fails the flow; retry from it re-runs that branch and what follows, and keeps the other branch', async () => {
      const failing = await createTask(m.api, 'WAIT', null, { waitMs: 5_000, timeoutMs: 400 });
      const f = await save([START, task('a', echo), task('b', failing, ['a']), task('c', echo, ['a']), task('d', echo, ['b', 'c']), END]);
      const fiId = await start(f.flowId);
      const row = await waitForEnd(m.api, fiId);
      expect(row.status).to.equal('FAILED');
      expect(row.errorMsg).to.match(/timed out/);
      const before = await tasksOf(fiId);
      const bNode = (await detail(m.api, fiId)).find((n) => n.status === 'FAILED');
      // Fixed, then retried from b: b runs again, then d; a and c are not run again.
      expect((await m.api('POST', '/task', { taskId: failing, taskName: 'fixed', taskType: 'ECHO', taskContent: 'ok', taskConfig: null })).status).to.equal(200);
      const r = await m.api('POST', `/exec/flow/${f.flowId}`, { fiId, niId: bNode.niId });
      expect(r.status, r.text).to.equal(200);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const after = await tasksOf(fiId);
      const count = (rows: any[], k: string) => rows.filter((x) => x.node_key === k).length;
      expect([count(after, 'a'), count(after, 'b'), count(after, 'c'), count(after, 'd')]).to.deep.equal([1, 2, 1, 1]);
      expect(after.find((x: any) => x.node_key === 'c').ti_id).to.equal(before.find((x: any) => x.node_key === 'c').ti_id);
    });

    it('a branch cancelled because its sibling failed runs again on the retry', async () => {
      const boom = await createTask(m.api, 'EXCEPTION', 'boom');
      const long = await createTask(m.api, 'WAIT', null, { waitMs: 30_000 });
      const f = await save([START, task('a', echo), task('b', boom, ['a']), task('c', long, ['a']), task('d', echo, ['b', 'c']), END]);
      const fiId = await start(f.flowId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
      const nodes = await detail(m.api, fiId);
      expect(nodes.map((n) => n.status).sort()).to.deep.equal(['CANCELLED', 'FAILED', 'SUCCESS', 'SUCCESS']);
      const cancelled = nodes.find((n) => n.status === 'CANCELLED');
      expect(cancelled.errorMsg).to.equal('cancelled: node b failed');
      expect(cancelled.tasks[0].status).to.equal('CANCELLED');
      // Both fixed; the retry from b runs c again too (cancelled by b's failure, it never succeeded).
      expect((await m.api('POST', '/task', { taskId: boom, taskName: 'fixed', taskType: 'ECHO', taskContent: 'ok' })).status).to.equal(200);
      expect((await m.api('POST', '/task', { taskId: long, taskName: 'short now', taskType: 'ECHO', taskContent: 'ok', taskConfig: null })).status).to.equal(200);
      const failedNode = nodes.find((n) => n.status === 'FAILED');
      expect((await m.api('POST', `/exec/flow/${f.flowId}`, { fiId, niId: failedNode.niId })).status).to.equal(200);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const after = await tasksOf(fiId);
      expect(after.filter((x: any) => x.node_key === 'c').map((x: any) => x.exec_status)).to.deep.equal(['CANCELLED', 'SUCCESS']);
    });

    it('retry from a node whose predecessors did not all succeed is a 409 saying where to retry from', async () => {
      const first = await createTask(m.api, 'ECHO', 'fine');
      const second = await createTask(m.api, 'EXCEPTION', 'no');
      const f = await save([START, task('a', first), task('b', second, ['a']), END]);
      const fiId = await start(f.flowId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
      const [, aIns, bIns] = await detail(m.api, fiId);
      // a breaks now, and a retry from a fails there: b's instance is left from before, after a failed a.
      expect((await m.api('POST', '/task', { taskId: first, taskName: 'broken', taskType: 'EXCEPTION', taskContent: 'a broke' })).status).to.equal(200);
      expect((await m.api('POST', `/exec/flow/${f.flowId}`, { fiId, niId: aIns.niId })).status).to.equal(200);
      expect((await waitForEnd(m.api, fiId)).errorMsg).to.equal('a broke');
      // The retry from a ran a again, not b (b waits for a): b has its one old instance, and nothing is
      // left RUNNING in an ended flow.
      const after = await detail(m.api, fiId);
      expect(after.filter((n) => n.nodeId === bIns.nodeId)).to.have.length(1);
      expect(after.map((n) => n.status)).not.to.include('RUNNING');
      const r = await m.api('POST', `/exec/flow/${f.flowId}`, { fiId, niId: bIns.niId });
      expect(r.status).to.equal(409);
      expect(r.body.message).to.equal('node "b" follows "a", which did not succeed: retry from there');
    });
  });

  describe('data: the start\'s input and earlier nodes\' outputs', () => {
    it('fills in ${input.…} and ${nodes.<key>.output…}, stores what it ran, and shows input and result', async () => {
      const hello = await createTask(m.api, 'ECHO', 'hello ${input.name}');
      const json = await createTask(m.api, 'ECHO', '{"id": 7, "body": "{\\"x\\": 1}"}');
      const use = await createTask(m.api, 'ECHO', '${nodes.a.output}! id=${nodes.j.output.id} x=${nodes.j.output.body.x} n=${input.items.1} literal=$${input.name}');
      const f = await save([START, task('a', hello), task('j', json, ['n0']), task('u', use, ['a', 'j']), END]);
      const fiId = await start(f.flowId, { input: { name: 'Ada', items: ['zero', 'one'] } });
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const rows = await tasksOf(fiId);
      const out = (k: string) => rows.find((r: any) => r.node_key === k).output;
      expect(out('a')).to.equal('hello Ada');
      expect(out('u')).to.equal('hello Ada! id=7 x=1 n=one literal=${input.name}');
      const nodes = await detail(m.api, fiId);
      const u = nodes.flatMap((n) => n.tasks).find((t: any) => t.output === out('u'));
      expect(u.renderedContent).to.equal(out('u'));
      const plain = nodes.flatMap((n) => n.tasks).find((t: any) => t.output === out('j'));
      expect(plain).not.to.have.property('renderedContent'); // no templates, nothing stored
      const fi = await flowRow(m.api, fiId);
      expect(fi.input).to.deep.equal({ name: 'Ada', items: ['zero', 'one'] });
      expect(fi.result).to.deep.equal({ u: out('u') });
    });

    it('a template that cannot be filled in fails its task (and the flow) with a message naming it', async () => {
      const missing = await createTask(m.api, 'ECHO', 'hi ${input.who.name}', { maxRetries: 3 });
      const f = await save([START, task('m', missing), END]);
      const fiId = await start(f.flowId, { input: { who: {} } });
      const row = await waitForEnd(m.api, fiId);
      expect(row.status).to.equal('FAILED');
      expect(row.errorMsg).to.equal('template ${input.who.name}: input.who has no field "name"');
      const [t] = await tasksOf(fiId);
      expect(t.attempt).to.equal(1); // not retried: it would fail the same way
    });

    it('refuses an input that is not a JSON object, one too large, and one sent with a retry', async () => {
      const f = await save([START, task('a', echo), END]);
      for (const [body, message] of [
        [{ input: [1, 2] }, /^input: must be a JSON object/],
        [{ input: 'x' }, /^input: must be a JSON object/],
        [{ input: { big: 'x'.repeat(70_000) } }, /^input: must be at most 65535 bytes/],
        [{ fiId: 1, niId: 1, input: {} }, /^input: a retry runs with the input/],
      ] as const) {
        const r = await m.api('POST', `/exec/flow/${f.flowId}`, body);
        expect(r.status, r.text).to.equal(400);
        expect(r.body.message).to.match(message);
      }
    });
  });
});
