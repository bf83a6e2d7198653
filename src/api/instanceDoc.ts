// OpenAPI schemas of what ran: flow, node and task instances as the monitor answers them
// (src/engine/monitor.ts), and the bodies of the exec and monitor endpoints. The original API's keys
// first, in its order; our additions after them. Examples validate against their schemas (the linter checks).
import { TASK_TYPES } from '../models/definitions.js';
import { id, nullableId, nullableTime, time, type Schema } from './openapiParts.js';

export const FLOW_STATUSES = ['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'];
/** A node instance is never QUEUED, and can be SKIPPED (its `when` was false, or every node it follows was skipped). */
export const NODE_STATUSES = [...FLOW_STATUSES.filter((s) => s !== 'QUEUED'), 'SKIPPED'];
const TASK_STATUSES = ['PENDING', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'];
const epochMs = (what: string): Schema => ({ type: 'integer', minimum: 0, nullable: true, description: `${what}, epoch milliseconds; null until it happened` });
const errorMsg: Schema = { type: 'string', description: 'Why it failed or was cancelled; "" when nothing went wrong' };

const output: Schema = {
  type: 'string',
  nullable: true,
  description:
    'What the task produced (null until it ended): ECHO its content; WAIT "waited N ms"; HTTP JSON text {status, body, truncated?} ' +
    '(the last 4 KiB of the answer); SHELL JSON text {exitCode, signal, stdout, stderr} (the last 4 KiB of each). Kept on failure too. ' +
    'At most TASK_OUTPUT_MAX_BYTES (1 MiB by default): a run with a larger output fails and keeps none. In a flow instance\'s detail, a preview: ' +
    'the first 65,536 characters (fewer when the instance has more than 128 task instances: 8 Mi characters in all, at least 1,024 each), see outputTruncated; ' +
    'GET /monitor/task/{tiId} answers it whole',
};
const outputTruncated: Schema = {
  type: 'boolean',
  description: 'True when `output` is a preview, cut from a longer output (GET /monitor/task/{tiId} has it whole); always false there',
};

/** Present only when the task's templates were filled in (src/engine/templates.ts). */
const rendered: Schema = {
  renderedContent: { type: 'string', description: 'The content the run used, templates filled in (only when the task has templates); cut like output in a detail' },
  renderedContentTruncated: { type: 'boolean', enum: [true], description: 'Only when renderedContent is a preview, cut from a longer text' },
  renderedConfig: { type: 'object', additionalProperties: true, description: 'The taskConfig the run used, templates filled in (only when the task has templates); secret values shown as "***", as GET /task shows them' },
};

const originalTaskRow: Schema = {
  tiId: id,
  taskId: id,
  status: { type: 'string', enum: TASK_STATUSES, description: 'PENDING: queued (again, after a failed attempt that will be retried)' },
  attempt: { type: 'integer', minimum: 0, description: 'Attempts started so far (0 while first queued)' },
  startTime: nullableTime,
  endTime: nullableTime,
  errorMsg,
  output,
  outputTruncated,
};
const taskRowRequired = ['tiId', 'taskId', 'status', 'attempt', 'startTime', 'endTime', 'errorMsg', 'output', 'outputTruncated'];

/** A task instance inside a node instance (POST /monitor/flow/detail/{fiId}). */
const nodeTaskRow: Schema = {
  type: 'object',
  required: [...taskRowRequired, 'workerId', 'priority', 'startMs', 'endMs'],
  properties: {
    ...originalTaskRow,
    workerId: { type: 'string', nullable: true, description: 'The member that ran (or runs) its last attempt' },
    priority: { type: 'integer', minimum: 0, maximum: 9, description: 'Its flow instance\'s priority (from the start); among due task instances a higher one is claimed first' },
    startMs: epochMs('Start of its last attempt'),
    endMs: epochMs('End'),
    ...rendered,
    itemIndex: { type: 'integer', minimum: 0, description: 'In a forEach node: the item this run is for (0-based)' },
  },
};

/** GET /monitor/task/{tiId}. */
export const taskInstanceSchema: Schema = {
  type: 'object',
  required: [...taskRowRequired, 'niId', 'fiId', 'taskName', 'taskType', 'workerId', 'priority', 'createTime', 'updateTime'],
  properties: {
    ...originalTaskRow,
    niId: { ...nullableId, description: 'Its node instance; null for a task run on its own (POST /exec/task)' },
    fiId: { ...nullableId, description: 'Its flow instance; null for a task run on its own' },
    taskName: { type: 'string' },
    taskType: { type: 'string', enum: TASK_TYPES },
    workerId: { type: 'string', nullable: true, description: 'The member that ran (or runs) its last attempt' },
    priority: { type: 'integer', minimum: 0, maximum: 9, description: 'Its flow instance\'s priority, or its own start\'s for a task run on its own' },
    createTime: time,
    updateTime: time,
    ...rendered,
  },
};

export const taskInstanceExample = {
  tiId: 31, taskId: 2, status: 'SUCCESS', attempt: 1, startTime: '2026-11-27 08:00:01', endTime: '2026-11-27 08:00:01', errorMsg: '',
  output: '{"status":200,"body":"{\\"ok\\":true}"}', outputTruncated: false, niId: 20, fiId: 7, taskName: 'notify', taskType: 'HTTP', workerId: 'host-4242-a1b2c3', priority: 0,
  createTime: '2026-11-27 08:00:01', updateTime: '2026-11-27 08:00:01',
  renderedConfig: { url: 'https://api.example.org/orders/42', method: 'POST', headers: { Authorization: '***' }, body: { status: 'order 42' } },
};

/** POST /monitor/flow/detail/{fiId}: one node instance with its task instances. */
export const nodeInstanceSchema: Schema = {
  type: 'object',
  required: ['niId', 'fiId', 'startTime', 'endTime', 'status', 'errorMsg', 'createTime', 'updateTime', 'nodeId', 'nodeType', 'nodeKey', 'tasks', 'startMs', 'endMs'],
  properties: {
    niId: id,
    fiId: id,
    startTime: time,
    endTime: nullableTime,
    status: {
      type: 'string',
      enum: NODE_STATUSES,
      description: 'SKIPPED: its `when` was false, or every node it follows was SKIPPED (no task instance). A SIGNAL node waiting for its signal, and a SUB_FLOW node waiting for its child, are RUNNING',
    },
    errorMsg,
    createTime: time,
    updateTime: time,
    nodeId: { ...id, description: 'The flow node (GET /flow/{flowId}?version=… of the instance\'s flowVersion)' },
    nodeType: { type: 'string', enum: ['START', 'TASK', 'END', 'SIGNAL', 'SUB_FLOW'] },
    nodeKey: { type: 'string', description: 'The node\'s key in its flow version (as given, or the default n<position>): what ${nodes.<nodeKey>.output} templates name' },
    childFiId: { ...id, description: 'SUB_FLOW nodes: the child instance this node instance started (a retry starts a new one)' },
    output: { description: 'SIGNAL nodes, once signalled: the payload it was sent (any JSON; absent while none)' },
    itemCount: { type: 'integer', minimum: 0, description: 'forEach nodes: how many items the path found (its tasks run once per item)' },
    tasks: { type: 'array', items: nodeTaskRow, description: 'Its task instances (none on START, END, SIGNAL, SUB_FLOW and SKIPPED nodes)' },
    startMs: epochMs('Start'),
    endMs: epochMs('End'),
  },
};

export const nodeInstanceExample = {
  niId: 20, fiId: 7, startTime: '2026-11-27 08:00:01', endTime: '2026-11-27 08:00:01', status: 'SUCCESS', errorMsg: '', createTime: '2026-11-27 08:00:01',
  updateTime: '2026-11-27 08:00:01', nodeId: 13, nodeType: 'TASK', nodeKey: 'notify',
  tasks: [{
    tiId: 31, taskId: 2, status: 'SUCCESS', attempt: 1, startTime: '2026-11-27 08:00:01', endTime: '2026-11-27 08:00:01', errorMsg: '', output: 'order 42 done', outputTruncated: false,
    workerId: 'host-4242-a1b2c3', priority: 0, startMs: 1795766401120, endMs: 1795766401123, renderedContent: 'order 42 done',
  }],
  startMs: 1795766401118, endMs: 1795766401125,
};

/** POST /monitor/flow: one flow instance. */
export const flowInstanceSchema: Schema = {
  type: 'object',
  required: ['fiId', 'flowId', 'flowName', 'startTime', 'endTime', 'status', 'errorMsg', 'createTime', 'updateTime', 'flowVersion', 'trigger', 'scheduledTime', 'priority'],
  properties: {
    fiId: id,
    flowId: id,
    flowName: { type: 'string', description: 'The flow\'s current name' },
    startTime: time,
    endTime: nullableTime,
    status: { type: 'string', enum: FLOW_STATUSES },
    errorMsg,
    createTime: time,
    updateTime: time,
    flowVersion: { type: 'integer', minimum: 1, description: 'The flow version it runs' },
    trigger: { type: 'string', enum: ['API', 'CRON', 'SUB_FLOW'], description: 'SUB_FLOW: started by a SUB_FLOW node of its parentFiId' },
    scheduledTime: { ...nullableTime, description: 'CRON starts: the tick it was started for; null for API starts' },
    failedNode: {
      type: 'object',
      required: ['niId', 'nodeId'],
      description: 'FAILED instances only: the node it failed at (its latest FAILED node instance)',
      properties: { niId: id, nodeId: id, nodeKey: { type: 'string', description: 'The node\'s key (default n<position>)' } },
    },
    parentFiId: { ...id, description: 'Only on a sub-flow\'s instance: the instance whose SUB_FLOW node started it' },
    priority: { type: 'integer', minimum: 0, maximum: 9, description: 'The start\'s priority (0 for CRON starts): every task instance of it carries it' },
    input: { type: 'object', additionalProperties: true, description: 'Only when the body filters by fiId, and the start had one: the start\'s input' },
    result: {
      type: 'object',
      description:
        'Only when the body filters by fiId and the instance is SUCCESS: by node key, the outputs of the nodes END follows (the last node of a chain): ' +
        'the node\'s one task\'s output, or for a node of several tasks an object by task id; a SIGNAL node\'s payload; a SUB_FLOW node\'s child\'s result. SKIPPED nodes are left out',
      additionalProperties: { description: 'A task\'s output (text, or null; a preview like the detail\'s, at most 65,536 characters), or an object of them by task id; a SIGNAL node\'s payload; a SUB_FLOW node\'s child\'s result' },
    },
    resultTruncated: { type: 'boolean', enum: [true], description: 'Only when an output in result is a preview, cut from a longer one (GET /monitor/task/{tiId} has it whole)' },
  },
};

export const flowInstanceExample = {
  fiId: 7, flowId: 3, flowName: 'fan out and join', startTime: '2026-11-27 08:00:00', endTime: '2026-11-27 08:00:02', status: 'SUCCESS', errorMsg: '',
  createTime: '2026-11-27 08:00:00', updateTime: '2026-11-27 08:00:02', flowVersion: 1, trigger: 'API', scheduledTime: null, priority: 0,
  input: { orderId: 42 }, result: { d: 'order 42 done' },
};

export const latestSchema: Schema = {
  type: 'object',
  required: ['flowId', 'fiId', 'status', 'startTime', 'endTime'],
  properties: { flowId: id, fiId: id, status: { type: 'string', enum: FLOW_STATUSES }, startTime: time, endTime: nullableTime },
};

const timeBound = (what: string): Schema => ({
  description: `${what} (start time, inclusive): epoch milliseconds, or a time like "2026-11-27 08:00:00" (server time zone) or ISO 8601`,
  oneOf: [{ type: 'integer', minimum: 0, maximum: 8.64e15 }, { type: 'string', maxLength: 40 }],
});

/** The filter body of POST /monitor/flow. */
export const monitorFilterSchema: Schema = {
  type: 'object',
  description: 'Every field optional; ids are positive integers',
  properties: {
    flowId: { type: 'integer', minimum: 1, description: 'Instances of this flow' },
    fiId: { type: 'integer', minimum: 1, description: 'This instance: its row then also carries input and (SUCCESS) result' },
    status: { type: 'string', enum: FLOW_STATUSES },
    from: timeBound('Started at or after'),
    to: timeBound('Started at or before'),
    page: { type: 'integer', minimum: 1, default: 1 },
    pageSize: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
  },
};

/** POST /exec/flow/{flowId}: no body (a plain start), {input} (a start with input) or {fiId, niId} (a retry). */
export function execFlowBodySchema(maxInputBytes: number): Schema {
  return {
    type: 'object',
    description:
      'No body: a plain start. {"input": {…}}: a start whose tasks read the input through ${input.…} templates. {"fiId", "niId"}: retry that FAILED or ' +
      'CANCELLED instance from that node instance (it runs the tasks\' current definitions with the instance\'s own input; input is not allowed: 400). ' +
      'Any other key is a 400 naming it (e.g. `name: unknown field; the start\'s input goes in {"input": {…}}`).',
    additionalProperties: false,
    properties: {
      input: {
        type: 'object',
        additionalProperties: true,
        description: `Starts only: a JSON object of at most ${maxInputBytes.toLocaleString('en-US')} bytes as JSON, kept with the instance`,
      },
      priority: { type: 'integer', minimum: 0, maximum: 9, default: 0, description: 'Starts only: among due task instances, a higher priority\'s are claimed first (FIFO within one); every task instance of the instance carries it, retries included' },
      fiId: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Retries only, with niId: the instance to retry' },
      niId: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Retries only, with fiId: the node instance to run again (a FAILED or CANCELLED one)' },
    },
  };
}
export const execFlowExamples: Schema = {
  input: { summary: 'Start with input', value: { input: { orderId: 42, customer: { name: 'Ada' } } } },
  retry: { summary: 'Retry instance 7 from node instance 21', value: { fiId: 7, niId: 21 } },
  urgent: { summary: 'An urgent start, ahead of a backlog', value: { input: { orderId: 42 }, priority: 9 } },
};
