// OpenAPI 3.0.3 schemas of flows: what POST /flow takes (schemas.ts, flowGraph.ts) and what the flow
// endpoints answer (present.ts). A flow is a chain (the original API's: the list order) or, once a node names
// `prevNodes`, a graph. Examples are validated against their schemas by the linter in the test suite.
import { CRON_MAX_LENGTH } from './cronExpression.js';
import { MAX_FLOW_EDGES, NODE_KEY_PATTERN } from './flowGraph.js';
import { MAX_FLOW_NODES, MAX_FLOW_TASK_REFS, MAX_SIGNAL_TIMEOUT_MS } from './schemas.js';
import { MAX_EXPRESSION_LENGTH } from './expression.js';
import { id, nodeTaskSchema, time } from './apiDoc.js';

type Schema = Record<string, unknown>;

const completionText =
  'TASK nodes only: when the node succeeds. "ANY" (default, the original API\'s: one task succeeded), "ALL", or a whole number N (at least N of its tasks, ' +
  '1 ≤ N ≤ its task count). The node fails as soon as its condition can no longer hold; tasks it no longer needs are cancelled.';
const completion: Schema = { description: completionText, oneOf: [{ type: 'string', enum: ['ANY', 'ALL'] }, { type: 'integer', minimum: 1 }] };

const nodeType: Schema = { type: 'string', enum: ['START', 'TASK', 'END', 'SIGNAL', 'SUB_FLOW'] };

/** Control-flow fields (issue 19), the same in a save and in the answer. */
const controlFields: Schema = {
  when: {
    type: 'string',
    maxLength: MAX_EXPRESSION_LENGTH,
    description:
      'TASK, SIGNAL and SUB_FLOW nodes: a condition, evaluated once every node it follows has ended; false → the node is SKIPPED (no task instance). ' +
      'Paths input.<path> and nodes.<key>.output<.path> (walking into JSON and into strings holding JSON; a missing path is null; only nodes this one ' +
      'follows, directly or not), literals (numbers, \'…\' or "…" strings, true, false, null), == != < <= > >= && || ! and parentheses. ' +
      'A number and a string holding one compare as numbers. A syntax error is a 400 naming the node',
    example: 'nodes.check.output.score > 100 && input.vip == true',
  },
  forEach: {
    type: 'string',
    maxLength: MAX_EXPRESSION_LENGTH,
    description:
      'TASK nodes: a path (input.<path> or nodes.<key>.output<.path>) evaluated when the node starts: an array of at most 1,000 items (else the node fails, ' +
      'naming the path and what it found). Each of the node\'s tasks runs once per item, ${item}, ${item.<path>} and ${index} filled in; completion counts ' +
      'over all the runs (default ALL); the node\'s output is the array of the runs\' outputs in item order',
    example: 'input.items',
  },
  maxParallel: { type: 'integer', minimum: 1, maximum: 1000, description: 'forEach nodes: how many items run at once (default: all)' },
  flowId: { ...id, description: 'SUB_FLOW nodes, required: the flow whose instance the node starts (a child); its result is the node\'s output' },
  flowVersion: { type: 'integer', minimum: 1, description: 'SUB_FLOW nodes: the version the child runs (default: the flow\'s current version when the child starts)' },
  input: { type: 'object', additionalProperties: true, description: 'SUB_FLOW nodes: the child\'s input; its strings take ${input.…} and ${nodes.<key>.output…} templates' },
  timeoutMs: { type: 'integer', minimum: 1, maximum: MAX_SIGNAL_TIMEOUT_MS, description: 'SIGNAL nodes: how long the node waits for its signal (default: for ever)' },
  onTimeout: { type: 'string', enum: ['FAIL', 'SUCCESS'], description: 'SIGNAL nodes: what a timeout does: FAIL (default) fails the node; SUCCESS succeeds it with a null output' },
};
const nodeKeyPattern = NODE_KEY_PATTERN.source;
const misfire = ['FIRE_ONCE', 'SKIP'];

