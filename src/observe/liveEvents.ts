// Live status events, publishing side (every member, whatever its roles). The engine reports what it
// committed through its events (engine/events.ts): the coordinator's status changes of flow, node and
// task instances, and the worker's task starts and results. They are collected as they come and sent as ONE Redis PUBLISH
// on `${REDIS_PREFIX}events` per turn of the event loop (a JSON array), so the hot path pays one
// message per batch and nothing per event beyond building the JSON. Web members subscribe and fan the
// events out to their /events clients (src/api/liveHub.ts). An event that cannot be published is lost
// (the dashboard refetches on reconnect).
// Only while someone watches: a web member with streams open keeps `${REDIS_PREFIX}events:watched`
// alive, and publishers look for it every WATCH_POLL_MS; with no dashboard open anywhere, nothing is
// built or sent (at full load the events are megabytes a minute). A hub that starts watching holds its
// first clients' `ready` back for longer than a poll, so they refetch once every publisher is on.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { StatusChange } from '../engine/advanceMany.js';
import type { TaskRun } from '../engine/taskRun.js';

/**
 * One status change as it travels (the wire format of /events, documented in the README).
 * `flowId` is missing on the worker's task events: the web member fills it in.
 */
export interface LiveEvent extends StatusChange {
  taskId?: number;
  /** With status PENDING on a task event from the worker: that attempt failed and the task will be retried. */
  attempt?: number;
}

// The channel and the watched key (set while some web member has an /events stream open): redis/keys.ts.
export { eventsChannel, watchedKey } from '../redis/keys.js';
import { eventsChannel, watchedKey } from '../redis/keys.js';
/** How often a publisher looks whether anyone watches. */
export const WATCH_POLL_MS = 500;

/** Failures to publish are logged at most this often. */
const WARN_EVERY_MS = 10_000;


export interface LivePublisher {
  /** Stops publishing (what is pending is dropped) and unsubscribes. */
  stop(): void;
}

export function publishLiveEvents(s: Services, engine: Engine): LivePublisher {
  const channel = eventsChannel(s.config.redisPrefix);
  let pending: (StatusChange | LiveEvent)[] = [];
  let scheduled = false;
  let stopped = false;
  let lastWarn = 0;
  let watched = false;
  const look = () =>
    void s.redis.exists(watchedKey(s.config.redisPrefix)).then(
      (n) => (watched = n === 1),
      () => {}, // Redis away: keep the last answer
    );
  const poll = setInterval(look, WATCH_POLL_MS);
  poll.unref();
  look();

  const flush = () => {
    scheduled = false;
    if (stopped || !pending.length) return;
    const batch = pending;
    pending = [];
    // Not queued for a Redis that is away (ioredis would hold it until it is back): the web members'
    // subscribers reconnect too, and tell their clients to refetch.
    if (s.redis.status !== 'ready') return;
    s.redis.publish(channel, JSON.stringify(batch)).catch((e: unknown) => {
      const now = Date.now();
      if (now - lastWarn < WARN_EVERY_MS) return;
      lastWarn = now;
      s.log.warn({ err: e }, 'live events: publish failed (dashboards will refetch)');
    });
  };
  const later = () => {
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };

  const ev = engine.events;
  const task = (run: TaskRun, status: string): LiveEvent => ({ kind: 'task', fiId: run.fiId, niId: run.niId, tiId: run.tiId, taskId: run.taskId, status, attempt: run.attempt });
  const unsubscribe = [
    ev.on(
      'statusChanges',
      (changes: StatusChange[]) => {
        if (stopped || !watched || !changes.length) return;
        for (const c of changes) pending.push(c);
        later();
      },
      { when: () => !stopped && watched },
    ),
    ev.on('taskStarted', (run: TaskRun) => {
      if (stopped || !watched) return;
      pending.push(task(run, 'RUNNING'));
      later();
    }),
    ev.on('taskFinished', (run: TaskRun, status: string) => {
      if (stopped || !watched) return;
      pending.push(task(run, status === 'RETRY' ? 'PENDING' : status)); // the row's status: back to PENDING
      later();
    }),
  ];

  return {
    stop() {
      stopped = true;
      for (const off of unsubscribe) off();
      clearInterval(poll);
      pending = [];
    },
  };
}
