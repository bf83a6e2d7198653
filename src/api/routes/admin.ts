// Admin endpoints: what an operator needs to see into the cluster — members, the leader, who holds
// which lock, what is in flight, the queue — and a way to run the reconciler now. Behind
// `Authorization: Bearer $ADMIN_TOKEN` (middleware/adminAuth.ts); off (404) without a token.
// Times are the original API's `YYYY-MM-DD HH:mm:ss`; ages and deadlines are measured by the Redis clock,
// the same clock the queue's lease deadlines use.
import Router from '@koa/router';
import { z } from 'zod';
import type { Services } from '../../services.js';
import type { Engine } from '../../engine/engine.js';
import type { Cluster, MemberInfo } from '../../cluster/types.js';
import type { RouteModule } from '../routeModule.js';
import { ok } from '../http.js';
import { parse } from '../validate.js';
import { adminAuth } from '../middleware/adminAuth.js';
import { formatTime } from '../../infra/time.js';
import { redisInTime } from '../../infra/timeout.js';
import { TaskIns } from '../../models/index.js';
import { holderOf } from '../../redis/redlock.js';
import { errorResponse, id, nullableId, okResponse, time, unavailable, type Schema } from '../openapiParts.js';

const MAX_LIMIT = 1000;
const REDIS_WAIT_MS = 3_000;
const limitQuery = (def: number) =>
  z.object({
    limit: z
      .string({ error: 'must be given once' })
      .regex(/^\d{1,9}$/, `must be a whole number from 1 to ${MAX_LIMIT}`)
      .transform(Number)
      .pipe(z.number().min(1, `must be a whole number from 1 to ${MAX_LIMIT}`).max(MAX_LIMIT, `must be a whole number from 1 to ${MAX_LIMIT}`))
      .default(def),
  });

export interface InflightInfo {
  tiId: number;
  fiId: number | null;
  taskId: number | null;
  taskName: string | null;
  worker: string;
  attempt: number | null;
  leaseDeadline: string | null;
  leaseMsLeft: number;
  runningForMs: number;
}

/** queue.inflight() joined with task_ins. An id MySQL does not know keeps nulls (the reconciler's business). */
export async function listInflight(s: Services, limit: number): Promise<InflightInfo[]> {
  const [entries, now] = await Promise.all([s.queue.inflight(limit), s.queue.serverTime()]);
  if (!entries.length) return [];
  const rows = await TaskIns.query(s.knex)
    .select('ti_id', 'fi_id', 'task_id', 'attempt')
    .whereIn('ti_id', entries.map((e) => e.tiId))
    .withGraphFetched('task(name)')
    .modifiers({ name: (q) => q.select('task_id', 'task_name') });
  const byId = new Map(rows.map((r) => [Number(r.ti_id), r]));
  return entries.map((e) => {
    const r = byId.get(e.tiId);
    return {
      tiId: e.tiId,
      fiId: r?.fi_id == null ? null : Number(r.fi_id),
      taskId: r ? Number(r.task_id) : null,
      taskName: r?.task?.task_name ?? null,
      worker: holderOf(e.owner),
      attempt: r ? r.attempt : null,
      leaseDeadline: formatTime(new Date(e.leaseDeadline)),
      leaseMsLeft: Math.max(0, e.leaseDeadline - now),
      runningForMs: Math.max(0, now - e.claimedAt),
    };
  });
}

/** The cluster's member list with the API's time format. */
function presentMember(m: MemberInfo): MemberInfo {
  const t = (iso: string) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : formatTime(d)!;
  };
  return { ...m, started: t(m.started), lastBeat: t(m.lastBeat) };
}

