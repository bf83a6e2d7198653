// GET /monitor/workers: the dashboard's Workers page (src/ui/app/pages/workers.ts) — external queues and
// the workers seen polling them. A read: read-only tokens may call it (worker tokens may not).
import Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Engine } from '../../engine/engine.js';
import { ok } from '../http.js';
import type { RouteModule } from '../routeModule.js';
import { okResponse, unavailable } from '../openapiParts.js';
import { workersOverview } from '../../engine/external/overview.js';

export function workersViewRoutes(s: Services, engine: Engine): RouteModule {
  const router = new Router();
  router.get('/monitor/workers', async (ctx) => ok(ctx, await workersOverview(s, engine.external.hub)));
  const int = { type: 'integer', minimum: 0 };
  return {
    router,
    paths: {
      '/monitor/workers': {
        get: {
          operationId: 'getWorkersOverview',
          tags: ['workers'],
          summary: 'External queues (waiting, delayed, leased, oldest waiting) and the workers seen polling in the last 10 minutes, with the tasks each holds',
          responses: {
            '200': okResponse(
              {
                type: 'object',
                required: ['queues', 'workers', 'pollsWaiting'],
                properties: {
                  queues: { type: 'array', items: { type: 'object', required: ['queue', 'waiting', 'delayed', 'leased', 'oldestWaitingMs', 'workers'], properties: { queue: { type: 'string' }, waiting: int, delayed: int, leased: int, oldestWaitingMs: int, workers: int } } },
                  workers: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['workerId', 'queues', 'user', 'member', 'lastPoll', 'lastPollMsAgo', 'held'],
                      properties: {
                        workerId: { type: 'string' },
                        queues: { type: 'array', items: { type: 'string' } },
                        user: { type: 'string', nullable: true, description: 'The API token name it polls with' },
                        member: { type: 'string', nullable: true, description: 'The member its last noted poll went to' },
                        lastPoll: { type: 'string', nullable: true },
                        lastPollMsAgo: int,
                        held: { ...int, description: 'WORKER task instances RUNNING for it now' },
                      },
                    },
                  },
                  pollsWaiting: { ...int, description: 'Polls the answering member holds waiting now' },
                },
              },
              'The overview',
              { queues: [{ queue: 'resize', waiting: 3, delayed: 0, leased: 2, oldestWaitingMs: 120, workers: 1 }], workers: [{ workerId: 'host-1', queues: ['resize'], user: 'bot', member: 'host-4242-a1b2c3', lastPoll: '2026-11-27 08:00:00', lastPollMsAgo: 850, held: 2 }], pollsWaiting: 1 },
            ),
            '503': unavailable('MySQL and Redis'),
          },
        },
      },
    },
  };
}
