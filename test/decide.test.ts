// decide() (src/engine/decide.ts) on its own: every transition of a flow instance, from a plan and the
// state of its node and task instances, without MySQL or Redis. A table: each case names a flow, the
// state it stands in and what one pass decides. New node kinds and statuses (SKIPPED, forEach,
// sub-flows, signals) extend it with rows, and the notation below with what they need.
//
// Notation
//   flow:  nodes separated by `;`, each `key(tasks,completion) < preds`: `a(3,ALL) < START`;
//          tasks default to 1, completion to ANY; START and END are named so; `x(0)` is a TASK node
//          without tasks.
//   state: each node's latest instance, in the order they were entered (that order is their ni_id):
//          an array is a RUNNING instance with its tasks' statuses ('SUCCESS', 'RUNNING', …);
//          a string is an instance's status, `'FAILED: why'` with its error. A FAILED task's error
//          is `<key>#<n> broke` (n from 1).
//   expect: what the pass decides: `entered` `'<key> <status>'` in the order entered; `ends`
//          `'<key> <status>'` (`: <error>` when it has one); `cancels` `'<key>#<n>: <why>'`;
//          `flow` the flow's end, `'SUCCESS'` or `'FAILED: <error>'`, or null.
// Every case where the flow goes on is then checked to be level-triggered: with what it decided
// written, a second pass decides nothing.
import { expect } from 'chai';
import { decide, type Decision, type NodeInsView, type TaskInsView } from '../src/engine/decide.js';
import { planOf, type FlowPlan } from '../src/engine/flowPlan.js';

type NodeState = string | string[];

interface Case {
  name: string;
  flow: string;
  state: Record<string, NodeState>;
  /** The node a retry starts from (retryFlow's resume). */
  resume?: string;
  expect: { entered?: string[]; ends?: string[]; cancels?: string[]; flow?: string | null };
}

const CHAIN = 'START; a < START; b < a; END < b';
/** a fans out to b and c; END joins them (AND). */
const FAN = 'START; a < START; b < a; c < a; END < b c';