const ADMIN_404 = 'admin endpoints are disabled (set ADMIN_TOKEN)';
/** What every admin operation shares: its tag, security, 401 and the 404 of a member without ADMIN_TOKEN. */
const secured = (operationId: string, summary: string, data: Schema, example: unknown, extra: { parameters?: Schema[]; errors?: Schema } = {}) => ({
  operationId,
  tags: ['admin'],
  summary,
  security: [{ adminToken: [] }],
  ...(extra.parameters ? { parameters: extra.parameters } : {}),
  responses: {
    '200': okResponse(data, 'The answer', example),
    '401': errorResponse(401, 'No or wrong Authorization: Bearer <ADMIN_TOKEN> (API tokens do not open /admin)', {
      noToken: 'admin endpoints need Authorization: Bearer <ADMIN_TOKEN>',
      wrongToken: 'admin token is wrong',
    }, { 'WWW-Authenticate': { description: 'Bearer realm="admin"', schema: { type: 'string' } } }),
    '404': errorResponse(404, 'The admin endpoints are off: ADMIN_TOKEN is not set on this member', { disabled: ADMIN_404 }),
    ...extra.errors,
  },
});
const limitParam = (def: number): Schema => ({
  name: 'limit', in: 'query', required: false, description: `At most this many, 1 to ${MAX_LIMIT}; given once`, schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: def },
});
const badLimit = errorResponse(400, 'A bad limit', { badLimit: `limit: must be a whole number from 1 to ${MAX_LIMIT}` });
const count = (description: string): Schema => ({ type: 'integer', minimum: 0, description });
const object = (properties: Schema, description?: string): Schema => ({ type: 'object', ...(description ? { description } : {}), required: Object.keys(properties), properties });
const memberSchema = object({
  id: { type: 'string' },
  roles: { type: 'array', items: { type: 'string', enum: ['web', 'worker'] } },
  host: { type: 'string' },
  pid: { type: 'integer', minimum: 1 },
  started: time,
  lastBeat: time,
  running: count('Task instances it runs now'),
  leader: { type: 'boolean' },
});
const lockSchema = object({
  key: { type: 'string' },
  holder: { type: 'string', nullable: true, description: 'The member id in the lock\'s value' },
  ttlMs: { type: 'integer', minimum: 0, nullable: true, description: 'Milliseconds left; null: no expiry' },
});
const inflightSchema = object({
  tiId: id,
  fiId: { ...nullableId, description: 'null for a task run on its own (or an id MySQL does not know)' },
  taskId: nullableId,
  taskName: { type: 'string', nullable: true, description: 'The task\'s name (null when MySQL does not know the id)' },
  worker: { type: 'string', description: 'The member holding the lease' },
  attempt: { type: 'integer', minimum: 0, nullable: true },
  leaseDeadline: { ...time, nullable: true },
  leaseMsLeft: count('Milliseconds until the lease expires (Redis clock)'),
  runningForMs: count('Milliseconds since it was claimed (Redis clock)'),
});

