// Execution API (the original API's paths): start a flow, retry a failed instance from a node instance,
// cancel an instance, signal a waiting SIGNAL node, run a single task.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Engine } from '../../engine/engine.js';
import { actor, badRequest, idParam, ok } from '../http.js';
import { parse } from '../validate.js';
import { NotFoundError } from '../../errors.js';
import { NODE_KEY_PATTERN } from '../../definitions/flowGraph.js';
import { MAX_PRIORITY } from '../../queue/types.js';
import type { RouteModule } from '../routeModule.js';
import { execFlowBodySchema, execFlowExamples } from '../instanceDoc.js';
import { badId, badIdempotencyKey, errorResponse, idempotencyKeyHeader, idempotencyKeyReused, idPath, okResponse, unavailable, userHeader } from '../openapiParts.js';

const positiveId = z.number().int().positive();
/** A start's priority: 0-9 (default 0); a higher one's task instances are claimed first. */
const priorityField = z.number({ error: `must be an integer 0-${MAX_PRIORITY}` }).int(`must be an integer 0-${MAX_PRIORITY}`).min(0, `must be an integer 0-${MAX_PRIORITY}`).max(MAX_PRIORITY, `must be an integer 0-${MAX_PRIORITY}`);
/** The most a start's input may hold, as JSON (it is stored in a TEXT column). */
export const MAX_INPUT_BYTES = 65_535;
/**
 * A start (`input`, optional: a JSON object its tasks' templates read as `${input.…}`), or a retry
 * (`fiId` and `niId`).
 */
const inputSchema = z
  .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
  .refine((v) => Buffer.byteLength(JSON.stringify(v), 'utf8') <= MAX_INPUT_BYTES, `must be at most ${MAX_INPUT_BYTES} bytes as JSON`)
  .optional();
const execBody = z
  .object({
    fiId: positiveId.optional(),
    niId: positiveId.optional(),
    input: inputSchema,
    priority: priorityField.optional(),
  });
/** A single task run: optionally an input its ${input.…} templates are filled in with, and a priority. */
const taskRunBody = z.object({ input: inputSchema, priority: priorityField.optional() }, { error: 'must be a JSON object' });

/** What a start or retry body may hold; anything else is a mistake (most often input sent bare). */
export const EXEC_BODY_FIELDS = ['input', 'fiId', 'niId', 'priority'];
/** What a single task run's body may hold. */
const TASK_RUN_BODY_FIELDS = ['input', 'priority'];

/** A field the start does not take is a 400 naming it, not a start that silently drops it. */
function refuseUnknownFields(body: unknown, allowed: readonly string[] = EXEC_BODY_FIELDS): void {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return; // the schema answers those
  const unknown = Object.keys(body).find((k) => !allowed.includes(k));
  if (unknown !== undefined) throw badRequest(`${unknown.slice(0, 100)}: unknown field; the start's input goes in {"input": {…}}`);
}

/** A signal's payload is stored as JSON in task_node_ins.output (MEDIUMTEXT). */
export const MAX_SIGNAL_PAYLOAD_BYTES = 16_777_215;
/** A signal's body: `payload`, any JSON (left out: null). */
const signalBody = z
  .object({
    payload: z
      .unknown()
      .refine((v) => v === undefined || Buffer.byteLength(JSON.stringify(v), 'utf8') <= MAX_SIGNAL_PAYLOAD_BYTES, `must be at most ${MAX_SIGNAL_PAYLOAD_BYTES} bytes as JSON`)
      .optional(),
  })
  .loose();

/** The Idempotency-Key header: 1-128 printable ASCII characters, or absent. */
function idempotencyKey(ctx: Context): string | undefined {
  const raw = ctx.get('Idempotency-Key');
  if (raw === '') return undefined;
  if (!/^[\x21-\x7e]{1,128}$/.test(raw)) throw badRequest('Idempotency-Key: must be 1-128 printable ASCII characters without spaces');
  return raw;
}

