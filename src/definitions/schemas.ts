// Request schemas of the definitions API. Shape and syntax only: whether the named tasks and flows
// exist is checked against the database inside the save's transaction (saveTask.ts, saveFlow.ts).
// Unknown keys are dropped rather than refused, so a client may send back what GET answered
// (createTime, nodeId, tasks…) without an error.
import { z } from 'zod';
import { CRON_MAX_LENGTH, CronSyntaxError, parseCron } from './cronExpression.js';
import { flowGraph, NODE_KEY_PATTERN } from './flowGraph.js';
import { MAX_EXPRESSION_LENGTH } from './expression.js';
import { pathIssues } from './pathChecks.js';
import { jsonShapeProblem } from '../infra/jsonShape.js';
import { TASK_TYPES, type TaskType } from '../models/definitions.js';

const MAX_ID = Number.MAX_SAFE_INTEGER;

// Limits (README: Limits). Text columns hold bytes (utf8mb4), VARCHARs characters.
/** task.task_config is TEXT: 65,535 bytes of stored JSON. */
export const TASK_CONFIG_MAX_BYTES = 65_535;
/** task.task_content is MEDIUMTEXT (BODY_LIMIT usually refuses such a body first). */
export const TASK_CONTENT_MAX_BYTES = 16_777_215;
/** error_msg columns are TEXT: an EXCEPTION task's content (its error message) must fit. */
export const ERROR_MSG_MAX_BYTES = 65_535;
export const MAX_FLOW_NODES = 1000;
/**
 * Task ids named by all of a version's TASK nodes together. Each one is a task instance per run and a
 * task object in every GET /flow/{flowId} answer: 1,000 nodes × 200 ids was 25 MB per GET; 2,000
 * references keep that answer under half a megabyte and a run under 2,000 task instances.
 */
