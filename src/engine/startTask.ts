// A single task run: a task instance with no node or flow instance, queued at once.
import type { Services } from '../services.js';
import { NotFoundError } from '../errors.js';

export async function startTask(s: Services, taskId: number, user = 'system'): Promise<number> {
  const task = await s.knex('task').select('task_id').where('task_id', taskId).whereNull('deleted_time').first();
  if (!task) throw new NotFoundError(`task ${taskId} does not exist`);
  const now = new Date();
  const [tiId] = await s.knex('task_ins').insert({
    ni_id: null,
    fi_id: null,
    task_id: taskId,
    exec_status: 'PENDING',
    attempt: 0,
    version: 0,
    create_time: now,
    create_user: user,
    update_time: now,
    update_user: user,
  });
  await s.queue.enqueue([{ tiId }]);
  return tiId;
}
