// decide() with control flow (issue 19), table-driven: each case is a flow (nodes by key), where its
// instance stands (the latest node instances, their tasks), the data conditions read, and what decide
// must answer. Pure: no services.
import { expect } from 'chai';
import { planOf } from '../src/engine/flowPlan.js';
import { decide, MAX_SUB_FLOW_DEPTH, NeedData, type DecideContext, type NodeInsView, type TaskInsView } from '../src/engine/decide.js';

interface NodeSpec {
  key: string;
  type?: 'START' | 'TASK' | 'END' | 'SIGNAL' | 'SUB_FLOW';
  after?: string[];
  tasks?: number[];
  completion?: string;
  options?: Record<string, unknown>;
}

/** A plan from node specs: START first (key s), END last (key e, following every node nothing follows). */
function plan(nodes: NodeSpec[]) {
  const all: NodeSpec[] = [{ key: 's', type: 'START' }, ...nodes, { key: 'e', type: 'END' }];
  const id = (key: string) => all.findIndex((n) => n.key === key) + 1;
  const followed = new Set(nodes.flatMap((n) => n.after ?? ['s']));
  const rows = all.map((n, seq) => {
    const type = n.type ?? 'TASK';
    const preds = type === 'START' ? [] : type === 'END' ? nodes.filter((x) => !followed.has(x.key)).map((x) => id(x.key)) : (n.after ?? ['s']).map(id);
    return {
      node_id: seq + 1, seq, node_type: type, node_key: n.key,
      task_ids: type === 'TASK' ? (n.tasks ?? [seq * 10]).join(',') : null,
      completion: n.completion ?? (type === 'TASK' ? 'ANY' : null),
      prev_node: preds[0] ?? null, prev_nodes: preds.join(','),
      node_options: n.options ? JSON.stringify(n.options) : null,
    };
  });
  return { p: planOf(1, 1, rows as any), id };
}

/** Where the instance stands: node key → [status, extra]; ni ids in the order given. */
type State = [string, string, Partial<NodeInsView>?][];
interface Case {
  name: string;
  nodes: NodeSpec[];
  state: State;
  tasks?: Record<string, string[]>; // node key → its task statuses (RUNNING nodes)
  /** forEach nodes: node key → [status, item index] of each task instance. */
  items?: Record<string, [string, number][]>;
  /** Expected more items of running forEach nodes: key → item indexes. */
  addTasks?: Record<string, number[]>;
  /** Expected items made on entering: key → [indexes, itemCount]. */
  enteredItems?: Record<string, [number[], number]>;
  ctx?: DecideContext;
  resume?: string;
  /** Entered, by key, with status (and error if any). */
  entered?: [string, string, RegExp?][];
  ends?: [string, string, RegExp?][];
  flowEnd?: [string, RegExp?] | null;
  startChildren?: boolean;
  cancelChildren?: number[];
}

const data = (input: unknown, outputs: Record<string, unknown> = {}) => ({ input, output: (k: string) => (k in outputs ? outputs[k] : null) });
const when = (w: string) => ({ when: w });