/** A node as answered (present.ts presentNode). */
const nodeSchema: Schema = {
  type: 'object',
  required: ['nodeId', 'nodeType', 'createTime', 'updateTime'],
  properties: {
    nodeId: id,
    tasks: { type: 'array', items: nodeTaskSchema, description: 'TASK nodes only: the node\'s tasks, in its order (a task listed twice runs twice)' },
    nodeType,
    prevNode: { ...id, description: 'The node id of the first predecessor (the node before it on a chain); absent on START' },
    createTime: time,
    updateTime: time,
    completion,
    nodeKey: { type: 'string', pattern: nodeKeyPattern, description: 'On a graph flow every node shows its key (default n<position>); on a chain only a node given a key does' },
    prevNodes: {
      type: 'array',
      items: id,
      description: 'Graph flows only, every node but START: the node ids it follows (END follows every node that nothing follows)',
    },
    ...controlFields,
  },
};

const flowProps = (withNodes: boolean): Schema => ({
  flowId: id,
  flowName: { type: 'string', minLength: 1, maxLength: 255 },
  flowDescription: { type: 'string', maxLength: 1024 },
  ...(withNodes ? { flowNodes: { type: 'array', items: nodeSchema, description: 'START, the TASK nodes, END, in the order they were saved' } } : {}),
  createTime: time,
  updateTime: time,
  flowVersion: { type: 'integer', minimum: 1, description: withNodes ? 'The version flowNodes belong to' : 'The current version' },
  cron: { type: 'string', maxLength: CRON_MAX_LENGTH, description: 'node-cron expression (5 fields, or 6 with seconds), or a nickname such as @daily' },
  cronEnabled: { type: 'boolean' },
  cronMisfire: { type: 'string', enum: misfire, description: 'Only on flows that have a cron: what happens to ticks missed while no member led' },
  nextRunTime: {
    ...time,
    nullable: true,
    description: 'Only on flows that have a cron: its next tick (YYYY-MM-DD HH:mm:ss, server time zone) while cronEnabled, null while it is off',
    example: '2026-11-27 08:05:00',
  },
  timeoutMs: { type: 'integer', minimum: 1000, maximum: 604800000, description: 'Only when set: an instance still running this long after it started is FAILED ("flow timed out after N ms")' },
  maxActiveInstances: { type: 'integer', minimum: 1, maximum: 10000, description: 'Only when set: most instances RUNNING at once' },
  overflow: { type: 'string', enum: ['QUEUE', 'SKIP'], description: 'Only with maxActiveInstances: a start beyond it is recorded QUEUED (started oldest first when one ends), or refused (409; a cron tick is skipped)' },
});

const required = ['flowId', 'flowName', 'createTime', 'updateTime', 'flowVersion', 'cronEnabled'];

export const flowSchema: Schema = {
  type: 'object',
  description:
    'A flow with the nodes of one version, in the original API\'s key order (null keys left out). flowName, flowDescription, cron, cronEnabled and ' +
    'cronMisfire are the flow\'s current ones; flowNodes and flowVersion those of the version answered.',
  required: [...required, 'flowNodes'],
  properties: flowProps(true),
};

export const flowSummarySchema: Schema = {
  type: 'object',
  description: 'A flow without its nodes (GET /flow/{flowId} gives them)',
  required,
  properties: flowProps(false),
};

const t = (taskId: number, taskName: string) => ({ createTime: '2026-11-27 08:00:00', updateTime: '2026-11-27 08:00:00', taskId, taskName, taskType: 'ECHO' });
const at = { createTime: '2026-11-27 08:00:00', updateTime: '2026-11-27 08:00:00' };

/** The answer for the graph example below: START → a → (b, c) → d → END. */
export const graphFlowExample = {
  flowId: 3,
  flowName: 'fan out and join',
  flowNodes: [
    { nodeId: 11, nodeType: 'START', ...at, nodeKey: 'n0' },
    { nodeId: 12, tasks: [t(1, 'first task1')], nodeType: 'TASK', prevNode: 11, ...at, completion: 'ANY', nodeKey: 'a', prevNodes: [11] },
    { nodeId: 13, tasks: [t(2, 'second')], nodeType: 'TASK', prevNode: 12, ...at, completion: 'ANY', nodeKey: 'b', prevNodes: [12] },
    { nodeId: 14, tasks: [t(3, 'third')], nodeType: 'TASK', prevNode: 12, ...at, completion: 'ANY', nodeKey: 'c', prevNodes: [12] },
    { nodeId: 15, tasks: [t(1, 'first task1')], nodeType: 'TASK', prevNode: 13, ...at, completion: 'ANY', nodeKey: 'd', prevNodes: [13, 14] },
    { nodeId: 16, nodeType: 'END', prevNode: 15, ...at, nodeKey: 'n5', prevNodes: [15] },
  ],
  ...at,
  flowVersion: 1,
  cron: '0 */5 * * * *',
  cronEnabled: true,
  cronMisfire: 'FIRE_ONCE',
  nextRunTime: '2026-11-27 08:05:00',
};

