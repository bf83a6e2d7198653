// Runs one attempt of one task instance with its executor, under the task's timeout and the worker's
// AbortSignal (cancel, lost lease, shutdown). Says what the executor did; what that means for the task
// instance (success, another attempt, failure) is decided by the worker.
import { getExecutor } from '../executors/registry.js';
import type { ExecutorSettings } from '../executors/settings.js';
import type { TaskRun } from './taskRun.js';
import { bytesIfOver } from '../infra/writeLimits.js';
import { clipUtf8 } from '../infra/utf8.js';

export type ExecOutcome = { ok: true; output: string | null } | { ok: false; error: string; output: string | null };

/** The longest error message kept (UTF-8 bytes): it is copied to the node and flow instance too. */
export const MAX_ERROR_BYTES = 8 * 1024;

const overLimit = (bytes: number, max: number) => `output is ${bytes} bytes, over TASK_OUTPUT_MAX_BYTES (${max})`;

/**
 * `outputMaxBytes` (TASK_OUTPUT_MAX_BYTES): a larger output is not kept, and the run fails saying so — a
 * cut output would pass for the whole one to the nodes that read it.
 */
export async function executeRun(run: TaskRun, abort: AbortController, timeoutMs: number, settings: ExecutorSettings, outputMaxBytes: number): Promise<ExecOutcome> {
  const timer = setTimeout(() => abort.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    const executor = getExecutor(run.taskType);
    if (!executor) throw new Error(`no executor for task type ${run.taskType}`);
    const output = await executor.run({
      tiId: run.tiId,
      taskId: run.taskId,
      content: run.content,
      config: run.config,
      attempt: run.attempt,
      signal: abort.signal,
      settings,
    });
    if (abort.signal.aborted) throw abort.signal.reason;
    const over = bytesIfOver(output, outputMaxBytes);
    if (over) return { ok: false, error: overLimit(over, outputMaxBytes), output: null };
    return { ok: true, output: output ?? null };
  } catch (e) {
    const err = e as Error & { output?: string };
    const error = clipUtf8(err?.message ?? String(e), MAX_ERROR_BYTES);
    const over = bytesIfOver(err?.output, outputMaxBytes);
    if (over) return { ok: false, error: clipUtf8(`${error} (and its ${overLimit(over, outputMaxBytes)}: not kept)`, MAX_ERROR_BYTES), output: null };
    return { ok: false, error, output: err?.output ?? null };
  } finally {
    clearTimeout(timer);
  }
}
