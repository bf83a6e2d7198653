// OpenAPI 3 pieces for the definitions endpoints (used by src/api/routes/tasks.ts and flows.ts).
// Kept next to schemas.ts and present.ts so a change of shape and its description sit side by side.
import { TASK_TYPES } from '../models/definitions.js';
import { MAX_PAGE_SIZE } from './schemas.js';

type Schema = Record<string, unknown>;

const time = { type: 'string', example: '2022-04-24 19:30:04', description: 'YYYY-MM-DD HH:mm:ss' };
const id = { type: 'integer', minimum: 1 };

/** The envelope around `data`. */
export function envelopeOf(data: Schema, description: string): Schema {
  return {
    description,
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['code', 'message', 'data'],
          properties: { code: { type: 'string', example: '200' }, message: { type: 'string', example: 'SUCCESS' }, data },
        },
      },
    },
  };
}

export const errorResponse = (description: string): Schema => envelopeOf({ nullable: true, example: null }, `${description} (envelope with the HTTP status as code, data null)`);

export const commonErrors = {
  '400': errorResponse(
    'Invalid input; the message names the field, e.g. "flowNodes[2].taskIds: task 99 does not exist". Also a body that is not a JSON object, ' +
      'not UTF-8, nested deeper than 64 levels, or does not decompress',
  ),
  '413': errorResponse('Body larger than BODY_LIMIT (1mb by default), as sent or once decompressed'),
  '415': errorResponse('Body is not application/json, or its Content-Encoding is not gzip, deflate, br or identity'),
};

export const jsonBody = (schema: Schema, description: string): Schema => ({ required: true, description, content: { 'application/json': { schema } } });

export const idPath = (name: string): Schema => ({ name, in: 'path', required: true, schema: id, description: 'A positive integer (400 otherwise)' });

export const pageParams: Schema[] = [
  { name: 'page', in: 'query', required: false, schema: { type: 'integer', minimum: 1, default: 1 }, description: 'Page number, from 1' },
  { name: 'pageSize', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 20 }, description: `Items per page, at most ${MAX_PAGE_SIZE}` },
];

export function pageOf(item: Schema): Schema {
  return {
    type: 'object',
    description: 'One page, newest first (highest id first)',
    properties: { total: { type: 'integer', description: 'Live items in all pages' }, page: { type: 'integer' }, pageSize: { type: 'integer' }, list: { type: 'array', items: item } },
  };
}

const taskConfig: Schema = {
  type: 'object',
  description:
    'Per-type settings, checked against the task type. Every type: timeoutMs, maxRetries, retryBackoffMs. WAIT: waitMs. ' +
    'HTTP: url (required), method, headers, body. Unknown fields are refused. May also be sent as a string holding a JSON object.',
  additionalProperties: true,
  example: { timeoutMs: 60000, maxRetries: 2, retryBackoffMs: 1000 },
};

export const taskSchema: Schema = {
  type: 'object',
  description: 'A task, in the seed\'s key order; a key whose value is null is left out.',
  properties: {
    createTime: time,
    updateTime: time,
    taskId: id,
    taskName: { type: 'string' },
    taskType: { type: 'string', enum: TASK_TYPES },
    taskContent: { type: 'string' },
    taskDescription: { type: 'string' },
    taskConfig,
  },
};

export const taskSaveSchema: Schema = {
  type: 'object',
  required: ['taskName', 'taskType'],
  description:
    'Without taskId: creates a task. With the taskId of a live task: updates it; a field left out keeps its stored value, ' +
    'a field sent as null is cleared. An unknown taskId is a 404.',
  properties: {
    taskId: { ...id, description: 'Omit to create' },
    taskName: { type: 'string', minLength: 1, maxLength: 255 },
    taskType: { type: 'string', enum: TASK_TYPES },
    taskContent: { type: 'string', nullable: true, description: 'What the task runs: ECHO the text, WAIT the milliseconds, SHELL the command…' },
    taskDescription: { type: 'string', maxLength: 1024, nullable: true },
    taskConfig: { ...taskConfig, nullable: true, description: `${String(taskConfig.description)} At most 65,535 bytes as stored JSON.` },
  },
  example: { taskName: 'exception task1', taskType: 'EXCEPTION', taskContent: 'task content' },
};

const completion: Schema = {
  description: 'When a TASK node succeeds: "ANY" (default, the seed\'s behaviour: one task succeeded), "ALL", or a whole number N (at least N of its tasks succeeded, 1 ≤ N ≤ task count).',
  oneOf: [{ type: 'string', enum: ['ANY', 'ALL'] }, { type: 'integer', minimum: 1 }],
};

