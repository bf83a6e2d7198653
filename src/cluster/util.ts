// Small timing helpers shared by the cluster duties.
import { withTimeout } from '../infra/timeout.js';

export { withTimeout };

/** A repeating async job. Runs never overlap: the next one is scheduled when the previous one ends. */
export interface Loop {
  /** Stops scheduling and waits (at most `waitMs`) for a run in progress to end. */
  stop(waitMs?: number): Promise<void>;
}

export function every(ms: number, fn: () => Promise<unknown>, onError: (e: unknown) => void, opts: { immediate?: boolean } = {}): Loop {
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let current: Promise<void> | null = null;
  const run = () => {
    timer = null;
    if (stopped) return;
    current = (async () => {
      try {
        await fn();
      } catch (e) {
        onError(e);
      }
    })().finally(() => {
      current = null;
      if (!stopped) timer = setTimeout(run, ms);
    });
  };
  timer = setTimeout(run, opts.immediate ? 0 : ms);
  return {
    async stop(waitMs = 5_000) {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (current) await withTimeout(current, waitMs).catch(() => {});
    },
  };
}

/** Runs jobs one after the other (the reaper and the reconciler must not interleave their writes). */
export function serial(): <T>(job: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(job: () => Promise<T>) => {
    const next = tail.then(job, job);
    tail = next.catch(() => {});
    return next;
  };
}

/** Calls `fn` for every item, at most `limit` at a time; errors go to `onError` and do not stop the rest. */
export async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>, onError: (e: unknown, item: T) => void): Promise<void> {
  let i = 0;
  const lane = async () => {
    while (i < items.length) {
      const item = items[i++];
      try {
        await fn(item);
      } catch (e) {
        onError(e, item);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
