// One log line per request at debug level, with its duration; errors are logged by errorEnvelope.
import type { Middleware } from 'koa';
import type { Logger } from '../../infra/logger.js';

export function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      if (log.isLevelEnabled('debug')) {
        log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: +(performance.now() - t0).toFixed(2) }, 'http');
      }
    }
  };
}
