// Objection models of what ran: flow, node and task instances (versioned: every status write is fenced,
// see base.ts), with their relations — a flow instance's node instances, a node instance's task
// instances — for the monitor. The single-row operations here are the readable statement of each
// transition; the worker's and the coordinator's hot path makes the same transitions for whole batches
// with hand-written SQL, in src/engine/sql/, each file naming its twin here.
import type { PartialModelObject, RelationMappings, TransactionOrKnex } from 'objection';
import { BaseModel, VersionedModel } from './base.js';
import { Flow, FlowNode, Task } from './definitions.js';

export type FlowInsStatus = 'QUEUED' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';
/** SKIPPED: its `when` was false, or every node it follows was skipped (no task instance). */
export type NodeInsStatus = 'RUNNING' | 'SUCCESS' | 'FAILED' | 'CANCELLED' | 'SKIPPED';
export type TaskInsStatus = 'PENDING' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'CANCELLED';

export class FlowIns extends VersionedModel {
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
  /** The start's input (a JSON object, as text), for `${input.…}` templates. */
  input!: string | null;
  /** A sub-flow's parent instance and the parent's SUB_FLOW node instance (NULL: started on its own). */
  parent_fi_id!: number | null;
  parent_ni_id!: number | null;
  /** 0 for an instance started on its own; a sub-flow's is its parent's + 1. */
  depth!: number;
  /** 0-9, from the start: every task instance it makes carries it. */
  priority!: number;
  /** Its flow's timeoutMs after it started RUNNING (null: none): the leader fails it then. */
  deadline_time!: Date | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
  flow?: Flow;
  nodeInstances?: NodeIns[];

  static relationMappings = (): RelationMappings => ({
    flow: { relation: BaseModel.BelongsToOneRelation, modelClass: Flow, join: { from: 'task_flow_ins.flow_id', to: 'task_flow.flow_id' } },
    nodeInstances: {
      relation: BaseModel.HasManyRelation,
      modelClass: NodeIns,
      join: { from: 'task_flow_ins.fi_id', to: 'task_node_ins.fi_id' },
      modify: (q) => q.orderBy('task_node_ins.ni_id'),
    },
  });
}

export class NodeIns extends VersionedModel {
  static tableName = 'task_node_ins';
  static idColumn = 'ni_id';
  ni_id!: number;
  fi_id!: number;
  node_id!: number;
  start_time!: Date | null;
  end_time!: Date | null;
  status!: NodeInsStatus;
  error_msg!: string | null;
  /** A SIGNAL node's payload (JSON text). */
  output!: string | null;
  /** When a waiting SIGNAL node times out. */
  due_time!: Date | null;
  /** The instance a SUB_FLOW node started. */
  child_fi_id!: number | null;
  /** A forEach node's number of items. */
  item_count!: number | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
  node?: FlowNode;
  taskInstances?: TaskIns[];

  static relationMappings = (): RelationMappings => ({
    node: { relation: BaseModel.BelongsToOneRelation, modelClass: FlowNode, join: { from: 'task_node_ins.node_id', to: 'task_node.node_id' } },
    taskInstances: {
      relation: BaseModel.HasManyRelation,
      modelClass: TaskIns,
      join: { from: 'task_node_ins.ni_id', to: 'task_ins.ni_id' },
      modify: (q) => q.orderBy('task_ins.ti_id'),
    },
  });

  /**
   * Enters a node: a node instance (RUNNING with one PENDING task instance per task, or SUCCESS at once
   * when there is nothing to run) inserted as one graph. Single-row twin of the coordinator's batched
   * inserts (src/engine/sql/transitionWrites.ts).
   */
  static async enter(fiId: number, nodeId: number, taskIds: number[], user: string, now: Date, db: TransactionOrKnex): Promise<NodeIns> {
    const running = taskIds.length > 0;
    const stamp = { create_time: now, create_user: user, update_time: now, update_user: user };
    return NodeIns.query(db).insertGraph({
      fi_id: fiId,
      node_id: nodeId,
      start_time: now,
      end_time: running ? null : now,
      status: running ? 'RUNNING' : 'SUCCESS',
      version: 0,
      ...stamp,
      taskInstances: taskIds.map((taskId) => ({ fi_id: fiId, task_id: taskId, exec_status: 'PENDING' as const, attempt: 0, version: 0, ...stamp })),
    } as PartialModelObject<NodeIns>);
  }
}

/** What one run of a task instance ended with, as written to its row. */
export interface RunEnd {
  exec_status: 'SUCCESS' | 'FAILED' | 'PENDING';
  end_time: Date;
  output: string | null;
  error_msg: string | null;
  /** The run is not counted as an attempt (handed back at shutdown). */
  notCounted?: boolean;
}

export class TaskIns extends VersionedModel {
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
  lost_attempts!: number;
  /** 0-9: its flow instance's priority (or its own, run on its own). */
  priority!: number;
  output!: string | null;
  worker_id!: string | null;
  /** The token of the external worker's poll that leased it (WORKER tasks); null otherwise. */
  lease_token!: string | null;
  /** Content and config with templates filled in, as the run used them (NULL: no templates). */
  rendered_content!: string | null;
  rendered_config!: string | null;
  /** Which item of its forEach node it runs (NULL outside forEach). */
  item_index!: number | null;
  create_time!: Date;
  create_user!: string;
  update_time!: Date;
  update_user!: string;
  task?: Task;

  static relationMappings = (): RelationMappings => ({
    task: { relation: BaseModel.BelongsToOneRelation, modelClass: Task, join: { from: 'task_ins.task_id', to: 'task.task_id' } },
  });

  /**
   * A claimed PENDING task instance becomes RUNNING for `workerId` (attempt + 1), committed before
   * anything runs. Single-row twin of startRuns (src/engine/sql/startRuns.ts).
   */
  async markRunning(workerId: string, now: Date, db: TransactionOrKnex): Promise<void> {
    await this.patchIfVersion<TaskIns>({ exec_status: 'RUNNING', attempt: this.attempt + 1, start_time: now, end_time: null, error_msg: null, worker_id: workerId, update_time: now }, db);
  }

  /**
   * Records a run's end, fenced by the version the run started at (a reaped, cancelled or re-run attempt
   * has moved it on: then StaleVersionError, and nothing is written). Single-row twin of finishRuns
   * (src/engine/sql/finishRuns.ts).
   */
  static async finishRun(tiId: number, runVersion: number, end: RunEnd, now: Date, db: TransactionOrKnex): Promise<void> {
    const { notCounted, ...columns } = end;
    const patch: PartialModelObject<TaskIns> = { ...columns, update_time: now };
    if (notCounted) patch.attempt = TaskIns.raw('attempt - 1');
    await TaskIns.patchIfVersion(tiId, runVersion, patch, db);
  }

  /** An open task instance no longer needed (its node was decided, its flow cancelled). */
  async cancel(why: string, user: string, now: Date, db: TransactionOrKnex): Promise<void> {
    await this.patchIfVersion<TaskIns>({ exec_status: 'CANCELLED', end_time: now, error_msg: why, update_time: now, update_user: user }, db);
  }
}
