// The wire shapes of tasks and flows, byte-compatible with the original API: its keys in its order, a
// key whose value is null left out (as its Jackson did), and our additions after its keys. Made from
// the models' rows (src/models/definitions.ts); a flow saved as a chain answers exactly as the original
// API did.
import { formatTime } from '../infra/time.js';
import { CronSyntaxError, parseCronFields } from './cronExpression.js';
import { nextTick } from './cronTicks.js';
import { completionOnWire, nodeKeyOf, parseCompletion, parseIdList, parseNodeOptions, predecessorsOf, type Flow, type FlowNode, type Task } from '../models/index.js';
import { readTaskConfig } from './taskConfig.js';
import { DEFAULT_SECRET_HEADERS, redactTaskConfig, type SecretNames } from './secrets.js';

export type TaskRow = Pick<Task, 'task_id' | 'task_name' | 'task_description' | 'task_type' | 'task_config' | 'task_content' | 'create_time' | 'update_time'>;
export const TASK_COLUMNS = ['task_id', 'task_name', 'task_description', 'task_type', 'task_config', 'task_content', 'create_time', 'update_time'];

export type FlowRow = Pick<Flow, 'flow_id' | 'flow_name' | 'flow_description' | 'flow_version' | 'cron' | 'cron_enabled' | 'cron_misfire' | 'create_time' | 'update_time'> &
  Partial<Pick<Flow, 'timeout_ms' | 'max_active' | 'overflow'>>;
export const FLOW_COLUMNS = ['flow_id', 'flow_name', 'flow_description', 'flow_version', 'cron', 'cron_enabled', 'cron_misfire', 'create_time', 'update_time', 'timeout_ms', 'max_active', 'overflow'];

export type NodeRow = Pick<FlowNode, 'node_id' | 'seq' | 'node_type' | 'task_ids' | 'prev_node' | 'prev_nodes' | 'node_key' | 'completion' | 'create_time' | 'update_time'> & { node_options?: string | null };
export const NODE_COLUMNS = ['node_id', 'seq', 'node_type', 'task_ids', 'prev_node', 'prev_nodes', 'node_key', 'completion', 'node_options', 'create_time', 'update_time'];

type Wire = Record<string, unknown>;

/** Sets `key` unless the value is null/undefined: the original API never sent a null field. */
function put(o: Wire, key: string, value: unknown): void {
  if (value !== null && value !== undefined) o[key] = value;
}

/** A task as POST/GET /task answer it; secret header values shown as "***" (secrets.ts). */
export function presentTask(r: TaskRow, secrets: SecretNames = DEFAULT_SECRET_HEADERS): Wire {
  const o = presentNodeTask(r); // the original API's first five keys, in its order
  put(o, 'taskContent', r.task_content);
  // Beyond the original API:
  put(o, 'taskDescription', r.task_description);
  put(o, 'taskConfig', r.task_config === null ? null : redactTaskConfig(readTaskConfig(r.task_config), secrets));
  return o;
}

/** A task inside a flow node: the original API sent only these five fields there. */
export function presentNodeTask(r: Pick<TaskRow, 'task_id' | 'task_name' | 'task_type' | 'create_time' | 'update_time'>): Wire {
  const o: Wire = {};
  put(o, 'createTime', formatTime(r.create_time));
  put(o, 'updateTime', formatTime(r.update_time));
  put(o, 'taskId', r.task_id);
  put(o, 'taskName', r.task_name);
  put(o, 'taskType', r.task_type);
  return o;
}

/**
 * A node. On a graph flow (`graph`) every node also shows its key and the node ids it follows; on a chain
 * only a node given a key shows it, so a flow shaped as in the original API answers exactly as before.
 */
export function presentNode(n: NodeRow, tasks: Map<number, TaskRow>, graph: boolean): Wire {
  const o: Wire = {};
  put(o, 'nodeId', n.node_id);
  if (n.node_type === 'TASK') {
    // In the node's own order; a task row can only be missing if removed by hand from the database.
    const list = parseIdList(n.task_ids).flatMap((id) => {
      const t = tasks.get(id);
      return t ? [presentNodeTask(t)] : [];
    });
    put(o, 'tasks', list);
  }
  put(o, 'nodeType', n.node_type);
  put(o, 'prevNode', n.prev_node);
  put(o, 'createTime', formatTime(n.create_time));
  put(o, 'updateTime', formatTime(n.update_time));
  // Beyond the original API:
  if (n.node_type === 'TASK') put(o, 'completion', completionOnWire(parseCompletion(n.completion)));
  if (graph || n.node_key !== null) put(o, 'nodeKey', nodeKeyOf(n));
  if (graph && n.node_type !== 'START') put(o, 'prevNodes', predecessorsOf(n));
  // Control flow: only on nodes that have it, so other nodes answer as before.
  if (n.node_options) {
    const opts = parseNodeOptions(n.node_options);
    for (const key of ['when', 'forEach', 'maxParallel', 'flowId', 'flowVersion', 'input', 'timeoutMs', 'onTimeout'] as const) put(o, key, opts[key]);
  }
  return o;
}

/**
 * A flow. With `nodes` it is the answer of POST /flow and GET /flow/{flowId}; without, the summary
 * GET /flow lists. `version` is the version the nodes belong to (the current one unless ?version=N).
 */
export function presentFlow(f: FlowRow, nodes?: { version: number; rows: NodeRow[]; tasks: Map<number, TaskRow> }): Wire {
  const o: Wire = {};
  put(o, 'flowId', f.flow_id);
  put(o, 'flowName', f.flow_name);
  put(o, 'flowDescription', f.flow_description);
  if (nodes) {
    const graph = nodes.rows.some((n) => n.prev_nodes !== null);
    put(o, 'flowNodes', nodes.rows.map((n) => presentNode(n, nodes.tasks, graph)));
  }
  put(o, 'createTime', formatTime(f.create_time));
  put(o, 'updateTime', formatTime(f.update_time));
  // Beyond the original API:
  put(o, 'flowVersion', nodes ? nodes.version : f.flow_version);
  put(o, 'cron', f.cron);
  put(o, 'cronEnabled', Boolean(f.cron_enabled));
  // Only with a cron, so a flow without one answers exactly the keys it always did.
  if (f.cron !== null) {
    put(o, 'cronMisfire', f.cron_misfire ?? 'FIRE_ONCE');
    // Set even when null (a paused cron): the dashboard and a reader see "no next run" said outright.
    o.nextRunTime = f.cron_enabled ? nextRunTime(f.cron) : null;
  }
  // Flow control, likewise only when set.
  if (f.timeout_ms != null) put(o, 'timeoutMs', f.timeout_ms);
  if (f.max_active != null) {
    put(o, 'maxActiveInstances', f.max_active);
    put(o, 'overflow', f.overflow ?? 'QUEUE');
  }
  return o;
}

/**
 * The next tick after now, as the API writes times (server time zone), or null for an expression the
 * cron duty would refuse too. Field sets only (cronTicks.ts): nothing is expanded, nothing scheduled.
 */
export function nextRunTime(cron: string, now = new Date()): string | null {
  try {
    const next = nextTick(parseCronFields(cron.trim()), now);
    return next ? formatTime(next) : null;
  } catch (e) {
    if (e instanceof CronSyntaxError) return null;
    throw e;
  }
}