export const MAX_FLOW_TASK_REFS = 2000;

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** An id in a body: a positive integer, or a string of digits (the original API's Jackson accepted both). */
const bodyId = z
  .preprocess(
    (v) => (typeof v === 'string' && /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : v),
    z.number({ error: 'must be a positive integer' }).int('must be a positive integer').min(1, 'must be a positive integer').max(MAX_ID),
  )
  .nullish();

const nonBlank = (max: number) =>
  z
    .string({ error: 'is required and must be a string' })
    .max(max, `must be at most ${max} characters`)
    .refine((s) => s.trim() !== '', 'must not be empty');

const optionalText = (max: number) => z.string({ error: 'must be a string' }).max(max, `must be at most ${max} characters`).nullish();

// ---- tasks ----------------------------------------------------------------------------------

/**
 * `taskConfig`: a JSON object, or a string holding one (what a client that stores it as text sends).
 * A blank string counts as null. The per-type check (taskConfigSchemas) needs the task type and, on
 * an update that leaves taskConfig out, the stored config, so it runs in saveTask.
 */
const taskConfig = z.unknown().transform((v, ctx): Record<string, unknown> | null | undefined => {
  if (v === undefined || v === null) return v;
  let o: unknown = v;
  if (typeof v === 'string') {
    if (v.trim() === '') return null;
    try {
      o = JSON.parse(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is a string but not valid JSON' });
      return z.NEVER;
    }
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    ctx.addIssue({ code: 'custom', message: 'must be a JSON object (or a string holding one)' });
    return z.NEVER;
  }
  // The body's shape was checked as a whole; a string's content was not (stringify must not overflow).
  const problem = typeof v === 'string' ? jsonShapeProblem(o) : null;
  if (problem) {
    ctx.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  }
  // Stored as JSON text in task.task_config (TEXT): what does not fit is refused here, not by MySQL.
  const bytes = utf8Bytes(JSON.stringify(o));
  if (bytes > TASK_CONFIG_MAX_BYTES) {
    ctx.addIssue({ code: 'custom', message: `is ${bytes} bytes as stored JSON; at most ${TASK_CONFIG_MAX_BYTES} bytes fit` });
    return z.NEVER;
  }
  return o as Record<string, unknown>;
});

export const saveTaskBody = z.object(
  {
    taskId: bodyId,
    taskName: nonBlank(255),
    taskType: z.enum(TASK_TYPES as unknown as [TaskType, ...TaskType[]], { error: `must be one of ${TASK_TYPES.join(', ')}` }),
    // The original API's field is a string; a number (e.g. WAIT's 1000) is taken as its text.
    taskContent: z
      .union([z.string(), z.number().transform(String)], { error: 'must be a string' })
      .refine((c) => utf8Bytes(c) <= TASK_CONTENT_MAX_BYTES, `must be at most ${TASK_CONTENT_MAX_BYTES} bytes (UTF-8)`)
      .nullish(),
    taskDescription: optionalText(1024),
    taskConfig: taskConfig.optional(),
  },
  { error: 'must be a JSON object' },
);
export type SaveTaskInput = z.infer<typeof saveTaskBody>;

// ---- flows ----------------------------------------------------------------------------------

const TASK_IDS_MSG = 'must be task ids like "1,2" or [1,2]';

/**
 * `taskIds`: the original API's "1,2" or an array [1,2]; at least one, each a positive integer. A task may be
 * listed more than once: each listing runs as its own task instance and counts for `completion`.
 */
const taskIds = z
  .union([z.string(), z.array(z.unknown())], { error: TASK_IDS_MSG })
  .transform((v, ctx): number[] => {
    const parts: unknown[] = typeof v === 'string' ? (v.trim() === '' ? [] : v.split(',').map((p) => p.trim())) : v;
    const ids: number[] = [];
    for (const p of parts) {
      const n = typeof p === 'string' && /^\d{1,15}$/.test(p) ? Number(p) : p;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
        ctx.addIssue({ code: 'custom', message: `${TASK_IDS_MSG}, got ${JSON.stringify(p)}` });
        return z.NEVER;
      }
      ids.push(n);
    }
    if (ids.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must name at least one task' });
      return z.NEVER;
    }
    // Stored as "1,2" in task_node.task_ids, a VARCHAR(1024).
    if (ids.join(',').length > 1024) {
      ctx.addIssue({ code: 'custom', message: 'too many tasks for one node (the list is limited to 1024 characters)' });
      return z.NEVER;
    }
    return ids;
  });

/** When a TASK node succeeds: ANY one task (the original API's behaviour), ALL of them, or at least N. */
const completion = z.union([z.literal('ANY'), z.literal('ALL'), z.number().int().min(1)], {
  error: 'must be "ANY", "ALL" or a whole number of at least 1',
});
export type CompletionInput = z.infer<typeof completion>;

/** A forEach node's items (and the most maxParallel can be). */
export const MAX_FOR_EACH_ITEMS = 1000;
/** A SIGNAL's timeout: up to a year. */
export const MAX_SIGNAL_TIMEOUT_MS = 31_536_000_000;
/** A node's control-flow settings are stored as JSON in task_node.node_options (TEXT). */
export const NODE_OPTIONS_MAX_BYTES = 65_535;

export const NODE_TYPES = ['START', 'TASK', 'END', 'SIGNAL', 'SUB_FLOW'] as const;

const flowNode = z.object(
  {
    nodeType: z.enum(NODE_TYPES, { error: `must be one of ${NODE_TYPES.join(', ')}` }),
    taskIds: taskIds.nullish(),
    completion: completion.nullish(),
    /** The node's name in prevNodes and in ${nodes.<key>.output} templates (default `n<position>`). */
    nodeKey: z
      .string({ error: 'must be a string' })
      .regex(NODE_KEY_PATTERN, 'must start with a letter or _, then letters, digits, _ or -, at most 64 in all')
      .nullish(),
    /** The keys of the nodes this one follows (it starts once all of them have succeeded). */
    prevNodes: z
      .array(z.string({ error: 'must be node keys (strings)' }), { error: 'must be an array of node keys' })
      .max(MAX_FLOW_NODES, `must name at most ${MAX_FLOW_NODES} nodes`)
      .nullish(),
    /** A condition over the input and earlier outputs (expression.ts): false → the node is SKIPPED. */
    when: z.string({ error: 'must be a string (an expression)' }).max(MAX_EXPRESSION_LENGTH, `must be at most ${MAX_EXPRESSION_LENGTH} characters`).nullish(),
    /** TASK nodes: a path to an array; the node's tasks run once per item (`${item}`, `${index}`). */
    forEach: z.string({ error: 'must be a string (a path such as input.items)' }).max(MAX_EXPRESSION_LENGTH, `must be at most ${MAX_EXPRESSION_LENGTH} characters`).nullish(),
    /** How many items run at once (default: all). */
    maxParallel: z.number({ error: `must be a whole number from 1 to ${MAX_FOR_EACH_ITEMS}` }).int(`must be a whole number from 1 to ${MAX_FOR_EACH_ITEMS}`).min(1, `must be a whole number from 1 to ${MAX_FOR_EACH_ITEMS}`).max(MAX_FOR_EACH_ITEMS, `must be a whole number from 1 to ${MAX_FOR_EACH_ITEMS}`).nullish(),
    /** SUB_FLOW: the flow to start, its version (default: current when it starts), its input (strings take templates). */
    flowId: bodyId,
    flowVersion: z.number({ error: 'must be a positive integer' }).int('must be a positive integer').min(1, 'must be a positive integer').max(1_000_000_000).nullish(),
    input: z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }).nullish(),
    /** SIGNAL: how long it waits (default: for ever), and what a timeout does. */
    timeoutMs: z.number({ error: 'must be a whole number of milliseconds' }).int('must be a whole number of milliseconds').min(1, `must be from 1 to ${MAX_SIGNAL_TIMEOUT_MS}`).max(MAX_SIGNAL_TIMEOUT_MS, `must be from 1 to ${MAX_SIGNAL_TIMEOUT_MS}`).nullish(),
    onTimeout: z.enum(['FAIL', 'SUCCESS'], { error: 'must be "FAIL" or "SUCCESS"' }).nullish(),
  },
  { error: 'must be a JSON object' },
);

