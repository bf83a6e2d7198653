// SIGNAL nodes against a real member (issue 19): a flow waits at a SIGNAL until
// POST /exec/flow-ins/{fiId}/signal/{nodeKey} sends its payload (used downstream), answers 409 when the
// node is not waiting and 404 for what does not exist, times out as onTimeout says (the leader's scan),
// and the reconciler leaves waiting instances alone.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

type Node = Record<string, unknown>;
const START = { nodeType: 'START' };
const END = { nodeType: 'END' };

describe('control flow: SIGNAL nodes', function () {
  this.timeout(60_000);
  let m: TestMember;
  let use: number;
  let wait: number;
  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '16' });
    use = await createTask(m.api, 'ECHO', 'approved by ${nodes.approve.output.by} (${nodes.approve.output.level})', undefined, 'use');
    wait = await createTask(m.api, 'WAIT', '800', undefined, 'wait');
  });
  after(async () => { await m.stop(1000); });

  const save = async (flowNodes: Node[]) => {
    const r = await m.api('POST', '/flow', { flowName: 'signals', flowNodes });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.flowId as number;
  };
  const start = async (flowId: number) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, { input: {} });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };
  const signal = (fiId: number, key: string, body: unknown = { payload: { by: 'ada', level: 2 } }) => m.api('POST', `/exec/flow-ins/${fiId}/signal/${key}`, body);
  const waitingAt = (fiId: number, key: string) =>
    waitFor(`node ${key} of ${fiId} to wait`, async () => (await detail(m.api, fiId)).find((n: any) => n.nodeKey === key && n.status === 'RUNNING') ?? null, 10_000);

  it("waits at the SIGNAL; a signal's payload is the node's output, used downstream; a second signal is 409", async () => {
    const flowId = await save([START, { nodeType: 'TASK', nodeKey: 'w', taskIds: String(wait) }, { nodeType: 'SIGNAL', nodeKey: 'approve', timeoutMs: 60_000 }, { nodeType: 'TASK', nodeKey: 'use', taskIds: String(use) }, END]);
    const fiId = await start(flowId);
    // Not reached yet (the WAIT task runs first): 409.
    const early = await signal(fiId, 'approve');
    expect(early.status, early.text).to.equal(409);
    expect(early.body.message).to.equal('node "approve" is not waiting: the flow has not reached it yet');
    const node = await waitingAt(fiId, 'approve');
    expect(node).to.include({ nodeType: 'SIGNAL', status: 'RUNNING' });
    expect(node.tasks).to.deep.equal([]);
    const r = await signal(fiId, 'approve');
    expect(r.status, r.text).to.equal(200);
    expect(r.body.data).to.deep.equal({ fiId, nodeKey: 'approve', niId: node.niId, status: 'SUCCESS' });
    const row = await waitForEnd(m.api, fiId);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    expect(row.result).to.deep.equal({ use: 'approved by ada (2)' });
    const approve = (await detail(m.api, fiId)).find((n: any) => n.nodeKey === 'approve');
    expect(approve).to.include({ status: 'SUCCESS' });
    expect(approve.output).to.deep.equal({ by: 'ada', level: 2 });
    const again = await signal(fiId, 'approve');
    expect(again.status, again.text).to.equal(409);
    expect(again.body.message).to.match(/flow instance \d+ is SUCCESS: node "approve" is not waiting/);
  });

  it('a signalled node that ends the flow: its payload is the result; any JSON payload, a missing one is null', async () => {
    const flowId = await save([START, { nodeType: 'SIGNAL', nodeKey: 'approve' }, END]);
    const a = await start(flowId);
    await waitingAt(a, 'approve');
    expect((await signal(a, 'approve', { payload: [1, 'two', null] })).status).to.equal(200);
    expect((await waitForEnd(m.api, a)).result).to.deep.equal({ approve: [1, 'two', null] });
    const b = await start(flowId);
    await waitingAt(b, 'approve');
    expect((await signal(b, 'approve', {})).status).to.equal(200);
    expect((await waitForEnd(m.api, b)).result).to.deep.equal({ approve: null });
  });

  it('404 for an unknown instance or key; 409 for a node that is not a SIGNAL and after a cancel; 400 for a bad id', async () => {
    const flowId = await save([START, { nodeType: 'SIGNAL', nodeKey: 'approve' }, { nodeType: 'TASK', nodeKey: 'use', taskIds: String(use) }, END]);
    const fiId = await start(flowId);
    await waitingAt(fiId, 'approve');
    const cases: [number | string, string, number, RegExp][] = [
      [999999, 'approve', 404, /^flow instance 999999 does not exist$/],
      [fiId, 'nope', 404, /^flow instance \d+ has no node "nope"$/],
      [fiId, 'bad%20key', 404, /has no node "bad key"/],
      [fiId, 'use', 409, /^node "use" is a TASK node, not a SIGNAL/],
      ['x', 'approve', 400, /^fiId must be a positive integer/],
    ];
    for (const [id, key, status, msg] of cases) {
      const r = await signal(id as number, key);
      expect(r.status, `${id}/${key}: ${r.text}`).to.equal(status);
      expect(r.body.message).to.match(msg);
    }
    expect((await m.api('POST', `/exec/flow-ins/${fiId}/cancel`)).status).to.equal(200);
    const after = await signal(fiId, 'approve');
    expect(after.status).to.equal(409);
    expect(after.body.message).to.match(/is CANCELLED: node "approve" is not waiting/);
    expect((await detail(m.api, fiId)).find((n: any) => n.nodeKey === 'approve').status).to.equal('CANCELLED');
  });

  it('a timeout fails the node (onTimeout FAIL, the default), or succeeds it with a null output (SUCCESS)', async () => {
    const failing = await save([START, { nodeType: 'SIGNAL', nodeKey: 'approve', timeoutMs: 300 }, END]);
    const passing = await save([START, { nodeType: 'SIGNAL', nodeKey: 'approve', timeoutMs: 300, onTimeout: 'SUCCESS' }, { nodeType: 'TASK', nodeKey: 'after', taskIds: String(wait) }, END]);
    const [a, b] = [await start(failing), await start(passing)];
    const ra = await waitForEnd(m.api, a, 15_000);
    expect(ra.status).to.equal('FAILED');
    expect(ra.errorMsg).to.equal('signal "approve" timed out after 300 ms');
    const rb = await waitForEnd(m.api, b, 15_000);
    expect(rb.status, rb.errorMsg).to.equal('SUCCESS');
    const node = (await detail(m.api, b)).find((n: any) => n.nodeKey === 'approve');
    expect(node.status).to.equal('SUCCESS');
    expect(node).not.to.have.property('output');
    expect((await signal(a, 'approve')).status).to.equal(409);
  });

  it('a timed-out SIGNAL can be retried: it waits again, with a new due time, and a signal then moves it on', async () => {
    const flowId = await save([START, { nodeType: 'SIGNAL', nodeKey: 'approve', timeoutMs: 1500 }, { nodeType: 'TASK', nodeKey: 'use', taskIds: String(use) }, END]);
    const fiId = await start(flowId);
    expect((await waitForEnd(m.api, fiId, 15_000)).status).to.equal('FAILED');
    const failed = (await detail(m.api, fiId)).find((n: any) => n.nodeKey === 'approve');
    expect((await m.api('POST', `/exec/flow/${flowId}`, { fiId, niId: failed.niId })).status).to.equal(200);
    const again = await waitingAt(fiId, 'approve');
    expect(again.niId).to.not.equal(failed.niId);
    expect((await signal(fiId, 'approve')).status).to.equal(200);
    const row = await waitForEnd(m.api, fiId);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    expect(row.result).to.deep.equal({ use: 'approved by ada (2)' });
  });

  it('the reconciler leaves instances that only wait alone (nothing to advance), and the signal still works after', async () => {
    const flowId = await save([START, { nodeType: 'SIGNAL', nodeKey: 'approve' }, END]);
    const ids = [await start(flowId), await start(flowId), await start(flowId)];
    for (const id of ids) await waitingAt(id, 'approve');
    const versions = async () => (await m.services.knex('task_flow_ins').select('version').whereIn('fi_id', ids).orderBy('fi_id')).map((r) => r.version);
    const before = await versions();
    await new Promise((r) => setTimeout(r, 3_300)); // past the reconciler's grace (STUCK_GRACE_MS), so it would look at them
    const report = await m.cluster.reconcileNow();
    expect(report.advanced).to.equal(0);
    expect(await versions()).to.deep.equal(before);
    for (const id of ids) expect((await signal(id, 'approve')).status).to.equal(200);
    for (const id of ids) expect((await waitForEnd(m.api, id)).status).to.equal('SUCCESS');
  });
});