const nodeTaskSchema: Schema = {
  type: 'object',
  properties: { createTime: time, updateTime: time, taskId: id, taskName: { type: 'string' }, taskType: { type: 'string', enum: TASK_TYPES } },
};

const nodeSchema: Schema = {
  type: 'object',
  properties: {
    nodeId: id,
    tasks: { type: 'array', items: nodeTaskSchema, description: 'TASK nodes only: the node\'s tasks, in its order' },
    nodeType: { type: 'string', enum: ['START', 'TASK', 'END'] },
    prevNode: { ...id, description: 'The node before this one; absent on START' },
    createTime: time,
    updateTime: time,
    completion: { ...completion, description: 'TASK nodes only. ' + String(completion.description) },
  },
};

const flowProps = (withNodes: boolean): Schema => ({
  flowId: id,
  flowName: { type: 'string' },
  flowDescription: { type: 'string' },
  ...(withNodes ? { flowNodes: { type: 'array', items: nodeSchema, description: 'START, TASK nodes, END, in chain order' } } : {}),
  createTime: time,
  updateTime: time,
  flowVersion: { type: 'integer', minimum: 1, description: withNodes ? 'The version flowNodes belong to' : 'The current version' },
  cron: { type: 'string', description: 'node-cron expression (5 fields, or 6 with seconds)' },
  cronEnabled: { type: 'boolean' },
  cronMisfire: { type: 'string', enum: ['FIRE_ONCE', 'SKIP'], description: 'Present only when the flow has a cron. What happens to ticks missed while no member led' },
});

export const flowSchema: Schema = {
  type: 'object',
  description:
    'A flow with the nodes of one version, in the seed\'s key order (null keys left out). flowName, flowDescription, cron and ' +
    'cronEnabled are the flow\'s current ones; flowNodes and flowVersion those of the version answered.',
  properties: flowProps(true),
};

export const flowSummarySchema: Schema = {
  type: 'object',
  description: 'A flow without its nodes (GET /flow/{flowId} gives them)',
  properties: flowProps(false),
};

export const flowSaveSchema: Schema = {
  type: 'object',
  required: ['flowName', 'flowNodes'],
  description:
    'Without flowId: creates a flow (version 1). With the flowId of a live flow: saves a new version (flowVersion + 1, new nodes; ' +
    'the old version\'s nodes are kept). flowDescription, cron, cronEnabled and cronMisfire left out keep their stored values; sent as null they ' +
    'are cleared. The save is one transaction: a rejected body leaves nothing behind.',
  properties: {
    flowId: { ...id, description: 'Omit to create' },
    flowName: { type: 'string', minLength: 1, maxLength: 255 },
    flowDescription: { type: 'string', maxLength: 1024, nullable: true },
    flowNodes: {
      type: 'array',
      maxItems: 1000,
      description: 'Exactly one START (first), one END (last), at least one TASK node between them; at most 1,000 nodes naming at most 2,000 tasks in all',
      items: {
        type: 'object',
        required: ['nodeType'],
        properties: {
          nodeType: { type: 'string', enum: ['START', 'TASK', 'END'] },
          taskIds: {
            description: 'TASK nodes only, required there: live task ids, as "1,2" (the seed\'s form) or [1,2]',
            oneOf: [{ type: 'string', example: '1,2' }, { type: 'array', items: id }],
          },
          completion: { ...completion, description: 'TASK nodes only. ' + String(completion.description) },
        },
      },
    },
    cron: {
      type: 'string',
      maxLength: 128,
      nullable: true,
      description:
        'node-cron expression, e.g. "*/5 * * * *": 5 fields (minute hour day month weekday) or 6 (second first), each a comma list of ' +
        '*, n, a-b, with optional /step, every value within its field\'s range (see the README); a bad one is a 400 naming cron and the field',
    },
    cronEnabled: { type: 'boolean', nullable: true, description: 'Start the flow on its cron schedule; true needs a cron' },
    cronMisfire: {
      type: 'string',
      enum: ['FIRE_ONCE', 'SKIP'],
      nullable: true,
      description:
        'Ticks that fell while no member led (checked when a leader starts and when the cron is saved or enabled, looking back at most 24 h): ' +
        'FIRE_ONCE (default, also for null) starts one catch-up run for the latest missed tick; SKIP starts none. Left out: the stored value is kept',
    },
  },
  example: {
    flowName: 'first flow',
    flowDescription: 'first flow for test1',
    flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'TASK', taskIds: '2' }, { nodeType: 'TASK', taskIds: '3' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END' }],
  },
};
