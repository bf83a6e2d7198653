// A single task run: a task instance with no node or flow instance, queued at once. Given an input, the
// task's ${input.…} templates are filled in here, before anything is written (a template the input
// cannot fill is a 400 naming input), and stored as the instance's rendered content and config, which
// the worker then runs as they are (taskRun.ts). Without one, a template fails the run, as before.
import type { Services } from '../services.js';
import { InvalidInputError, NotFoundError } from '../errors.js';
import { Task, TaskIns } from '../models/index.js';
import { readTaskConfig } from '../definitions/taskConfig.js';
import { configHasTemplates, hasTemplates, render, renderConfig, TemplateError, type TemplateData } from './templates.js';
import { withTimeout } from '../infra/timeout.js';
import { externalQueueOf } from './external/route.js';
import { recordKeyStatements, startOnce, type Idempotency } from './idempotency.js';

export async function startTask(s: Services, taskId: number, user = 'system', idempotencyKey?: string, input?: Record<string, unknown>, priority = 0): Promise<number> {
  if (!idempotencyKey) return insertAndEnqueue(s, taskId, user, priority, undefined, input);
  const idem = { key: idempotencyKey, target: `task:${taskId}`, ttlMs: s.config.idempotencyTtlMs };
  return startOnce(s.knex, idem, () => insertAndEnqueue(s, taskId, user, priority, idem, input));
}

/** The task's content and config with the input filled in, or nothing when it has no templates. */
function renderWithInput(task: Pick<Task, 'task_content' | 'task_config'>, input: Record<string, unknown>): { rendered_content: string | null; rendered_config: string } | null {
  const config = readTaskConfig(task.task_config);
  if (!hasTemplates(task.task_content) && !configHasTemplates(config)) return null;
  // A run on its own has no earlier nodes: ${nodes.…} cannot be filled in.
  const data: TemplateData = { input, output: () => undefined };
  try {
    return { rendered_content: task.task_content === null ? null : render(task.task_content, data), rendered_config: JSON.stringify(renderConfig(config, data)) };
  } catch (e) {
    if (e instanceof TemplateError) throw new InvalidInputError(`input: ${e.message}`);
    throw e;
  }
}

async function insertAndEnqueue(s: Services, taskId: number, user: string, priority: number, idem?: Idempotency, input?: Record<string, unknown>): Promise<number> {
  const task = await Task.query(s.knex).findById(taskId).select('task_id', 'task_type', 'task_content', 'task_config').whereNull('deleted_time');
  if (!task) throw new NotFoundError(`task ${taskId} does not exist`);
  const rendered = input ? renderWithInput(task, input) : null;
  const now = new Date();
  const tiId = await s.knex.transaction(async (trx) => {
    const ti = await TaskIns.query(trx).insert({
      ni_id: null,
      fi_id: null,
      task_id: taskId,
      exec_status: 'PENDING',
      attempt: 0,
      version: 0,
      ...(rendered ?? {}),
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
  await withTimeout(s.queue.enqueue([{ tiId, priority, taskId, ...externalQueueOf(task) }]), 2_000, 'enqueueing a single task').catch((e) =>
    s.log.warn({ err: e, tiId }, 'enqueue after a committed start failed; the reconciler enqueues it'),
  );
  return tiId;
}