/**
 * A cron expression (node-cron syntax, 5 fields or 6 with seconds); blank counts as null. Checked field
 * by field against its ranges before node-cron sees it (cronExpression.ts): node-cron expands ranges
 * eagerly, so an unchecked `1-99999999999` would take the process down.
 */
const cron = z
  .string({ error: 'must be a string' })
  .max(CRON_MAX_LENGTH, `must be at most ${CRON_MAX_LENGTH} characters`)
  .transform((v, ctx) => {
    const c = v.trim();
    if (c === '') return null;
    try {
      parseCron(c);
    } catch (e) {
      if (!(e instanceof CronSyntaxError)) throw e;
      ctx.addIssue({ code: 'custom', message: `is not a valid cron expression: ${e.message}` });
      return z.NEVER;
    }
    return c;
  })
  .nullish();

export const CRON_MISFIRE = ['FIRE_ONCE', 'SKIP'] as const;
/** What a start beyond maxActiveInstances does: recorded QUEUED and started later, or refused (409). */
export const OVERFLOW = ['QUEUE', 'SKIP'] as const;
export const FLOW_TIMEOUT_MS = { min: 1_000, max: 604_800_000 } as const;
export const MAX_ACTIVE_INSTANCES = 10_000;
export type CronMisfire = (typeof CRON_MISFIRE)[number];

