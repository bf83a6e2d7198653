// One member of the cluster: connects to MySQL (creating the database and applying migrations) and
// Redis, then starts the roles its configuration names. `stop()` undoes it all in reverse order.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.js';
import { createKnex, ensureDatabase, migrateLatest, MigrationWaitError } from './infra/db.js';
import { createRedis, describeTarget, redisVersion, type Redis, type RedisTarget } from './infra/redis.js';
import { withTimeout } from './infra/timeout.js';
import { safeUrl, StartupError } from './errors.js';
import { bindPrefix, checkQueueShards, databaseClusterId } from './cluster/identity.js';
import { readMaxPacket, writeLimits, type WriteLimits } from './infra/writeLimits.js';
import { createLogger, type Logger } from './infra/logger.js';
import { WorkQueue } from './queue/workQueue.js';
import { preloadScripts } from './redis/scripts.js';
import { createApp, createOpsApp } from './api/app.js';
import { bindServer, type BoundServer } from './api/listen.js';
import type { Services } from './services.js';
import { Engine } from './engine/engine.js';
import { startCluster } from './cluster/index.js';
import type { Cluster } from './cluster/types.js';
import { adminRoutes } from './api/routes/admin.js';
import { metricsRoutes } from './api/routes/metrics.js';
import { reapOrphanGroups } from './executors/shellGroups.js';
import { eventsRoutes } from './api/routes/events.js';
import { workerRoutes } from './api/routes/worker.js';
import { workersViewRoutes } from './api/routes/workersView.js';
import { LiveHub } from './api/liveHub.js';
import { publishLiveEvents } from './observe/liveEvents.js';
import { createMetrics } from './observe/metrics.js';

export interface Member {
  services: Services;
  engine: Engine;
  cluster: Cluster;
  /** The live events hub behind GET /events (web role only). */
  hub: LiveHub | null;
  /** Base URL of the API when this member has the web role (of /metrics and /healthz with METRICS_PORT). */
  url: string | null;
  /** Stops serving and claiming; running tasks get `graceMs` to finish, then are handed back. */
  stop(graceMs?: number): Promise<void>;
}

