// forEach nodes against a real member (issue 19): a node's tasks run once per item of an array
// (${item}, ${item.<path>}, ${index}), its output the array of their outputs in item order; maxParallel
// bounds how many items run at once; a non-array is a clear failure; 1,000 items run.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, waitForEnd } from './helpers/flows.js';

type Node = Record<string, unknown>;
const START = { nodeType: 'START' };
const END = { nodeType: 'END' };
const task = (nodeKey: string, taskIds: number | number[], extra: Node = {}): Node => ({ nodeType: 'TASK', nodeKey, taskIds: Array.isArray(taskIds) ? taskIds : String(taskIds), ...extra });

describe('control flow: forEach', function () {
  this.timeout(120_000);
  let m: TestMember;
  before(async () => {
    m = await startTestMember({ ...isolated(), WORKER_CONCURRENCY: '32' });
  });
  after(async () => { await m.stop(1000); });

  const save = async (flowNodes: Node[]) => {
    const r = await m.api('POST', '/flow', { flowName: 'each', flowNodes });
    expect(r.status, r.text).to.equal(200);
    return r.body.data;
  };
  const start = async (flowId: number, input: unknown) => {
    const r = await m.api('POST', `/exec/flow/${flowId}`, { input });
    expect(r.status, r.text).to.equal(200);
    return r.body.data.fiId as number;
  };

  it('runs the node once per item; its output is the array of outputs in item order, read downstream by index', async () => {
    const each = await createTask(m.api, 'ECHO', '#${index} ${item.name} (${input.tag})');
    const use = await createTask(m.api, 'ECHO', 'second: ${nodes.m.output.1}; all: ${nodes.m.output}');
    const f = await save([START, task('m', each, { forEach: 'input.people' }), task('use', use), END]);
    expect(f.flowNodes[1]).to.include({ forEach: 'input.people', completion: 'ALL' });
    const fiId = await start(f.flowId, { tag: 't', people: [{ name: 'ada' }, { name: 'bob' }, { name: 'cy' }] });
    const row = await waitForEnd(m.api, fiId);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    expect(row.result).to.deep.equal({ use: 'second: #1 bob (t); all: ["#0 ada (t)","#1 bob (t)","#2 cy (t)"]' });
    const node = (await detail(m.api, fiId)).find((n: any) => n.nodeKey === 'm');
    expect(node.tasks).to.have.length(3);
    expect(node.tasks.map((t: any) => t.renderedContent).sort()).to.deep.equal(['#0 ada (t)', '#1 bob (t)', '#2 cy (t)']);
  });

  it('a node of two tasks: each item gives an object by task id; the result is the array', async () => {
    const a = await createTask(m.api, 'ECHO', 'a${item}');
    const b = await createTask(m.api, 'ECHO', 'b${item}');
    const f = await save([START, task('m', [a, b], { forEach: 'input.xs' }), END]);
    const row = await waitForEnd(m.api, await start(f.flowId, { xs: [1, 2] }));
    expect(row.result).to.deep.equal({ m: [{ [a]: 'a1', [b]: 'b1' }, { [a]: 'a2', [b]: 'b2' }] });
  });

  it('maxParallel bounds how many items run at once', async () => {
    const wait = await createTask(m.api, 'WAIT', '250');
    const f = await save([START, task('m', wait, { forEach: 'input.xs', maxParallel: 2 }), END]);
    const fiId = await start(f.flowId, { xs: [1, 2, 3, 4, 5] });
    const row = await waitForEnd(m.api, fiId);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    const tasks = (await detail(m.api, fiId)).find((n: any) => n.nodeKey === 'm').tasks;
    expect(tasks).to.have.length(5);
    // At no instant did more than two runs overlap.
    const edges = tasks.flatMap((t: any) => [[t.startMs, 1], [t.endMs, -1]]).sort((x: number[], y: number[]) => x[0] - y[0] || x[1] - y[1]);
    let open = 0;
    let most = 0;
    for (const [, d] of edges) most = Math.max(most, (open += d));
    expect(most).to.equal(2);
    expect(row.result.m).to.deep.equal(Array(5).fill('waited 250 ms'));
  });

  it('a non-array fails the node with a message naming the path and what it found', async () => {
    const e = await createTask(m.api, 'ECHO', '${item}');
    const f = await save([START, task('m', e, { forEach: 'input.items' }), END]);
    const row = await waitForEnd(m.api, await start(f.flowId, { items: { not: 'an array' } }));
    expect(row.status).to.equal('FAILED');
    expect(row.errorMsg).to.equal('forEach input.items: expected an array of at most 1000 items, found an object');
    const big = await waitForEnd(m.api, await start(f.flowId, { items: Array.from({ length: 1001 }, (_, i) => i) }));
    expect(big.errorMsg).to.equal('forEach input.items: expected an array of at most 1000 items, found 1001 items');
  });

  it('runs over 1,000 items', async () => {
    const e = await createTask(m.api, 'ECHO', '${index}:${item}');
    const f = await save([START, task('m', e, { forEach: 'input.items', maxParallel: 200 }), END]);
    const items = Array.from({ length: 1000 }, (_, i) => i * 2);
    const row = await waitForEnd(m.api, await start(f.flowId, { items }), 90_000);
    expect(row.status, row.errorMsg).to.equal('SUCCESS');
    expect(row.result.m).to.have.length(1000);
    expect(row.result.m[0]).to.equal('0:0');
    expect(row.result.m[999]).to.equal('999:1998');
  });
});
