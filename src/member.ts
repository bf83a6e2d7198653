// One member of the cluster: connects to MySQL (creating the database and applying migrations) and
// Redis, then starts the roles its configuration names. `stop()` undoes it all in reverse order.
import http from 'node:http';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Config } from '../config/index.js';
import { bindModels, createKnex, ensureDatabase, migrateLatest } from './infra/db.js';
import { createRedis } from './infra/redis.js';
import { createLogger, type Logger } from './infra/logger.js';
import { WorkQueue } from './queue/workQueue.js';
import { createApp, createOpsApp } from './api/app.js';
import type { Services } from './services.js';
import { Engine } from './engine/engine.js';
import { startCluster } from './cluster/index.js';
import type { Cluster } from './cluster/types.js';
import { adminRoutes } from './api/routes/admin.js';
import { metricsRoutes } from './api/routes/metrics.js';
import { eventsRoutes } from './api/routes/events.js';
import { LiveHub } from './api/liveHub.js';
import { publishLiveEvents } from './infra/liveEvents.js';

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

export async function prepareDatabase(config: Config, log: Logger): Promise<void> {
  await ensureDatabase(config.databaseUrl);
  const knex = createKnex(config.databaseUrl, 1);
  try {
    const applied = await migrateLatest(knex);
    if (applied.length) log.info({ applied }, 'migrations applied');
  } finally {
    await knex.destroy();
  }
}

export async function startMember(config: Config, log = createLogger(config.logLevel)): Promise<Member> {
  const memberId = config.memberId ?? newMemberId();
  log = log.child({ memberId });
  await prepareDatabase(config, log);
  const knex = createKnex(config.databaseUrl, config.dbPoolMax);
  bindModels(knex);
  const redis = createRedis(config.redisUrl, memberId);
  const queue = new WorkQueue(redis, config.redisPrefix);
  const services: Services = { config, knex, redis, log, memberId, queue };
  const engine = new Engine(services);
  if (config.roles.has('worker')) {
    await engine.startWorker();
    log.info({ concurrency: config.workerConcurrency }, 'worker role started');
  }
  // Every member publishes the status changes it commits; web members stream them (GET /events).
  const live = publishLiveEvents(services, engine);
  // Membership and leadership: every member takes part, whatever its roles.
  const cluster = await startCluster(services, engine);

  let server: http.Server | null = null;
  let url: string | null = null;
  const web = config.roles.has('web');
  let hub: LiveHub | null = null;
  if (web) {
    hub = new LiveHub(services);
    await hub.start();
  }
  if (web || config.metricsPort !== null) {
    const app = hub
      ? createApp(services, engine, [adminRoutes(services, engine, cluster), metricsRoutes(services, engine, cluster), eventsRoutes(services, hub)])
      : createOpsApp(services, [metricsRoutes(services, engine, cluster)]);
    server = http.createServer(app.callback());
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(web ? config.port : config.metricsPort!, resolve);
    });
    const port = (server.address() as AddressInfo).port;
    url = `http://127.0.0.1:${port}`;
    log.info({ port }, web ? 'web role listening' : 'metrics listening');
  }

  return {
    services,
    engine,
    cluster,
    hub,
    url,
    async stop(graceMs = config.shutdownGraceMs) {
      // Event streams end first: the server cannot close while they are open.
      await hub?.close();
      if (server) {
        server.closeIdleConnections();
        await new Promise<void>((resolve) => server!.close(() => resolve()));
      }
      await engine.stop(graceMs);
      await cluster.stop();
      live.stop();
      await queue.close();
      redis.disconnect();
      await knex.destroy();
    },
  };
}
