// The external workers' protocol: POST /worker/poll, /worker/heartbeat, /worker/complete, /worker/fail
// (src/engine/external/externalTasks.ts does the work). Every limit is checked before anything is done;
// a 400 names the field. A poll (or a complete with `next`) whose client goes away before its answer is
// written hands its tasks back at once.
import Router from '@koa/router';
import { z } from 'zod';
import type { Context } from 'koa';
import type { Services } from '../../services.js';
import type { Engine } from '../../engine/engine.js';
import type { ExternalTasks, PolledTask } from '../../engine/external/externalTasks.js';
import { WORKER_QUEUE } from '../../definitions/taskConfig.js';
import { actor, badRequest, HttpError, ok } from '../http.js';
import { parse } from '../validate.js';
import { statusOf } from '../middleware/errors.js';
import type { RouteModule } from '../routeModule.js';
import { workerPaths } from './workerDoc.js';

/** A completed task's output, as JSON. */
export const WORKER_OUTPUT_MAX_BYTES = 1024 * 1024;
export const WORKER_LIMITS = { queues: 32, max: 100, waitMs: 60_000, completes: 100 };

const tiId = z.number({ error: 'must be a positive integer' }).int('must be a positive integer').min(1, 'must be a positive integer').max(Number.MAX_SAFE_INTEGER);
const leaseToken = z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(64, 'must be at most 64 characters');

const queues = z
  .array(z.string({ error: 'must be a string' }).regex(WORKER_QUEUE, 'must be 1-128 characters of letters, digits and _.:-'), { error: 'must be a list of queue names' })
  .min(1, 'must name at least one queue')
  .max(WORKER_LIMITS.queues, `must name at most ${WORKER_LIMITS.queues} queues`);
const workerId = z.string({ error: 'must be a string' }).regex(/^[A-Za-z0-9_.:@-]{1,100}$/, 'must be 1-100 characters of letters, digits and _.:@-');
const max = z.number({ error: 'must be a whole number' }).int('must be a whole number').min(1, `must be from 1 to ${WORKER_LIMITS.max}`).max(WORKER_LIMITS.max, `must be from 1 to ${WORKER_LIMITS.max}`).default(1);

const pollBody = z.object({
  queues,
  workerId,
  max,
  waitMs: z.number({ error: 'must be a whole number' }).int('must be a whole number').min(0, `must be from 0 to ${WORKER_LIMITS.waitMs}`).max(WORKER_LIMITS.waitMs, `must be from 0 to ${WORKER_LIMITS.waitMs}`).default(20_000),
});
const heartbeatBody = z.object({ tiId, leaseToken });
// `next`: the worker takes its flow's next WORKER task instances in the answer (engine/external/handOver.ts).
const completeBody = z.object({ tiId, leaseToken, output: z.unknown().optional(), next: z.object({ queues, workerId, max }, { error: 'must be an object {queues, workerId, max}' }).optional() });
// Several completes in one request (the TypeScript client sends those that finish together): each as
// POST /worker/complete with `next` of max 1, answered one by one.
const completeManyBody = z.object({
  completes: z
    .array(z.object({ tiId, leaseToken, output: z.unknown().optional() }, { error: 'must be an object {tiId, leaseToken, output}' }), { error: 'must be a list of completes' })
    .min(1, 'must hold at least one complete')
    .max(WORKER_LIMITS.completes, `must hold at most ${WORKER_LIMITS.completes} completes`),
  next: z.object({ queues, workerId }, { error: 'must be an object {queues, workerId}' }).optional(),
});
const failBody = z.object({
  tiId,
  leaseToken,
  error: z.string({ error: 'must be a string' }).max(1024 * 1024, 'must be at most 1 MiB (8 KiB are kept)'),
  retryable: z.boolean({ error: 'must be true or false' }).default(true),
});

