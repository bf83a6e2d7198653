// The API's shapes as the dashboard reads them (see /openapi.json). Fields the API may add later are
// shown generically (components/common.ts Extras), so these list only what the pages rely on.

export type Completion = 'ANY' | 'ALL' | number;

export interface NodeTask {
  taskId: number;
  taskName?: string;
  taskType?: string;
}

export interface FlowNode {
  nodeId: number;
  nodeType: 'START' | 'TASK' | 'END' | 'SIGNAL' | 'SUB_FLOW';
  tasks?: NodeTask[];
  /** Control flow (issue 19): a condition; a forEach path and its maxParallel; a SUB_FLOW's flow, version and input; a SIGNAL's timeout. */
  when?: string;
  forEach?: string;
  maxParallel?: number;
  flowId?: number;
  flowVersion?: number;
  input?: Record<string, unknown>;
  timeoutMs?: number;
  onTimeout?: 'FAIL' | 'SUCCESS';
  /** The first predecessor's node id (none on START). */
  prevNode?: number;
  /** On a graph flow: the node ids this node follows (every node but START), and every node's key. */
  prevNodes?: number[];
  nodeKey?: string;
  completion?: Completion;
}

export interface Flow {
  flowId: number;
  flowName: string;
  flowDescription?: string;
  flowNodes?: FlowNode[];
  flowVersion: number;
  cron?: string;
  cronEnabled?: boolean;
  cronMisfire?: 'FIRE_ONCE' | 'SKIP';
  /** With a cron: its next tick while enabled, null while paused. */
  nextRunTime?: string | null;
  /** Flow control, only when set. */
  timeoutMs?: number;
  maxActiveInstances?: number;
  overflow?: 'QUEUE' | 'SKIP';
  createTime?: string;
  updateTime?: string;
}

export interface FlowIns {
  fiId: number;
  flowId: number;
  flowName: string | null;
  startTime: string | null;
  endTime: string | null;
  status: string;
  errorMsg: string;
  flowVersion: number;
  /** FAILED instances: the node it failed at. */
  failedNode?: { niId: number; nodeId: number; nodeKey?: string };
  trigger?: string;
  scheduledTime?: string | null;
  /** 0-9, from the start (flow control). */
  priority?: number;
  /** Asked for one instance (`fiId`): the start's input, and once SUCCESS the result by node key. */
  input?: Record<string, unknown>;
  result?: Record<string, unknown>;
  [more: string]: unknown;
}

export interface TaskIns {
  tiId: number;
  taskId: number;
  status: string;
  attempt: number;
  startTime: string | null;
  endTime: string | null;
  errorMsg: string;
  output: string | null;
  workerId?: string | null;
  startMs?: number | null;
  endMs?: number | null;
  /** What the task ran once its templates (${input.…}, ${nodes.<key>.output…}) were filled in. */
  renderedContent?: string;
  renderedConfig?: Record<string, unknown>;
  [more: string]: unknown;
}

export interface NodeIns {
  niId: number;
  fiId: number;
  startTime: string | null;
  endTime: string | null;
  status: string;
  errorMsg: string;
  nodeId: number;
  nodeType: string;
  /** The node's key (default n<position>), when the API sends it. */
  nodeKey?: string;
  tasks: TaskIns[];
  startMs?: number | null;
  endMs?: number | null;
  [more: string]: unknown;
}

export const TASK_TYPES = ['ECHO', 'WAIT', 'EXCEPTION', 'SHELL', 'HTTP', 'WORKER'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export interface Task {
  taskId: number;
  taskName: string;
  taskType: TaskType;
  taskContent?: string;
  taskDescription?: string;
  taskConfig?: Record<string, unknown>;
  createTime?: string;
  updateTime?: string;
}

export interface Page<T> {
  total: number;
  page: number;
  pageSize: number;
  list: T[];
}

export const FLOW_STATUSES = ['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'] as const;