const cases: Case[] = [
  {
    name: 'a false when skips the node; a true one runs it',
    nodes: [{ key: 'a' }, { key: 'big', after: ['a'], options: when('input.amount > 100') }, { key: 'small', after: ['a'], options: when('input.amount <= 100') }],
    state: [['s', 'SUCCESS'], ['a', 'SUCCESS']],
    ctx: { data: data({ amount: 150 }) },
    entered: [['big', 'RUNNING'], ['small', 'SKIPPED']],
  },
  {
    name: 'when reads the output of a node ending in the same pass',
    nodes: [{ key: 'check' }, { key: 'review', after: ['check'], options: when('nodes.check.output.score > 100') }],
    state: [['s', 'SUCCESS'], ['check', 'RUNNING']],
    tasks: { check: ['SUCCESS'] },
    ctx: { data: data({}, { check: '{"score": 99}' }) },
    ends: [['check', 'SUCCESS']],
    entered: [['review', 'SKIPPED'], ['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
  {
    name: 'a node all of whose predecessors were SKIPPED is SKIPPED, and so on down the line',
    nodes: [{ key: 'a', options: when('false') }, { key: 'b', after: ['a'] }, { key: 'c', after: ['b'] }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({}) },
    entered: [['a', 'SKIPPED'], ['b', 'SKIPPED'], ['c', 'SKIPPED'], ['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
  {
    name: 'a join after two exclusive branches runs once: one SUCCESS, the other SKIPPED',
    nodes: [{ key: 'x', options: when('input.v == 1') }, { key: 'y', options: when('input.v != 1') }, { key: 'join', after: ['x', 'y'] }],
    state: [['s', 'SUCCESS'], ['x', 'SUCCESS'], ['y', 'SKIPPED']],
    ctx: { data: data({ v: 1 }) },
    entered: [['join', 'RUNNING']],
  },
  {
    name: 'a join waits while one branch still runs, whatever the other did',
    nodes: [{ key: 'x' }, { key: 'y', options: when('false') }, { key: 'join', after: ['x', 'y'] }],
    state: [['s', 'SUCCESS'], ['x', 'RUNNING'], ['y', 'SKIPPED']],
    tasks: { x: ['RUNNING'] },
    entered: [],
  },
  {
    name: 'a join with a condition after two skipped branches is skipped without reading it',
    nodes: [{ key: 'x', options: when('false') }, { key: 'y', options: when('false') }, { key: 'join', after: ['x', 'y'], options: when('true') }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({}) },
    entered: [['x', 'SKIPPED'], ['y', 'SKIPPED'], ['join', 'SKIPPED'], ['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
  {
    name: 'END is never skipped: every branch skipped, the flow succeeds',
    nodes: [{ key: 'x', options: when('input.go') }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({ go: false }) },
    entered: [['x', 'SKIPPED'], ['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
  {
    name: 'a SKIPPED node is never decided again (level-triggered)',
    nodes: [{ key: 'x', options: when('false') }, { key: 'y' }],
    state: [['s', 'SUCCESS'], ['x', 'SKIPPED'], ['y', 'RUNNING']],
    tasks: { y: ['RUNNING'] },
    entered: [],
  },
  {
    name: 'retry from a node after a SKIPPED one: its SKIPPED predecessor counts as ended',
    nodes: [{ key: 'a' }, { key: 'x', options: when('false') }, { key: 'y', after: ['a', 'x'], options: when('true') }],
    state: [['s', 'SUCCESS'], ['a', 'SUCCESS'], ['x', 'SKIPPED'], ['y', 'FAILED']],
    ctx: { data: data({}) },
    resume: 'y',
    entered: [['y', 'RUNNING']],
  },
  {
    name: 'a SIGNAL node is entered waiting (RUNNING) with its due time',
    nodes: [{ key: 'approve', type: 'SIGNAL', options: { timeoutMs: 5000 } }],
    state: [['s', 'SUCCESS']],
    ctx: { nowMs: 1_000_000 },
    entered: [['approve', 'RUNNING']],
  },
  {
    name: 'a waiting SIGNAL before its due time waits on',
    nodes: [{ key: 'approve', type: 'SIGNAL', options: { timeoutMs: 5000 } }],
    state: [['s', 'SUCCESS'], ['approve', 'RUNNING', { due_ms: 2_000 }]],
    ctx: { nowMs: 1_999 },
    entered: [],
    ends: [],
  },
  {
    name: 'a SIGNAL past its due time fails the flow (onTimeout FAIL, the default)',
    nodes: [{ key: 'approve', type: 'SIGNAL', options: { timeoutMs: 5000 } }],
    state: [['s', 'SUCCESS'], ['approve', 'RUNNING', { due_ms: 2_000 }]],
    ctx: { nowMs: 2_000 },
    ends: [['approve', 'FAILED', /signal "approve" timed out after 5000 ms/]],
    flowEnd: ['FAILED', /timed out/],
  },
  {
    name: 'a SIGNAL past its due time with onTimeout SUCCESS succeeds and the flow goes on',
    nodes: [{ key: 'approve', type: 'SIGNAL', options: { timeoutMs: 5000, onTimeout: 'SUCCESS' } }, { key: 'after', after: ['approve'] }],
    state: [['s', 'SUCCESS'], ['approve', 'RUNNING', { due_ms: 2_000 }]],
    ctx: { nowMs: 3_000 },
    ends: [['approve', 'SUCCESS']],
    entered: [['after', 'RUNNING']],
  },
  {
    name: 'a SIGNAL with no timeout waits for ever',
    nodes: [{ key: 'approve', type: 'SIGNAL' }],
    state: [['s', 'SUCCESS'], ['approve', 'RUNNING']],
    ctx: { nowMs: Number.MAX_SAFE_INTEGER },
    ends: [],
  },
  {
    name: 'a signalled SIGNAL (SUCCESS written by the API) lets the next node in',
    nodes: [{ key: 'approve', type: 'SIGNAL' }, { key: 'ship', after: ['approve'] }],
    state: [['s', 'SUCCESS'], ['approve', 'SUCCESS']],
    entered: [['ship', 'RUNNING']],
  },
  {
    name: 'a SUB_FLOW node is entered RUNNING and asks for its child',
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS']],
    entered: [['sub', 'RUNNING']],
    startChildren: true,
  },
  {
    name: 'a SUB_FLOW node left without a child (a crash after its commit) asks for it again',
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS'], ['sub', 'RUNNING']],
    entered: [],
    startChildren: true,
  },
  {
    name: 'a SUB_FLOW whose child runs waits',
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS'], ['sub', 'RUNNING', { child_fi_id: 50, child_status: 'RUNNING' }]],
    ends: [],
    startChildren: false,
  },
  {
    name: "a SUB_FLOW's child succeeded: the node succeeds",
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }, { key: 'use', after: ['sub'] }],
    state: [['s', 'SUCCESS'], ['sub', 'RUNNING', { child_fi_id: 50, child_status: 'SUCCESS' }]],
    ends: [['sub', 'SUCCESS']],
    entered: [['use', 'RUNNING']],
  },
  {
    name: "a SUB_FLOW's child failed: the node and the flow fail with the child's error",
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS'], ['sub', 'RUNNING', { child_fi_id: 50, child_status: 'FAILED', child_error: 'boom' }]],
    ends: [['sub', 'FAILED', /sub-flow instance 50 failed: boom/]],
    flowEnd: ['FAILED', /sub-flow instance 50 failed: boom/],
  },
  {
    name: "a SUB_FLOW's child cancelled: the node fails",
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS'], ['sub', 'RUNNING', { child_fi_id: 50, child_status: 'CANCELLED' }]],
    ends: [['sub', 'FAILED', /sub-flow instance 50 cancelled/]],
    flowEnd: ['FAILED'],
  },
  {
    name: 'a sibling fails while a SUB_FLOW waits: the node is cancelled and so is its child',
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }, { key: 'bad' }],
    state: [['s', 'SUCCESS'], ['sub', 'RUNNING', { child_fi_id: 50, child_status: 'RUNNING' }], ['bad', 'RUNNING']],
    tasks: { bad: ['FAILED'] },
    ends: [['bad', 'FAILED'], ['sub', 'CANCELLED']],
    flowEnd: ['FAILED'],
    cancelChildren: [50],
  },
  {
    name: `a SUB_FLOW at depth ${MAX_SUB_FLOW_DEPTH} fails on entering, and fails the flow`,
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS']],
    ctx: { depth: MAX_SUB_FLOW_DEPTH },
    entered: [['sub', 'FAILED', /nest at most 10 deep/]],
    flowEnd: ['FAILED', /nest at most 10 deep/],
    startChildren: false,
  },
  {
    name: 'retry from a SUB_FLOW node enters it again (a new child follows)',
    nodes: [{ key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS'], ['sub', 'FAILED', { child_fi_id: 50 }]],
    resume: 'sub',
    entered: [['sub', 'RUNNING']],
    startChildren: true,
  },
  {
    name: 'a condition on a SIGNAL node skips it',
    nodes: [{ key: 'approve', type: 'SIGNAL', options: { when: 'input.amount > 100' } }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({ amount: 5 }) },
    entered: [['approve', 'SKIPPED'], ['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
  // forEach
  {
    name: 'forEach: entered with one run per item (all at once without maxParallel)',
    nodes: [{ key: 'm', options: { forEach: 'input.items' } }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({ items: ['a', 'b', 'c'] }) },
    entered: [['m', 'RUNNING']],
    enteredItems: { m: [[0, 1, 2], 3] },
  },
  {
    name: 'forEach with maxParallel 2 of 5 items: the first two made',
    nodes: [{ key: 'm', options: { forEach: 'nodes.a.output.list', maxParallel: 2 }, after: ['a'] }, { key: 'a' }],
    state: [['s', 'SUCCESS'], ['a', 'SUCCESS']],
    ctx: { data: data({}, { a: '{"list": [1,2,3,4,5]}' }) },
    entered: [['m', 'RUNNING']],
    enteredItems: { m: [[0, 1], 5] },
  },
  {
    name: 'forEach over a non-array fails the node at once, naming the path and what it found',
    nodes: [{ key: 'm', options: { forEach: 'input.items' } }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({ items: 'abc' }) },
    entered: [['m', 'FAILED', /^forEach input\.items: expected an array of at most 1000 items, found a string \("abc"\)$/]],
    flowEnd: ['FAILED', /forEach input\.items: expected an array/],
  },
  {
    name: 'forEach over a missing path fails: found null',
    nodes: [{ key: 'm', options: { forEach: 'input.nope' } }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({}) },
    entered: [['m', 'FAILED', /found null \(no such path\)/]],
    flowEnd: ['FAILED'],
  },
  {
    name: 'forEach over 1,001 items fails',
    nodes: [{ key: 'm', options: { forEach: 'input.items' } }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({ items: Array.from({ length: 1001 }, (_, i) => i) }) },
    entered: [['m', 'FAILED', /found 1001 items$/]],
    flowEnd: ['FAILED'],
  },
  {
    name: 'forEach over an empty array succeeds at once',
    nodes: [{ key: 'm', options: { forEach: 'input.items' } }, { key: 'after', after: ['m'] }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({ items: [] }) },
    entered: [['m', 'SUCCESS'], ['after', 'RUNNING']],
  },
  {
    name: 'forEach with maxParallel: an item ended lets the next in',
    nodes: [{ key: 'm', completion: 'ALL', options: { forEach: 'input.items', maxParallel: 2 } }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 5 }]],
    items: { m: [['SUCCESS', 0], ['RUNNING', 1]] },
    addTasks: { m: [2] },
    ends: [],
  },
  {
    name: 'forEach with maxParallel: two ended at once let two in',
    nodes: [{ key: 'm', completion: 'ALL', options: { forEach: 'input.items', maxParallel: 2 } }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 5 }]],
    items: { m: [['SUCCESS', 0], ['SUCCESS', 1], ['SUCCESS', 2], ['SUCCESS', 3]] },
    addTasks: { m: [4] },
  },
  {
    name: 'forEach completion ALL: every item succeeded → SUCCESS',
    nodes: [{ key: 'm', completion: 'ALL', options: { forEach: 'input.items', maxParallel: 2 } }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 3 }]],
    items: { m: [['SUCCESS', 0], ['SUCCESS', 1], ['SUCCESS', 2]] },
    ends: [['m', 'SUCCESS']],
    entered: [['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
  {
    name: 'forEach completion ALL: items not made yet count as pending (no early success)',
    nodes: [{ key: 'm', completion: 'ALL', options: { forEach: 'input.items', maxParallel: 2 } }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 4 }]],
    items: { m: [['SUCCESS', 0], ['SUCCESS', 1]] },
    ends: [],
    addTasks: { m: [2, 3] },
  },
  {
    name: 'forEach completion ALL: one item failed → the node fails, open runs cancelled, no more made',
    nodes: [{ key: 'm', completion: 'ALL', options: { forEach: 'input.items', maxParallel: 2 } }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 5 }]],
    items: { m: [['FAILED', 0], ['RUNNING', 1]] },
    ends: [['m', 'FAILED', /item failed/]],
    flowEnd: ['FAILED'],
  },
  {
    name: 'a forEach node that fails on entering: siblings entered beside it are not made',
    nodes: [{ key: 'ok' }, { key: 'm', options: { forEach: 'input.nope' } }, { key: 'sub', type: 'SUB_FLOW', options: { flowId: 7 } }],
    state: [['s', 'SUCCESS']],
    ctx: { data: data({}) },
    entered: [['m', 'FAILED', /found null/]],
    flowEnd: ['FAILED'],
  },
  {
    name: 'a sibling fails while a forEach node could make more runs: none are made, the node is cancelled',
    nodes: [{ key: 'm', completion: 'ALL', options: { forEach: 'input.items', maxParallel: 1 } }, { key: 'bad' }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 3 }], ['bad', 'RUNNING']],
    items: { m: [['SUCCESS', 0]] },
    tasks: { bad: ['FAILED'] },
    ends: [['bad', 'FAILED'], ['m', 'CANCELLED']],
    flowEnd: ['FAILED'],
  },
  {
    name: 'forEach completion 2 (of 4 items): two successes end it, the rest cancelled',
    nodes: [{ key: 'm', completion: '2', options: { forEach: 'input.items' } }],
    state: [['s', 'SUCCESS'], ['m', 'RUNNING', { item_count: 4 }]],
    items: { m: [['SUCCESS', 0], ['FAILED', 1], ['SUCCESS', 2], ['RUNNING', 3]] },
    ends: [['m', 'SUCCESS']],
    entered: [['e', 'SUCCESS']],
    flowEnd: ['SUCCESS'],
  },
];

describe('decide: control flow (when/SKIPPED, SIGNAL, SUB_FLOW)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { p, id } = plan(c.nodes);
      const key = (nodeId: number) => p.byId.get(nodeId)!.key;
      const latest: NodeInsView[] = c.state.map(([k, status, extra], i) => ({ ni_id: i + 1, node_id: id(k), status, error_msg: null, ...extra }));
      const niOf = new Map(latest.map((n) => [n.ni_id!, key(n.node_id)]));
      const tasksOf = (niId: number): TaskInsView[] => {
        const k = niOf.get(niId)!;
        if (c.items?.[k]) return c.items[k].map(([st, idx], j) => ({ ti_id: niId * 10000 + j, ni_id: niId, exec_status: st, error_msg: st === 'FAILED' ? 'item failed' : null, item_index: idx }));
        return (c.tasks?.[k] ?? []).map((st, j) => ({ ti_id: niId * 100 + j, ni_id: niId, exec_status: st, error_msg: st === 'FAILED' ? 'task failed here' : null }));
      };
      const d = decide(p, latest, tasksOf, c.resume ? id(c.resume) : undefined, c.ctx ?? {});
      const check = (got: { key: string; status: string; error?: string | null }[], want: [string, string, RegExp?][]) => {
        expect(got.map((g) => [g.key, g.status]), 'keys and statuses').to.deep.equal(want.map(([k, s]) => [k, s]));
        want.forEach(([, , re], i) => { if (re) expect(got[i].error ?? '').to.match(re); });
      };
      if (c.entered) check(d.entered.map((e) => ({ key: key(e.nodeId), status: e.status, error: e.error })), c.entered);
      if (c.ends) check(d.nodeEnds.map((e) => ({ key: niOf.get(e.niId)!, status: e.status, error: e.error })), c.ends);
      if (c.flowEnd !== undefined) {
        if (c.flowEnd === null) expect(d.flowEnd).to.equal(null);
        else {
          expect(d.flowEnd?.status).to.equal(c.flowEnd[0]);
          if (c.flowEnd[1]) expect(d.flowEnd?.error ?? '').to.match(c.flowEnd[1]);
        }
      } else expect(d.flowEnd, 'flow end').to.equal(null);
      if (c.startChildren !== undefined) expect(d.startChildren ?? false, 'startChildren').to.equal(c.startChildren);
      expect(d.cancelChildren ?? [], 'cancelChildren').to.deep.equal(c.cancelChildren ?? []);
      expect(Object.fromEntries((d.addTasks ?? []).map((a) => [niOf.get(a.niId), a.items])), 'addTasks').to.deep.equal(c.addTasks ?? {});
      if (c.enteredItems) expect(Object.fromEntries(d.entered.filter((e) => e.items).map((e) => [key(e.nodeId), [e.items, e.itemCount]]))).to.deep.equal(c.enteredItems);
      // The SIGNAL's due time: entered now + timeoutMs.
      for (const e of d.entered) {
        const n = p.byId.get(e.nodeId)!;
        if (n.type === 'SIGNAL' && e.status === 'RUNNING') expect(e.dueMs ?? null).to.equal(n.signal!.timeoutMs === null ? null : c.ctx!.nowMs! + n.signal!.timeoutMs);
      }
    });
  }
});

