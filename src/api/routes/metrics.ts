// GET /metrics: Prometheus text format (not the envelope). Behind METRICS_TOKEN when it is set (else
// an API token when API_TOKENS is set): middleware/access.ts. The metrics and the engine hooks that
// feed them are in infra/metrics.ts.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Engine } from '../../engine/engine.js';
import type { Cluster } from '../../cluster/types.js';
import type { RouteModule } from '../routeModule.js';
import { createMetrics } from '../../infra/metrics.js';

export function metricsRoutes(s: Services, engine: Engine, cluster: Cluster): RouteModule {
  const metrics = createMetrics(s, engine, cluster);
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    const text = await metrics.render();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = metrics.contentType;
    ctx.body = text;
  });
  return {
    router,
    tags: [{ name: 'operations', description: 'What operators scrape: Prometheus metrics (METRICS_TOKEN when set).' }],
    paths: {
      '/metrics': {
        get: {
          operationId: 'getMetrics',
          tags: ['operations'],
          summary:
            'Prometheus metrics of this member (text format, not the envelope): task_schedule_tasks_{started,succeeded,failed,retried}_total{type}, ' +
            'task_schedule_task_duration_seconds{type,status}, task_schedule_node_transition_seconds, task_schedule_queue_depth{state=ready|due|delayed}, ' +
            'task_schedule_queue_oldest_waiting_seconds, task_schedule_inflight, task_schedule_worker_running, task_schedule_leader, ' +
            'task_schedule_lock_busy_total, task_schedule_optimistic_lock_conflicts_total{who}, task_schedule_flows_finished_total{status}, ' +
            'task_schedule_worker_queue_depth{queue,state}, task_schedule_worker_queue_oldest_waiting_seconds{queue}, task_schedule_worker_queue_leased{queue}, ' +
            'task_schedule_worker_polls_waiting, task_schedule_worker_tasks_{leased,finished}_total, task_schedule_worker_leases_expired_total{queue}, plus process/nodejs defaults',
          responses: {
            '200': {
              description: 'Prometheus text exposition format 0.0.4',
              headers: { 'Cache-Control': { description: 'no-store', schema: { type: 'string' } } },
              content: { 'text/plain': { schema: { type: 'string' }, example: '# TYPE task_schedule_tasks_started_total counter\ntask_schedule_tasks_started_total{type="ECHO"} 3\n' } },
            },
          },
        },
      },
    },
  };
}