const CASES: Case[] = [
  // A chain
  { name: 'chain: a new instance enters START and the first node in one pass', flow: CHAIN, state: {}, expect: { entered: ['START SUCCESS', 'a RUNNING'] } },
  { name: 'chain: a running task decides nothing', flow: CHAIN, state: { START: 'SUCCESS', a: ['RUNNING'] }, expect: {} },
  { name: 'chain: a task that succeeded ends its node and enters the next', flow: CHAIN, state: { START: 'SUCCESS', a: ['SUCCESS'] }, expect: { ends: ['a SUCCESS'], entered: ['b RUNNING'] } },
  { name: 'chain: the last node succeeding enters END and succeeds the flow', flow: CHAIN, state: { START: 'SUCCESS', a: 'SUCCESS', b: ['SUCCESS'] }, expect: { ends: ['b SUCCESS'], entered: ['END SUCCESS'], flow: 'SUCCESS' } },
  { name: 'chain: a node without tasks succeeds at once and lets the next in on the same pass', flow: 'START; a(0) < START; b < a; END < b', state: {}, expect: { entered: ['START SUCCESS', 'a SUCCESS', 'b RUNNING'] } },
  { name: 'chain: a task that failed fails its node and the flow with its error', flow: CHAIN, state: { START: 'SUCCESS', a: ['FAILED'] }, expect: { ends: ['a FAILED: a#1 broke'], flow: 'FAILED: a#1 broke' } },

  // Fan-out and AND-join
  { name: 'fan-out: a node followed by two enters both', flow: FAN, state: { START: 'SUCCESS', a: ['SUCCESS'] }, expect: { ends: ['a SUCCESS'], entered: ['b RUNNING', 'c RUNNING'] } },
  { name: 'AND-join: one predecessor done is not enough', flow: FAN, state: { START: 'SUCCESS', a: 'SUCCESS', b: ['SUCCESS'], c: ['RUNNING'] }, expect: { ends: ['b SUCCESS'] } },
  { name: 'AND-join: the last predecessor done enters the join', flow: FAN, state: { START: 'SUCCESS', a: 'SUCCESS', b: 'SUCCESS', c: ['SUCCESS'] }, expect: { ends: ['c SUCCESS'], entered: ['END SUCCESS'], flow: 'SUCCESS' } },
  { name: 'AND-join: two predecessors finishing in one pass enter the join once', flow: 'START; a < START; b < START; j < a b; END < j', state: { START: 'SUCCESS', a: ['SUCCESS'], b: ['SUCCESS'] }, expect: { ends: ['a SUCCESS', 'b SUCCESS'], entered: ['j RUNNING'] } },
  { name: 'AND-join: predecessors that finished in either order enter the join', flow: 'START; a < START; b < START; j < a b; END < j', state: { START: 'SUCCESS', b: 'SUCCESS', a: 'SUCCESS' }, expect: { entered: ['j RUNNING'] } },

  // Completion: ANY, ALL, N
  { name: 'ANY: one success ends the node, the other tasks are cancelled', flow: 'START; a(3) < START; END < a', state: { START: 'SUCCESS', a: ['RUNNING', 'SUCCESS', 'PENDING'] }, expect: { ends: ['a SUCCESS'], cancels: ['a#1: not needed: node succeeded', 'a#3: not needed: node succeeded'], entered: ['END SUCCESS'], flow: 'SUCCESS' } },
  { name: 'ANY: failures while one task may still succeed decide nothing', flow: 'START; a(3) < START; END < a', state: { START: 'SUCCESS', a: ['FAILED', 'FAILED', 'RUNNING'] }, expect: {} },
  { name: 'ANY: every task failed fails the node', flow: 'START; a(2) < START; END < a', state: { START: 'SUCCESS', a: ['FAILED', 'CANCELLED'] }, expect: { ends: ['a FAILED: a#1 broke'], flow: 'FAILED: a#1 broke' } },
  { name: 'ALL: successes while one still runs decide nothing', flow: 'START; a(3,ALL) < START; END < a', state: { START: 'SUCCESS', a: ['SUCCESS', 'SUCCESS', 'RUNNING'] }, expect: {} },
  { name: 'ALL: every task succeeded ends the node', flow: 'START; a(3,ALL) < START; END < a', state: { START: 'SUCCESS', a: ['SUCCESS', 'SUCCESS', 'SUCCESS'] }, expect: { ends: ['a SUCCESS'], entered: ['END SUCCESS'], flow: 'SUCCESS' } },
  { name: 'ALL: one failure fails the node at once and cancels its other tasks', flow: 'START; a(3,ALL) < START; END < a', state: { START: 'SUCCESS', a: ['SUCCESS', 'FAILED', 'RUNNING'] }, expect: { ends: ['a FAILED: a#2 broke'], cancels: ['a#3: not needed: node failed'], flow: 'FAILED: a#2 broke' } },
  { name: 'N: two of three succeeded ends the node, the third is cancelled', flow: 'START; a(3,2) < START; END < a', state: { START: 'SUCCESS', a: ['SUCCESS', 'RUNNING', 'SUCCESS'] }, expect: { ends: ['a SUCCESS'], cancels: ['a#2: not needed: node succeeded'], entered: ['END SUCCESS'], flow: 'SUCCESS' } },
  { name: 'N: one success of the two needed decides nothing', flow: 'START; a(3,2) < START; END < a', state: { START: 'SUCCESS', a: ['SUCCESS', 'RUNNING', 'FAILED'] }, expect: {} },
  { name: 'N: two of three failed, two successes can no longer come: the node fails', flow: 'START; a(3,2) < START; END < a', state: { START: 'SUCCESS', a: ['FAILED', 'RUNNING', 'FAILED'] }, expect: { ends: ['a FAILED: a#1 broke'], cancels: ['a#2: not needed: node failed'], flow: 'FAILED: a#1 broke' } },

  // Failure
  { name: 'failure: a node failing cancels its running siblings and their tasks', flow: FAN, state: { START: 'SUCCESS', a: 'SUCCESS', b: ['FAILED'], c: ['RUNNING'] }, expect: { ends: ['b FAILED: b#1 broke', 'c CANCELLED: cancelled: node b failed'], cancels: ['c#1: cancelled: node b failed'], flow: 'FAILED: b#1 broke' } },
  { name: 'failure: a node recorded FAILED fails the flow with its error', flow: FAN, state: { START: 'SUCCESS', a: 'SUCCESS', b: 'FAILED: timed out', c: ['PENDING'] }, expect: { ends: ['c CANCELLED: cancelled: node b failed'], cancels: ['c#1: cancelled: node b failed'], flow: 'FAILED: timed out' } },
  { name: 'failure: a node CANCELLED without an error fails the flow naming it', flow: CHAIN, state: { START: 'SUCCESS', a: 'CANCELLED' }, expect: { flow: 'FAILED: node a cancelled' } },
  { name: 'the flow succeeding cancels what still runs off its path', flow: 'START; a < START; b < START; END < a', state: { START: 'SUCCESS', b: ['RUNNING'], a: ['SUCCESS'] }, expect: { ends: ['a SUCCESS', 'b CANCELLED: not needed: the flow succeeded'], cancels: ['b#1: not needed: the flow succeeded'], entered: ['END SUCCESS'], flow: 'SUCCESS' } },

  // Retry
  { name: 'retry: re-enters the node and its siblings the failure cancelled, not what follows', flow: FAN, state: { START: 'SUCCESS', a: 'SUCCESS', b: 'FAILED: b broke', c: 'CANCELLED: cancelled: node b failed' }, resume: 'b', expect: { entered: ['b RUNNING', 'c RUNNING'] } },
  { name: 'retry: a sibling that succeeded is kept', flow: FAN, state: { START: 'SUCCESS', a: 'SUCCESS', c: 'SUCCESS', b: 'FAILED: b broke' }, resume: 'b', expect: { entered: ['b RUNNING'] } },
  { name: 'retry: from an earlier node, the nodes after it are left to run again', flow: CHAIN, state: { START: 'SUCCESS', a: 'SUCCESS', b: 'FAILED: b broke' }, resume: 'a', expect: { entered: ['a RUNNING'] } },
  { name: 'retry: a node after the re-run one is stale; it runs again once its predecessor succeeds', flow: CHAIN, state: { START: 'SUCCESS', b: 'FAILED: b broke', a: ['SUCCESS'] }, expect: { ends: ['a SUCCESS'], entered: ['b RUNNING'] } },
  { name: 'retry: a stale failure does not fail the flow while its predecessor runs again', flow: CHAIN, state: { START: 'SUCCESS', b: 'FAILED: b broke', a: ['RUNNING'] }, expect: {} },
];

