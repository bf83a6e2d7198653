// Monitor API (the seed's paths): flow-instance history, one instance's node and task instances,
// and one task instance.
import Router from '@koa/router';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { idParam, notFound, ok } from '../http.js';
import { parse } from '../validate.js';
import type { RouteModule } from '../routeModule.js';
import { flowInstanceDetail, listFlowInstances, taskInstance } from '../../engine/monitorQueries.js';

const filter = z.object({
  flowId: z.number().int().positive().optional(),
  fiId: z.number().int().positive().optional(),
  status: z.enum(['RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED']).optional(),
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
          summary: 'Flow-instance history, newest first; filters flowId, fiId, status; paging page/pageSize (total in X-Total-Count)',
          requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { flowId: { type: 'integer' }, fiId: { type: 'integer' }, status: { type: 'string', enum: ['RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED'] }, page: { type: 'integer' }, pageSize: { type: 'integer' } } } } } },
          responses: { '200': env([{ fiId: 1, flowId: 1, flowName: 'first flow', startTime: '2022-04-24 19:30:04', endTime: '2022-04-24 19:30:04', status: 'SUCCESS', errorMsg: '', createTime: '2022-04-24 19:30:04', updateTime: '2022-04-24 19:30:04' }]) },
        },
      },
      '/monitor/flow/detail/{fiId}': {
        post: {
          tags: ['monitor'],
          summary: "One flow instance's node instances, each with its task instances",
          parameters: [{ name: 'fiId', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: { '200': env([{ niId: 1, fiId: 1, startTime: '…', endTime: '…', status: 'SUCCESS', errorMsg: '', createTime: '…', updateTime: '…', nodeId: 42, nodeType: 'TASK', tasks: [{ tiId: 1, taskId: 1, status: 'SUCCESS', attempt: 1, startTime: '…', endTime: '…', errorMsg: '', output: 'hello' }] }]), '404': { description: 'no such instance' } },
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
