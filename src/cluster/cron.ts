// Cron (leader only): every live flow with cron_enabled = 1 and a cron is scheduled with node-cron
// (5 fields, or 6 with seconds). The schedule follows the flows: a cheap query every CRON_RELOAD_MS
// picks up new, changed, disabled and deleted flows (only a changed expression reschedules).
// A tick starts the flow with trigger CRON and scheduledTime = the tick's own instant (node-cron passes
// the slot it matched, whole seconds), not the time the callback happens to run, which may already be
// past the next second boundary on a busy process. (flow_id, scheduled_time) is unique in MySQL, so a
// tick fired twice — by an old and a new leader around a change — starts one instance; the second start
// returns null and is only counted.
//
// Every expression goes through parseCron() (src/definitions/cronExpression.ts) before node-cron sees
// it: node-cron expands ranges eagerly, and a row written before the API checked ranges (or by hand)
// must not be able to take the leader down. A refused expression is logged once and not scheduled.
//
// Misfires: ticks that fall while no member leads (an election, every member down) are not fired by
// node-cron. When a flow is scheduled — the duty starting on a new leader, or a flow new, changed or
// re-enabled — a FIRE_ONCE flow (the default) gets ONE catch-up start for the latest tick it missed:
// the latest tick after the later of its last cron instance's tick and its last save (update_time),
// looked for at most MISFIRE_WINDOW_MS back. A SKIP flow fires nothing for the gap. The catch-up goes
// through fire(), so the unique key (flow_id, scheduled_time) keeps it to one instance even when two
// members catch up at once.
import cron, { type ScheduledTask, type Logger as CronLogger } from 'node-cron';
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import { parseCron, type CronSchedule } from '../definitions/cronExpression.js';
import { latestTick } from '../definitions/cronTicks.js';
import { every, type Loop } from './util.js';
import { Flow, FlowIns } from '../models/index.js';

const CRON_RELOAD_MS = 2_000;
/** How far back a catch-up looks for a missed tick (README: cronMisfire). */
export const MISFIRE_WINDOW_MS = 24 * 3600_000;
/** node-cron reports ticks it ran too late for (a blocked event loop); those this recent still fire. */
const MISSED_CATCH_UP_MS = 5_000;

export interface CronCounts {
  fired: number;
  /** Ticks another fire (an old or a new leader) had already started. */
  duplicates: number;
  failed: number;
}

interface Scheduled {
  cron: string;
  task: ScheduledTask;
}

type CronFlowRow = Pick<Flow, 'flow_id' | 'cron_misfire' | 'update_time'> & { cron: string };

export class CronDuty {
  private scheduled = new Map<number, Scheduled>();
  /** Expressions refused (by parseCron or node-cron), by flow, so each is logged once and not retried every reload. */
  private refused = new Map<number, string>();
  private loop: Loop | null = null;
  private stopped = true;
  readonly counts: CronCounts = { fired: 0, duplicates: 0, failed: 0 };
  private readonly cronLog: CronLogger;

  /** `mayFire` is checked on every tick: a member whose lease lapsed does not start flows. */
  constructor(private s: Services, private engine: Engine, private log: Logger, private mayFire: () => boolean, private reloadMs = CRON_RELOAD_MS) {
    this.cronLog = {
      info: (m) => log.debug(m),
      warn: (m) => log.warn(m),
      error: (m, e) => log.error({ err: e ?? m }, 'node-cron error'),
      debug: (m) => log.debug(m instanceof Error ? { err: m } : { msg: m }, 'node-cron'),
    };
  }

  /** Flows scheduled now. */
  get size(): number {
    return this.scheduled.size;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.loop = every(this.reloadMs, () => this.reload(), (e) => this.log.warn({ err: e }, 'cron reload failed'), { immediate: true });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop?.stop();
    this.loop = null;
    for (const { task } of this.scheduled.values()) await task.destroy();
    this.scheduled.clear();
  }

  /** Brings the schedule in line with the flows table. */
  async reload(): Promise<void> {
    // SELECT flow_id, cron, cron_misfire, update_time FROM task_flow
    //  WHERE cron_enabled = 1 AND cron IS NOT NULL AND deleted_time IS NULL
    const rows = await Flow.query(this.s.knex)
      .select('flow_id', 'cron', 'cron_misfire', 'update_time')
      .where('cron_enabled', true)
      .whereNotNull('cron')
      .whereNull('deleted_time');
    if (this.stopped) return;
    const want = new Map(rows.map((r): [number, CronFlowRow] => [r.flow_id, { flow_id: r.flow_id, cron: r.cron!.trim(), cron_misfire: r.cron_misfire, update_time: r.update_time }]));
    for (const [flowId, s] of this.scheduled) {
      if (want.get(flowId)?.cron !== s.cron) {
        await s.task.destroy();
        this.scheduled.delete(flowId);
        this.log.info({ flowId }, 'cron unscheduled');
      }
    }
    for (const [flowId, flow] of want) {
      if (this.stopped) return;
      if (this.scheduled.has(flowId) || this.refused.get(flowId) === flow.cron) continue;
      await this.schedule(flow);
    }
    for (const flowId of this.refused.keys()) if (!want.has(flowId)) this.refused.delete(flowId);
  }

