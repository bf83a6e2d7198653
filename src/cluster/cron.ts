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
// Starts are not made here: fire() queues the tick in CronStarts (cronStarts.ts), which starts every
// tick due in one transaction, one batch at a time, and counts the ticks it cannot start in time.
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
import { CronStarts, type CronCounts, type TickOutcome } from './cronStarts.js';
import { Flow, FlowIns } from '../models/index.js';

const CRON_RELOAD_MS = 2_000;
/** How far back a catch-up looks for a missed tick (README: cronMisfire). */
export const MISFIRE_WINDOW_MS = 24 * 3600_000;
export type { CronCounts } from './cronStarts.js';

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
  private readonly starts: CronStarts;
  private readonly cronLog: CronLogger;

  /** `mayFire` is checked on every tick and every batch: a member whose lease lapsed does not start flows. */
  constructor(private s: Services, engine: Engine, private log: Logger, private mayFire: () => boolean, private reloadMs = CRON_RELOAD_MS) {
    this.starts = new CronStarts(engine, log, mayFire);
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

  /** Ticks started, found started, refused and missed, since this member started. */
  get counts(): CronCounts {
    return this.starts.counts;
  }

  /** Ticks waiting to be started. */
  get pending(): number {
    return this.starts.size;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.starts.open();
    this.loop = every(this.reloadMs, () => this.reload(), (e) => this.log.warn({ err: e }, 'cron reload failed'), { immediate: true });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The queue closes alongside the loop: a reload waiting for its catch-ups is released by it.
    await Promise.all([this.loop?.stop(), this.starts.close()]);
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
        this.starts.drop(flowId);
        this.log.info({ flowId }, 'cron unscheduled');
      }
    }
    // A flow is recorded as scheduled only once its catch-up is over (reloads never overlap, so nothing
    // schedules it twice meanwhile). The catch-ups of one reload wait in the queue together and start
    // in one batch, not one transaction after the other.
    const added: { flowId: number; expr: string; task: ScheduledTask; caughtUp: Promise<unknown> }[] = [];
    try {
      for (const [flowId, flow] of want) {
        if (this.stopped) break;
        if (this.scheduled.has(flowId) || this.refused.get(flowId) === flow.cron) continue;
        const one = await this.schedule(flow);
        if (one) added.push(one);
      }
      await Promise.all(added.map((a) => a.caughtUp));
    } finally {
      for (const { flowId, expr, task } of added) {
        if (this.stopped) await task.destroy();
        else {
          this.scheduled.set(flowId, { cron: expr, task });
          this.log.info({ flowId, cron: expr }, 'cron scheduled');
        }
      }
    }
    for (const flowId of this.refused.keys()) if (!want.has(flowId)) this.refused.delete(flowId);
  }

  /** Schedules one flow and queues the catch-up of what it missed; null when its expression is refused. */
  private async schedule(flow: CronFlowRow): Promise<{ flowId: number; expr: string; task: ScheduledTask; caughtUp: Promise<unknown> } | null> {
    const { flow_id: flowId, cron: expr } = flow;
    let plan: CronSchedule;
    let task: ScheduledTask;
    try {
      plan = parseCron(expr); // before node-cron expands anything
      // Not awaited: node-cron need not track a start that waits in the queue.
      task = cron.createTask(expr, (ctx) => void this.fire(flowId, ctx.date), { name: `flow-${flowId}`, logger: this.cronLog });
    } catch (e) {
      this.refuse(flowId, expr, e);
      return null;
    }
    // Ticks node-cron ran too late for (a blocked event loop) are queued like the others: CronStarts
    // starts those still within CRON_LATE_MS and counts the rest as missed.
    task.on('execution:missed', (ctx) => void this.fire(flowId, ctx.date));
    try {
      void task.start();
    } catch (e) {
      await task.destroy();
      this.refuse(flowId, expr, e);
      return null;
    }
    // node-cron fires the ticks after the second it started in; the catch-up looks at those up to it.
    const { queued: caughtUp } = await this.catchUp(flow, plan, new Date());
    return { flowId, expr, task, caughtUp };
  }

  private refuse(flowId: number, expr: string, e: unknown): void {
    this.refused.set(flowId, expr);
    this.log.warn({ flowId, cron: expr, err: e }, 'cron expression refused; the flow is not scheduled');
  }

  /**
   * The misfire policy: the latest tick in (reference, now] where reference is the later of the flow's
   * last cron tick, its last save (update_time: a save may have changed or enabled the cron) and
   * now − MISFIRE_WINDOW_MS. FIRE_ONCE queues that one tick (`queued` settles once it is started or
   * given up); SKIP only says it skipped.
   */
  private async catchUp(flow: CronFlowRow, plan: CronSchedule, now: Date): Promise<{ queued: Promise<unknown> }> {
    const flowId = flow.flow_id;
    try {
      // SELECT scheduled_time FROM task_flow_ins WHERE flow_id = ? AND scheduled_time IS NOT NULL
      //  ORDER BY scheduled_time DESC LIMIT 1   (the latest tick, off uk_flow_ins_schedule)
      const last = (await FlowIns.query(this.s.knex).select('scheduled_time').where('flow_id', flowId).whereNotNull('scheduled_time').orderBy('scheduled_time', 'desc').first())?.scheduled_time;
      const reference = Math.max(last ? new Date(last).getTime() : 0, new Date(flow.update_time).getTime(), now.getTime() - MISFIRE_WINDOW_MS);
      const tick = latestTick(plan, new Date(reference), now);
      if (!tick || this.stopped) return { queued: Promise.resolve() };
      if (flow.cron_misfire === 'SKIP') {
        this.log.info({ flowId, missedTick: tick, since: new Date(reference) }, 'cron misfire SKIP: missed ticks not fired');
        return { queued: Promise.resolve() };
      }
      this.log.info({ flowId, scheduledTime: tick, since: new Date(reference) }, 'cron misfire FIRE_ONCE: one catch-up start for the latest missed tick');
      // Wrapped: awaiting the query must not await the start as well.
      return { queued: this.fire(flowId, tick, { catchUp: true }) };
    } catch (e) {
      this.log.warn({ flowId, err: e }, 'cron catch-up failed; the flow is scheduled without it');
      return { queued: Promise.resolve() };
    }
  }

  /**
   * One tick: queued to be started for this scheduled instant (unless that tick already has its
   * instance). Resolves with what became of it, or null when this member may not fire; never rejects.
   * A catch-up is due now, not at its (long past) tick, so it is not counted late.
   */
  async fire(flowId: number, slot: Date, opts: { catchUp?: boolean } = {}): Promise<TickOutcome | null> {
    if (this.stopped || !this.mayFire()) return null;
    const scheduledTime = new Date(Math.floor(slot.getTime() / 1000) * 1000);
    return this.starts.add(flowId, scheduledTime, opts.catchUp ? Date.now() : scheduledTime.getTime());
  }
}