export function newMemberId(): string {
  return `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Connection errors that mean "MySQL is not there (or will not let us in)": a start-up error, one line. */
const UNREACHABLE = /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ER_ACCESS_DENIED|ER_DBACCESS_DENIED|PROTOCOL_CONNECTION_LOST|ECONNRESET/;

export async function prepareDatabase(config: Config, log: Logger): Promise<void> {
  try {
    await ensureDatabase(config.databaseUrl);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (!UNREACHABLE.test(`${err.code ?? ''} ${err.message ?? ''}`)) throw e;
    throw new StartupError(
      `cannot reach MySQL at DATABASE_URL=${safeUrl(config.databaseUrl)} (${err.code ?? err.message}): ` +
        'start MySQL 8 or MariaDB 10.11 there (or set DATABASE_URL to one that runs), or run `docker compose up`',
    );
  }
  // Two connections: one holds the migration lock, the other applies them.
  const knex = createKnex(config.databaseUrl, 2, log);
  try {
    const applied = await migrateLatest(knex, { onWait: () => log.info('another member is applying migrations: waiting for it') });
    if (applied.length) log.info({ applied }, 'migrations applied');
  } catch (e) {
    if (e instanceof MigrationWaitError) throw new StartupError(`${e.message}: check for a stuck member or migration on DATABASE_URL=${safeUrl(config.databaseUrl)}, then start again`);
    throw e;
  } finally {
    await knex.destroy();
  }
}

/** Redis answers within a few seconds and is 7 or later (the queue's scripts use Redis 7's script flags). */
async function checkRedis(redis: Redis, target: RedisTarget): Promise<void> {
  let version: [number, number];
  const where = describeTarget(target);
  try {
    version = await withTimeout(redisVersion(redis), 5_000, 'connecting to Redis');
  } catch (e) {
    throw new StartupError(
      target.redisCluster
        ? `cannot reach the Redis Cluster at ${where} (${(e as Error).message}): check the seed nodes and that the cluster is up (cluster_state:ok)`
        : `cannot reach Redis at ${where} (${(e as Error).message}): start Redis 7 there ` +
          '(redis-server), or set REDIS_URL to one that runs, or run `docker compose up`',
    );
  }
  if (version[0] < 7) throw new StartupError(`Redis at ${where} is version ${version.join('.')}: task-schedule needs Redis 7 or later`);
}

export async function startMember(config: Config, log = createLogger(config.logLevel, {}, config.httpTaskSecretHeaders, undefined, config.logFormat)): Promise<Member> {
  const memberId = config.memberId ?? newMemberId();
  log = log.child({ memberId });
  const web = config.roles.has('web');
  // The port first: one that is taken stops start-up before anything is migrated or joined.
  const listenPort = web ? config.port : config.metricsPort;
  const bound = listenPort === null ? null : await bindServer(listenPort, web ? 'PORT' : 'METRICS_PORT');
  try {
    return await startRoles(config, log, memberId, bound);
  } catch (e) {
    await bound?.close();
    throw e;
  }
}

async function startRoles(config: Config, log: Logger, memberId: string, bound: BoundServer | null): Promise<Member> {
  await prepareDatabase(config, log);
  const knex = createKnex(config.databaseUrl, config.dbPoolMax, log);
  const redis = createRedis(config, memberId, log);
  let clusterId: string;
  let limits: WriteLimits;
  const queue = new WorkQueue(redis, config.redisPrefix, config.redisQueueShards);
  try {
    await checkRedis(redis, config);
    await withTimeout(preloadScripts(redis), 5_000, 'loading the Redis scripts into every cluster node');
    clusterId = await databaseClusterId(knex);
    limits = writeLimits(await readMaxPacket(knex), config.taskOutputMaxBytes);
    await bindPrefix(redis, config.redisPrefix, clusterId, config.redisCluster ? describeTarget(config) : safeUrl(config.redisUrl));
    await checkQueueShards(redis, config.redisPrefix, queue.shards);
  } catch (e) {
    redis.disconnect();
    await knex.destroy();
    throw e;
  }

  if (limits.outputMaxBytes < config.taskOutputMaxBytes) {
    log.warn({ maxAllowedPacket: limits.maxPacketBytes, taskOutputMaxBytes: limits.outputMaxBytes }, 'TASK_OUTPUT_MAX_BYTES lowered: MySQL\'s max_allowed_packet could not carry that much in one statement');
  }
  const services: Services = { config, knex, redis, log, memberId, queue, limits };
  const engine = new Engine(services);
  // SHELL process groups a SIGKILLed member on this machine left running.
  const orphans = reapOrphanGroups(config.shellStateDir);
  if (orphans.length) log.warn({ pgids: orphans, dir: config.shellStateDir }, 'killed SHELL process groups left by a member that is gone');
  // Membership and leadership: every member takes part, whatever its roles. The first heartbeat is
  // written before the worker claims anything: a lease whose member has no heartbeat is an orphan's.
  const cluster = await startCluster(services, engine, clusterId);
  log.info({ clusterId, roles: [...config.roles] }, 'joined the cluster');
  // Observers subscribe to the engine's events; the worker may start before or after them.
  // Every member publishes the status changes it commits; web members stream them (GET /events).
  const live = publishLiveEvents(services, engine);
  const metrics = bound ? createMetrics(services, engine, cluster) : null;
  if (config.roles.has('worker')) {
    await engine.startWorker();
    log.info({ concurrency: config.workerConcurrency }, 'worker role started');
  }

  let url: string | null = null;
  const web = config.roles.has('web');
  let hub: LiveHub | null = null;
  if (web) {
    hub = new LiveHub(services);
    await hub.start();
  }
  if (bound && metrics) {
    const app = hub
      ? createApp(services, engine, [adminRoutes(services, engine, cluster), metricsRoutes(metrics), eventsRoutes(hub), workerRoutes(services, engine), workersViewRoutes(services, engine)])
      : createOpsApp(services, [metricsRoutes(metrics)]);
    bound.serve(app);
    url = `http://127.0.0.1:${bound.port}`;
    const address = bound.server.address() as AddressInfo;
    log.info({ port: bound.port, address: `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${bound.port}`, roles: [...config.roles] }, web ? 'web role listening' : 'metrics listening');
  }

  return {
    services,
    engine,
    cluster,
    hub,
    url,
    async stop(graceMs = config.shutdownGraceMs) {
      // Event streams end first, and held long polls are answered (empty) as the port closes: the server
      // cannot close while they are open, and a poll may be held for up to a minute.
      await hub?.close();
      const closed = bound?.close();
      await engine.external.close();
      await closed;
      await engine.stop(graceMs);
      await cluster.stop();
      live.stop();
      await queue.close();
      redis.disconnect();
      await knex.destroy();
    },
  };
}
