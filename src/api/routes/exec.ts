// Execution API (the seed's paths): start a flow, retry a failed instance from a node instance,
// cancel an instance, run a single task.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Engine } from '../../engine/engine.js';
import { actor, badRequest, idParam, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';

const positiveId = z.number().int().positive();
/** The most a start's input may hold, as JSON (it is stored in a TEXT column). */
export const MAX_INPUT_BYTES = 65_535;
/**
 * A start (`input`, optional: a JSON object its tasks' templates read as `${input.…}`), or a retry
 * (`fiId` and `niId`).
 */
const execBody = z
  .object({
    fiId: positiveId.optional(),
    niId: positiveId.optional(),
    input: z
      .record(z.string(), z.unknown(), { error: 'must be a JSON object' })
      .refine((v) => Buffer.byteLength(JSON.stringify(v), 'utf8') <= MAX_INPUT_BYTES, `must be at most ${MAX_INPUT_BYTES} bytes as JSON`)
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

const env = (data: unknown) => ({ description: 'envelope', content: { 'application/json': { example: { code: '200', message: 'SUCCESS', data } } } });
const err = (d: string) => ({ description: d });

export function execRoutes(_s: Services, engine: Engine): RouteModule {
  const router = new Router();

  router.post('/exec/flow/:flowId', async (ctx) => {
    const flowId = idParam(ctx, 'flowId');
    const body = parse(execBody, ctx.request.body ?? {});
    if (body.fiId === undefined && body.niId === undefined) {
      ok(ctx, { fiId: await engine.startFlow(flowId, { user: actor(ctx), idempotencyKey: idempotencyKey(ctx), input: body.input }) });
      return;
    }
    if (body.input !== undefined) throw badRequest('input: a retry runs with the input its instance was started with; leave input out');
    if (body.fiId === undefined || body.niId === undefined) throw badRequest('a retry needs both fiId and niId');
    ok(ctx, { fiId: await engine.retryFlow(flowId, body.fiId, body.niId, actor(ctx)) });
  });

  router.post('/exec/flow-ins/:fiId/cancel', async (ctx) => {
    const fiId = idParam(ctx, 'fiId');
    await engine.cancelFlow(fiId, actor(ctx));
    ok(ctx, { fiId, status: 'CANCELLED' });
  });

  router.post('/exec/task/:taskId', async (ctx) => {
    const taskId = idParam(ctx, 'taskId');
    ok(ctx, { tiId: await engine.startTask(taskId, actor(ctx), idempotencyKey(ctx)) });
  });

  return {
    router,
    paths: {
      '/exec/flow/{flowId}': {
        post: {
          tags: ['exec'],
          summary: 'Start a flow (no body) → {fiId}; or, with {fiId, niId}, retry that FAILED/CANCELLED instance from that node instance',
          parameters: [{ name: 'flowId', in: 'path', required: true, schema: { type: 'integer' } }],
          requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { fiId: { type: 'integer' }, niId: { type: 'integer' } } } } } },
          responses: { '200': env({ fiId: 1 }), '400': err('bad id or body'), '404': err('no such flow / instance / node instance'), '409': err('instance not FAILED or CANCELLED') },
        },
      },
      '/exec/flow-ins/{fiId}/cancel': {
        post: {
          tags: ['exec'],
          summary: 'Cancel a RUNNING flow instance: queued tasks dropped, running ones aborted',
          parameters: [{ name: 'fiId', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: { '200': env({ fiId: 1, status: 'CANCELLED' }), '404': err('no such instance'), '409': err('instance not RUNNING') },
        },
      },
      '/exec/task/{taskId}': {
        post: {
          tags: ['exec'],
          summary: 'Run one task on its own → {tiId} (follow it with GET /monitor/task/{tiId})',
          parameters: [{ name: 'taskId', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: { '200': env({ tiId: 1 }), '404': err('no such task') },
        },
      },
    },
  };
}