describe('decide: the data conditions read is asked for only when needed', () => {
  const { p, id } = plan([{ key: 'a' }, { key: 'b', after: ['a'], options: when('input.x == 1') }, { key: 'm', after: ['a'], options: { forEach: 'input.items' } }]);
  const none = () => [];
  it('a pass that enters no node with when or forEach needs no data', () => {
    const d = decide(p, [{ ni_id: 1, node_id: id('s'), status: 'SUCCESS', error_msg: null }], none, undefined, {});
    expect(d.entered.map((e) => p.byId.get(e.nodeId)!.key)).to.deep.equal(['a']);
  });
  it('a pass that enters one throws NeedData without data, and decides with it', () => {
    const state: NodeInsView[] = [{ ni_id: 1, node_id: id('s'), status: 'SUCCESS', error_msg: null }, { ni_id: 2, node_id: id('a'), status: 'SUCCESS', error_msg: null }];
    expect(() => decide(p, state, none, undefined, {})).to.throw(NeedData);
    const d = decide(p, state, none, undefined, { data: data({ x: 2, items: [1] }) });
    expect(d.entered.map((e) => [p.byId.get(e.nodeId)!.key, e.status])).to.deep.equal([['b', 'SKIPPED'], ['m', 'RUNNING']]);
  });
});
