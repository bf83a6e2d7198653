// A flow version's chain of nodes, as the coordinator walks it. A saved version never changes
// (a new save makes a new version), so plans are cached per (flow, version) for the life of the process.
import type { Knex } from '../infra/db.js';
import type { NodeType } from '../models/definitions.js';
import { parseCompletion, type Completion } from './completion.js';

export interface PlanNode {
  nodeId: number;
  seq: number;
  type: NodeType;
  taskIds: number[];
  completion: Completion;
}

export interface FlowPlan {
  flowId: number;
  version: number;
  nodes: PlanNode[];
  byId: Map<number, PlanNode>;
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
    const rows: { node_id: number; seq: number; node_type: NodeType; task_ids: string | null; completion: string | null }[] =
      await this.knex('task_node')
        .select('node_id', 'seq', 'node_type', 'task_ids', 'completion')
        .where({ flow_id: flowId, flow_version: version })
        .orderBy('seq');
    if (rows.length === 0) throw new Error(`flow ${flowId} has no nodes at version ${version}`);
    const nodes = rows.map((r) => ({
      nodeId: Number(r.node_id),
      seq: r.seq,
      type: r.node_type,
      taskIds: (r.task_ids ?? '').split(',').map((x) => x.trim()).filter(Boolean).map(Number),
      completion: parseCompletion(r.completion),
    }));
    return { flowId, version, nodes, byId: new Map(nodes.map((n) => [n.nodeId, n])) };
  }
}
