// Bearer tokens, compared as SHA-256 digests with timingSafeEqual: constant time whatever their
// lengths, and every configured token is compared (no early exit) so timing does not tell which matched.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';

export const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The token of `Authorization: Bearer <token>`, or null when the header is missing or another scheme. */
export function bearerToken(ctx: Context): string | null {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(ctx.get('Authorization'));
  return m ? m[1]! : null;
}

/** Matches a presented token against known ones (given as their digests); the index of the match or -1. */
export function matchToken(presented: string, digests: readonly Buffer[]): number {
  const d = digest(presented);
  let found = -1;
  digests.forEach((expected, i) => {
    if (timingSafeEqual(d, expected) && found === -1) found = i;
  });
  return found;
}