export function workerRoutes(s: Services, engine: Engine): RouteModule {
  const router = new Router();
  const ext = engine.external;
  // A complete's output as JSON (null when absent), refused naming `field` beyond 1 MiB, or beyond
  // TASK_OUTPUT_MAX_BYTES (or what MySQL's max_allowed_packet allows) when that is lower.
  const outputJson = (value: unknown, field: string): string => {
    const json = JSON.stringify(value ?? null);
    const max = Math.min(WORKER_OUTPUT_MAX_BYTES, s.limits.outputMaxBytes);
    if (Buffer.byteLength(json, 'utf8') > max) throw badRequest(`${field}: must be at most ${max} bytes as JSON`);
    return json;
  };

  router.post('/worker/poll', async (ctx) => {
    const body = parse(pollBody, ctx.request.body);
    if (ext.hub.waiting >= s.config.workerMaxPolls) {
      ctx.set('Retry-After', '1');
      throw new HttpError(503, `this member holds ${s.config.workerMaxPolls} polls already (WORKER_MAX_POLLS); try again shortly or another member`);
    }
    const gone = clientGone(ctx);
    const tasks = await ext.poll({ ...body, queues: [...new Set(body.queues)], user: actor(ctx) }, gone.signal);
    if (tasks.length) handBackIfUnsent(ctx, ext, tasks, s);
    gone.stop();
    ok(ctx, tasks);
  });

  router.post('/worker/heartbeat', async (ctx) => {
    const b = parse(heartbeatBody, ctx.request.body);
    ok(ctx, await ext.heartbeat(b.tiId, b.leaseToken));
  });

  router.post('/worker/complete', async (ctx) => {
    const b = parse(completeBody, ctx.request.body);
    const output = outputJson(b.output, 'output');
    const next = b.next ? { queues: [...new Set(b.next.queues)], workerId: b.next.workerId, max: b.next.max, user: actor(ctx) } : undefined;
    const done = await ext.complete(b.tiId, b.leaseToken, output, next);
    if (done.next?.length) handBackIfUnsent(ctx, ext, done.next, s);
    ok(ctx, done);
  });

  router.post('/worker/complete-many', async (ctx) => {
    const b = parse(completeManyBody, ctx.request.body);
    const seen = new Set<number>();
    // Every complete is checked before any is recorded.
    const outputs = b.completes.map((c, i) => {
      if (seen.has(c.tiId)) throw badRequest(`completes[${i}].tiId: task instance ${c.tiId} is completed twice in this request`);
      seen.add(c.tiId);
      return outputJson(c.output, `completes[${i}].output`);
    });
    const next = b.next ? { queues: [...new Set(b.next.queues)], workerId: b.next.workerId, max: 1, user: actor(ctx) } : undefined;
    const settled = await Promise.allSettled(b.completes.map((c, i) => ext.complete(c.tiId, c.leaseToken, outputs[i]!, next)));
    const handed = settled.flatMap((r) => (r.status === 'fulfilled' ? (r.value.next ?? []) : []));
    const results = settled.map((r, i) => {
      const id = b.completes[i]!.tiId;
      if (r.status === 'fulfilled') return { tiId: id, code: '200', status: r.value.status };
      const status = statusOf(r.reason);
      return status === null ? null : { tiId: id, code: String(status), message: (r.reason as Error).message };
    });
    const failed = settled.find((_, i) => results[i] === null) as PromiseRejectedResult | undefined;
    if (failed) {
      // MySQL or Redis away (a 503 for the whole request, which the worker sends again: a complete
      // recorded already answers 200): what this request was handed goes back now, not after its lease.
      if (handed.length) void ext.handBackTasks(handed);
      throw failed.reason;
    }
    if (handed.length) handBackIfUnsent(ctx, ext, handed, s);
    ok(ctx, next ? { results, next: handed } : { results });
  });

  router.post('/worker/fail', async (ctx) => {
    const b = parse(failBody, ctx.request.body);
    ok(ctx, await ext.fail(b.tiId, b.leaseToken, b.error, b.retryable));
  });

  router.post('/worker/release', async (ctx) => {
    const b = parse(heartbeatBody, ctx.request.body);
    ok(ctx, await ext.release(b.tiId, b.leaseToken));
  });

  return {
    router,
    tags: [{ name: 'workers', description: 'External workers: WORKER task instances leased to your own processes, in any language (README, External workers).' }],
    paths: workerPaths(),
  };
}

/** An AbortSignal that aborts when the client goes away while the poll waits. */
function clientGone(ctx: Context): { signal: AbortSignal; stop(): void } {
  const ctl = new AbortController();
  const onClose = () => {
    if (!ctx.res.writableFinished) ctl.abort();
  };
  // The response's 'close' (the request's fires once its body is read, whatever the connection does).
  ctx.res.once('close', onClose);
  if (ctx.req.socket?.destroyed) ctl.abort();
  return { signal: ctl.signal, stop: () => ctx.res.off('close', onClose) };
}

/** Tasks answered to a poll whose answer never got out (the connection closed first) go back at once. */
function handBackIfUnsent(ctx: Context, ext: ExternalTasks, tasks: PolledTask[], s: Services): void {
  ctx.res.once('close', () => {
    if (ctx.res.writableFinished) return;
    s.log.info({ tiIds: tasks.map((t) => t.tiId) }, 'a poll closed before its answer was sent: handing its tasks back');
    void ext.handBackTasks(tasks);
  });
}
