// GET /metrics: Prometheus text format (not the envelope). Behind METRICS_TOKEN when it is set (else
// an API token when API_TOKENS is set): middleware/access.ts. The metrics and the engine events that
// feed them are in observe/metrics.ts (created by member.ts).
import Router from '@koa/router';
import type { RouteModule } from '../routeModule.js';
import type { MemberMetrics } from '../../observe/metrics.js';

export function metricsRoutes(metrics: MemberMetrics): RouteModule {
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
