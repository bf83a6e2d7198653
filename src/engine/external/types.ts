// What the external workers' protocol hands out and takes in (engine side; externalTasks.ts, poller.ts).
import { DEFAULT_WORKER_LEASE_MS, type TaskConfig } from '../../definitions/taskConfig.js';

/** The lease a poll takes before the member has marked the task RUNNING and knows its own leaseMs. */
export const PROVISIONAL_LEASE_MS = 10_000;

/** What a poll hands a worker, per task. */
export interface PolledTask {
  tiId: number;
  leaseToken: string;
  queue: string;
  taskId: number;
  taskName: string;
  fiId: number | null;
  nodeKey: string | null;
  attempt: number;
  leaseMs: number;
  input: unknown;
  content: string | null;
}

export interface PollRequest {
  queues: string[];
  workerId: string;
  max: number;
  waitMs: number;
  /** The API token's name (or X-User): recorded as the rows' update_user. */
  user: string;
}

export const leaseMsOf = (cfg: TaskConfig) => cfg.leaseMs ?? DEFAULT_WORKER_LEASE_MS;