/** PATCH /flow/{flowId}: the fields changed in place (patchFlow.ts). */
export const flowPatchSchema: Schema = {
  type: 'object',
  description: 'At least one of cronEnabled and cronMisfire; any other field is a 400 naming it (flowId is taken only when it repeats the path\'s)',
  minProperties: 1,
  additionalProperties: false,
  properties: {
    flowId: { type: 'integer', minimum: 1, description: 'Optional; must equal the path\'s flowId' },
    cronEnabled: { type: 'boolean', description: 'false pauses the cron, true resumes it (the flow must have a cron)' },
    cronMisfire: { type: 'string', enum: [...misfire, null], nullable: true, description: 'FIRE_ONCE or SKIP; null goes back to the default, FIRE_ONCE' },
  },
};

export const flowSaveSchema: Schema = {
  type: 'object',
  required: ['flowName', 'flowNodes'],
  description:
    'Without flowId: creates a flow (version 1). With the flowId of a live flow: saves a new version (flowVersion + 1, new nodes; ' +
    'the old version\'s nodes are kept for its instances). flowDescription, cron, cronEnabled and cronMisfire left out keep their stored values; ' +
    'sent as null they are cleared. The save is one transaction: a rejected body leaves nothing behind.',
  properties: {
    flowId: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, nullable: true, description: 'Omit to create; a string of digits is taken too' },
    flowName: { type: 'string', minLength: 1, maxLength: 255, description: 'Not blank' },
    flowDescription: { type: 'string', maxLength: 1024, nullable: true },
    flowNodes: {
      type: 'array',
      minItems: 3,
      maxItems: MAX_FLOW_NODES,
      description:
        'Exactly one START (first), one END (last), at least one TASK node between them; at most ' +
        `${MAX_FLOW_NODES.toLocaleString('en-US')} nodes naming at most ${MAX_FLOW_TASK_REFS.toLocaleString('en-US')} tasks in all. ` +
        'A chain: with no node having prevNodes, the list order is the chain (the original API\'s form). A graph: as soon as one node has prevNodes, ' +
        'each TASK node follows the nodes its prevNodes name (without prevNodes: START), and END follows every node that nothing follows; a node starts ' +
        `once all its predecessors succeeded. Unknown or duplicate keys, a cycle, a node START cannot reach and more than ${MAX_FLOW_EDGES.toLocaleString('en-US')} ` +
        'predecessors in all are 400s naming the node.',
      items: {
        type: 'object',
        required: ['nodeType'],
        properties: {
          nodeType,
          taskIds: {
            description: 'TASK nodes only, required there: live task ids, as "1,2" (the original API\'s form, at most 1,024 characters) or [1,2]',
            oneOf: [
              { type: 'string', maxLength: 1024, pattern: '^\\s*\\d+\\s*(,\\s*\\d+\\s*)*$', example: '1,2' },
              { type: 'array', minItems: 1, items: { type: 'integer', minimum: 1 } },
            ],
          },
          completion,
          nodeKey: {
            type: 'string',
            pattern: nodeKeyPattern,
            description: 'The node\'s name in prevNodes and in ${nodes.<nodeKey>.output} templates; unique in the flow; default n<position> (n0 is START)',
            example: 'a',
          },
          prevNodes: {
            type: 'array',
            maxItems: MAX_FLOW_NODES,
            uniqueItems: true,
            items: { type: 'string', pattern: nodeKeyPattern },
            description: 'TASK, SIGNAL and SUB_FLOW nodes: the keys of the nodes this one follows. Giving it to any node makes the flow a graph',
            example: ['b', 'c'],
          },
          ...controlFields,
        },
      },
    },
    cron: {
      type: 'string',
      maxLength: CRON_MAX_LENGTH,
      nullable: true,
      description:
        'node-cron expression, e.g. "*/5 * * * *": 5 fields (minute hour day month weekday) or 6 (second first), each a comma list of ' +
        '*, n, a-b, with optional /step, every value within its field\'s range, or a nickname (@hourly, @daily…); a bad one is a 400 naming cron and the field',
    },
    cronEnabled: { type: 'boolean', nullable: true, description: 'Start the flow on its cron schedule; true needs a cron' },
    timeoutMs: { type: 'integer', minimum: 1000, maximum: 604800000, nullable: true, description: 'An instance still running this long after it started is FAILED, its running tasks aborted. Left out: kept; null: none' },
    maxActiveInstances: { type: 'integer', minimum: 1, maximum: 10000, nullable: true, description: 'Most instances RUNNING at once. Left out: kept; null: no limit' },
    overflow: { type: 'string', enum: ['QUEUE', 'SKIP', null], nullable: true, description: 'A start beyond maxActiveInstances: QUEUE (default) records it QUEUED and starts it when a running one ends, oldest first; SKIP refuses it (409) and skips a cron tick' },
    cronMisfire: {
      type: 'string',
      enum: [...misfire, null],
      nullable: true,
      description:
        'Ticks that fell while no member led (looked for, at most 24 h back, when a leader starts and when the cron is saved or enabled): ' +
        'FIRE_ONCE (default, also for null) starts one catch-up run for the latest missed tick; SKIP starts none. Left out: the stored value is kept',
    },
  },
};

