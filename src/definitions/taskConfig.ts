// `taskConfig` is JSON, validated per task type. Every type shares the run policy (timeout, retries,
// back-off); WAIT, SHELL and HTTP add their own fields. Unknown fields are refused so a typo is not ignored.
import { z } from 'zod';
import type { TaskType } from '../models/definitions.js';

const policy = {
  /** Hard limit for one attempt; the executor is aborted when it passes. */
  timeoutMs: z.number().int().min(1).max(24 * 3600 * 1000).optional(),
  /** Attempts after the first one when the task fails (or its worker is lost). */
  maxRetries: z.number().int().min(0).max(100).optional(),
  /** Delay before the next attempt; doubled on each further attempt. */
  retryBackoffMs: z.number().int().min(0).max(24 * 3600 * 1000).optional(),
  /** Flow control: at most this many instances of the task running at once, cluster-wide. */
  concurrencyLimit: z.number().int().min(1).max(10_000).optional(),
  /** Flow control: at most `max` starts in any window of `perMs`, cluster-wide. */
  rateLimit: z
    .strictObject({
      max: z.number({ error: 'must be an integer 1-10000' }).int().min(1).max(10_000),
      perMs: z.number({ error: 'must be an integer 1-86400000' }).int().min(1).max(86_400_000),
    })
    .optional(),
};

/** The longest WAIT: taskConfig.waitMs, or the content read as milliseconds (saveTask.ts checks it). */
export const WAIT_MS_MAX = 24 * 3600 * 1000;

const MAX_ENV_VARS = 64;
const MAX_ENV_VALUE = 8192;

/**
 * SHELL `env`: variables added to the task's scrubbed environment. Names as POSIX shells take them;
 * values may use `${env:NAME}` (resolved when the task runs, for TASK_ENV_ALLOW names).
 */
const shellEnv = z
  .record(
    z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'names must be letters, digits and _, not starting with a digit (at most 128)'),
    z.string({ error: 'values must be strings' }).max(MAX_ENV_VALUE, `values must be at most ${MAX_ENV_VALUE} characters`),
  )
  .refine((e) => Object.keys(e).length <= MAX_ENV_VARS, `must have at most ${MAX_ENV_VARS} variables`);

/** A WORKER task's queue name: what its workers poll. */
export const WORKER_QUEUE = /^[A-Za-z0-9_.:-]{1,128}$/;
export const DEFAULT_WORKER_LEASE_MS = 30_000;

const httpMethod = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);

/** The header an HTTP task sends its idempotency key in, unless its config names another (or false). */
export const DEFAULT_IDEMPOTENCY_HEADER = 'Idempotency-Key';
export const IDEMPOTENCY_HEADER_MAX = 64;
/** Headers the request sets itself: a key sent in one of them would break the request. */
const OWN_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection']);
/**
 * HTTP `idempotencyHeader`: the header the run's idempotency key goes in (an RFC 9110 token), or false
 * for none. A run may happen twice (at-least-once): the key, the same for every run of one task
 * instance, lets the receiving service drop the second.
 */
const HEADER_TOKEN = new RegExp(`^[!#$%&'*+.^_\`|~0-9A-Za-z-]{1,${IDEMPOTENCY_HEADER_MAX}}$`);
const idempotencyHeader = z.custom<string | false>(
  (v) => v === false || (typeof v === 'string' && HEADER_TOKEN.test(v) && !OWN_HEADERS.has(v.toLowerCase())),
  {
    error:
      `must be a header name (1 to ${IDEMPOTENCY_HEADER_MAX} letters, digits or !#$%&'*+-.^_\`|~; not Host, Content-Length, Content-Type, ` +
      'Transfer-Encoding or Connection), or false to send no idempotency key',
  },
);

