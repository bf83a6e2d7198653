// A watchdog on the member's main Redis connection: it notices a connection that is up ('ready') yet
// whose commands stop settling, and reconnects it.
//
// Why (issue 23): ioredis 6.0.0 with autoResendUnfulfilledCommands false dropped the commands that were
// on the wire when a connection closed without settling them (built/redis/event_handler.js, readyHandler:
// `self.prevCommandQueue = null`; closeHandler had moved the closed socket's commandQueue there). With
// enableAutoPipelining, the auto-pipeline that held them never got its exec callback, so
// client._runningAutoPipelines kept 'main' for good and executeAutoPipeline returned at once for every
// later pipeline: the connection sent nothing again, every command hung, the member stayed up but
// useless. ioredis 6.1.0 rejects those commands instead ("Command aborted due to connection close");
// package.json asks for ^6.1.0. This watchdog is the second line: a half-open socket (a partition, a
// NAT that forgot the flow) or another bug of that kind leaves the same symptom, and ioredis would wait
// for the kernel's TCP timeout (~15 min) or forever.
//
// Cost: one PING a second per member (auto-pipelined like every other command, so it also proves the
// pipeline flushes), nothing per task. A PING that has not settled after STUCK_MS while the connection
// was ready the whole time means the connection is stuck: it is closed and reconnected (ioredis 6.1
// then rejects what was in flight, so callers see an error, as after any connection drop; scripts are
// safe to run twice). While Redis is away the PING waits in the offline queue and the connection is not
// 'ready': that is an outage, not a stuck connection, and nothing is done.
import { ReplyError, type Cluster, type Redis as Standalone } from 'ioredis';

/** A standalone connection or a cluster client (infra/redis.ts): both have status, ping and disconnect. */
type Redis = Standalone | Cluster;
import type { Logger } from './logger.js';

/** How often the connection is probed. */
export const PROBE_EVERY_MS = 1_000;
/** A probe unanswered this long on a ready connection: the connection is stuck and is reconnected. */
export const STUCK_MS = 5_000;

export interface RedisLiveness {
  /** Since when the connection has been ready yet not answering (ms epoch), or null when it answers. */
  stuckSince: number | null;
  /** Reconnects the watchdog made because the connection stopped answering (since the member started). */
  reconnects: number;
  /** Of them, those since the last answer: 2 or more means a fresh connection did not help. */
  stuckInARow: number;
}

const watched = new WeakMap<Redis, RedisLiveness>();

/** What the watchdog knows of this connection (null when it has none: not a member's main connection). */
export function redisLiveness(redis: Redis): RedisLiveness | null {
  return watched.get(redis) ?? null;
}

export function watchRedis(redis: Redis, log: Logger, opts: { probeEveryMs?: number; stuckMs?: number } = {}): RedisLiveness {
  const probeEveryMs = opts.probeEveryMs ?? PROBE_EVERY_MS;
  const stuckMs = opts.stuckMs ?? STUCK_MS;
  const state: RedisLiveness = { stuckSince: null, reconnects: 0, stuckInARow: 0 };
  watched.set(redis, state);
  let readySince = redis.status === 'ready' ? Date.now() : Infinity;
  redis.on('ready', () => (readySince = Date.now()));
  redis.on('close', () => (readySince = Infinity));
  let probe: { sentAt: number } | null = null;

  const timer = setInterval(() => {
    if (redis.status === 'end') {
      clearInterval(timer);
      return;
    }
    const now = Date.now();
    if (probe === null) {
      const p = { sentAt: now };
      probe = p;
      redis.ping().then(
        () => settled(p, true),
        // A reply error is an answer; a rejection because the connection closed is not.
        (e: unknown) => settled(p, e instanceof ReplyError),
      );
      return;
    }
    // On the wire since it was sent, or since the connection got ready (a probe sent while Redis was
    // away waited in the offline queue until then), and still no answer: the connection is stuck.
    const onWireSince = Math.max(probe.sentAt, readySince);
    if (redis.status === 'ready' && now - onWireSince >= stuckMs) {
      state.stuckSince ??= onWireSince;
      state.reconnects += 1;
      state.stuckInARow += 1;
      log.warn({ waitedMs: now - onWireSince, stuckForMs: now - state.stuckSince, inARow: state.stuckInARow }, 'Redis: the connection is up but stopped answering; reconnecting it');
      probe = null; // a probe lost with the connection may never settle; the next one starts afresh
      redis.disconnect(true);
    }
  }, probeEveryMs);
  timer.unref();

  function settled(p: { sentAt: number }, answered: boolean): void {
    if (probe === p) probe = null;
    if (!answered) return;
    state.stuckSince = null;
    state.stuckInARow = 0;
  }
  return state;
}