export const flowSaveExamples: Schema = {
  chain: {
    summary: 'The original API\'s chain: START → 1 → 2 → 3 → 1 → END',
    value: {
      flowName: 'first flow',
      flowDescription: 'first flow for test1',
      flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'TASK', taskIds: '2' }, { nodeType: 'TASK', taskIds: '3' }, { nodeType: 'TASK', taskIds: '1' }, { nodeType: 'END' }],
    },
  },
  graph: {
    summary: 'A graph: START → a → (b, c in parallel) → d → END, on a cron every 5 minutes',
    value: {
      flowName: 'fan out and join',
      flowNodes: [
        { nodeType: 'START' },
        { nodeType: 'TASK', nodeKey: 'a', taskIds: '1' },
        { nodeType: 'TASK', nodeKey: 'b', taskIds: '2', prevNodes: ['a'] },
        { nodeType: 'TASK', nodeKey: 'c', taskIds: '3', prevNodes: ['a'] },
        { nodeType: 'TASK', nodeKey: 'd', taskIds: '1', prevNodes: ['b', 'c'] },
        { nodeType: 'END' },
      ],
      cron: '0 */5 * * * *',
      cronEnabled: true,
    },
  },
  allOf: {
    summary: 'A node that needs 2 of its 3 tasks, on a new version of flow 3',
    value: { flowId: 3, flowName: 'two of three', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: [1, 2, 3], completion: 2 }, { nodeType: 'END' }] },
  },
  controlFlow: {
    summary: 'Control flow: check; over 100, a review and an approval (a day at most), else both SKIPPED; then resize each image two at a time; ship through flow 7',
    value: {
      flowName: 'order',
      flowNodes: [
        { nodeType: 'START' },
        { nodeType: 'TASK', nodeKey: 'check', taskIds: '1' },
        { nodeType: 'TASK', nodeKey: 'review', taskIds: '2', prevNodes: ['check'], when: 'nodes.check.output.score > 100 && input.vip != true' },
        { nodeType: 'SIGNAL', nodeKey: 'approve', prevNodes: ['review'], timeoutMs: 86400000, onTimeout: 'FAIL' },
        { nodeType: 'TASK', nodeKey: 'resize', taskIds: '3', prevNodes: ['check', 'approve'], forEach: 'input.images', maxParallel: 2 },
        { nodeType: 'SUB_FLOW', nodeKey: 'ship', prevNodes: ['resize'], flowId: 7, input: { order: '${input.order}', approvedBy: '${nodes.approve.output.by}' } },
        { nodeType: 'END' },
      ],
    },
  },
};
