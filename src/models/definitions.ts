// Objection models of the definitions: tasks, flows and their (versioned) nodes.
import { Model } from 'objection';

export type TaskType = 'ECHO' | 'WAIT' | 'EXCEPTION' | 'SHELL' | 'HTTP';
export const TASK_TYPES: readonly TaskType[] = ['ECHO', 'WAIT', 'EXCEPTION', 'SHELL', 'HTTP'];
export type NodeType = 'START' | 'TASK' | 'END';

export class Task extends Model {
  static tableName = 'task';
  static idColumn = 'task_id';
  task_id!: number;
  task_name!: string;
  task_description!: string | null;
  task_type!: TaskType;
  task_config!: string | null;
  task_content!: string | null;
  deleted_time!: Date | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}

export class Flow extends Model {
  static tableName = 'task_flow';
  static idColumn = 'flow_id';
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
}

export class FlowNode extends Model {
  static tableName = 'task_node';
  static idColumn = 'node_id';
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
