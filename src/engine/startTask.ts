// A single task run: a task instance with no node or flow instance, queued at once.
import type { Services } from '../services.js';
import { NotFoundError } from '../errors.js';
import { Task, TaskIns } from '../models/index.js';
import { withTimeout } from '../infra/timeout.js';
import { recordKeyStatements, startOnce, type Idempotency } from './idempotency.js';

export async function startTask(s: Services, taskId: number, user = 'system', idempotencyKey?: string, priority = 0): Promise<number> {
  if (!idempotencyKey) return insertAndEnqueue(s, taskId, user, priority);
  const idem = { key: idempotencyKey, target: `task:${taskId}`, ttlMs: s.config.idempotencyTtlMs };
  return startOnce(s.knex, idem, () => insertAndEnqueue(s, taskId, user, priority, idem));
}

async function insertAndEnqueue(s: Services, taskId: number, user: string, priority: number, idem?: Idempotency): Promise<number> {
  const task = await Task.query(s.knex).findById(taskId).select('task_id').whereNull('deleted_time');
  if (!task) throw new NotFoundError(`task ${taskId} does not exist`);
  const now = new Date();
  const tiId = await s.knex.transaction(async (trx) => {
    const ti = await TaskIns.query(trx).insert({
      ni_id: null,
      fi_id: null,
      task_id: taskId,
      exec_status: 'PENDING',
      attempt: 0,
      version: 0,
      priority,
      create_time: now,
      create_user: user,
      update_time: now,
      update_user: user,
    });
    if (idem) for (const st of recordKeyStatements(idem, now)) await trx.raw(st.sql, st.bindings);
    return ti.ti_id;
  });
  // Committed: the start stands even if Redis does not take it now (the reconciler enqueues PENDING rows).
  await withTimeout(s.queue.enqueue([{ tiId, priority, taskId }]), 2_000, 'enqueueing a single task').catch((e) =>
    s.log.warn({ err: e, tiId }, 'enqueue after a committed start failed; the reconciler enqueues it'),
  );
  return tiId;
}
