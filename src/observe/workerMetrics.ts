// Metrics of the external workers (WORKER tasks), added to a member's registry by metrics.ts: per queue,
// the tasks waiting (due, delayed), leased and the oldest waiting, read at scrape time from Redis; the
// polls this member holds; and counters fed by the engine's hooks: leased (and of those, handed over with
// a complete), finished, refused calls, and leases that ran out (counted by the leader that reaped them).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';

const P = 'task_schedule_worker_';
/** Queues read per scrape: a cluster with more shows the first ones (by name). */
const MAX_QUEUES = 200;

/** Registers the metrics; returns what a scrape calls before rendering. */
export function workerMetrics(registry: Registry, s: Services, engine: Engine): () => Promise<void> {
  const registers = [registry];
  const depth = new Gauge({ name: `${P}queue_depth`, help: 'WORKER task instances waiting in an external queue, by queue and state (due: may be taken now, delayed: a retry\'s back-off)', labelNames: ['queue', 'state'], registers });
  const oldest = new Gauge({ name: `${P}queue_oldest_waiting_seconds`, help: 'Age of the oldest due WORKER task instance no worker has taken, by queue', labelNames: ['queue'], registers });
  const leased = new Gauge({ name: `${P}queue_leased`, help: 'WORKER task instances leased to external workers now, by queue (cluster-wide)', labelNames: ['queue'], registers });
  const polls = new Gauge({ name: `${P}polls_waiting`, help: 'External workers\' long polls this member holds waiting now', registers });
  const leasedTotal = new Counter({ name: `${P}tasks_leased_total`, help: 'WORKER task instances this member leased to external workers, by queue', labelNames: ['queue'], registers });
  const handedOver = new Counter({ name: `${P}tasks_handed_over_total`, help: 'Of the WORKER task instances leased, those handed over in the answer to their worker\'s complete of the step before (next), by queue', labelNames: ['queue'], registers });
  const finished = new Counter({ name: `${P}tasks_finished_total`, help: 'Results of external workers this member recorded, by queue and status (SUCCESS, FAILED, RETRY = will run again)', labelNames: ['queue', 'status'], registers });
  const refused = new Counter({ name: `${P}calls_refused_total`, help: 'Heartbeats, completes and fails answered 409 (the lease was not the caller\'s any more)', labelNames: ['call'], registers });
  const expired = new Counter({ name: `${P}leases_expired_total`, help: 'External workers\' leases that ran out and were taken back by this member as leader, by queue', labelNames: ['queue'], registers });

  const ev = engine.events;
  ev.on('externalLeased', (queue, n) => leasedTotal.inc({ queue }, n));
  ev.on('externalHandedOver', (queue, n) => handedOver.inc({ queue }, n));
  ev.on('externalFinished', (queue, status) => finished.inc({ queue, status }));
  ev.on('externalRefused', (call) => refused.inc({ call }));
  ev.on('externalLeaseExpired', (queue, n) => expired.inc({ queue }, n));

  return async () => {
    polls.set(engine.external.hub.waiting);
    const queues = (await s.queue.external.queues()).slice(0, MAX_QUEUES);
    const stats = await Promise.all(queues.map((q) => s.queue.external.stats(q)));
    depth.reset();
    oldest.reset();
    leased.reset();
    for (const st of stats) {
      depth.set({ queue: st.queue, state: 'due' }, st.dueNow);
      depth.set({ queue: st.queue, state: 'delayed' }, st.ready - st.dueNow);
      oldest.set({ queue: st.queue }, st.oldestWaitingMs / 1000);
      leased.set({ queue: st.queue }, st.leased);
    }
  };
}
