// Where a task instance is queued: a WORKER task's instances go to the external queue its config names
// (taken by external workers over HTTP), every other one to the members' own queue.
import { readTaskConfig } from '../../definitions/taskConfig.js';

/** `{ queue }` for a WORKER task's row (task_type, task_config joined), `{}` otherwise: spread into an enqueue item. */
export function externalQueueOf(row: { task_type?: string | null; task_config?: unknown }): { queue?: string } {
  if (row.task_type !== 'WORKER') return {};
  const queue = readTaskConfig(row.task_config).queue;
  return typeof queue === 'string' && queue ? { queue } : {};
}
