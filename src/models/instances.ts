// Objection models of what ran: flow, node and task instances. Every status change goes through
// `version` (optimistic lock), see src/engine/.
import { Model } from 'objection';

export type FlowInsStatus = 'RUNNING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';
export type NodeInsStatus = 'RUNNING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';
export type TaskInsStatus = 'PENDING' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';

export class FlowIns extends Model {
  static tableName = 'task_flow_ins';
  static idColumn = 'fi_id';
  fi_id!: number;
  flow_id!: number;
  flow_version!: number;
  start_time!: Date | null;
  end_time!: Date | null;
  status!: FlowInsStatus;
  error_msg!: string | null;
  trigger_type!: string;
  scheduled_time!: Date | null;
  version!: number;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}

export class NodeIns extends Model {
  static tableName = 'task_node_ins';
  static idColumn = 'ni_id';
  ni_id!: number;
  fi_id!: number;
  node_id!: number;
  start_time!: Date | null;
  end_time!: Date | null;
  status!: NodeInsStatus;
  error_msg!: string | null;
  version!: number;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}

export class TaskIns extends Model {
  static tableName = 'task_ins';
  static idColumn = 'ti_id';
  ti_id!: number;
  ni_id!: number | null;
  fi_id!: number | null;
  task_id!: number;
  start_time!: Date | null;
  end_time!: Date | null;
  exec_status!: TaskInsStatus;
  error_msg!: string | null;
  attempt!: number;
  output!: string | null;
  worker_id!: string | null;
  version!: number;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
}
