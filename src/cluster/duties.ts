// The leader's duties, started on election and stopped on loss or stop(): the reaper, the reconciler
// (one pass at once — a member coming back after Redis restarted finds MySQL's open work — then on its
// interval, and again as soon as MySQL and Redis both answer after either was away) and cron. Reaper and
// reconciler passes run one at a time through `exclusive`, so the two never decide about the same row at
// once. Start and stop are chained, so a quick lose-and-win cannot leave two sets of timers running.
import type { Services } from '../services.js';
import type { Logger } from '../infra/logger.js';
import type { CronDuty } from './cron.js';
import { every, withTimeout, type Loop } from './util.js';
import { FLOW_CONTROL_MS, LIMIT_PUMP_MS, LIMITS_SYNC_MS, type LimitsDuty } from './limits.js';

/** How often the leader looks whether MySQL and Redis answer, to reconcile as soon as both are back. */
const PROBE_MS = 500;

export class LeaderDuties {
  private loops: Loop[] = [];
  private followUp: NodeJS.Timeout | null = null;
  private active = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private s: Services,
    private log: Logger,
    private parts: {
      reap: () => Promise<unknown>;
      /**
       * A reconcile pass; with `lookAtFresh` (after an election or an outage) it also counts the runs Redis
       * forgot that are still in their grace (`deferred`), to be looked at again after it.
       */
      reconcile: (lookAtFresh: boolean) => Promise<{ deferred: number }>;
      cron: CronDuty;
      graceMs: number;
      /** Timed checks (SIGNAL timeouts), every `timersMs`; not serialised with the reaper and reconciler. */
      timers?: () => Promise<unknown>;
      timersMs?: number;
      /** Flow control: the task limits copied to the queue, and ids waiting on them let through. */
      limits?: LimitsDuty;
      /** Flow control of flow instances: QUEUED ones started, timed-out ones failed. */
      flows?: { startQueued(): Promise<unknown>; failTimedOut(): Promise<unknown> };
    },
    private exclusive: <T>(job: () => Promise<T>) => Promise<T>,
    private stillLeader: () => boolean,
  ) {}

  start(): Promise<void> {
    return this.then(async () => {
      if (this.active) return;
      this.active = true;
      const { config } = this.s;
      const { reap, cron, graceMs } = this.parts;
      const guarded = (job: () => Promise<unknown>) => async () => {
        if (this.stillLeader()) await this.exclusive(job);
      };
      // A pass that left fresh rows for their grace comes back for them once it is over, not a whole
      // interval later (after Redis came back empty, say, every run in flight is such a row).
      const routine = () => this.parts.reconcile(false);
      const afterTrouble = async () => {
        const { deferred } = await this.parts.reconcile(true);
        if (deferred && !this.followUp && this.active) {
          this.followUp = setTimeout(() => {
            this.followUp = null;
            guarded(routine)().catch((e) => this.log.error({ err: e }, 'reconcile pass failed'));
          }, graceMs + 250);
        }
      };
      // The first pass, right after the election, is one after trouble: a member coming back after Redis
      // restarted finds MySQL's open work, runs in flight included.
      let first = true;
      const periodic = async () => {
        if (!first) return routine();
        first = false;
        return afterTrouble();
      };
      let down: string | null = null;
      const probe = async () => {
        const [mysql, redis] = await Promise.allSettled([
          withTimeout(this.s.knex.raw('select 1'), PROBE_MS * 2, 'MySQL probe'),
          withTimeout(this.s.redis.ping(), PROBE_MS * 2, 'Redis probe'),
        ]);
        const now = mysql.status === 'rejected' ? 'MySQL' : redis.status === 'rejected' ? 'Redis' : null;
        if (now) {
          if (!down) this.log.warn({ dependency: now }, 'leader: a dependency does not answer; reconciling as soon as it is back');
          down = now;
        } else if (down) {
          down = null;
          this.log.info('leader: MySQL and Redis answer again: reconciling now');
          await guarded(afterTrouble)();
        }
      };
      this.loops.push(
        every(config.reapIntervalMs, guarded(reap), (e) => this.log.error({ err: e }, 'reaper pass failed')),
        every(config.reconcileIntervalMs, guarded(periodic), (e) => this.log.error({ err: e }, 'reconcile pass failed'), { immediate: true }),
        every(PROBE_MS, probe, (e) => this.log.error({ err: e }, 'reconcile after an outage failed')),
      );
      const { timers } = this.parts;
      if (timers) this.loops.push(every(this.parts.timersMs ?? 1_000, async () => { if (this.stillLeader()) await timers(); }, (e) => this.log.error({ err: e }, 'timed checks failed')));
      const { limits } = this.parts;
      if (limits) {
        // Not through `exclusive`: neither decides about a row, and a long reconcile must not hold them up.
        const ifLeader = (job: () => Promise<unknown>) => async () => {
          if (this.stillLeader()) await job();
        };
        this.loops.push(
          every(LIMITS_SYNC_MS, ifLeader(() => limits.sync()), (e) => this.log.warn({ err: e }, 'copying the task limits to Redis failed'), { immediate: true }),
          every(LIMIT_PUMP_MS, ifLeader(() => limits.pump()), (e) => this.log.warn({ err: e }, 'letting ids waiting on task limits through failed')),
        );
      }
      const { flows } = this.parts;
      if (flows) {
        const ifLeader = (job: () => Promise<unknown>) => async () => {
          if (this.stillLeader()) await job();
        };
        this.loops.push(
          every(FLOW_CONTROL_MS, ifLeader(() => flows.failTimedOut()), (e) => this.log.warn({ err: e }, 'failing timed-out flow instances failed')),
          every(FLOW_CONTROL_MS, ifLeader(() => flows.startQueued()), (e) => this.log.warn({ err: e }, 'starting QUEUED flow instances failed')),
        );
      }
      await cron.start();
      this.log.info('leader duties started');
    });
  }

  stop(): Promise<void> {
    return this.then(async () => {
      if (!this.active) return;
      this.active = false;
      if (this.followUp) clearTimeout(this.followUp);
      this.followUp = null;
      const loops = this.loops;
      this.loops = [];
      await Promise.all([...loops.map((l) => l.stop()), this.parts.cron.stop()]);
      this.log.info('leader duties stopped');
    });
  }

  private then(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((e) => this.log.error({ err: e }, 'leader duties: start/stop failed'));
    return this.chain;
  }
}
