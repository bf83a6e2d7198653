// GET /flow/{flowId}[?version=N]: a live flow with the nodes of its current (or the asked) version,
// each TASK node's tasks expanded.
import type { Knex } from 'knex';
import { NotFoundError } from '../errors.js';
import { Flow, FlowNode, Task, parseIdList } from '../models/index.js';
import { FLOW_COLUMNS, NODE_COLUMNS, presentFlow, TASK_COLUMNS, type FlowRow, type NodeRow, type TaskRow } from './present.js';

export async function findLiveFlow(db: Knex, flowId: number): Promise<FlowRow | undefined> {
  // SELECT … FROM task_flow WHERE flow_id = ? AND deleted_time IS NULL
  return Flow.query(db).select(FLOW_COLUMNS).findById(flowId).whereNull('deleted_time');
}

/** The nodes of one version of a flow, in list order (empty if there is no such version). */
export async function flowNodes(db: Knex, flowId: number, version: number): Promise<NodeRow[]> {
  // SELECT … FROM task_node WHERE flow_id = ? AND flow_version = ? ORDER BY seq   (uk_node_flow_version_seq)
  return FlowNode.query(db).select(NODE_COLUMNS).where({ flow_id: flowId, flow_version: version }).orderBy('seq');
}

/** The tasks the nodes name, deleted ones included: an old version keeps showing what it ran. */
export async function nodeTasks(db: Knex, nodes: NodeRow[]): Promise<Map<number, TaskRow>> {
  const ids = [...new Set(nodes.flatMap((n) => parseIdList(n.task_ids)))];
  if (ids.length === 0) return new Map();
  // SELECT … FROM task WHERE task_id IN (…)
  const rows = await Task.query(db).select(TASK_COLUMNS).whereIn('task_id', ids);
  return new Map(rows.map((t) => [t.task_id, t]));
}

export async function getFlow(db: Knex, flowId: number, version?: number): Promise<Record<string, unknown>> {
  const flow = await findLiveFlow(db, flowId);
  if (!flow) throw new NotFoundError(`flow ${flowId} does not exist`);
  const v = version ?? flow.flow_version;
  const rows = v <= flow.flow_version ? await flowNodes(db, flowId, v) : [];
  if (rows.length === 0) throw new NotFoundError(`flow ${flowId} has no version ${v} (its current version is ${flow.flow_version})`);
  return presentFlow(flow, { version: v, rows, tasks: await nodeTasks(db, rows) });
}
