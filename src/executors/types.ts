// What an executor gets and gives. An executor runs one attempt of one task instance: it resolves with
// the output text on success and throws on failure (a TaskFailure when there is output worth keeping).
// Timeouts and cancellation reach it through `signal`; it must stop promptly when the signal aborts.
import type { TaskConfig } from '../definitions/taskConfig.js';
import type { TaskType } from '../models/definitions.js';
import type { ExecutorSettings } from './settings.js';
import { lastUtf8 } from '../infra/utf8.js';

export interface ExecContext {
  tiId: number;
  taskId: number;
  content: string | null;
  config: TaskConfig;
  /** 1 for the first attempt. */
  attempt: number;
  signal: AbortSignal;
  /** What the member's configuration allows and provides (settings.ts: executorSettings(config)). */
  settings: ExecutorSettings;
}

export interface Executor {
  type: TaskType;
  run(ctx: ExecContext): Promise<string | null>;
}

/** A failed attempt that still produced output (a SHELL exit code, an HTTP error response). */
export class TaskFailure extends Error {
  override name = 'TaskFailure';
  constructor(message: string, readonly output: string | null = null) {
    super(message);
  }
}

/** Rejects at once when the signal has already aborted (with its reason, as fetch and timers do). */
export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason;
}

/**
 * The idempotency key of a task instance: the same for every run of it (a retry, a run again after its
 * worker was lost), so the service an HTTP task calls, or a SHELL task's command, can see a repeat.
 * Runs are at-least-once: with Redis or a worker lost at the wrong moment, one may happen twice.
 */
export const idempotencyKey = (tiId: number) => `ts-${tiId}`;

/** The variable a SHELL task finds its idempotency key in. */
export const IDEMPOTENCY_VAR = 'TASK_SCHEDULE_IDEMPOTENCY_KEY';

export const TAIL_BYTES = 4096;

/** Keeps only the last `limit` bytes of a stream of chunks, and decodes them without a broken first character. */
export class Tail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private limit = TAIL_BYTES) {}
  push(chunk: Buffer | Uint8Array | string): void {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.chunks.push(b);
    this.size += b.length;
    while (this.size - this.chunks[0].length >= this.limit) this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    return lastUtf8(Buffer.concat(this.chunks), this.limit);
  }
}