/** One node instance as the test holds it (decide sees NodeInsView and TaskInsView). */
interface Held extends NodeInsView {
  ni_id: number;
  tasks: TaskInsView[];
}

/** The flow notation → a plan, through planOf as the engine builds it from node rows. */
function planFrom(text: string): FlowPlan {
  const specs = text.split(';').map((s) => {
    const m = /^\s*(\w+)(?:\((\d+)(?:,(\w+))?\))?\s*(?:<\s*([\w ]+?))?\s*$/.exec(s);
    if (!m) throw new Error(`cannot read node "${s}"`);
    return { key: m[1], tasks: m[2], completion: m[3] ?? null, preds: m[4]?.split(/\s+/) ?? [] };
  });
  const idOf = (key: string) => {
    const i = specs.findIndex((s) => s.key === key);
    if (i < 0) throw new Error(`no node "${key}" in "${text}"`);
    return 100 + i;
  };
  return planOf(1, 1, specs.map((s, i) => {
    const type = s.key === 'START' || s.key === 'END' ? s.key : 'TASK';
    const count = type === 'TASK' ? Number(s.tasks ?? 1) : 0;
    return {
      node_id: idOf(s.key), seq: i + 1, node_type: type, node_key: s.key, completion: s.completion, prev_node: null,
      task_ids: Array.from({ length: count }, (_, t) => String(t + 1)).join(','),
      prev_nodes: s.preds.map(idOf).join(','),
    };
  }));
}

