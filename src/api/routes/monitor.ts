// Monitor API (the original API's paths): flow-instance history, one instance's node and task instances,
// and one task instance.
import Router from '@koa/router';
import { z } from 'zod';
import type { Services } from '../../services.js';
import { idParam, notFound, ok } from '../http.js';
import { parse } from '../validate.js';
import { okRowsOfItems, okWithLongString } from '../jsonStream.js';
import type { RouteModule } from '../routeModule.js';
import { flowInstanceExample, flowInstanceSchema, latestSchema, monitorFilterSchema, nodeInstanceExample, nodeInstanceSchema, taskInstanceExample, taskInstanceSchema } from '../instanceDoc.js';
import { badId, errorResponse, idPath, okResponse, unavailable, type Schema } from '../openapiParts.js';
import { flowInstanceDetail, latestFlowInstances, listFlowInstances, taskInstance } from '../../engine/monitor.js';
import { secretHeaderNames } from '../../infra/secrets.js';

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
  status: z.enum(['QUEUED', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELLED']).optional(),
  from: timeBound.optional(),
  to: timeBound.optional(),
  page: z.number().int().min(1).default(1),
  pageSize: z.number().int().min(1).max(500).default(20),
});

export function monitorRoutes(s: Services): RouteModule {
  const router = new Router();
  const secrets = secretHeaderNames(s.config.httpTaskSecretHeaders); // renderedConfig shows them as "***"

  router.post('/monitor/flow', async (ctx) => {
    const f = parse(filter, ctx.request.body ?? {});
    const { total, rows } = await listFlowInstances(s.knex, f);
    // The original API answers a bare array; the total rides in a header so that shape stays.
    ctx.set('X-Total-Count', String(total));
    ok(ctx, rows);
  });

  router.post('/monitor/flow/latest', async (ctx) => {
    const { flowIds } = parse(latestBody, ctx.request.body ?? {});
    ok(ctx, await latestFlowInstances(s.knex, flowIds));
  });

  router.post('/monitor/flow/detail/:fiId', async (ctx) => {
    const fiId = idParam(ctx, 'fiId');
    const rows = await flowInstanceDetail(s.knex, fiId, secrets);
    if (!rows) throw notFound(`flow instance ${fiId} does not exist`);
    okRowsOfItems(ctx, rows, 'tasks');
  });

  router.get('/monitor/task/:tiId', async (ctx) => {
    const tiId = idParam(ctx, 'tiId');
    const row = await taskInstance(s.knex, tiId, secrets);
    if (!row) throw notFound(`task instance ${tiId} does not exist`);
    okWithLongString(ctx, row, 'output');
  });

  const mysql = unavailable('MySQL');
  const list = (item: Schema) => ({ type: 'array', items: item });
  return {
    router,
    tags: [{ name: 'monitor', description: 'What ran: flow instances, their node and task instances, one task instance. A read-only API token may call these POSTs.' }],
    paths: {
      '/monitor/flow': {
        post: {
          operationId: 'listFlowInstances',
          tags: ['monitor'],
          summary: 'Flow-instance history, newest first; filters flowId, fiId, status, from/to (start time, inclusive); paging page/pageSize (total in X-Total-Count)',
          description: 'Filtered by fiId, the row also carries the start\'s input and, once SUCCESS, its result. The answer is a bare array (the original API\'s shape): the total is in X-Total-Count.',
          requestBody: { required: false, content: { 'application/json': { schema: monitorFilterSchema, examples: { one: { summary: 'One instance, with input and result', value: { fiId: 7 } }, failedToday: { summary: 'FAILED instances of flow 3 since a time', value: { flowId: 3, status: 'FAILED', from: '2026-11-27 00:00:00', pageSize: 50 } } } } } },
          responses: {
            '200': okResponse(list(flowInstanceSchema), 'One page of instances', [flowInstanceExample], {
              'X-Total-Count': { description: 'Instances matching the filter, in all pages', schema: { type: 'integer', minimum: 0 } },
            }),
            '400': errorResponse(400, 'A bad filter; the message names the field', {
              badStatus: 'status: Invalid option: expected one of "RUNNING"|"SUCCESS"|"FAILED"|"CANCELLED"',
              badFrom: 'from: must be epoch milliseconds or a time like "2026-11-27 08:00:00", got "yesterday"',
              badPageSize: 'pageSize: Too big: expected number to be <=500',
            }),
            '503': mysql,
          },
        },
      },
      '/monitor/flow/latest': {
        post: {
          operationId: 'latestFlowInstances',
          tags: ['monitor'],
          summary: `The newest instance of each flow named (at most ${MAX_LATEST}); a flow never started is left out`,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: { type: 'object', required: ['flowIds'], properties: { flowIds: { type: 'array', minItems: 1, maxItems: MAX_LATEST, items: { type: 'integer', minimum: 1 } } } },
                example: { flowIds: [3, 4] },
              },
            },
          },
          responses: {
            '200': okResponse(list(latestSchema), 'The newest instance of each flow that has one, by flowId', [{ flowId: 3, fiId: 9, status: 'SUCCESS', startTime: '2026-11-27 08:00:00', endTime: '2026-11-27 08:00:01' }]),
            '400': errorResponse(400, 'flowIds missing, empty, too long or not ids', { noFlowIds: 'flowIds: must be an array of flow ids', empty: 'flowIds: must name at least one flow', tooMany: `flowIds: must name at most ${MAX_LATEST} flows` }),
            '503': mysql,
          },
        },
      },
      '/monitor/flow/detail/{fiId}': {
        post: {
          operationId: 'flowInstanceDetail',
          tags: ['monitor'],
          summary: "One flow instance's node instances, each with its task instances (outputs as previews)",
          description: 'Each task instance\'s output (and renderedContent) is a preview of at most 65,536 characters, marked outputTruncated when cut; GET /monitor/task/{tiId} answers an output whole. The answer is written as it is read (streamed).',
          parameters: [idPath('fiId', 'flow instance id')],
          responses: {
            '200': okResponse(list(nodeInstanceSchema), 'The node instances, in the order they were entered (a retried node appears again)', [nodeInstanceExample]),
            '400': errorResponse(400, 'fiId is not a positive integer', badId('fiId')),
            '404': errorResponse(404, 'No such flow instance', { noSuchInstance: 'flow instance 7 does not exist' }),
            '503': mysql,
          },
        },
      },
      '/monitor/task/{tiId}': {
        get: {
          operationId: 'getTaskInstance',
          tags: ['monitor'],
          summary: 'One task instance, its output whole',
          description: 'The whole output (at most TASK_OUTPUT_MAX_BYTES when it was recorded), written out in pieces as the client reads (streamed); outputTruncated is false.',
          parameters: [idPath('tiId', 'task instance id')],
          responses: {
            '200': okResponse(taskInstanceSchema, 'The task instance', taskInstanceExample),
            '400': errorResponse(400, 'tiId is not a positive integer', badId('tiId')),
            '404': errorResponse(404, 'No such task instance', { noSuchTaskInstance: 'task instance 31 does not exist' }),
            '503': mysql,
          },
        },
      },
    },
  };
}
