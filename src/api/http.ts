// The original API's envelope and the one error type routes throw. Error middleware turns an HttpError into
// `{"code":"<status>","message":…,"data":null}`; anything else becomes a logged 500.
import type { Context } from 'koa';

export class HttpError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

export const badRequest = (msg: string) => new HttpError(400, msg);
export const notFound = (msg: string) => new HttpError(404, msg);

export function envelope(code: number, message: string, data: unknown) {
  return { code: String(code), message, data };
}

export function ok(ctx: Context, data: unknown): void {
  ctx.status = 200;
  ctx.body = envelope(200, 'SUCCESS', data ?? null);
}

/** A positive integer id from a path segment, or a 400 naming it. */
export function idParam(ctx: Context, name: string): number {
  const raw = (ctx.params as Record<string, string>)[name];
  if (!/^\d{1,15}$/.test(raw ?? '') || Number(raw) < 1) throw badRequest(`${name} must be a positive integer, got "${raw}"`);
  return Number(raw);
}

/** Who is calling, when API_TOKENS is set: the matched token (middleware/access.ts puts it on ctx.state). */
export interface Principal {
  name: string;
  readOnly: boolean;
}

/**
 * The acting user for create_user/update_user: the API token's name when API_TOKENS is set; otherwise
 * the X-User header (anyone can claim any name then), default `system`.
 */
export function actor(ctx: Context): string {
  const p = ctx.state.principal as Principal | undefined;
  if (p) return p.name;
  const u = ctx.get('X-User').trim();
  return u ? u.slice(0, 64) : 'system';
}
