// Guards the admin endpoints: `Authorization: Bearer $ADMIN_TOKEN`. Without a configured token the
// endpoints do not exist (404); a missing or wrong token is a 401. Both in the envelope.
// Tokens are compared as SHA-256 digests with timingSafeEqual: constant time, whatever their lengths.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { HttpError } from '../http.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function adminAuth(token: string | null): Middleware {
  const expected = token ? digest(token) : null;
  return async (ctx, next) => {
    if (!expected) throw new HttpError(404, 'admin endpoints are disabled (set ADMIN_TOKEN)');
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(ctx.get('Authorization'));
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) {
      ctx.set('WWW-Authenticate', 'Bearer realm="admin"');
      throw new HttpError(401, m ? 'admin token is wrong' : 'admin endpoints need Authorization: Bearer <ADMIN_TOKEN>');
    }
    await next();
  };
}
