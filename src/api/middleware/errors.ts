// Every answer that is not a success leaves in the original API's envelope with the HTTP status as `code`.
// The program's own errors (src/errors.ts) are mapped to their statuses here, and only here; a
// dependency that is down (MySQL, Redis) is a 503 that says which; client errors raised by Koa's own
// layers keep their status; anything unexpected is logged and answered 500 without internals.
// The body reader (body.ts) and the method check (methods.ts) throw HttpErrors with their own
// statuses (400, 405, 413, 415); a path no route knows is the 404 here.
import type { Middleware } from 'koa';
import type { Logger } from '../../infra/logger.js';
import { envelope, HttpError } from '../http.js';
import { ConflictError, dependencyDown, InvalidInputError, NotFoundError, StaleVersionError } from '../../errors.js';

/** The status of one of the program's own errors, or null for anything else. */
export function statusOf(e: unknown): number | null {
  if (e instanceof HttpError) return e.status;
  if (e instanceof InvalidInputError) return 400;
  if (e instanceof NotFoundError) return 404;
  if (e instanceof ConflictError || e instanceof StaleVersionError) return 409;
  return null;
}

export function errorEnvelope(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = envelope(404, `no route for ${ctx.method} ${ctx.path}`, null);
      }
    } catch (err) {
      const e = err as Error & { status?: number; statusCode?: number; expose?: boolean; type?: string };
      const own = statusOf(e);
      if (own !== null) {
        ctx.status = own;
        ctx.body = envelope(own, e.message, null);
        return;
      }
      const down = dependencyDown(e);
      if (down) {
        log.warn({ err: e, method: ctx.method, path: ctx.path }, `request refused: ${down} unavailable`);
        ctx.status = 503;
        ctx.set('Retry-After', '1');
        ctx.body = envelope(503, `${down === 'mysql' ? 'MySQL' : 'Redis'} is not answering; try again shortly`, null);
        return;
      }
      const status = e.status ?? e.statusCode;
      if (status && status >= 400 && status < 500) {
        ctx.status = status;
        ctx.body = envelope(status, e.message, null);
        return;
      }
      log.error({ err: e, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = envelope(500, 'internal error', null);
    }
  };
}