/** A node instance's tasks, numbered from 1, ids its own (`niId * 100 + n`). */
const tasksFor = (niId: number, key: string, statuses: string[]): TaskInsView[] =>
  statuses.map((st, t) => ({ ti_id: niId * 100 + t + 1, ni_id: niId, exec_status: st, error_msg: st === 'FAILED' ? `${key}#${t + 1} broke` : null }));

function stateFrom(plan: FlowPlan, state: Record<string, NodeState>): Map<number, Held> {
  const held = new Map<number, Held>();
  let niId = 0;
  for (const [key, s] of Object.entries(state)) {
    const node = plan.byKey.get(key);
    if (!node) throw new Error(`no node "${key}"`);
    niId++;
    const [status, error] = typeof s === 'string' ? s.split(/: (.*)/) : ['RUNNING'];
    held.set(node.nodeId, { ni_id: niId, node_id: node.nodeId, status, error_msg: error ?? null, tasks: tasksFor(niId, key, typeof s === 'string' ? [] : s) });
  }
  return held;
}

function pass(plan: FlowPlan, held: Map<number, Held>, resume?: string): Decision {
  const byNi = new Map([...held.values()].map((h) => [h.ni_id, h]));
  return decide(plan, [...held.values()].map(({ tasks: _, ...view }) => view), (niId) => byNi.get(niId)?.tasks ?? [], resume === undefined ? undefined : plan.byKey.get(resume)!.nodeId);
}

/** A decision in the notation of the table. */
function described(plan: FlowPlan, held: Map<number, Held>, d: Decision) {
  const keyOfNi = (niId: number) => plan.byId.get([...held.values()].find((h) => h.ni_id === niId)!.node_id)!.key;
  const taskOf = (niId: number, tiId: number) => `${keyOfNi(niId)}#${held.get(plan.byKey.get(keyOfNi(niId))!.nodeId)!.tasks.findIndex((t) => t.ti_id === tiId) + 1}`;
  return {
    entered: d.entered.map((e) => `${plan.byId.get(e.nodeId)!.key} ${e.status}`),
    ends: d.nodeEnds.map((e) => `${keyOfNi(e.niId)} ${e.status}${e.error ? `: ${e.error}` : ''}`),
    cancels: d.cancels.map((c) => `${taskOf(c.niId, c.tiId)}: ${c.why}`),
    flow: d.flowEnd && (d.flowEnd.error ? `${d.flowEnd.status}: ${d.flowEnd.error}` : d.flowEnd.status),
  };
}

/** What the engine writes for a decision: node and task ends, and each entered node with its tasks PENDING. */
function written(plan: FlowPlan, held: Map<number, Held>, d: Decision): Map<number, Held> {
  const next = new Map([...held].map(([id, h]) => [id, { ...h, tasks: h.tasks.map((t) => ({ ...t })) }]));
  const byNi = new Map([...next.values()].map((h) => [h.ni_id, h]));
  for (const e of d.nodeEnds) Object.assign(byNi.get(e.niId)!, { status: e.status, error_msg: e.error });
  for (const c of d.cancels) byNi.get(c.niId)!.tasks.find((t) => t.ti_id === c.tiId)!.exec_status = 'CANCELLED';
  let niId = Math.max(0, ...byNi.keys());
  for (const e of d.entered) {
    niId++;
    const node = plan.byId.get(e.nodeId)!;
    next.set(e.nodeId, { ni_id: niId, node_id: e.nodeId, status: e.status, error_msg: null, tasks: tasksFor(niId, node.key, node.taskIds.map(() => 'PENDING')) });
  }
  return next;
}

describe('decide: every transition of a flow instance, without MySQL or Redis', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const plan = planFrom(c.flow);
      const held = stateFrom(plan, c.state);
      const d = pass(plan, held, c.resume);
      expect(described(plan, held, d)).to.deep.equal({ entered: [], ends: [], cancels: [], flow: null, ...c.expect });
      // Level-triggered: once what it decided is written, the next pass decides nothing (a flow that
      // ended has no next pass).
      if (d.flowEnd) return;
      const again = pass(plan, written(plan, held, d));
      expect(described(plan, held, again)).to.deep.equal({ entered: [], ends: [], cancels: [], flow: null });
    });
  }
});
