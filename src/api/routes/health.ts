// Liveness and readiness: /healthz answers while the process runs; /readyz only when MySQL and
// Redis both answer (a load balancer stops sending work to a member that lost either). /healthz fails
// only for what a restart cures and waiting does not: the member's Redis connection is up yet stopped
// answering, and a fresh connection did not help either (infra/redisWatchdog.ts). A Redis outage
// keeps /healthz 200: restarting members would not bring Redis back.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import { envelope, ok } from '../http.js';
import type { RouteModule } from '../routeModule.js';
import { errorResponse, okResponse } from '../openapiParts.js';
import { withTimeout } from '../../infra/timeout.js';
import { redisLiveness } from '../../infra/redisWatchdog.js';
import { isCluster } from '../../infra/redis.js';

async function check(fn: () => Promise<unknown>, what: string, timeoutMs = 2000): Promise<string> {
  try {
    await withTimeout(fn(), timeoutMs, what);
    return 'ok';
  } catch (e) {
    return (e as Error).message || 'down';
  }
}

export function healthRoutes(s: Services): RouteModule {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    const live = redisLiveness(s.redis);
    if (live && live.stuckInARow >= 2 && live.stuckSince !== null) {
      ctx.status = 503;
      const secs = Math.round((Date.now() - live.stuckSince) / 1000);
      ctx.body = envelope(503, `Redis connection up but not answering for ${secs} s, reconnected ${live.stuckInARow} times: restart this member`, null);
      return;
    }
    ok(ctx, { status: 'ok', memberId: s.memberId });
  });
  router.get('/readyz', async (ctx) => {
    // On a Redis Cluster a PING answers from any node, also while the queue's slot has no master: ask
    // the queue itself (a read on its slot) instead.
    const redisCheck = isCluster(s.redis) ? check(() => s.queue.stats(), 'reading the queue') : check(() => s.redis.ping(), 'ping');
    const [mysql, redis] = await Promise.all([check(() => s.knex.raw('select 1'), 'select 1'), redisCheck]);
    const ready = mysql === 'ok' && redis === 'ok';
    ctx.status = ready ? 200 : 503;
    ctx.body = envelope(ctx.status, ready ? 'SUCCESS' : 'NOT READY', { mysql, redis });
  });
  const checks = { type: 'object', required: ['mysql', 'redis'], properties: { mysql: { type: 'string', description: '"ok", or why not' }, redis: { type: 'string', description: '"ok", or why not' } } };
  return {
    router,
    tags: [{ name: 'health', description: 'Liveness and readiness, for load balancers and orchestrators; open without a token.' }],
    paths: {
      '/healthz': {
        get: {
          operationId: 'getHealth',
          tags: ['health'],
          summary: 'The process is alive (503: it is stuck and needs a restart)',
          description: 'Answers 200 while the process runs, also while MySQL or Redis is down (see /readyz). 503 only when the member\'s Redis connection has been up yet not answering for 10 s or more and reconnecting it did not help: a state the member cannot leave by itself.',
          responses: {
            '200': okResponse({ type: 'object', required: ['status', 'memberId'], properties: { status: { type: 'string', enum: ['ok'] }, memberId: { type: 'string' } } }, 'Alive', { status: 'ok', memberId: 'host-4242-a1b2c3' }),
            '503': errorResponse(503, 'Stuck: the Redis connection is up but stopped answering, and reconnecting did not help; restart the member', {
              stuck: 'Redis connection up but not answering for 10 s, reconnected 2 times: restart this member',
            }),
          },
        },
      },
      '/readyz': {
        get: {
          operationId: 'getReadiness',
          tags: ['health'],
          summary: 'MySQL and Redis answer (503 otherwise)',
          description: 'Each dependency gets 2 s to answer. Unlike every other error, the 503 carries data: what each check said.',
          responses: {
            '200': okResponse(checks, 'Ready', { mysql: 'ok', redis: 'ok' }),
            '503': {
              description: 'Not ready: MySQL or Redis did not answer; data says which',
              content: {
                'application/json': {
                  schema: { type: 'object', required: ['code', 'message', 'data'], additionalProperties: false, properties: { code: { type: 'string', enum: ['503'] }, message: { type: 'string', enum: ['NOT READY'] }, data: checks } },
                  example: { code: '503', message: 'NOT READY', data: { mysql: 'ok', redis: 'ping took longer than 2000 ms' } },
                },
              },
            },
          },
        },
      },
    },
  };
}