  /**
   * Schedules one flow, then catches up what it missed. It is recorded as scheduled only once the
   * catch-up is over (reloads never overlap, so nothing schedules it twice meanwhile).
   */
  private async schedule(flow: CronFlowRow): Promise<void> {
    const { flow_id: flowId, cron: expr } = flow;
    let plan: CronSchedule;
    let task: ScheduledTask;
    try {
      plan = parseCron(expr); // before node-cron expands anything
      task = cron.createTask(expr, (ctx) => this.fire(flowId, ctx.date), { name: `flow-${flowId}`, logger: this.cronLog });
    } catch (e) {
      this.refuse(flowId, expr, e);
      return;
    }
    task.on('execution:missed', (ctx) => {
      if (Date.now() - ctx.date.getTime() <= MISSED_CATCH_UP_MS) return this.fire(flowId, ctx.date);
    });
    try {
      void task.start();
    } catch (e) {
      await task.destroy();
      this.refuse(flowId, expr, e);
      return;
    }
    // node-cron fires the ticks after the second it started in; the catch-up looks at those up to it.
    const startedAt = new Date();
    try {
      await this.catchUp(flow, plan, startedAt);
    } finally {
      if (this.stopped) await task.destroy();
      else {
        this.scheduled.set(flowId, { cron: expr, task });
        this.log.info({ flowId, cron: expr }, 'cron scheduled');
      }
    }
  }

  private refuse(flowId: number, expr: string, e: unknown): void {
    this.refused.set(flowId, expr);
    this.log.warn({ flowId, cron: expr, err: e }, 'cron expression refused; the flow is not scheduled');
  }

  /**
   * The misfire policy: the latest tick in (reference, now] where reference is the later of the flow's
   * last cron tick, its last save (update_time: a save may have changed or enabled the cron) and
   * now − MISFIRE_WINDOW_MS. FIRE_ONCE starts that one tick; SKIP only says it skipped.
   */
  private async catchUp(flow: CronFlowRow, plan: CronSchedule, now: Date): Promise<void> {
    const flowId = flow.flow_id;
    try {
      // SELECT scheduled_time FROM task_flow_ins WHERE flow_id = ? AND scheduled_time IS NOT NULL
      //  ORDER BY scheduled_time DESC LIMIT 1   (the latest tick, off uk_flow_ins_schedule)
      const last = (await FlowIns.query(this.s.knex).select('scheduled_time').where('flow_id', flowId).whereNotNull('scheduled_time').orderBy('scheduled_time', 'desc').first())?.scheduled_time;
      const reference = Math.max(last ? new Date(last).getTime() : 0, new Date(flow.update_time).getTime(), now.getTime() - MISFIRE_WINDOW_MS);
      const tick = latestTick(plan, new Date(reference), now);
      if (!tick || this.stopped) return;
      if (flow.cron_misfire === 'SKIP') {
        this.log.info({ flowId, missedTick: tick, since: new Date(reference) }, 'cron misfire SKIP: missed ticks not fired');
        return;
      }
      this.log.info({ flowId, scheduledTime: tick, since: new Date(reference) }, 'cron misfire FIRE_ONCE: one catch-up start for the latest missed tick');
      await this.fire(flowId, tick);
    } catch (e) {
      this.log.warn({ flowId, err: e }, 'cron catch-up failed; the flow is scheduled without it');
    }
  }

  /** One tick: starts the flow for this scheduled instant, unless that tick already has its instance. */
  async fire(flowId: number, slot: Date): Promise<void> {
    if (this.stopped || !this.mayFire()) return;
    const scheduledTime = new Date(Math.floor(slot.getTime() / 1000) * 1000);
    try {
      const fiId = await this.engine.startFlow(flowId, { trigger: 'CRON', scheduledTime });
      if (fiId === null) {
        this.counts.duplicates += 1;
        this.log.debug({ flowId, scheduledTime }, 'cron tick already started');
      } else {
        this.counts.fired += 1;
        this.log.debug({ flowId, fiId, scheduledTime }, 'cron started flow');
      }
    } catch (e) {
      this.counts.failed += 1;
      this.log.warn({ flowId, scheduledTime, err: e }, 'cron start failed');
    }
  }
}
