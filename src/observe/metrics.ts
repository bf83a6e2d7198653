// Prometheus metrics of one member (prom-client). Each member has its own Registry — several members
// may share a process (the tests do), so the global default registry is never used. Counters and
// histograms are fed by the engine's events (engine/events.ts); queue depth, in-flight and leadership
// are read when Prometheus scrapes (`render()`), so they are never stale.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Cluster } from '../cluster/types.js';
import { withTimeout } from '../infra/timeout.js';
import { workerMetrics } from './workerMetrics.js';

const P = 'task_schedule_';
/** A scrape never waits longer than this for Redis; the process metrics are served regardless. */
const STATS_TIMEOUT_MS = 2_000;

export interface MemberMetrics {
  registry: Registry;
  contentType: string;
  /** Reads the scrape-time gauges, then renders every metric in the Prometheus text format. */
  render(): Promise<string>;
}


export function createMetrics(s: Services, engine: Engine, cluster: Cluster): MemberMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const started = new Counter({ name: `${P}tasks_started_total`, help: 'Task attempts started by this member, by task type', labelNames: ['type'], registers });
  const succeeded = new Counter({ name: `${P}tasks_succeeded_total`, help: 'Task attempts that ended SUCCESS on this member, by task type', labelNames: ['type'], registers });
  const failed = new Counter({ name: `${P}tasks_failed_total`, help: 'Task instances that ended FAILED on this member (no attempt left), by task type', labelNames: ['type'], registers });
  const retried = new Counter({ name: `${P}tasks_retried_total`, help: 'Failed task attempts put back for another attempt, by task type', labelNames: ['type'], registers });
  const duration = new Histogram({
    name: `${P}task_duration_seconds`,
    help: 'Run time of one task attempt, by task type and result (SUCCESS, FAILED, RETRY = will run again)',
    labelNames: ['type', 'status'],
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers,
  });
  const transition = new Histogram({
    name: `${P}node_transition_seconds`,
    help: 'One coordinator pass that changed a flow instance (read, transition, commit, enqueue)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const flowsFinished = new Counter({ name: `${P}flows_finished_total`, help: 'Flow instances this member saw end, by final status', labelNames: ['status'], registers });
  const lockBusy = new Counter({ name: `${P}lock_busy_total`, help: 'Advances that found the flow-instance lock held by another coordinator (lock contention)', registers });
  const conflicts = new Counter({
    name: `${P}optimistic_lock_conflicts_total`,
    help: 'Writes refused by the version fence (optimistic locking), by who tried: coordinator or worker',
    labelNames: ['who'],
    registers,
  });
  const fromCopies = new Counter({
    name: `${P}passes_from_copies_total`,
    help: "Passes that recorded results and moved their flows on in one round trip, deciding from this member's copies of the flow instances: outcome=used, or stale (a copy was not what MySQL holds; made again from a read)",
    labelNames: ['outcome'],
    registers,
  });
  const queueDepth = new Gauge({ name: `${P}queue_depth`, help: 'Task instances in the ready queue: state=ready (all), due (may run now), delayed (not yet due)', labelNames: ['state'], registers });
  const oldestWaiting = new Gauge({ name: `${P}queue_oldest_waiting_seconds`, help: 'Age of the oldest due task instance nobody has claimed yet', registers });
  const inflight = new Gauge({ name: `${P}inflight`, help: 'Task instances leased to workers, cluster-wide (the same on every member)', registers });
  const running = new Gauge({ name: `${P}worker_running`, help: 'Task instances this member is running now', registers });
  const leader = new Gauge({ name: `${P}leader`, help: '1 when this member holds the leader lease, else 0', registers });
  const cronMissed = new Counter({
    name: `${P}cron_ticks_missed_total`,
    help: 'Cron ticks this member (as leader) did not start: not started within 30 s of the tick (MySQL slow or away), too many waiting, or still waiting when it stopped leading',
    registers,
  });
  const cronPending = new Gauge({ name: `${P}cron_ticks_pending`, help: 'Cron ticks waiting to be started on this member (the leader)', registers });
  const statsUp = new Gauge({ name: `${P}queue_stats_up`, help: '1 when the last scrape could read the queue from Redis, else 0', registers });

  const refreshWorkers = workerMetrics(registry, s, engine);

  const ev = engine.events;
  ev.on('advance', (_count: number, ms: number) => transition.observe(ms / 1000));
  ev.on('lockBusy', () => lockBusy.inc());
  ev.on('stale', (who: string) => conflicts.inc({ who }));
  ev.on('fromCopies', (outcome: string) => fromCopies.inc({ outcome }));
  ev.on('finished', (_fiId: number, status: string) => flowsFinished.inc({ status }));
  ev.on('taskStarted', (run) => started.inc({ type: run.taskType }));
  ev.on('taskFinished', (run, status, ms) => {
    const type = run.taskType;
    duration.observe({ type, status }, ms / 1000);
    if (status === 'SUCCESS') succeeded.inc({ type });
    else if (status === 'FAILED') failed.inc({ type });
    else retried.inc({ type });
  });

  // The cron counts in its own object (kept across leaderships); the counter follows it at each scrape.
  let cronMissedSeen = 0;
  async function refresh(): Promise<void> {
    leader.set(cluster.isLeader() ? 1 : 0);
    const cron = cluster.stats?.().cron;
    if (cron) {
      if (cron.missed > cronMissedSeen) cronMissed.inc(cron.missed - cronMissedSeen);
      cronMissedSeen = cron.missed;
      cronPending.set(cron.pending);
    }
    running.set(engine.worker?.running ?? 0);
    try {
      const st = await withTimeout(s.queue.stats(), STATS_TIMEOUT_MS, 'queue stats');
      queueDepth.set({ state: 'ready' }, st.ready);
      queueDepth.set({ state: 'due' }, st.dueNow);
      queueDepth.set({ state: 'delayed' }, st.delayed);
      oldestWaiting.set(st.oldestWaitingMs / 1000);
      inflight.set(st.inflight);
      await withTimeout(refreshWorkers(), STATS_TIMEOUT_MS, 'external queue stats');
      statsUp.set(1);
    } catch (e) {
      // Better no value than a stale one.
      queueDepth.reset();
      oldestWaiting.reset();
      inflight.reset();
      statsUp.set(0);
      s.log.warn({ err: e }, 'metrics: queue stats unavailable');
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    async render() {
      await refresh();
      return registry.metrics();
    },
  };
}
