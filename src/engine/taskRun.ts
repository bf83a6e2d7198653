// A run: one attempt of one task instance, as the worker holds it, and what it ended with.
// `version` is the fencing token: a run remembers the version it started at, and its result is written
// only if the row still has it (a reaped, cancelled or re-run attempt has moved it on).
import { readTaskConfig, type TaskConfig } from '../definitions/taskConfig.js';

export interface TaskRun {
  tiId: number;
  fiId: number | null;
  niId: number | null;
  taskId: number;
  taskType: string;
  content: string | null;
  config: TaskConfig;
  /** Runs started (this one included). */
  attempt: number;
  /** Of those, runs lost with their worker (reaped): they do not count against the task's maxRetries. */
  lostAttempts: number;
  version: number;
  /** Its flow instance's priority (0-9), or its own for a task run on its own: a retry keeps it. */
  priority: number;
  startedAt: Date;
  /** Content and config are the task instance's rendered ones (its templates filled in already). */
  rendered?: boolean;
}

/** A claimed id whose row was not PENDING any more (cancelled, finished, gone): nothing to run. */
export interface SkippedClaim {
  tiId: number;
  fiId: number | null;
  status: string;
}

/**
 * A task instance row joined with its task (ti.*, t.task_type, t.task_content, t.task_config) as a run;
 * the instance's rendered content and config, when it has them, stand for the task's.
 */
export function runOf(r: Record<string, any>, startedAt: Date): TaskRun {
  const rendered = r.rendered_content != null || r.rendered_config != null;
  return {
    tiId: r.ti_id,
    fiId: r.fi_id,
    niId: r.ni_id,
    taskId: r.task_id,
    taskType: r.task_type,
    content: rendered ? r.rendered_content : r.task_content,
    config: readTaskConfig(rendered ? r.rendered_config : r.task_config),
    rendered,
    attempt: r.attempt,
    lostAttempts: r.lost_attempts ?? 0,
    version: r.version,
    priority: r.priority ?? 0,
    startedAt,
  };
}

export interface RunResult {
  /** RETRY = not done, to run again after its back-off: the row goes back to PENDING. */
  status: 'SUCCESS' | 'FAILED' | 'RETRY';
  output: string | null;
  error: string | null;
  /**
   * The run is not counted as an attempt (attempt - 1): it was handed back at shutdown, through no fault
   * of the task's.
   */
  notCounted?: boolean;
}

/** The task_ins.exec_status a result leaves its row in. */
export const statusOf = (r: RunResult): 'SUCCESS' | 'FAILED' | 'PENDING' => (r.status === 'RETRY' ? 'PENDING' : r.status);

export interface FinishedRun {
  run: TaskRun;
  result: RunResult;
  /** When the executor returned: the task's end_time. */
  endedAt: Date;
}
