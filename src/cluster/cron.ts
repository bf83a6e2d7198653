// Cron (leader only): every live flow with cron_enabled = 1 and a cron is scheduled with node-cron
// (5 fields, or 6 with seconds). The schedule follows the flows: a cheap query every CRON_RELOAD_MS
// picks up new, changed, disabled and deleted flows (only a changed expression reschedules).
// A tick starts the flow with trigger CRON and scheduledTime = the tick's own instant (node-cron passes
// the slot it matched, whole seconds), not the time the callback happens to run, which may already be
// past the next second boundary on a busy process. (flow_id, scheduled_time) is unique in MySQL, so a
// tick fired twice — by an old and a new leader around a change — starts one instance; the second start
// returns null and is only counted.
import cron, { type ScheduledTask, type Logger as CronLogger } from 'node-cron';
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import { every, type Loop } from './util.js';

const CRON_RELOAD_MS = 2_000;
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

export class CronDuty {
  private scheduled = new Map<number, Scheduled>();
  /** Expressions node-cron refused, by flow, so each is logged once and not retried every reload. */
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
    const rows: { flow_id: number; cron: string }[] = await this.s.knex('task_flow')
      .select('flow_id', 'cron')
      .where('cron_enabled', true)
      .whereNotNull('cron')
      .whereNull('deleted_time');
    if (this.stopped) return;
    const want = new Map(rows.map((r) => [r.flow_id, r.cron.trim()]));
    for (const [flowId, s] of this.scheduled) {
      if (want.get(flowId) !== s.cron) {
        await s.task.destroy();
        this.scheduled.delete(flowId);
        this.log.info({ flowId }, 'cron unscheduled');
      }
    }
    for (const [flowId, expr] of want) {
      if (this.scheduled.has(flowId) || this.refused.get(flowId) === expr) continue;
      this.schedule(flowId, expr);
    }
    for (const flowId of this.refused.keys()) if (!want.has(flowId)) this.refused.delete(flowId);
  }

  private schedule(flowId: number, expr: string): void {
    let task: ScheduledTask;
    try {
      task = cron.createTask(expr, (ctx) => this.fire(flowId, ctx.date), { name: `flow-${flowId}`, logger: this.cronLog });
    } catch (e) {
      this.refused.set(flowId, expr);
      this.log.warn({ flowId, cron: expr, err: e }, 'cron expression refused; the flow is not scheduled');
      return;
    }
    task.on('execution:missed', (ctx) => {
      if (Date.now() - ctx.date.getTime() <= MISSED_CATCH_UP_MS) return this.fire(flowId, ctx.date);
    });
    void task.start();
    this.scheduled.set(flowId, { cron: expr, task });
    this.log.info({ flowId, cron: expr }, 'cron scheduled');
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