export function adminRoutes(s: Services, engine: Engine, cluster: Cluster): RouteModule {
  const router = new Router();
  const auth = adminAuth(s.config.adminToken);

  // Every answer here reads Redis: one that does not answer is a 503 within a few seconds, not a hang.
  const inTime = <T>(p: Promise<T>, what: string) => redisInTime(p, REDIS_WAIT_MS, what);

  router.get('/admin/members', auth, async (ctx) => ok(ctx, (await inTime(cluster.members(), 'listing members')).map(presentMember)));

  router.get('/admin/leader', auth, async (ctx) => {
    const l = await inTime(cluster.leader(), 'reading the leader lease');
    ok(ctx, { memberId: l.memberId, ttlMs: l.ttlMs, self: l.memberId !== null && l.memberId === cluster.memberId });
  });

  router.get('/admin/locks', auth, async (ctx) => {
    const { limit } = parse(limitQuery(MAX_LIMIT), ctx.query, 'query');
    ok(ctx, await inTime(engine.coordinator.locks.list(limit), 'listing locks'));
  });

  router.get('/admin/inflight', auth, async (ctx) => {
    const { limit } = parse(limitQuery(100), ctx.query, 'query');
    ok(ctx, await inTime(listInflight(s, limit), 'listing leases'));
  });

  router.get('/admin/queue', auth, async (ctx) => ok(ctx, await inTime(s.queue.stats(), 'reading queue stats')));

  router.get('/admin/limits', auth, async (ctx) => ok(ctx, await inTime(s.queue.limitWaits(), 'reading the tasks waiting on limits')));

  router.post('/admin/reconcile', auth, async (ctx) => ok(ctx, await cluster.reconcileNow()));

  const redis = { errors: { '503': unavailable('Redis') } };
  return {
    router,
    tags: [{ name: 'admin', description: 'Cluster internals for operators, behind ADMIN_TOKEN (off, 404, without it): members, the leader, locks, leases, the queue, and the reconciler on demand.' }],
    paths: {
      '/admin/members': {
        get: secured('listMembers', 'Live members (heartbeat keys): id, roles, host, pid, started, lastBeat, running tasks, leader', { type: 'array', items: memberSchema }, [
          { id: 'host-4242-a1b2c3', roles: ['web', 'worker'], host: 'host', pid: 4242, started: '2026-11-27 08:00:00', lastBeat: '2026-11-27 08:05:12', running: 3, leader: true },
        ], redis),
      },
      '/admin/leader': {
        get: secured(
          'getLeader',
          'Who holds the leader lease, its TTL left, and whether it is the member answering (memberId null: nobody leads now)',
          object({ memberId: { type: 'string', nullable: true }, ttlMs: count('Milliseconds left on the lease (0 when nobody leads)'), self: { type: 'boolean' } }),
          { memberId: 'host-4242-a1b2c3', ttlMs: 4210, self: true },
          redis,
        ),
      },
      '/admin/locks': {
        get: secured(
          'listLocks',
          'Every Redis lock under the prefix (SCAN): flow-instance coordinator locks and the leader lease; holder is the member id in the value, ttlMs the time left (null: no expiry)',
          { type: 'array', items: lockSchema },
          [{ key: 'ts:lock:flow-ins:42', holder: 'host-4242-a1b2c3', ttlMs: 4870 }],
          { parameters: [limitParam(MAX_LIMIT)], errors: { '400': badLimit, '503': unavailable('Redis') } },
        ),
      },
      '/admin/inflight': {
        get: secured(
          'listInflight',
          'Task instances leased to workers, soonest lease deadline first: who runs it, which attempt, lease left and how long it has run (Redis clock)',
          { type: 'array', items: inflightSchema },
          [{ tiId: 7, fiId: 42, taskId: 3, taskName: 'nightly report', worker: 'host-4242-a1b2c3', attempt: 1, leaseDeadline: '2026-11-27 08:05:40', leaseMsLeft: 27950, runningForMs: 2050 }],
          { parameters: [limitParam(100)], errors: { '400': badLimit, '503': unavailable('MySQL and Redis') } },
        ),
      },
      '/admin/queue': {
        get: secured(
          'getQueueStats',
          'Queue depth: ready (all queued), dueNow, delayed (not yet due), inflight, oldestWaitingMs (oldest due but unclaimed)',
          object({ ready: count('Queued, due or not'), dueNow: count('Queued and due'), delayed: count('Queued for later (retry back-off)'), inflight: count('Leased to workers'), oldestWaitingMs: count('Age of the oldest due item nobody claimed; 0 when none') }),
          { ready: 5, dueNow: 2, delayed: 3, inflight: 16, oldestWaitingMs: 120 },
          redis,
        ),
      },
      '/admin/limits': {
        get: secured(
          'listLimitWaits',
          'Tasks with task instances waiting on their flow-control limits (taskConfig.concurrencyLimit / rateLimit), most waiting first: how many wait, how many hold a slot, and the limits (0: none; null: the limit was removed, they go at the next pass)',
          {
            type: 'array',
            items: object({
              taskId: { type: 'integer', minimum: 1 },
              waiting: count('Task instances due but waiting on the limits'),
              running: count('Task instances holding one of its concurrency slots'),
              limits: {
                type: 'object',
                nullable: true,
                required: ['concurrency', 'rateMax', 'ratePerMs'],
                properties: { concurrency: count('concurrencyLimit (0: none)'), rateMax: count('rateLimit.max (0: none)'), ratePerMs: count('rateLimit.perMs (0: none)') },
              },
            }),
          },
          [{ taskId: 3, waiting: 120, running: 5, limits: { concurrency: 5, rateMax: 0, ratePerMs: 0 } }],
          redis,
        ),
      },
      '/admin/reconcile': {
        post: secured(
          'reconcileNow',
          'Run the reconciler now (Redis rebuilt from MySQL): PENDING work requeued, RUNNING work Redis lost set PENDING and requeued, idle RUNNING flows advanced',
          object({ requeued: count('PENDING task instances queued again'), released: count('RUNNING task instances Redis did not know: set PENDING and queued again'), advanced: count('RUNNING flow instances with nothing in flight: advanced') }),
          { requeued: 0, released: 0, advanced: 1 },
          { errors: { '503': unavailable('MySQL and Redis') } },
        ),
      },
    },
  };
}
