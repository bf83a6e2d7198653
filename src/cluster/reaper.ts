// The reaper (leader only, every REAP_INTERVAL_MS): task instances whose worker lease ran out — the
// worker died, stalled or lost Redis — are taken out of `inflight` and decided from their MySQL row:
//   RUNNING, attempts left   → PENDING with version + 1, queued again (attempts: the task's maxRetries + 1,
//                              plus WORKER_LOST_RETRIES for runs lost with their worker). The version bump is the fence:
//                              the lost worker's late result (finishRun … WHERE version = its version)
//                              is refused, so a task never records two results.
//   RUNNING, attempts used   → FAILED "worker lost" (version-checked), and its flow is advanced.
//   PENDING                  → queued again as it is (claimed but never started, or a retry whose
//                              worker died before handing it back): nothing ran, nothing to fence.
//   SUCCESS/FAILED/CANCELLED → the worker wrote its result but died before its ack/advance: the flow
//                              is advanced so it moves on.
// Every step is one statement for the whole batch.
import type { Services } from '../services.js';
import type { Engine } from '../engine/engine.js';
import type { Logger } from '../infra/logger.js';
import { readTaskConfig, runPolicy } from '../definitions/taskConfig.js';
import { advanceAll } from './advance.js';

const BATCH = 200;
/** Per pass; what is left is taken on the next pass, a few hundred ms later. */
const MAX_PER_PASS = 2_000;
export const WORKER_LOST = 'worker lost';

export interface ReapReport {
  taken: number;
  requeued: number;
  failed: number;
  advanced: number;
}

interface Row {
  ti_id: number;
  fi_id: number | null;
  exec_status: string;
  attempt: number;
  version: number;
  task_config: string | null;
}

export class Reaper {
  constructor(private s: Services, private engine: Engine, private log: Logger) {}

  async pass(): Promise<ReapReport> {
    const total: ReapReport = { taken: 0, requeued: 0, failed: 0, advanced: 0 };
    while (total.taken < MAX_PER_PASS) {
      const expired = await this.s.queue.takeExpired(BATCH);
      if (!expired.length) break;
      const r = await this.handle(expired.map((e) => e.tiId));
      total.taken += expired.length;
      total.requeued += r.requeued;
      total.failed += r.failed;
      total.advanced += r.advanced;
      if (expired.length < BATCH) break;
    }
    if (total.taken) this.log.info(total, 'reaped expired worker leases');
    return total;
  }

  /** Decides a batch of ids just taken out of `inflight`. */
  async handle(ids: number[]): Promise<Omit<ReapReport, 'taken'>> {
    const { knex } = this.s;
    const rows: Row[] = await knex('task_ins as ti')
      .leftJoin('task as t', 't.task_id', 'ti.task_id')
      .select('ti.ti_id', 'ti.fi_id', 'ti.exec_status', 'ti.attempt', 'ti.version', 't.task_config')
      .whereIn('ti.ti_id', ids);
    const retry: [number, number][] = [];
    const fail: [number, number][] = [];
    for (const r of rows) {
      if (r.exec_status !== 'RUNNING') continue;
      const { maxAttempts } = runPolicy(readTaskConfig(r.task_config));
      (r.attempt < maxAttempts + this.s.config.workerLostRetries ? retry : fail).push([r.ti_id, r.version]);
    }
    const now = new Date();
    let requeued = 0;
    let failed = 0;
    if (retry.length) {
      requeued = await knex('task_ins')
        .whereIn('ti_id', retry.map(([id]) => id))
        .whereIn(['ti_id', 'version'], retry)
        .where('exec_status', 'RUNNING')
        .update({ exec_status: 'PENDING', error_msg: `${WORKER_LOST}; trying again`, version: knex.raw('version + 1'), update_time: now });
    }
    if (fail.length) {
      failed = await knex('task_ins')
        .whereIn('ti_id', fail.map(([id]) => id))
        .whereIn(['ti_id', 'version'], fail)
        .where('exec_status', 'RUNNING')
        .update({ exec_status: 'FAILED', error_msg: WORKER_LOST, end_time: now, version: knex.raw('version + 1'), update_time: now });
    }
    // Act on where the rows stand now (whoever wrote last): PENDING is queued, an ended one is advanced.
    // A row refused above (it moved on meanwhile) is handled by the same rule.
    const after: { ti_id: number; fi_id: number | null; exec_status: string }[] = await knex('task_ins')
      .select('ti_id', 'fi_id', 'exec_status')
      .whereIn('ti_id', ids);
    const pending = after.filter((r) => r.exec_status === 'PENDING').map((r) => ({ tiId: r.ti_id }));
    await this.s.queue.enqueue(pending);
    const ended = new Set(after.filter((r) => r.fi_id && ['SUCCESS', 'FAILED', 'CANCELLED'].includes(r.exec_status)).map((r) => r.fi_id!));
    await advanceAll(this.engine, [...ended], this.log, 'reaper');
    return { requeued, failed, advanced: ended.size };
  }
}
