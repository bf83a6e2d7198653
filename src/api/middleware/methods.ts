// What a request whose path exists but whose method no route serves gets, in the envelope (koa-router's
// allowedMethods() answers OPTIONS with an empty text 200 and unknown methods with a bare 501):
//   OPTIONS → 200, `Allow` header, data = the allowed methods;
//   any other method → 405 with `Allow`, the message naming what is allowed.
// A path no route knows is left alone: errorEnvelope answers it 404, whatever the method.
// Mounted after the root router, so `ctx.matched` holds the routes whose path matched.
import type { Middleware } from 'koa';
import { HttpError, ok } from '../http.js';

const ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export function methodEnvelope(): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || (ctx.body !== undefined && ctx.body !== null)) return; // answered by a route
    const matched = (ctx as unknown as { matched?: { methods: string[] }[] }).matched ?? [];
    const methods = new Set(matched.flatMap((layer) => layer.methods));
    if (methods.size === 0) return; // no such path
    methods.add('OPTIONS');
    const allowed = [...methods].sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b));
    ctx.set('Allow', allowed.join(', '));
    if (ctx.method === 'OPTIONS') return ok(ctx, allowed);
    throw new HttpError(405, `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed.join(', ')}`);
  };
}
