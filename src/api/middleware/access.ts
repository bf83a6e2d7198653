// API authentication (API_TOKENS) and the metrics token, by path (accessRules.ts). With API_TOKENS set,
// every endpoint but the public ones needs `Authorization: Bearer <secret>` (401 otherwise); a
// read-only token may only read (403 otherwise), a worker token only call /worker/* (403 otherwise). The matched token's name is the acting user
// (ctx.state.principal, read by actor()). Without API_TOKENS the API is open, as it always was.
// Admin endpoints are left to their own guard (ADMIN_TOKEN).
import type { Middleware } from 'koa';
import type { ApiToken } from '../../../config/index.js';
import { HttpError, type Principal } from '../http.js';
import { accessOf, isRead, isWorkerProtocol } from '../accessRules.js';
import { bearerToken, digest, matchToken } from './tokens.js';

export function apiAccess(opts: { apiTokens: ApiToken[] | null; metricsToken: string | null }): Middleware {
  const tokens = opts.apiTokens ?? [];
  const digests = tokens.map((t) => digest(t.secret));
  const metrics = opts.metricsToken ? [digest(opts.metricsToken)] : null;

  return async (ctx, next) => {
    const access = accessOf(ctx.path);
    if (access === 'public' || access === 'admin') return next();
    const presented = bearerToken(ctx);
    const unauthorized = (realm: string, message: string) => {
      ctx.set('WWW-Authenticate', `Bearer realm="${realm}"`);
      return new HttpError(401, message);
    };
    if (access === 'metrics' && metrics) {
      if (presented === null) throw unauthorized('metrics', '/metrics needs Authorization: Bearer <METRICS_TOKEN>');
      if (matchToken(presented, metrics) < 0) throw unauthorized('metrics', 'metrics token is wrong');
      return next();
    }
    if (!tokens.length) return next();
    if (presented === null) throw unauthorized('task-schedule', 'this endpoint needs Authorization: Bearer <token> (see API_TOKENS)');
    const i = matchToken(presented, digests);
    if (i < 0) throw unauthorized('task-schedule', 'API token is wrong');
    const t = tokens[i]!;
    if (t.workerOnly && !isWorkerProtocol(ctx.path)) {
      throw new HttpError(403, `token "${t.name}" is a worker token: it may call /worker/* only`);
    }
    if (t.readOnly && !isRead(ctx.method, ctx.path)) {
      throw new HttpError(403, `token "${t.name}" is read-only: it may GET and POST /monitor/* only`);
    }
    const principal: Principal = { name: t.name, readOnly: t.readOnly };
    ctx.state.principal = principal;
    return next();
  };
}