export function execRoutes(engine: Engine): RouteModule {
  const router = new Router();

  router.post('/exec/flow/:flowId', async (ctx) => {
    const flowId = idParam(ctx, 'flowId');
    refuseUnknownFields(ctx.request.body);
    const body = parse(execBody, ctx.request.body ?? {});
    if (body.fiId === undefined && body.niId === undefined) {
      ok(ctx, { fiId: await engine.startFlow(flowId, { user: actor(ctx), idempotencyKey: idempotencyKey(ctx), input: body.input, priority: body.priority }) });
      return;
    }
    if (body.input !== undefined) throw badRequest('input: a retry runs with the input its instance was started with; leave input out');
    if (body.priority !== undefined) throw badRequest('priority: a retry keeps the priority its instance was started with; leave priority out');
    if (body.fiId === undefined || body.niId === undefined) throw badRequest('a retry needs both fiId and niId');
    ok(ctx, { fiId: await engine.retryFlow(flowId, body.fiId, body.niId, actor(ctx)) });
  });

  router.post('/exec/flow-ins/:fiId/cancel', async (ctx) => {
    const fiId = idParam(ctx, 'fiId');
    await engine.cancelFlow(fiId, actor(ctx));
    ok(ctx, { fiId, status: 'CANCELLED' });
  });

  // A SIGNAL node's signal: 200 and the node SUCCESS with the payload as its output.
  router.post('/exec/flow-ins/:fiId/signal/:nodeKey', async (ctx) => {
    const fiId = idParam(ctx, 'fiId');
    const nodeKey = ctx.params.nodeKey;
    if (!NODE_KEY_PATTERN.test(nodeKey)) throw new NotFoundError(`flow instance ${fiId} has no node "${nodeKey.slice(0, 64)}"`);
    const body = parse(signalBody, ctx.request.body ?? {});
    const niId = await engine.signal(fiId, nodeKey, body.payload ?? null, actor(ctx));
    ok(ctx, { fiId, nodeKey, niId, status: 'SUCCESS' });
  });

  router.post('/exec/task/:taskId', async (ctx) => {
    const taskId = idParam(ctx, 'taskId');
    refuseUnknownFields(ctx.request.body, TASK_RUN_BODY_FIELDS);
    const { input, priority } = parse(taskRunBody, ctx.request.body ?? {});
    ok(ctx, { tiId: await engine.startTask(taskId, actor(ctx), idempotencyKey(ctx), input, priority) });
  });

  const fiIdIs = { type: 'object', required: ['fiId'], properties: { fiId: { type: 'integer', minimum: 1 } } };
  const busy = { busy: 'flow instance 7 is busy, try again', changed: 'flow instance 7 changed meanwhile, try again' };
  const both = unavailable('MySQL and Redis');
  return {
    router,
    tags: [
      {
        name: 'exec',
        description:
          'Running: start a flow (with input), retry a failed or cancelled instance from a node instance, cancel a running instance, signal a waiting SIGNAL node, run one task on its own. ' +
          'Starts are counted by START_RATE_LIMIT and may carry an Idempotency-Key.',
      },
    ],
    paths: {
      '/exec/flow/{flowId}': {
        post: {
          operationId: 'startOrRetryFlow',
          tags: ['exec'],
          summary: 'Start a flow → {fiId} (optionally with input); or, with {fiId, niId}, retry that FAILED/CANCELLED instance from that node instance',
          description:
            'A start beyond the flow\'s maxActiveInstances is recorded QUEUED (overflow QUEUE, the default: started oldest first as running ones end) or refused with a 409 (overflow SKIP). ' +
            'A start commits the instance (RUNNING, on the flow\'s current version) and its first task instances, then queues them (a member whose worker has a free slot and ' +
            'nothing due in its queue runs them itself, committed RUNNING by the start); the answer comes once it is committed. Task content and string values of taskConfig may read the input: ${input.<path>}, and earlier nodes\' outputs: ' +
            '${nodes.<nodeKey>.output<.path>} ($${ is a literal). A retry keeps the instance\'s input and runs the tasks\' current definitions; ' +
            'it is refused (409) while any predecessor of the node did not succeed: retry from there.',
          parameters: [idPath('flowId', 'flow id'), userHeader, idempotencyKeyHeader('fiId')],
          requestBody: { required: false, content: { 'application/json': { schema: execFlowBodySchema(MAX_INPUT_BYTES), examples: execFlowExamples } } },
          responses: {
            '200': okResponse(fiIdIs, 'The instance started (or retried; the same fiId)', { fiId: 7 }),
            '400': errorResponse(400, 'A bad flowId, body or Idempotency-Key', {
              ...badId('flowId'),
              inputNotObject: 'input: must be a JSON object',
              inputTooLarge: `input: must be at most ${MAX_INPUT_BYTES} bytes as JSON`,
              inputOnRetry: 'input: a retry runs with the input its instance was started with; leave input out',
              halfRetry: 'a retry needs both fiId and niId',
              badPriority: `priority: must be an integer 0-${MAX_PRIORITY}`,
              priorityOnRetry: 'priority: a retry keeps the priority its instance was started with; leave priority out',
              unknownField: 'name: unknown field; the start\'s input goes in {"input": {…}}',
              ...badIdempotencyKey,
            }),
            '404': errorResponse(404, 'No such flow (or deleted); for a retry, no such instance of this flow, or node instance of that instance', {
              noSuchFlow: 'flow 7 does not exist',
              noSuchInstance: 'flow instance 77 of flow 7 does not exist',
              noSuchNodeInstance: 'node instance 21 is not part of flow instance 7',
            }),
            '409': errorResponse(409, 'A start beyond the flow\'s maxActiveInstances with overflow SKIP; a retry of an instance that is not FAILED or CANCELLED, or from a node whose predecessors did not all succeed; the instance busy; an Idempotency-Key used for another target', {
              overLimit: 'flow 7 has 2 active instances, its maxActiveInstances (2): overflow is SKIP',
              notFailed: 'flow instance 7 is RUNNING: only a FAILED or CANCELLED instance can be retried',
              predecessorFailed: 'node "b" follows "a", which did not succeed: retry from there',
              ...busy,
              ...idempotencyKeyReused('task 2'),
            }),
            '503': both,
          },
        },
      },
      '/exec/flow-ins/{fiId}/cancel': {
        post: {
          operationId: 'cancelFlowInstance',
          tags: ['exec'],
          summary: 'Cancel a RUNNING or QUEUED flow instance: queued tasks dropped, running ones aborted',
          parameters: [idPath('fiId', 'flow instance id'), userHeader],
          responses: {
            '200': okResponse({ type: 'object', required: ['fiId', 'status'], properties: { fiId: { type: 'integer', minimum: 1 }, status: { type: 'string', enum: ['CANCELLED'] } } }, 'Cancelled', { fiId: 7, status: 'CANCELLED' }),
            '400': errorResponse(400, 'fiId is not a positive integer', badId('fiId')),
            '404': errorResponse(404, 'No such flow instance', { noSuchInstance: 'flow instance 7 does not exist' }),
            '409': errorResponse(409, 'The instance is not RUNNING or QUEUED, or busy', { notRunning: 'flow instance 7 is SUCCESS: only a RUNNING or QUEUED instance can be cancelled', ...busy }),
            '503': both,
          },
        },
      },
      '/exec/flow-ins/{fiId}/signal/{nodeKey}': {
        post: {
          operationId: 'signalFlowInstance',
          tags: ['exec'],
          summary: 'Signal a waiting SIGNAL node: it succeeds with the payload as its output, and the flow goes on',
          description:
            'The node must be waiting (RUNNING): reached, not signalled yet, not timed out, its instance RUNNING. Its output is the payload ' +
            '(${nodes.<nodeKey>.output.<path>} reads into it). Any member answers: the wait is a row in MySQL, nothing holds it.',
          parameters: [
            idPath('fiId', 'flow instance id'),
            { name: 'nodeKey', in: 'path', required: true, description: 'The SIGNAL node\'s key', schema: { type: 'string', pattern: NODE_KEY_PATTERN.source } },
            userHeader,
          ],
          requestBody: {
            required: false,
            content: {
              'application/json': {
                schema: { type: 'object', properties: { payload: { description: 'Any JSON: the node\'s output (left out: null)' } } },
                examples: { approve: { summary: 'An approval', value: { payload: { approved: true, by: 'ada' } } } },
              },
            },
          },
          responses: {
            '200': okResponse(
              { type: 'object', required: ['fiId', 'nodeKey', 'niId', 'status'], properties: { fiId: { type: 'integer', minimum: 1 }, nodeKey: { type: 'string' }, niId: { type: 'integer', minimum: 1 }, status: { type: 'string', enum: ['SUCCESS'] } } },
              'Signalled: the node instance is SUCCESS',
              { fiId: 7, nodeKey: 'approve', niId: 21, status: 'SUCCESS' },
            ),
            '400': errorResponse(400, 'fiId is not a positive integer, or the body is not a JSON object', badId('fiId')),
            '404': errorResponse(404, 'No such flow instance, or it has no node of that key', { noSuchInstance: 'flow instance 7 does not exist', noSuchNode: 'flow instance 7 has no node "approve"' }),
            '409': errorResponse(409, 'The node is not waiting: not reached yet, signalled already, timed out, not a SIGNAL node, or its instance ended; or the instance is busy', {
              notReached: 'node "approve" is not waiting: the flow has not reached it yet',
              again: 'node "approve" is not waiting: it is SUCCESS (signalled already, or timed out)',
              ended: 'flow instance 7 is CANCELLED: node "approve" is not waiting',
              notSignal: 'node "ship" is a TASK node, not a SIGNAL: it does not wait for a signal',
              ...busy,
            }),
            '503': both,
          },
        },
      },
      '/exec/task/{taskId}': {
        post: {
          operationId: 'runTask',
          tags: ['exec'],
          summary: 'Run one task on its own → {tiId} (follow it with GET /monitor/task/{tiId})',
          description:
            'A run on its own has no earlier nodes: a ${nodes.…} template in the task cannot be filled in. Its ${input.…} templates are filled in ' +
            'with the body\'s optional input when the run is queued (one the input cannot fill is a 400 naming input, and nothing is queued); ' +
            'without an input, such a template fails the run.',
          parameters: [idPath('taskId', 'task id'), userHeader, idempotencyKeyHeader('tiId')],
          requestBody: {
            required: false,
            description: 'Optional: {"input": {…}, "priority": 0-9}',
            content: {
              'application/json': {
                schema: { type: 'object', additionalProperties: false, properties: { input: { type: 'object', additionalProperties: true, description: `A JSON object of at most ${MAX_INPUT_BYTES} bytes` }, priority: { type: 'integer', minimum: 0, maximum: MAX_PRIORITY, default: 0, description: 'Among due task instances, a higher priority\'s are claimed first' } } },
                example: { input: { name: 'Ada' } },
              },
            },
          },
          responses: {
            '200': okResponse({ type: 'object', required: ['tiId'], properties: { tiId: { type: 'integer', minimum: 1 } } }, 'The task instance queued', { tiId: 31 }),
            '400': errorResponse(400, 'A bad taskId, input, priority or Idempotency-Key', {
              ...badId('taskId'),
              ...badIdempotencyKey,
              inputNotObject: 'input: must be a JSON object',
              inputMissingField: 'input: template ${input.name}: input has no field "name"',
              badPriority: `priority: must be an integer 0-${MAX_PRIORITY}`,
            }),
            '404': errorResponse(404, 'No such task (or deleted)', { noSuchTask: 'task 2 does not exist' }),
            '409': errorResponse(409, 'The Idempotency-Key was used for another target', idempotencyKeyReused('flow 7')),
            '503': both,
          },
        },
      },
    },
  };
}