export const taskConfigSchemas = {
  ECHO: z.strictObject({ ...policy }),
  EXCEPTION: z.strictObject({ ...policy }),
  WAIT: z.strictObject({ ...policy, waitMs: z.number().int().min(0).max(WAIT_MS_MAX).optional() }),
  SHELL: z.strictObject({ ...policy, env: shellEnv.optional() }),
  HTTP: z.strictObject({
    ...policy,
    method: httpMethod.optional(),
    // Credentials in the URL would be answered to every reader: they go in a header (secrets.ts).
    url: z.url({ protocol: /^https?$/ }).refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'must not carry user:password@; send an Authorization header instead (its value is never shown)'),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.unknown().optional(),
    idempotencyHeader: idempotencyHeader.optional(),
  }),
  // Run by an external worker polling `queue` (src/engine/external/): `input` is handed to it, its
  // strings filled in at first run; `leaseMs` is how long it may hold the task without a heartbeat.
  WORKER: z.strictObject({
    ...policy,
    queue: z.string({ error: 'must be a string' }).regex(WORKER_QUEUE, 'must be 1-128 characters of letters, digits and _.:-'),
    input: z.unknown().optional(),
    leaseMs: z.number().int().min(1_000).max(3_600_000).optional(),
  }),
} satisfies Record<TaskType, z.ZodType>;

export type TaskConfig = {
  timeoutMs?: number;
  maxRetries?: number;
  retryBackoffMs?: number;
  concurrencyLimit?: number;
  rateLimit?: { max: number; perMs: number };
  waitMs?: number;
  method?: z.infer<typeof httpMethod>;
  url?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** HTTP: the header the idempotency key goes in (default Idempotency-Key), or false for none. */
  idempotencyHeader?: string | false;
  /** SHELL: variables added to its environment. */
  env?: Record<string, string>;
  /** WORKER: the queue its workers poll, its input and its lease. */
  queue?: string;
  input?: unknown;
  leaseMs?: number;
};

export const DEFAULT_TIMEOUT_MS = 3600_000;
export const DEFAULT_RETRY_BACKOFF_MS = 1000;

/** The stored config (JSON text, or the object the model parsed); a row written by an older version never breaks a run. */
export function readTaskConfig(stored: unknown): TaskConfig {
  if (!stored) return {};
  if (typeof stored === 'object') return Array.isArray(stored) ? {} : (stored as TaskConfig); // the model parsed it
  try {
    const v = JSON.parse(String(stored));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as TaskConfig) : {};
  } catch {
    return {};
  }
}

/** The run policy of a task with defaults filled in. */
export function runPolicy(cfg: TaskConfig): { timeoutMs: number; maxAttempts: number; retryBackoffMs: number } {
  return {
    timeoutMs: cfg.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxAttempts: (cfg.maxRetries ?? 0) + 1,
    retryBackoffMs: cfg.retryBackoffMs ?? DEFAULT_RETRY_BACKOFF_MS,
  };
}

/** The task's flow-control limits as the queue takes them (0 = none), or null when it has none. */
export function limitsOf(cfg: TaskConfig): { concurrency: number; rateMax: number; ratePerMs: number } | null {
  const c = Number.isInteger(cfg.concurrencyLimit) && cfg.concurrencyLimit! > 0 ? cfg.concurrencyLimit! : 0;
  const r = cfg.rateLimit && Number.isInteger(cfg.rateLimit.max) && Number.isInteger(cfg.rateLimit.perMs) && cfg.rateLimit.max > 0 && cfg.rateLimit.perMs > 0 ? cfg.rateLimit : null;
  if (!c && !r) return null;
  return { concurrency: c, rateMax: r?.max ?? 0, ratePerMs: r?.perMs ?? 0 };
}

/** Back-off before attempt `nextAttempt` (2 = first retry): base, 2×base, 4×base … capped at an hour. */
export function backoffMs(base: number, nextAttempt: number): number {
  return Math.min(base * 2 ** Math.max(0, nextAttempt - 2), 3600_000);
}
