// The reaper (leader only, every REAP_INTERVAL_MS): task instances whose worker lease ran out — the
// worker died, stalled or lost Redis — are decided from their MySQL row:
//   RUNNING, worker-lost budget left → PENDING with version + 1 and lost_attempts + 1, queued again. The
//                              version bump is the fence: the lost worker's late result is refused, so a
//                              task never records two results. Runs lost with a worker do not count
//                              against the task's own maxRetries (they have WORKER_LOST_RETRIES of their own).
//   RUNNING, budget used     → FAILED "worker lost" (version-checked), and its flow is advanced.
//   PENDING                  → queued again as it is (claimed but never started): nothing ran, nothing to fence.
//   SUCCESS/FAILED/CANCELLED → the worker wrote its result but its ack or advance did not happen (it died,
//                              or Redis refused): the lease is dropped and the flow advanced; nothing runs again.
// Order, so an error anywhere loses nothing: the expired leases are listed (left in place), MySQL decides,
// then each lease is settled in Redis — taken out of `inflight` (and requeued when PENDING) only if it is
// still the very lease that was listed. A MySQL error before settling leaves the leases where they were,
// for the next pass.
// Dead members: a member whose heartbeat key is gone no longer extends anything, so its leases are made
// expired at once (expireOrphans.lua) instead of after a whole lease: its tasks are handed out within a
// few heartbeats. The lease stays the backstop for a member that is alive but stuck.
// Fenced: every Redis step checks atomically that the caller still holds the leader lease, so a pass
// queued on a frozen Redis that runs after another member was elected does nothing.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import type { InflightEntry, LeaderFence } from '../queue/types.js';
import { advanceAll } from './advance.js';
import { TaskIns } from '../models/index.js';

const BATCH = 200;
/** Per pass; what is left is taken on the next pass, a few hundred ms later. */
const MAX_PER_PASS = 2_000;
export const WORKER_LOST = 'worker lost';

export interface ReapReport {
  taken: number;
  requeued: number;
  failed: number;
  advanced: number;
  /** Leases of gone members made expired by this pass. */
  orphaned: number;
}

interface Row {
  ti_id: number;
  fi_id: number | null;
  exec_status: string;
  lost_attempts: number;
  version: number;
}

export class Reaper {
  private nextOrphanCheck = 0;

  /** `fence` is the leader lease's value while this member leads, else null. */
  constructor(private s: Services, private engine: Engine, private log: Logger, private fence: () => LeaderFence | null) {}

  async pass(): Promise<ReapReport> {
    const total: ReapReport = { taken: 0, requeued: 0, failed: 0, advanced: 0, orphaned: 0 };
    const fence = this.fence();
    if (!fence) return total;
    const { queue, config } = this.s;
    if (Date.now() >= this.nextOrphanCheck) {
      this.nextOrphanCheck = Date.now() + config.heartbeatMs;
      // A member beats before it claims, so a lease younger than a heartbeat TTL is never an orphan's.
      const o = await queue.expireOrphans(fence, config.heartbeatMs * 3);
      total.orphaned = o.expired;
      if (o.expired) this.log.info({ members: o.goneMembers, leases: o.expired }, 'members gone: their leases expire now');
    }
    const add = (r: { settled: number; requeued: number; failed: number; advanced: number }) => {
      total.taken += r.settled;
      total.requeued += r.requeued;
      total.failed += r.failed;
      total.advanced += r.advanced;
    };
    while (total.taken < MAX_PER_PASS) {
      const expired = await queue.expiredLeases(fence, BATCH);
      if (!expired.length) break;
      const r = await this.handle(expired, (items) => queue.settleExpired(fence, items));
      add(r);
      if (expired.length < BATCH || r.settled === 0) break;
    }
    // External workers' leases (WORKER tasks), queue by queue: decided by the same rules. Their scripts
    // are not fenced by the leader lease (another hash slot); settling is conditional on the very lease
    // listed, and the MySQL decision on the row's version, so a stale leader's pass changes nothing.
    for (const q of await queue.external.queues()) {
      for (let pages = 0; total.taken < MAX_PER_PASS && pages < 10; pages++) {
        const expired = await queue.external.expired(q, BATCH);
        if (!expired.length) break;
        const r = await this.handle(expired, (items) => queue.external.settle(q, items));
        add(r);
        if (r.settled) this.engine.events.emit('externalLeaseExpired', q, r.settled);
        if (expired.length < BATCH || r.settled === 0) break;
      }
    }
    if (total.taken) this.log.info(total, 'reaped expired worker leases');
    return total;
  }

  /** Decides a batch of expired leases in MySQL, then settles them in Redis. */
  private async handle(
    expired: InflightEntry[],
    settle: (items: { entry: InflightEntry; requeue: boolean; priority?: number }[]) => Promise<number>,
  ): Promise<{ settled: number; requeued: number; failed: number; advanced: number }> {
    const { knex, config } = this.s;
    const ids = [...new Set(expired.map((e) => e.tiId))];
    const rows: Row[] = await TaskIns.query(knex).select('ti_id', 'fi_id', 'exec_status', 'lost_attempts', 'version').whereIn('ti_id', ids);
    const retry: [number, number][] = [];
    const fail: [number, number][] = [];
    for (const r of rows) {
      if (r.exec_status !== 'RUNNING') continue;
      (r.lost_attempts < config.workerLostRetries ? retry : fail).push([r.ti_id, r.version]);
    }
    const now = new Date();
    // An external worker's token goes with its run: its late calls are refused (409).
    const lost = { lost_attempts: TaskIns.raw('lost_attempts + 1'), update_time: now, lease_token: null };
    const requeued = await TaskIns.patchEachIfVersion<TaskIns>(retry, { ...lost, exec_status: 'PENDING', error_msg: `${WORKER_LOST}; trying again` }, knex);
    const failed = await TaskIns.patchEachIfVersion<TaskIns>(fail, { ...lost, exec_status: 'FAILED', error_msg: WORKER_LOST, end_time: now }, knex);
    // Act on where the rows stand now (whoever wrote last): PENDING is queued, an ended one is advanced.
    // A row refused above (it moved on meanwhile) is handled by the same rule; a RUNNING one (a worker
    // marked it meanwhile under a new lease) keeps its lease — ours, the expired one, is dropped.
    const after = await TaskIns.query(knex).select('ti_id', 'fi_id', 'exec_status', 'priority').whereIn('ti_id', ids);
    const statusOf = new Map(after.map((r) => [r.ti_id, r.exec_status]));
    const priorityOf = new Map(after.map((r) => [r.ti_id, r.priority ?? 0]));
    const settled = await settle(expired.map((entry) => ({ entry, requeue: statusOf.get(entry.tiId) === 'PENDING', priority: priorityOf.get(entry.tiId) })));
    const ended = new Set(after.filter((r) => r.fi_id && ['SUCCESS', 'FAILED', 'CANCELLED'].includes(r.exec_status)).map((r) => r.fi_id!));
    await advanceAll(this.engine, [...ended], this.log, 'reaper');
    return { settled, requeued, failed, advanced: ended.size };
  }
}
