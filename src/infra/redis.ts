// Redis connections. The db number in REDIS_URL is honoured (ioredis reads it from the path).
// Every connection has an `error` listener (ioredis reconnects by itself; an error event without a
// listener would be thrown), logged at most once per few seconds so an outage does not flood the log.
// Commands are not re-sent after a reconnect: one that was on the wire when the connection dropped fails,
// and its caller's error handling decides (re-sending a non-idempotent script would run it twice).
// That failure needs ioredis 6.1 or later: 6.0.0 dropped those commands without settling them, which
// wedged the auto-pipeline for good (issue 23; the whole story is in redisWatchdog.ts, whose watchdog
// reconnects a connection that is up but stopped answering).
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from './logger.js';
import { watchRedis } from './redisWatchdog.js';

export type { Redis };

const LOG_EVERY_MS = 5_000;

/** Reconnect quickly (100 ms, 200 ms, … at most 1 s apart): recovery after a Redis restart takes about a second. */
const retryStrategy = (times: number) => Math.min(times * 100, 1_000);

export function createRedis(redisUrl: string, name: string, log: Logger): Redis {
  const redis = new Redis(redisUrl, {
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

/** A second connection for subscriptions (pub/sub needs its own), with its own error listener. */
export function duplicateRedis(redis: Redis, log: Logger, what: string, opts: Partial<RedisOptions> = {}): Redis {
  const dup = redis.duplicate({ retryStrategy, ...opts });
  logErrors(dup, log, what);
  return dup;
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
