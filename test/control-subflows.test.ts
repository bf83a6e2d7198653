// SUB_FLOW nodes against a real member (issue 19): a child instance of another flow, its result used
// downstream, a failing child failing the parent, cancel reaching the child, a retry from the SUB_FLOW
// node starting a new child, the depth limit, pinned versions, and input templates.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, flowRow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

type Node = Record<string, unknown>;
const START = { nodeType: 'START' };
const END = { nodeType: 'END' };
const task = (nodeKey: string, taskId: number, extra: Node = {}): Node => ({ nodeType: 'TASK', nodeKey, taskIds: String(taskId), ...extra });
const sub = (nodeKey: string, flowId: number, extra: Node = {}): Node => ({ nodeType: 'SUB_FLOW', nodeKey, flowId, ...extra });

describe('control flow: SUB_FLOW nodes', function () {
  this.timeout(90_000);
  let m: TestMember;
  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '16' });
  });
  after(async () => { await m.stop(1000); });

  const save = async (flowNodes: Node[], extra: Node = {}) => {
    const r = await m.api('POST', '/flow', { flowName: 'sub', flowNodes, ...extra });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.flowId as number;
  };
  const start = async (flowId: number, input: unknown = {}) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, { input });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };
  const nodeOf = async (fiId: number, key: string) => (await detail(m.api, fiId)).filter((n: any) => n.nodeKey === key).at(-1);

  it("starts a child of the flow with rendered input; the child's result is the node's output, used downstream; the monitor links both ways", async () => {
    const child = await save([START, task('double', await createTask(m.api, 'ECHO', '${input.n}${input.n}')), END]);
    const parent = await save([
      START,
      task('prep', await createTask(m.api, 'ECHO', '{"n": "${input.x}", "obj": {"k": 1}}')),
      sub('ship', child, { input: { n: '${nodes.prep.output.n}', whole: '${nodes.prep.output.obj}', text: 'n is ${nodes.prep.output.n}', fixed: 3 } }),
      task('use', await createTask(m.api, 'ECHO', 'got ${nodes.ship.output.double}')),
      END,
    ]);
    const fiId = await start(parent, { x: 7 });
    const row = await waitForEnd(m.api, fiId);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    expect(row.result).to.deep.equal({ use: 'got 77' });
    const ship = await nodeOf(fiId, 'ship');
    expect(ship).to.include({ nodeType: 'SUB_FLOW', status: 'SUCCESS' });
    expect(ship.childFiId).to.be.a('number');
    const c = await flowRow(m.api, ship.childFiId);
    expect(c).to.include({ status: 'SUCCESS', parentFiId: fiId, trigger: 'SUB_FLOW', flowId: child });
    expect(c.input).to.deep.equal({ n: '7', whole: { k: 1 }, text: 'n is 7', fixed: 3 });
    expect(c.result).to.deep.equal({ double: '77' });
    expect(row).not.to.have.property('parentFiId');
  });

  it('a flow another live flow starts as a sub-flow cannot be deleted (409 naming it) until that flow drops the node', async () => {
    const child = await save([START, task('c', await createTask(m.api, 'ECHO', 'c')), END]);
    const parent = await save([START, sub('ship', child), END]);
    const refused = await m.api('DELETE', `/flow/${child}`);
    expect(refused.status, refused.text).to.equal(409);
    expect(refused.body.message).to.include(`flow ${parent} "sub"`);
    expect((await m.api('GET', `/flow/${child}`)).status).to.equal(200);
    // A new version of the parent without the SUB_FLOW node: the child may go.
    const r = await m.api('POST', '/flow', { flowId: parent, flowName: 'sub', flowNodes: [START, task('t', await createTask(m.api, 'ECHO', 't')), END] });
    expect(r.status, r.text).to.equal(200);
    expect((await m.api('DELETE', `/flow/${child}`)).status).to.equal(200);
    expect((await m.api('GET', `/flow/${child}`)).status).to.equal(404);
  });

  it('a failing child fails the parent; a retry from the SUB_FLOW node starts a new child', async () => {
    const flaky = await createTask(m.api, 'EXCEPTION', 'child broke');
    const child = await save([START, task('work', flaky), END]);
    const parent = await save([START, sub('ship', child), task('after', await createTask(m.api, 'ECHO', 'after ${nodes.ship.output.work}')), END]);
    const fiId = await start(parent);
    const row = await waitForEnd(m.api, fiId);
    expect(row.status).to.equal('FAILED');
    const ship = await nodeOf(fiId, 'ship');
    expect(ship.status).to.equal('FAILED');
    expect(row.errorMsg).to.match(new RegExp(`^sub-flow instance ${ship.childFiId} failed: `));
    expect((await flowRow(m.api, ship.childFiId)).status).to.equal('FAILED');
    // Fix the child's task, retry the parent from its SUB_FLOW node: a new child runs.
    expect((await m.api('POST', '/task', { taskId: flaky, taskName: 'fixed', taskType: 'ECHO', taskContent: 'fine' })).status).to.equal(200);
    const r = await m.api('POST', `/exec/flow/${parent}`, { fiId, niId: ship.niId });
    expect(r.status, r.text).to.equal(200);
    const again = await waitForEnd(m.api, fiId);
    expect(again.status, again.errorMsg).to.equal('SUCCESS');
    expect(again.result).to.deep.equal({ after: 'after fine' });
    const ship2 = await nodeOf(fiId, 'ship');
    expect(ship2.niId).to.not.equal(ship.niId);
    expect(ship2.childFiId).to.be.a('number').and.not.equal(ship.childFiId);
  });

  it('cancelling the parent cancels the child (and its child); cancelling a child fails its parent', async () => {
    const inner = await save([START, { nodeType: 'SIGNAL', nodeKey: 'hold' }, END]);
    const middle = await save([START, sub('deeper', inner), END]);
    const parent = await save([START, sub('ship', middle), END]);
    const fiId = await start(parent);
    const grandchild = await waitFor('the grandchild', async () => {
      const rows = await m.services.knex('task_flow_ins').select('fi_id', 'depth').where('flow_id', inner).where('status', 'RUNNING');
      return rows.length ? rows[0] : null;
    }, 10_000);
    expect(grandchild.depth).to.equal(2);
    const childId = (await nodeOf(fiId, 'ship')).childFiId;
    expect((await m.api('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.equal(200);
    await waitFor('child and grandchild cancelled', async () => {
      const rows = await m.services.knex('task_flow_ins').select('status').whereIn('fi_id', [childId, grandchild.fi_id]);
      return rows.every((r) => r.status === 'CANCELLED') ? rows : null;
    }, 10_000);

    // The other way: a child cancelled on its own fails its parent's SUB_FLOW node.
    const p2 = await start(parent);
    const c2 = await waitFor('a child', async () => (await nodeOf(p2, 'ship'))?.childFiId ?? null, 10_000);
    expect((await m.api('POST', `/exec/flow-ins/${c2}/cancel`)).status).to.equal(200);
    const row = await waitForEnd(m.api, p2);
    expect(row.status).to.equal('FAILED');
    expect(row.errorMsg).to.match(new RegExp(`^sub-flow instance ${c2} cancelled`));
  });

  it('the reconciler cancels a child whose parent ended without cancelling it (a member died in between)', async () => {
    const inner = await save([START, { nodeType: 'SIGNAL', nodeKey: 'hold' }, END]);
    const parent = await save([START, sub('ship', inner), END]);
    const fiId = await start(parent);
    const childId = await waitFor('a child', async () => (await nodeOf(fiId, 'ship'))?.childFiId ?? null, 10_000);
    // The parent's end committed, the cascade lost: as a crash right after the commit leaves it.
    await m.services.knex('task_flow_ins').where('fi_id', fiId).update({ status: 'FAILED', error_msg: 'ended elsewhere' });
    expect((await flowRow(m.api, childId)).status).to.equal('RUNNING');
    await m.cluster.reconcileNow();
    expect((await flowRow(m.api, childId)).status).to.equal('CANCELLED');
  });

  it('a child that ends in the transaction that starts it (every node skipped) still wakes its parent', async () => {
    const e = await createTask(m.api, 'ECHO', 'never');
    const child = await save([START, task('x', e, { when: 'input.run == true' }), END]);
    const parent = await save([START, sub('sub', child, { input: { run: false } }), task('after', await createTask(m.api, 'ECHO', 'child gave ${nodes.sub.output}')), END]);
    const row = await waitForEnd(m.api, await start(parent), 15_000);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    expect(row.result).to.deep.equal({ after: 'child gave {}' });
  });

  it('sub-flows nest at most 10 deep: a flow that starts itself fails at the 11th level, and every level fails', async () => {
    const e = await createTask(m.api, 'ECHO', 'x');
    const selfId = await save([START, task('a', e), END]);
    const r = await m.api('POST', '/flow', { flowId: selfId, flowName: 'recursive', flowNodes: [START, sub('again', selfId), END] });
    expect(r.status, r.text).to.equal(200);
    const fiId = await start(selfId);
    const row = await waitForEnd(m.api, fiId, 30_000);
    expect(row.status).to.equal('FAILED');
    const all = await m.services.knex('task_flow_ins').select('fi_id', 'depth', 'status', 'error_msg').where('flow_id', selfId).orderBy('depth');
    expect(all.map((x) => x.depth)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(all.every((x) => x.status === 'FAILED')).to.equal(true);
    expect(all[10].error_msg).to.match(/sub-flows nest at most 10 deep; this instance is at depth 10/);
  });

  it('runs the pinned version; a flow deleted since the save (a delete that raced it) fails the node with a message', async () => {
    const a = await createTask(m.api, 'ECHO', 'v1');
    const b = await createTask(m.api, 'ECHO', 'v2');
    const child = await save([START, task('t', a), END]);
    expect((await m.api('POST', '/flow', { flowId: child, flowName: 'child v2', flowNodes: [START, task('t', b), END] })).status).to.equal(200);
    const parent = await save([START, sub('pinned', child, { flowVersion: 1, prevNodes: ['n0'] }), sub('current', child, { prevNodes: ['n0'] }), END]);
    const row = await waitForEnd(m.api, await start(parent));
    expect(row.result).to.deep.equal({ pinned: { t: 'v1' }, current: { t: 'v2' } });
    const bad = await m.api('POST', '/flow', { flowName: 'x', flowNodes: [START, sub('s', child, { flowVersion: 9 }), END] });
    expect(bad.status).to.equal(400);
    expect(bad.body.message).to.match(/^flowNodes\[1\]\.flowVersion: flow \d+ has no version 9/);

    const gone = await save([START, task('t', a), END]);
    const p2 = await save([START, sub('s', gone), END]);
    // The API refuses to delete a flow a live flow starts (409); a delete that raced the parent's save
    // is what is left, done here in MySQL.
    expect((await m.api('DELETE', `/flow/${gone}`)).status).to.equal(409);
    await m.services.knex('task_flow').where({ flow_id: gone }).update({ deleted_time: new Date() });
    const r2 = await waitForEnd(m.api, await start(p2));
    expect(r2.status).to.equal('FAILED');
    expect(r2.errorMsg).to.equal(`sub-flow "s": flow ${gone} does not exist`);
  });
});
