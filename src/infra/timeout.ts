// Bounding waits on MySQL and Redis: a dependency that does not answer (frozen, partitioned) must never
// hang a request, a stop or a duty.
import { UnavailableError } from '../errors.js';

/** Past this, a Redis call after a MySQL commit is given up (it may still land later; each such call is idempotent). */
export const REDIS_AFTER_COMMIT_MS = 2_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Rejects when `p` has not settled within `ms`; `p` itself goes on (its late outcome is ignored). */
export function withTimeout<T>(p: Promise<T>, ms: number, what = 'operation'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** As withTimeout, for a Redis call on a request's path: no answer in time is an UnavailableError (503). */
export async function redisInTime<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  try {
    return await withTimeout(p, ms, what);
  } catch (e) {
    if (e instanceof Error && /took longer than/.test(e.message)) throw new UnavailableError(`Redis did not answer (${what}) within ${ms} ms`);
    throw e;
  }
}
