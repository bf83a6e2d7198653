// Control flow against a real member (issue 19): conditions (`when`, SKIPPED nodes, joins after
// exclusive branches), and what saving refuses. Signals and sub-flows: control-signals.test.ts and
// control-subflows.test.ts.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, waitForEnd } from './helpers/flows.js';
import { startHttpTarget, type HttpTarget } from './helpers/httpTarget.js';

type Node = Record<string, unknown>;
const START = { nodeType: 'START' };
const END = { nodeType: 'END' };
const task = (nodeKey: string, taskId: number, prevNodes?: string[], extra: Node = {}): Node => ({ nodeType: 'TASK', nodeKey, taskIds: String(taskId), ...(prevNodes ? { prevNodes } : {}), ...extra });

describe('control flow: conditions', function () {
  this.timeout(60_000);
  let m: TestMember;
  let target: HttpTarget;
  before(async () => {
    target = await startHttpTarget();
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '16', HTTP_TASK_ALLOW: '127.0.0.1' });
  });
  after(async () => {
    await m.stop(1000);
    await target.close();
  });

  const save = async (flowNodes: Node[]) => {
    const r = await m.api('POST', '/flow', { flowName: 'control', flowNodes });
    expect(r.status, r.text).to.equal(200);
    return r.body.data;
  };
  const start = async (flowId: number, input?: unknown) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, input === undefined ? undefined : { input });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };
  const byKey = async (fiId: number) => Object.fromEntries((await detail(m.api, fiId)).map((n: any) => [n.nodeKey, n]));

  describe('when', () => {
    let flowId: number;
    before(async () => {
      const check = await createTask(m.api, 'ECHO', '{"score": ${input.score}}', undefined, 'check');
      const review = await createTask(m.api, 'ECHO', 'reviewed', undefined, 'review');
      const auto = await createTask(m.api, 'ECHO', 'auto', undefined, 'auto');
      const join = await createTask(m.api, 'ECHO', 'review=[${nodes.review.output}] auto=[${nodes.auto.output}] score=${nodes.check.output.score}', undefined, 'join');
      const f = await save([
        START,
        task('check', check),
        task('review', review, ['check'], { when: 'nodes.check.output.score > 100 && input.vip != true' }),
        task('auto', auto, ['check'], { when: '!(nodes.check.output.score > 100) || input.vip == true' }),
        task('join', join, ['review', 'auto']),
        END,
      ]);
      flowId = f.flowId;
      expect(f.flowNodes[2].when).to.equal('nodes.check.output.score > 100 && input.vip != true');
      expect(f.flowNodes[1]).not.to.have.property('when');
    });

    it('a high score takes the review branch; auto is SKIPPED (no task instance); the join runs once with an empty auto output', async () => {
      const fiId = await start(flowId, { score: 150 });
      const row = await waitForEnd(m.api, fiId);
      expect(row.status, row.errorMsg).to.equal('SUCCESS');
      const nodes = await byKey(fiId);
      expect(nodes.review.status).to.equal('SUCCESS');
      expect(nodes.auto).to.include({ status: 'SKIPPED', nodeType: 'TASK' });
      expect(nodes.auto.tasks).to.deep.equal([]);
      expect(nodes.auto.endTime).to.be.a('string').and.not.equal('');
      expect((await detail(m.api, fiId)).filter((n: any) => n.nodeKey === 'join')).to.have.length(1);
      expect(row.result).to.deep.equal({ join: 'review=[reviewed] auto=[] score=150' });
    });

    it('a low score takes the other branch', async () => {
      const fiId = await start(flowId, { score: 50 });
      const row = await waitForEnd(m.api, fiId);
      expect(row.status, row.errorMsg).to.equal('SUCCESS');
      const nodes = await byKey(fiId);
      expect(nodes.review.status).to.equal('SKIPPED');
      expect(nodes.auto.status).to.equal('SUCCESS');
      expect(row.result).to.deep.equal({ join: 'review=[] auto=[auto] score=50' });
    });

    it('a path that does not exist is null: no score means not > 100', async () => {
      const fiId = await start(flowId, { score: '"n/a"' });
      const row = await waitForEnd(m.api, fiId);
      expect(row.status, row.errorMsg).to.equal('SUCCESS');
      expect((await byKey(fiId)).review.status).to.equal('SKIPPED');
    });

    it("the flow's result leaves SKIPPED nodes out; a chain of skips propagates; END still succeeds", async () => {
      const e = await createTask(m.api, 'ECHO', 'ran');
      const f = await save([START, task('yes', e, undefined, { when: 'input.a == 1' }), task('no', e, undefined, { when: 'input.a == 2' }), task('after_no', e, ['no']), END]);
      const fiId = await start(f.flowId, { a: 1 });
      const row = await waitForEnd(m.api, fiId);
      expect(row.status, row.errorMsg).to.equal('SUCCESS');
      expect(row.result).to.deep.equal({ yes: 'ran' });
      const nodes = await byKey(fiId);
      expect(nodes.no.status).to.equal('SKIPPED');
      expect(nodes.after_no.status).to.equal('SKIPPED');
      const all = await m.api('POST', `/exec/flow/${f.flowId}`, { input: { a: 3 } });
      const none = await waitForEnd(m.api, all.body.data.fiId);
      expect(none.status).to.equal('SUCCESS');
      expect(none.result).to.deep.equal({});
    });

    it("a SKIPPED node's output is null where a config value is that one template, an empty string inside text", async () => {
      const e = await createTask(m.api, 'ECHO', 'x');
      const http = await createTask(m.api, 'HTTP', null, { method: 'POST', url: `http://127.0.0.1:${target.port}/ok`, body: { whole: '${nodes.skip.output}', part: 'a${nodes.skip.output}b', deep: '${nodes.skip.output.field}' } });
      const f = await save([START, task('skip', e, undefined, { when: 'false' }), task('call', http, ['n0', 'skip']), END]);
      const fiId = await start(f.flowId);
      const row = await waitForEnd(m.api, fiId);
      expect(row.status, row.errorMsg).to.equal('SUCCESS');
      const call = (await byKey(fiId)).call;
      expect(call.status).to.equal('SUCCESS');
      expect(call.tasks[0].renderedConfig.body).to.deep.equal({ whole: null, part: 'ab', deep: null });
    });

    it('a retry from a FAILED node after a SKIPPED branch runs it again', async () => {
      const fail = await createTask(m.api, 'EXCEPTION', 'boom');
      const e = await createTask(m.api, 'ECHO', 'ok');
      const f = await save([START, task('a', e), task('skip', e, undefined, { when: 'false' }), task('bad', fail, ['a', 'skip']), END]);
      const fiId = await start(f.flowId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
      const bad = (await byKey(fiId)).bad;
      // Fix the task, retry from the node: its predecessors (one SUCCESS, one SKIPPED) count as ended.
      expect((await m.api('POST', '/task', { taskId: fail, taskName: 'fixed', taskType: 'ECHO', taskContent: 'fixed' })).status).to.equal(200);
      const r = await m.api('POST', `/exec/flow/${f.flowId}`, { fiId, niId: bad.niId });
      expect(r.status, r.text).to.equal(200);
      const row = await waitForEnd(m.api, fiId);
      expect(row.status, row.errorMsg).to.equal('SUCCESS');
      expect(row.result).to.deep.equal({ bad: 'fixed' });
    });
  });

  describe('saving refuses, naming the node', () => {
    let e: number;
    before(async () => { e = await createTask(m.api, 'ECHO', 'x'); });
    const cases: [string, () => Node[], RegExp][] = [
      ['a syntax error', () => [START, task('a', e, undefined, { when: 'input.x >' }), END], /^flowNodes\[1\]\.when: is not a valid expression: ends where a value was expected/],
      ['an unknown name', () => [START, task('a', e, undefined, { when: 'amount > 1' }), END], /^flowNodes\[1\]\.when: is not a valid expression: unknown name "amount"/],
      ['a node it does not follow', () => [START, task('a', e, ['n0']), task('b', e, ['n0'], { when: 'nodes.a.output == 1' }), END], /^flowNodes\[2\]\.when: reads node "a", which this node does not follow/],
      ['an unknown node', () => [START, task('a', e, undefined, { when: 'nodes.zz.output == 1' }), END], /^flowNodes\[1\]\.when: no node has the key "zz"/],
      ['when on START', () => [{ ...START, when: 'true' }, task('a', e), END], /^flowNodes\[0\]\.when: a START node does not take when/],
      ['when on END', () => [START, task('a', e), { ...END, when: 'true' }], /^flowNodes\[2\]\.when: a END node does not take when/],
      ['when not a string', () => [START, task('a', e, undefined, { when: 5 }), END], /^flowNodes\[1\]\.when: must be a string/],
      ['forEach not a path', () => [START, task('a', e, undefined, { forEach: 'input.items == 1' }), END], /^flowNodes\[1\]\.forEach: is not a valid path: must be a path/],
      ['forEach on a SIGNAL', () => [START, { nodeType: 'SIGNAL', nodeKey: 's', forEach: 'input.items' }, END], /^flowNodes\[1\]\.forEach: a SIGNAL node does not take forEach/],
      ['forEach reading a node it does not follow', () => [START, task('a', e, ['n0']), task('b', e, ['n0'], { forEach: 'nodes.a.output' }), END], /^flowNodes\[2\]\.forEach: reads node "a", which this node does not follow/],
      ['maxParallel without forEach', () => [START, task('a', e, undefined, { maxParallel: 2 }), END], /^flowNodes\[1\]\.maxParallel: goes with forEach/],
      ['maxParallel out of range', () => [START, task('a', e, undefined, { forEach: 'input.items', maxParallel: 1001 }), END], /^flowNodes\[1\]\.maxParallel: must be a whole number from 1 to 1000/],
      ['a SIGNAL without a key', () => [START, { nodeType: 'SIGNAL' }, END], /^flowNodes\[1\]\.nodeKey: a SIGNAL node needs a nodeKey/],
      ['a SIGNAL timeout out of range', () => [START, { nodeType: 'SIGNAL', nodeKey: 's', timeoutMs: 0 }, END], /^flowNodes\[1\]\.timeoutMs: must be from 1 to/],
      ['a bad onTimeout', () => [START, { nodeType: 'SIGNAL', nodeKey: 's', onTimeout: 'MAYBE' }, END], /^flowNodes\[1\]\.onTimeout: must be "FAIL" or "SUCCESS"/],
      ['a SIGNAL with tasks', () => [START, { nodeType: 'SIGNAL', nodeKey: 's', taskIds: String(e) }, END], /^flowNodes\[1\]\.taskIds: a SIGNAL node does not take taskIds/],
      ['a SUB_FLOW without flowId', () => [START, { nodeType: 'SUB_FLOW', nodeKey: 'sub' }, END], /^flowNodes\[1\]\.flowId: a SUB_FLOW node needs the flowId/],
      ['a SUB_FLOW naming a missing flow', () => [START, { nodeType: 'SUB_FLOW', nodeKey: 'sub', flowId: 999999 }, END], /^flowNodes\[1\]\.flowId: flow 999999 does not exist/],
      ['a timeout on a TASK', () => [START, task('a', e, undefined, { timeoutMs: 5 }), END], /^flowNodes\[1\]\.timeoutMs: a TASK node does not take timeoutMs/],
    ];
    for (const [name, nodes, msg] of cases) {
      it(name, async () => {
        const r = await m.api('POST', '/flow', { flowName: 'bad', flowNodes: nodes() });
        expect(r.status, r.text).to.equal(400);
        expect(r.body.message).to.match(msg);
      });
    }
  });
});
