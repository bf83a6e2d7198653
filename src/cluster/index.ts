// The cluster layer of one member: membership (a heartbeat key), leadership (a Redlock lease) and the
// leader's duties (reaper, reconciler, cron). Every member takes part, whatever its roles: a web-only
// member can lead as well as a worker. Each duty lives in its own file; this one wires them together.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Cluster, ClusterStats, ReconcileReport } from './types.js';
import { Membership } from './membership.js';
import { LeaderLease } from './leader.js';
import { LeaderDuties } from './duties.js';
import { Reaper } from './reaper.js';
import { Reconciler, STUCK_GRACE_MS } from './reconciler.js';
import { CronDuty } from './cron.js';
import { advanceDueSignals, DUE_SCAN_MS } from './dueSignals.js';
import { LimitsDuty } from './limits.js';
import { serial, withTimeout } from './util.js';

export async function startCluster(s: Services, engine: Engine, clusterId: string): Promise<Cluster> {
  const log = s.log.child({ component: 'cluster' });
  const stats: ClusterStats = {
    elections: 0,
    reaper: { taken: 0, requeued: 0, failed: 0 },
    reconciler: { passes: 0, requeued: 0, released: 0, advanced: 0 },
    cron: { fired: 0, duplicates: 0, failed: 0, missed: 0, scheduled: 0, pending: 0 },
  };
  const exclusive = serial();

  // `lease` is read lazily by the callbacks below, once it exists.
  let lease: LeaderLease;
  const reaper = new Reaper(s, engine, log.child({ duty: 'reaper' }), () => lease.fence());
  const reap = async () => {
    const r = await reaper.pass();
    stats.reaper.taken += r.taken;
    stats.reaper.requeued += r.requeued;
    stats.reaper.failed += r.failed;
  };
  const reconciler = new Reconciler(s, engine, log.child({ duty: 'reconciler' }));
  const reconcile = async (fromStart: boolean, lookAtFresh = false): Promise<ReconcileReport & { deferred: number }> => {
    const d = await reconciler.pass(fromStart, lookAtFresh);
    stats.reconciler.passes += 1;
    stats.reconciler.requeued += d.requeued;
    stats.reconciler.released += d.released;
    stats.reconciler.advanced += d.advanced;
    return { requeued: d.requeued, released: d.released, advanced: d.advanced, deferred: d.deferred };
  };

  const isLeader = () => lease.isLeader();
  const cron = new CronDuty(s, engine, log.child({ duty: 'cron' }), isLeader);
  const timers = () => advanceDueSignals(s, engine, log.child({ duty: 'timers' }));
  const duties = new LeaderDuties(s, log, { reap, reconcile: (lookAtFresh: boolean) => reconcile(false, lookAtFresh), cron, graceMs: STUCK_GRACE_MS, timers, timersMs: DUE_SCAN_MS, limits: new LimitsDuty(s, log.child({ duty: 'limits' })), flows: engine }, exclusive, isLeader);
  lease = new LeaderLease(s, {
    onElected: () => {
      stats.elections += 1;
      void duties.start();
    },
    onLost: () => void duties.stop(),
  });
  const membership = new Membership(s, engine, clusterId);

  await membership.start();
  await lease.start();

  let stopped: Promise<void> | null = null;
  return {
    memberId: s.memberId,
    isLeader,
    members: async () => membership.list((await lease.current()).memberId),
    leader: () => lease.current(),
    reconcileNow: () => exclusive(async () => {
      const { deferred: _, ...report } = await reconcile(true);
      return report;
    }),
    stats: () => ({
      elections: stats.elections,
      reaper: { ...stats.reaper },
      reconciler: { ...stats.reconciler },
      cron: { ...cron.counts, scheduled: cron.size, pending: cron.pending },
    }),
    stop() {
      // Duties first (no new work is started under a lease about to go), then the lease is released so
      // another member takes over on its next try, then the heartbeat key goes.
      stopped ??= (async () => {
        await lease.halt();
        await withTimeout(duties.stop(), 10_000, 'stopping the leader duties').catch((e) => log.warn({ err: e }, 'leader duties did not stop in time'));
        await lease.release();
        await membership.stop();
        log.info('left the cluster');
      })();
      return stopped;
    },
  };
}
