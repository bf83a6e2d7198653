// Flow control, the leader's part (issue 18). The queue applies the task limits at claim time
// (queue/lua/limits.lib.lua); the leader
// - copies the limits from MySQL (taskConfig.concurrencyLimit / rateLimit of live tasks) into the queue's
//   table every SYNC_MS, so a saved change reaches waiting work within seconds, and marks the queued ids
//   of a task that has just got limits (queued before: they would otherwise run unlimited);
// - every PUMP_MS moves ids waiting on a limit back to ready as far as the limits allow now (a rate
//   window that opens, a limit raised or removed). A slot freed by a result, a reap or a cancel goes to
//   the next waiting id at once, in the script that frees it: this pass is for what the clock frees.
// Neither decides anything about a row: both are safe to run on two members at once (a leader change).
import type { Services } from '../services.js';
import type { Logger } from '../infra/logger.js';
import type { TaskLimits } from '../queue/types.js';
import { limitsOf, readTaskConfig } from '../definitions/taskConfig.js';
import { Task, TaskIns } from '../models/index.js';
import { externalQueueOf } from '../engine/external/route.js';

export const LIMITS_SYNC_MS = 2_000;
/** How often the leader starts QUEUED flow instances that have room and fails those past their timeout. */
export const FLOW_CONTROL_MS = 250;
export const LIMIT_PUMP_MS = 100;
/** How often a pump pass also gives back slots left held by ids no longer in flight. */
const CLEAN_EVERY_MS = 5_000;
const MARK_BATCH = 5_000;

export class LimitsDuty {
  private nextClean = 0;

  constructor(private s: Services, private log: Logger) {}

  /** Copies the live tasks' limits into the queue; returns the tasks whose limits changed. */
  async sync(): Promise<number> {
    const { knex, queue } = this.s;
    const rows = await Task.query(knex)
      .select('task_id', 'task_config')
      .whereNull('deleted_time')
      .where((q) => q.where('task_config', 'like', '%concurrencyLimit%').orWhere('task_config', 'like', '%rateLimit%'));
    const want = new Map<number, TaskLimits>();
    for (const r of rows) {
      const l = limitsOf(readTaskConfig(r.task_config));
      if (l) want.set(Number(r.task_id), l);
    }
    const { added, changed, removed } = await queue.setLimits(want);
    if (added.length) {
      // Ids queued before their task had limits: listed now, so their claims apply them.
      let after = 0;
      for (;;) {
        const open: Record<string, any>[] = await TaskIns.query(knex)
          .select('task_ins.ti_id', 'task_ins.task_id', 't.task_type', 't.task_config')
          .join('task as t', 't.task_id', 'task_ins.task_id')
          .whereIn('task_ins.task_id', added).where('task_ins.exec_status', 'PENDING').where('task_ins.ti_id', '>', after).orderBy('task_ins.ti_id').limit(MARK_BATCH);
        // A WORKER task's ids are listed in their external queue (its claims apply the limits there).
        await queue.markLimited(open.map((r) => ({ tiId: r.ti_id, taskId: r.task_id, ...externalQueueOf(r) })));
        if (open.length < MARK_BATCH) break;
        after = open[open.length - 1].ti_id;
      }
    }
    const n = added.length + changed.length + removed.length;
    if (n) this.log.info({ added, changed, removed }, 'task limits changed');
    return n;
  }

  async pump(): Promise<number> {
    const clean = Date.now() >= this.nextClean;
    if (clean) this.nextClean = Date.now() + CLEAN_EVERY_MS;
    return this.s.queue.pumpLimits(clean);
  }
}
