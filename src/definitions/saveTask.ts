// POST /task: creates a task, or updates the live task named by `taskId`.
// On an update a field left out of the body keeps its stored value and a field sent as null clears
// it; taskName and taskType are always required. The config is checked against the type it will
// run with, including a stored config kept across a change of type.
import type { Knex } from 'knex';
import { fieldPath, InvalidInputError, NotFoundError } from '../errors.js';
import type { TaskType } from '../models/definitions.js';
import type { PartialModelObject } from 'objection';
import { Task } from '../models/index.js';
import { findLiveTask } from './getTask.js';
import { presentTask } from './present.js';
import { ERROR_MSG_MAX_BYTES, type SaveTaskInput } from './schemas.js';
import { taskConfigSchemas, WAIT_MS_MAX } from './taskConfig.js';
import { restoreMasked, type SecretNames } from './secrets.js';

/** Throws a 400 naming the field (e.g. `taskConfig.url: …`) unless `cfg` fits the type's schema. */
export function checkTaskConfig(type: TaskType, cfg: Record<string, unknown> | null, stored = false): void {
  const r = taskConfigSchemas[type].safeParse(cfg ?? {});
  if (r.success) return;
  const issue = r.error.issues[0];
  const where = ['taskConfig', ...issue.path];
  const hint = stored ? ` (the stored taskConfig does not fit taskType ${type}; send a new taskConfig)` : '';
  throw new InvalidInputError(`${fieldPath(where)}: ${issue.message}${hint}`);
}

/**
 * An EXCEPTION task fails with its content as the error message, which the engine stores in
 * error_msg columns (TEXT, 65,535 bytes): a longer content would not fit there. A WAIT task without
 * taskConfig.waitMs waits its content in milliseconds: "5s" is refused here, not failed at run time.
 */
function checkContentFitsType(type: TaskType, content: string | null | undefined, cfg: Record<string, unknown> | null): void {
  if (type === 'EXCEPTION' && content && Buffer.byteLength(content, 'utf8') > ERROR_MSG_MAX_BYTES) {
    throw new InvalidInputError(`taskContent: an EXCEPTION task's content is its error message: at most ${ERROR_MSG_MAX_BYTES} bytes (UTF-8)`);
  }
  if (type === 'WAIT' && cfg?.waitMs === undefined && content) {
    const text = content.trim();
    // A template (`${input.delayMs}`) is filled in when the task runs, and checked then.
    if (text === '' || text.includes('${')) return;
    if (!/^\d{1,9}$/.test(text) || Number(text) > WAIT_MS_MAX) {
      throw new InvalidInputError(
        `taskContent: a WAIT task's content is a whole number of milliseconds from 0 to ${WAIT_MS_MAX} (or set taskConfig.waitMs), got "${text.slice(0, 50)}"`,
      );
    }
  }
}

/** Secret values (secrets.ts) are answered as "***"; one sent back as "***" keeps what is stored. */
export async function saveTask(knex: Knex, input: SaveTaskInput, user: string, secrets?: SecretNames): Promise<Record<string, unknown>> {
  const type = input.taskType as TaskType;
  return knex.transaction(async (trx) => {
    const now = new Date();
    let taskId: number;
    if (input.taskId != null) {
      // Locked so a concurrent DELETE /task cannot slip between this check and the update.
      const stored = await findLiveTask(trx, input.taskId, true);
      if (!stored) throw new NotFoundError(`task ${input.taskId} does not exist; omit taskId to create a new task`);
      const kept = input.taskConfig === undefined;
      // The config as sent is checked first ("***" is a string like any), so a bad url is named as
      // such before restoreMasked compares it with the stored one.
      checkTaskConfig(type, kept ? storedObject(stored.task_config) : (input.taskConfig ?? null), kept);
      const cfg = kept ? storedObject(stored.task_config) : restoreMasked(input.taskConfig ?? null, storedObject(stored.task_config), secrets);
      checkContentFitsType(type, input.taskContent !== undefined ? input.taskContent : stored.task_content, cfg);
      const changes: PartialModelObject<Task> = { task_name: input.taskName, task_type: type, update_time: now, update_user: user };
      if (input.taskContent !== undefined) changes.task_content = input.taskContent;
      if (input.taskDescription !== undefined) changes.task_description = input.taskDescription;
      if (!kept) changes.task_config = cfg;
      // UPDATE task SET … WHERE task_id = ?
      await Task.query(trx).findById(input.taskId).patch(changes);
      taskId = input.taskId;
    } else {
      checkTaskConfig(type, input.taskConfig ?? null);
      const cfg = restoreMasked(input.taskConfig ?? null, null, secrets);
      checkContentFitsType(type, input.taskContent, cfg);
      // INSERT INTO task (…) VALUES (…)
      const task = await Task.query(trx).insert({
        task_name: input.taskName,
        task_description: input.taskDescription ?? null,
        task_type: type,
        task_config: cfg,
        task_content: input.taskContent ?? null,
        create_time: now,
        create_user: user,
        update_time: now,
        update_user: user,
      });
      taskId = task.task_id;
    }
    return presentTask((await findLiveTask(trx, taskId))!, secrets);
  });
}

/** The stored config as an object, or null when there is none (or it is not an object). */
function storedObject(stored: unknown): Record<string, unknown> | null {
  if (stored === null || stored === undefined) return null;
  let v: unknown = stored;
  if (typeof stored === 'string') {
    try {
      v = JSON.parse(stored);
    } catch {
      return null;
    }
  }
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
