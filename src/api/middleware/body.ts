// JSON bodies only. A body of another type is a 415 (not silently ignored), a malformed one a 400,
// one over BODY_LIMIT a 413: all in the envelope via errorEnvelope.
import bodyParser from 'koa-bodyparser';
import type { Middleware } from 'koa';
import { HttpError } from '../http.js';

export function jsonBody(limit: string): Middleware[] {
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: limit, strict: true });
  const json: Middleware = async (ctx, next) => {
    const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
    if (!hasBody) {
      // Nothing to read (e.g. a start): skip the parser, and give routes what it would have, {}.
      ctx.request.body = {};
      return next();
    }
    if (!ctx.is('application/json', 'application/*+json')) {
      throw new HttpError(415, `request body must be application/json, got "${ctx.get('content-type') || 'none'}"`);
    }
    return parse(ctx, next);
  };
  return [json];
}
