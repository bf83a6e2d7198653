// Liveness and readiness: /healthz answers while the process runs; /readyz only when MySQL and
// Redis both answer (a load balancer stops sending work to a member that lost either).
import Router from '@koa/router';
import type { Services } from '../../services.js';
import { envelope, ok } from '../http.js';
import type { RouteModule } from '../routeModule.js';

async function check(fn: () => Promise<unknown>, timeoutMs = 2000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs); }),
    ]);
    return 'ok';
  } catch (e) {
    return (e as Error).message || 'down';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(s: Services): RouteModule {
  const router = new Router();
  router.get('/healthz', (ctx) => ok(ctx, { status: 'ok', memberId: s.memberId }));
  router.get('/readyz', async (ctx) => {
    const [mysql, redis] = await Promise.all([check(() => s.knex.raw('select 1')), check(() => s.redis.ping())]);
    const ready = mysql === 'ok' && redis === 'ok';
    ctx.status = ready ? 200 : 503;
    ctx.body = envelope(ctx.status, ready ? 'SUCCESS' : 'NOT READY', { mysql, redis });
  });
  const resp = { '200': { description: 'envelope' } };
  return {
    router,
    paths: {
      '/healthz': { get: { tags: ['health'], summary: 'The process is alive', responses: resp } },
      '/readyz': { get: { tags: ['health'], summary: 'MySQL and Redis answer (503 otherwise)', responses: { ...resp, '503': { description: 'not ready' } } } },
    },
  };
}
