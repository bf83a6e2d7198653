// Objection models of the definitions: tasks, flows and their (versioned) nodes. A saved flow version
// never changes: a new save is a new version with new node rows, so `Flow.nodes` is the current
// version's nodes, joined on (flow_id, flow_version).
import type { RelationMappings } from 'objection';
import { BaseModel } from './base.js';

export type TaskType = 'ECHO' | 'WAIT' | 'EXCEPTION' | 'SHELL' | 'HTTP';
export const TASK_TYPES: readonly TaskType[] = ['ECHO', 'WAIT', 'EXCEPTION', 'SHELL', 'HTTP'];
export type NodeType = 'START' | 'TASK' | 'END';

export class Task extends BaseModel {
  static tableName = 'task';
  static idColumn = 'task_id';
  /** task_config is JSON text in a TEXT column. */
  static jsonAttributes = ['task_config'];
  task_id!: number;
  task_name!: string;
  task_description!: string | null;
  task_type!: TaskType;
  task_config!: Record<string, unknown> | null;
  task_content!: string | null;
  deleted_time!: Date | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}

export class Flow extends BaseModel {
  static tableName = 'task_flow';
  static idColumn = 'flow_id';
  static jsonAttributes: string[] = [];
  flow_id!: number;
  flow_name!: string;
  flow_description!: string | null;
  flow_version!: number;
  cron!: string | null;
  cron_enabled!: boolean | number;
  /** FIRE_ONCE | SKIP; NULL = FIRE_ONCE. */
  cron_misfire!: string | null;
  deleted_time!: Date | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
  nodes?: FlowNode[];

  static relationMappings = (): RelationMappings => ({
    nodes: {
      relation: BaseModel.HasManyRelation,
      modelClass: FlowNode,
      join: { from: ['task_flow.flow_id', 'task_flow.flow_version'], to: ['task_node.flow_id', 'task_node.flow_version'] },
      modify: (q) => q.orderBy('task_node.seq'),
    },
  });
}

export class FlowNode extends BaseModel {
  static tableName = 'task_node';
  static idColumn = 'node_id';
  static jsonAttributes: string[] = [];
  node_id!: number;
  flow_id!: number;
  flow_version!: number;
  seq!: number;
  node_type!: NodeType;
  task_ids!: string | null;
  prev_node!: number | null;
  completion!: string | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}
