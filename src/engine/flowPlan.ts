// A flow version's nodes as the coordinator walks them: a graph of START → TASK nodes → END, each node
// with the nodes it follows (a chain flow is the graph where each follows the one before). A saved
// version never changes (a new save makes a new version), so plans are cached per (flow, version) for
// the life of the process.
import type { Knex } from '../infra/db.js';
import { FlowNode, nodeKeyOf, parseCompletion, parseIdList, parseNodeOptions, predecessorsOf, type Completion, type NodeType } from '../models/index.js';
import { parseExpression, parsePath, referencedKeys, type Expr } from '../definitions/expression.js';

export interface PlanNode {
  nodeId: number;
  seq: number;
  key: string;
  type: NodeType;
  taskIds: number[];
  completion: Completion;
  /** The node ids it follows: it starts once each of them has succeeded (AND-join). */
  preds: number[];
  /** The node ids that follow it. */
  succs: number[];
  /** A TASK node's condition (false: the node is SKIPPED), parsed once per plan. */
  when: Expr | null;
  /** The node keys `when` and `forEach` read. */
  whenKeys: string[];
  /** A TASK node's forEach: the path of its items, and how many run at once (null: all). */
  forEach: { path: Extract<Expr, { kind: 'path' }>; text: string; maxParallel: number | null } | null;
  /** A SIGNAL node's timeout (null: waits for ever) and what a timeout does. */
  signal: { timeoutMs: number | null; onTimeout: 'FAIL' | 'SUCCESS' } | null;
  /** A SUB_FLOW node's flow (version null: the flow's current one when it starts) and input. */
  subFlow: { flowId: number; flowVersion: number | null; input: Record<string, unknown> } | null;
}

export interface FlowPlan {
  flowId: number;
  version: number;
  /** In topological order: every node after the nodes it follows (START first, END last). */
  nodes: PlanNode[];
  byId: Map<number, PlanNode>;
  byKey: Map<string, PlanNode>;
  start: PlanNode;
  end: PlanNode;
}

const MAX_CACHED = 2000;

export class FlowPlans {
  private cache = new Map<string, Promise<FlowPlan>>();

  constructor(private knex: Knex) {}

  get(flowId: number, version: number): Promise<FlowPlan> {
    const key = `${flowId}:${version}`;
    let p = this.cache.get(key);
    if (!p) {
      p = this.load(flowId, version);
      p.catch(() => this.cache.delete(key));
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, p);
    }
    return p;
  }

  private async load(flowId: number, version: number): Promise<FlowPlan> {
    const rows = await FlowNode.query(this.knex)
      .select('node_id', 'seq', 'node_type', 'task_ids', 'completion', 'prev_node', 'prev_nodes', 'node_key', 'node_options')
      .where({ flow_id: flowId, flow_version: version })
      .orderBy('seq');
    if (rows.length === 0) throw new Error(`flow ${flowId} has no nodes at version ${version}`);
    return planOf(flowId, version, rows);
  }
}

/** The plan of one version's node rows (in seq order). */
export function planOf(flowId: number, version: number, rows: (Pick<FlowNode, 'node_id' | 'seq' | 'node_type' | 'task_ids' | 'completion' | 'prev_node' | 'prev_nodes' | 'node_key'> & { node_options?: string | null })[]): FlowPlan {
  const nodes: PlanNode[] = rows.map((r) => {
    const o = parseNodeOptions(r.node_options);
    const when = o.when ? parseExpression(o.when) : null; // checked at save
    const each = o.forEach ? parsePath(o.forEach) : null;
    const keys = new Set<string>();
    if (when) referencedKeys(when, keys);
    if (each) referencedKeys(each, keys);
    return {
      nodeId: Number(r.node_id),
      seq: r.seq,
      key: nodeKeyOf(r),
      type: r.node_type,
      taskIds: parseIdList(r.task_ids),
      completion: parseCompletion(r.completion),
      preds: predecessorsOf(r),
      succs: [],
      when,
      whenKeys: [...keys],
      forEach: each ? { path: each, text: o.forEach!, maxParallel: o.maxParallel ?? null } : null,
      signal: r.node_type === 'SIGNAL' ? { timeoutMs: o.timeoutMs ?? null, onTimeout: o.onTimeout ?? 'FAIL' } : null,
      subFlow: r.node_type === 'SUB_FLOW' ? { flowId: Number(o.flowId), flowVersion: o.flowVersion ?? null, input: o.input ?? {} } : null,
    };
  });
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  for (const n of nodes) for (const p of n.preds) byId.get(p)?.succs.push(n.nodeId);
  const start = nodes.find((n) => n.type === 'START');
  const end = nodes.find((n) => n.type === 'END');
  if (!start || !end) throw new Error(`flow ${flowId} version ${version} has no START or END node`);
  return { flowId, version, nodes: topological(nodes, byId), byId, byKey: new Map(nodes.map((n) => [n.key, n])), start, end };
}

/** Kahn's order (ties by seq). A saved flow has no cycle; were there one, its nodes would be left out. */
function topological(nodes: PlanNode[], byId: Map<number, PlanNode>): PlanNode[] {
  const waiting = new Map(nodes.map((n) => [n.nodeId, n.preds.filter((p) => byId.has(p)).length]));
  const ready = nodes.filter((n) => waiting.get(n.nodeId) === 0);
  const out: PlanNode[] = [];
  while (ready.length) {
    ready.sort((a, b) => a.seq - b.seq);
    const n = ready.shift()!;
    out.push(n);
    for (const s of n.succs) {
      const left = waiting.get(s)! - 1;
      waiting.set(s, left);
      if (left === 0) ready.push(byId.get(s)!);
    }
  }
  return out;
}
