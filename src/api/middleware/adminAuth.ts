// Guards the admin endpoints: `Authorization: Bearer $ADMIN_TOKEN`. Without a configured token the
// endpoints do not exist (404); a missing or wrong token is a 401. Both in the envelope. API tokens
// (API_TOKENS) do not open them: only the admin token does.
import type { Middleware } from 'koa';
import { HttpError } from '../http.js';
import { bearerToken, digest, matchToken } from './tokens.js';

export function adminAuth(token: string | null): Middleware {
  const expected = token ? [digest(token)] : null;
  return async (ctx, next) => {
    if (!expected) throw new HttpError(404, 'admin endpoints are disabled (set ADMIN_TOKEN)');
    const presented = bearerToken(ctx);
    if (presented === null || matchToken(presented, expected) < 0) {
      ctx.set('WWW-Authenticate', 'Bearer realm="admin"');
      throw new HttpError(401, presented !== null ? 'admin token is wrong' : 'admin endpoints need Authorization: Bearer <ADMIN_TOKEN>');
    }
    await next();
  };
}
