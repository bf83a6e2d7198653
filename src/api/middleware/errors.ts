// Every answer that is not a success leaves in the seed's envelope with the HTTP status as `code`.
// Client errors raised by Koa's own layers (malformed JSON 400, body too large 413) keep their status;
// anything unexpected is logged and answered 500 without internals.
import type { Middleware } from 'koa';
import type { Logger } from '../../infra/logger.js';
import { envelope, HttpError } from '../http.js';

export function errorEnvelope(log: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        ctx.status = 404;
        ctx.body = envelope(404, `no route for ${ctx.method} ${ctx.path}`, null);
      } else if (ctx.status === 405 || ctx.status === 501) {
        ctx.body = envelope(ctx.status, `${ctx.method} is not allowed on ${ctx.path}`, null);
      }
    } catch (err) {
      const e = err as Error & { status?: number; statusCode?: number; expose?: boolean; type?: string };
      if (e instanceof HttpError) {
        ctx.status = e.status;
        ctx.body = envelope(e.status, e.message, null);
        return;
      }
      const status = e.status ?? e.statusCode;
      if (status && status >= 400 && status < 500) {
        ctx.status = status;
        const message =
          e instanceof SyntaxError || e.type === 'entity.parse.failed' ? `request body is not valid JSON: ${e.message}`
          : status === 413 ? 'request body is too large'
          : e.message;
        ctx.body = envelope(status, message, null);
        return;
      }
      log.error({ err: e, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = envelope(500, 'internal error', null);
    }
  };
}
