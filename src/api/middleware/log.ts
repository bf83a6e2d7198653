// One log line per request with its duration: at info with LOG_REQUESTS=true, else at debug. It says
// who (the API token's name, never its secret) and what (method, path without the query), never bodies;
// errors are logged by errorEnvelope.
import type { Middleware } from 'koa';
import type { Logger } from '../../infra/logger.js';
import type { Principal } from '../http.js';

export function requestLog(log: Logger, atInfo = false): Middleware {
  const level = atInfo ? 'info' : 'debug';
  return async (ctx, next) => {
    const t0 = performance.now();
    try {
      await next();
    } finally {
      if (log.isLevelEnabled(level)) {
        const token = (ctx.state.principal as Principal | undefined)?.name ?? null;
        log[level]({ method: ctx.method, path: ctx.path, status: ctx.status, ms: +(performance.now() - t0).toFixed(2), token }, 'http');
      }
    }
  };
}
