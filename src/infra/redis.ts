// Redis connections. The db number in REDIS_URL is honoured (ioredis reads it from the path).
// Every connection has an `error` listener (ioredis reconnects by itself; an error event without a
// listener would be thrown), logged at most once per few seconds so an outage does not flood the log.
// Commands are not re-sent after a reconnect: one that was on the wire when the connection dropped fails,
// and its caller's error handling decides (re-sending a non-idempotent script would run it twice).
// That failure needs ioredis 6.1 or later: 6.0.0 dropped those commands without settling them, which
// wedged the auto-pipeline for good (issue 23; the whole story is in redisWatchdog.ts, whose watchdog
// reconnects a connection that is up but stopped answering).
//
// With REDIS_CLUSTER_NODES the connection is an ioredis `Cluster` instead (the `Redis` type here is
// either). Both share the command API; what differs — duplicate(), SCAN (one keyspace per master),
// key slots — is handled by the helpers below, so the rest of the code does not ask which it has.
import { Cluster, Redis as Standalone, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';
import { watchRedis } from './redisWatchdog.js';
import type { RedisClusterConfig } from '../../config/index.js';

/** A standalone connection or a cluster client. */
export type Redis = Standalone | Cluster;

export function isCluster(redis: Redis): redis is Cluster {
  return (redis as Cluster).isCluster === true;
}

/** Where to connect: REDIS_URL, or REDIS_CLUSTER_NODES (which wins when set). */
export interface RedisTarget {
  redisUrl: string;
  redisCluster: RedisClusterConfig | null;
}

/** The target as it may be shown in a message (no password). */
export function describeTarget(t: RedisTarget): string {
  if (!t.redisCluster) return `REDIS_URL=${t.redisUrl.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@')}`;
  return `REDIS_CLUSTER_NODES=${t.redisCluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
}

const LOG_EVERY_MS = 5_000;

/** Reconnect quickly (100 ms, 200 ms, … at most 1 s apart): recovery after a Redis restart takes about a second. */
const retryStrategy = (times: number) => Math.min(times * 100, 1_000);

export function createRedis(target: RedisTarget | string, name: string, log: Logger): Redis {
  const t: RedisTarget = typeof target === 'string' ? { redisUrl: target, redisCluster: null } : target;
  const redis = t.redisCluster ? createCluster(t.redisCluster, name) : new Standalone(t.redisUrl, {
    connectionName: `task-schedule:${name}`,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    autoResendUnfulfilledCommands: false,
    retryStrategy,
    lazyConnect: false,
  });
  logErrors(redis, log, 'Redis');
  watchRedis(redis, log);
  return redis;
}

/**
 * The cluster client. Reads and writes go to masters only (`scaleReads: 'master'`: a replica lags, and
 * the scripts read what they write). ioredis follows MOVED/ASK by itself and retries a command whose
 * node went away or answered TRYAGAIN/CLUSTERDOWN for a while (retryDelayOn*, maxRedirections: about
 * 3 s, the time a replica takes to be promoted), then rejects it: every script is safe to run twice, so
 * that retry is harmless. The node connections do not resend what was on the wire (as standalone).
 */
function createCluster(c: RedisClusterConfig, name: string): Cluster {
  const redisOptions: RedisOptions = {
    connectionName: `task-schedule:${name}`,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 2_000,
    ...(c.username ? { username: c.username } : {}),
    ...(c.password ? { password: c.password } : {}),
    ...(c.tls ? { tls: {} } : {}),
  };
  const options: ClusterOptions = {
    redisOptions,
    scaleReads: 'master',
    enableAutoPipelining: true,
    clusterRetryStrategy: retryStrategy,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    slotsRefreshTimeout: 2_000,
    // With TLS the certificate names the host the client asked for, not the address CLUSTER SLOTS gives.
    ...(c.tls ? { dnsLookup: (address: string, cb: (err: Error | null, address: string) => void) => cb(null, address) } : {}),
  };
  return new Cluster(c.nodes, options);
}

/**
 * A second connection for subscriptions (pub/sub needs its own), with its own error listener. Classic
 * PUBLISH/SUBSCRIBE reaches every node of a cluster, so a cluster's subscriber is a cluster client too.
 */
export function duplicateRedis(redis: Redis, log: Logger, what: string, opts: Partial<RedisOptions> = {}): Redis {
  const dup = duplicateConnection(redis, { retryStrategy, ...opts });
  logErrors(dup, log, what);
  return dup;
}

/** A new connection (or cluster client) to the same Redis; the caller adds its `error` listener. */
export function duplicateConnection(redis: Redis, opts: Partial<RedisOptions> = {}): Redis {
  if (!isCluster(redis)) return redis.duplicate(opts);
  const { enableAutoPipelining, lazyConnect, retryStrategy: clusterRetry, ...nodeOpts } = opts;
  return redis.duplicate([], {
    ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    ...(clusterRetry !== undefined ? { clusterRetryStrategy: clusterRetry } : {}),
    redisOptions: nodeOpts,
  });
}

/**
 * Every key matching `pattern` (SCAN, never KEYS), up to about `limit`: on a cluster, SCAN walks one
 * node's keyspace, so every master is scanned.
 */
export async function scanKeys(redis: Redis, pattern: string, limit = Number.MAX_SAFE_INTEGER): Promise<string[]> {
  const nodes: Standalone[] = isCluster(redis) ? redis.nodes('master') : [redis];
  const keys = new Set<string>();
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const k of batch) keys.add(k);
    } while (cursor !== '0' && keys.size < limit);
    if (keys.size >= limit) break;
  }
  return [...keys];
}

function logErrors(redis: Redis, log: Logger, what: string): void {
  let last = 0;
  redis.on('error', (e: Error) => {
    const now = Date.now();
    if (now - last < LOG_EVERY_MS) return;
    last = now;
    log.warn({ err: e }, `${what}: connection error (reconnecting)`);
  });
}

/** The server's version as [major, minor]. */
export async function redisVersion(redis: Redis): Promise<[number, number]> {
  const info = await redis.info('server');
  const m = /redis_version:(\d+)\.(\d+)/.exec(info);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Ends a subscriber connection: unsubscribes while it still answers, then disconnects. Never throws. */
export async function closeSubscriber(sub: Redis | null): Promise<void> {
  if (!sub) return;
  try {
    if (sub.status === 'ready') await sub.unsubscribe();
  } catch {
    // going away anyway
  }
  sub.disconnect();
}
