// WAIT: waits `taskConfig.waitMs`, else the content read as milliseconds, else 1000 ms. Stops at once
// when the signal aborts, rejecting with its reason.
import { TaskFailure, throwIfAborted, type ExecContext, type Executor } from './types.js';

export const DEFAULT_WAIT_MS = 1000;

export function waitMsOf({ config, content }: Pick<ExecContext, 'config' | 'content'>): number {
  if (config.waitMs !== undefined) return config.waitMs;
  const text = (content ?? '').trim();
  if (!text) return DEFAULT_WAIT_MS;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) {
    throw new TaskFailure(`WAIT content must be a number of milliseconds, got "${text.slice(0, 100)}"`);
  }
  return Math.round(n);
}

export const waitExecutor: Executor = {
  type: 'WAIT',
  async run(ctx) {
    throwIfAborted(ctx.signal);
    const ms = waitMsOf(ctx);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      };
      const timer = setTimeout(() => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      }, Math.min(ms, 2 ** 31 - 1));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    return `waited ${ms} ms`;
  },
};
