// Continued runs of tasks with flow-control limits (issue 18). A worker that records a result runs the
// flow's next task itself (continuation: the recording transaction created it RUNNING for this worker).
// A task with a concurrency or rate limit must take its slot first, as a claim does: its lease is asked
// for with admission (queue.leaseLimited) and awaited before it runs. Those its task's limits refuse now
// are handed back: set PENDING again (version-fenced: attempt back to what it was, no worker) and
// queued, where they wait in their task's line like any other. Unlimited runs do not come here: they keep
// the fire-and-forget lease (worker.ts).
// Trouble: a lease Redis does not answer is taken as refused (handed back; if it did land, the lease
// expires and the reaper finds the row PENDING and requeues it, freeing its slot); a hand-back MySQL does
// not take leaves RUNNING rows without a lease, which the reconciler sets PENDING after its grace period.
import type { Services } from '../services.js';
import type { TaskRun } from './taskRun.js';
import type { RunSlots, Slot } from './runSlots.js';
import { sendTogether } from './sql/multiStatement.js';
import { withTimeout } from '../infra/timeout.js';

export async function runLimitedContinued(s: Services, slots: RunSlots, runs: TaskRun[], owner: string, execute: (slot: Slot) => void): Promise<void> {
  const held = slots.hold(runs.map((r) => ({ tiId: r.tiId, owner, priority: r.priority })));
  let refused: Set<number>;
  try {
    const ids = await withTimeout(s.queue.leaseLimited(runs.map((r) => ({ tiId: r.tiId, taskId: r.taskId })), owner, s.config.leaseMs), s.config.leaseMs / 3, 'leasing limited continued runs');
    refused = new Set(ids);
  } catch (e) {
    s.log.warn({ err: e, tiIds: runs.map((r) => r.tiId) }, 'leasing continued runs of limited tasks failed; handing them back to the queue');
    refused = new Set(runs.map((r) => r.tiId));
  }
  const back: TaskRun[] = [];
  runs.forEach((run, i) => {
    if (refused.has(run.tiId)) {
      slots.release(held[i]);
      back.push(run);
    } else {
      held[i].run = run;
      execute(held[i]);
    }
  });
  if (back.length) await handBack(s, back);
}

/** Refused continued runs: PENDING again, as if never started, and queued (where they wait their turn). */
async function handBack(s: Services, runs: TaskRun[]): Promise<void> {
  const now = new Date();
  try {
    await sendTogether(s.knex, [
      {
        sql: `UPDATE task_ins SET exec_status = 'PENDING', attempt = GREATEST(attempt, 1) - 1, start_time = NULL, worker_id = NULL, version = version + 1, update_time = ?
               WHERE ti_id IN (?) AND (ti_id, version) IN (?) AND exec_status = 'RUNNING'`,
        bindings: [now, runs.map((r) => r.tiId), runs.map((r) => [r.tiId, r.version])],
      },
    ]);
  } catch (e) {
    s.log.warn({ err: e, tiIds: runs.map((r) => r.tiId) }, 'handing back continued runs of limited tasks failed; the reconciler queues them after its grace period');
    return;
  }
  await s.queue.enqueue(runs.map((r) => ({ tiId: r.tiId, priority: r.priority, taskId: r.taskId }))).catch((e) =>
    s.log.warn({ err: e, tiIds: runs.map((r) => r.tiId) }, 'queueing handed-back runs failed; the reconciler queues them'),
  );
}
