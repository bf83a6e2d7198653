// Monitor API (the seed's paths): flow-instance history, one instance's node and task instances,
// and one task instance.
import Router from '@koa/router';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { idParam, notFound, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';
import { flowInstanceDetail, latestFlowInstances, listFlowInstances, taskInstance } from '../../engine/monitor.js';

/** A start-time bound: epoch milliseconds, or a time as the API writes them (server time zone) or ISO 8601. */
const timeBound = z
  .union([z.number().int().min(0).max(8.64e15), z.string().max(40)], { error: 'must be epoch milliseconds or a time like "2026-11-27 08:00:00"' })
  .transform((v, ctx) => {
    const d = typeof v === 'number' ? new Date(v) : new Date(/^\d{4}-\d{2}-\d{2} \d/.test(v) ? v.replace(' ', 'T') : v);
    if (Number.isNaN(d.getTime())) {
      ctx.addIssue({ code: 'custom', message: `must be epoch milliseconds or a time like "2026-11-27 08:00:00", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return d;
  });

const MAX_LATEST = 200;
const latestBody = z.object({
  flowIds: z.array(z.number().int().positive(), { error: 'must be an array of flow ids' }).min(1, 'must name at least one flow').max(MAX_LATEST, `must name at most ${MAX_LATEST} flows`),
});

const filter = z.object({
  flowId: z.number().int().positive().optional(),
  fiId: z.number().int().positive().optional(),
  status: z.enum(['RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED']).optional(),
  from: timeBound.optional(),
  to: timeBound.optional(),
  page: z.number().int().min(1).default(1),
  pageSize: z.number().int().min(1).max(500).default(20),
});

const env = (data: unknown) => ({ description: 'envelope', content: { 'application/json': { example: { code: '200', message: 'SUCCESS', data } } } });

export function monitorRoutes(s: Services): RouteModule {
  const router = new Router();

  router.post('/monitor/flow', async (ctx) => {
    const f = parse(filter, ctx.request.body ?? {});
    const { total, rows } = await listFlowInstances(s.knex, f);
    // The seed answers a bare array; the total rides in a header so that shape stays.
    ctx.set('X-Total-Count', String(total));
    ok(ctx, rows);
  });

  router.post('/monitor/flow/latest', async (ctx) => {
    const { flowIds } = parse(latestBody, ctx.request.body ?? {});
    ok(ctx, await latestFlowInstances(s.knex, flowIds));
  });

  router.post('/monitor/flow/detail/:fiId', async (ctx) => {
    const fiId = idParam(ctx, 'fiId');
    const rows = await flowInstanceDetail(s.knex, fiId);
    if (!rows) throw notFound(`flow instance ${fiId} does not exist`);
    ok(ctx, rows);
  });

  router.get('/monitor/task/:tiId', async (ctx) => {
    const tiId = idParam(ctx, 'tiId');
    const row = await taskInstance(s.knex, tiId);
    if (!row) throw notFound(`task instance ${tiId} does not exist`);
    ok(ctx, row);
  });

  return {
    router,
    paths: {
      '/monitor/flow': {
        post: {
          tags: ['monitor'],
          summary: 'Flow-instance history, newest first; filters flowId, fiId, status, from/to (start time, inclusive); paging page/pageSize (total in X-Total-Count)',
          requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { flowId: { type: 'integer' }, fiId: { type: 'integer' }, status: { type: 'string', enum: ['RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'] }, from: { oneOf: [{ type: 'integer', description: 'epoch ms' }, { type: 'string', example: '2026-11-27 08:00:00' }] }, to: { oneOf: [{ type: 'integer', description: 'epoch ms' }, { type: 'string', example: '2026-11-27 09:00:00' }] }, page: { type: 'integer' }, pageSize: { type: 'integer' } } } } } },
          responses: { '200': env([{ fiId: 1, flowId: 1, flowName: 'first flow', startTime: '2022-04-24 19:30:04', endTime: '2022-04-24 19:30:04', status: 'SUCCESS', errorMsg: '', createTime: '2022-04-24 19:30:04', updateTime: '2022-04-24 19:30:04' }]) },
        },
      },
      '/monitor/flow/latest': {
        post: {
          tags: ['monitor'],
          summary: `The newest instance of each flow named (at most ${MAX_LATEST}); a flow never started is left out`,
          requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['flowIds'], properties: { flowIds: { type: 'array', items: { type: 'integer' }, maxItems: MAX_LATEST } } } } } },
          responses: { '200': env([{ flowId: 1, fiId: 9, status: 'SUCCESS', startTime: '2026-11-27 08:00:00', endTime: '2026-11-27 08:00:01' }]), '400': { description: 'bad flowIds' } },
        },
      },
      '/monitor/flow/detail/{fiId}': {
        post: {
          tags: ['monitor'],
          summary: "One flow instance's node instances, each with its task instances",
          parameters: [{ name: 'fiId', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: { '200': env([{ niId: 1, fiId: 1, startTime: '…', endTime: '…', status: 'SUCCESS', errorMsg: '', createTime: '…', updateTime: '…', nodeId: 42, nodeType: 'TASK', tasks: [{ tiId: 1, taskId: 1, status: 'SUCCESS', attempt: 1, startTime: '…', endTime: '…', errorMsg: '', output: 'hello', workerId: 'host-4242-a1b2c3', startMs: 1795766404120, endMs: 1795766404123 }], startMs: 1795766404118, endMs: 1795766404125 }]), '404': { description: 'no such instance' } },
        },
      },
      '/monitor/task/{tiId}': {
        get: {
          tags: ['monitor'],
          summary: 'One task instance',
          parameters: [{ name: 'tiId', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: { '200': env({ tiId: 1, taskId: 1, status: 'SUCCESS', attempt: 1 }), '404': { description: 'no such task instance' } },
        },
      },
    },
  };
}