export const saveFlowBody = z
  .object(
    {
      flowId: bodyId,
      flowName: nonBlank(255),
      flowDescription: optionalText(1024),
      flowNodes: z.array(flowNode, { error: 'is required and must be an array of nodes' }).max(MAX_FLOW_NODES, `must have at most ${MAX_FLOW_NODES} nodes`),
      cron,
      cronEnabled: z.boolean({ error: 'must be true or false' }).nullish(),
      /** Ticks missed while no member led: one catch-up run (FIRE_ONCE, the default) or none (SKIP). */
      cronMisfire: z.enum(CRON_MISFIRE, { error: 'must be "FIRE_ONCE" or "SKIP"' }).nullish(),
      /** Flow control: an instance still running after this many ms is FAILED. */
      timeoutMs: z
        .number({ error: `must be an integer ${FLOW_TIMEOUT_MS.min}-${FLOW_TIMEOUT_MS.max}` })
        .int(`must be an integer ${FLOW_TIMEOUT_MS.min}-${FLOW_TIMEOUT_MS.max}`)
        .min(FLOW_TIMEOUT_MS.min, `must be an integer ${FLOW_TIMEOUT_MS.min}-${FLOW_TIMEOUT_MS.max}`)
        .max(FLOW_TIMEOUT_MS.max, `must be an integer ${FLOW_TIMEOUT_MS.min}-${FLOW_TIMEOUT_MS.max}`)
        .nullish(),
      /** Flow control: most instances RUNNING at once. */
      maxActiveInstances: z
        .number({ error: `must be an integer 1-${MAX_ACTIVE_INSTANCES}` })
        .int(`must be an integer 1-${MAX_ACTIVE_INSTANCES}`)
        .min(1, `must be an integer 1-${MAX_ACTIVE_INSTANCES}`)
        .max(MAX_ACTIVE_INSTANCES, `must be an integer 1-${MAX_ACTIVE_INSTANCES}`)
        .nullish(),
      overflow: z.enum(OVERFLOW, { error: 'must be "QUEUE" or "SKIP"' }).nullish(),
    },
    { error: 'must be a JSON object' },
  )
  .superRefine((flow, ctx) => {
    // START first, END last, TASK nodes (each with its tasks) in between.
    const nodes = flow.flowNodes;
    if (!Array.isArray(nodes)) return; // already reported by the field's own schema
    const at = (i: number, field: string, message: string) => ctx.addIssue({ code: 'custom', path: ['flowNodes', i, field], message });
    if (nodes.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['flowNodes'], message: 'must be START, at least one TASK node, then END' });
      return;
    }
    nodes.forEach((n, i) => {
      if (n.nodeType === 'START' && i !== 0) at(i, 'nodeType', 'only the first node may be START');
      if (n.nodeType === 'END' && i !== nodes.length - 1) at(i, 'nodeType', 'only the last node may be END');
      const not = (field: keyof typeof n, why = `a ${n.nodeType} node does not take ${field}`) => {
        if (n[field] != null) at(i, field, why);
      };
      if (n.nodeType !== 'TASK') (not('taskIds'), not('completion'), not('forEach'), not('maxParallel'));
      if (n.maxParallel != null && n.forEach == null) at(i, 'maxParallel', 'goes with forEach');
      if (n.nodeType !== 'SUB_FLOW') (not('flowId'), not('flowVersion'), not('input'));
      if (n.nodeType !== 'SIGNAL') (not('timeoutMs'), not('onTimeout'));
      if (n.nodeType === 'START' || n.nodeType === 'END') not('when', `a ${n.nodeType} node does not take when (it always runs)`);
      if (n.nodeType === 'SUB_FLOW' && n.flowId == null) at(i, 'flowId', 'a SUB_FLOW node needs the flowId of the flow it starts');
      if (n.nodeType === 'SIGNAL' && n.nodeKey == null) at(i, 'nodeKey', 'a SIGNAL node needs a nodeKey (it is signalled by it)');
      if (n.nodeType === 'SUB_FLOW' && n.input != null) {
        const bytes = utf8Bytes(JSON.stringify(n.input));
        if (bytes > NODE_OPTIONS_MAX_BYTES - 1024) at(i, 'input', `is ${bytes} bytes as JSON; at most ${NODE_OPTIONS_MAX_BYTES - 1024} fit`);
      }
      if (n.nodeType !== 'TASK') return;
      if (n.taskIds == null) at(i, 'taskIds', 'a TASK node needs at least one task');
      else if (typeof n.completion === 'number' && n.forEach == null && n.completion > n.taskIds.length) {
        at(i, 'completion', `must be at most the node's task count (${n.taskIds.length}), got ${n.completion}`);
      }
    });
    if (nodes[0].nodeType !== 'START') at(0, 'nodeType', 'the first node must be START');
    if (nodes[nodes.length - 1].nodeType !== 'END') at(nodes.length - 1, 'nodeType', 'the last node must be END');
    if (!nodes.some((n) => n.nodeType !== 'START' && n.nodeType !== 'END')) {
      ctx.addIssue({ code: 'custom', path: ['flowNodes'], message: 'needs at least one TASK node between START and END' });
    }
    // Which node follows which (flowGraph.ts): unknown or duplicate keys, a cycle, an unreachable node.
    const shape = flowGraph(nodes);
    if (!shape.ok) for (const issue of shape.issues) at(issue.index, issue.field, issue.message);
    // A condition or forEach path parses, and reads only nodes that have ended by then: those it follows.
    else for (const issue of pathIssues(nodes, shape.value)) at(issue.index, issue.field, issue.message);
    const refs = nodes.reduce((sum, n) => sum + (n.taskIds?.length ?? 0), 0);
    if (refs > MAX_FLOW_TASK_REFS) {
      ctx.addIssue({ code: 'custom', path: ['flowNodes'], message: `name at most ${MAX_FLOW_TASK_REFS} tasks in all (each is a task instance per run), got ${refs}` });
    }
  });
export type SaveFlowInput = z.infer<typeof saveFlowBody>;

// ---- query strings --------------------------------------------------------------------------

const queryInt = (min: number, max: number) =>
  z
    .string({ error: 'must be given once' })
    .regex(/^\d{1,9}$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().min(min, `must be a whole number from ${min} to ${max}`).max(max, `must be a whole number from ${min} to ${max}`));

export const MAX_PAGE_SIZE = 200;

export const MAX_NAME_FILTER = 255;

/** `?page=1&pageSize=20[&name=…]` of the list endpoints; `name` keeps those whose name contains it. */
export const pageQuery = z.object({
  page: queryInt(1, 1_000_000).default(1),
  pageSize: queryInt(1, MAX_PAGE_SIZE).default(20),
  name: z
    .string({ error: 'must be given once' })
    .max(MAX_NAME_FILTER, `must be at most ${MAX_NAME_FILTER} characters`)
    .transform((v) => v.trim() || undefined)
    .optional(),
});
export type PageQuery = z.infer<typeof pageQuery>;

/** `?version=N` of GET /flow/{flowId}. */
export const flowVersionQuery = z.object({ version: queryInt(1, 1_000_000_000).optional() });
