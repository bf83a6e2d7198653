// A built bundle of static files served by the member (the dashboard in dist/ui, the API reference in
// dist/docs): its index.html, never cached, and its content-hashed assets, cached for a year (gzip or
// brotli copies when the client takes them). Both share one same-origin policy: nothing the pages load
// comes from elsewhere, so they work with no internet.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { send } from '@koa/send';
import type { Context } from 'koa';
import { HttpError, notFound } from './http.js';

/** An asset's name as the builds write them (no path, no leading dot). */
const ASSET = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/;
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** Everything a page loads comes from this origin; no inline script or style, no frames. */
const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

export interface StaticBundle {
  /** The bundle's directory once built, else null. */
  dir(): string | null;
  /** Answers index.html (a 503 saying how to build it when it is not built). */
  page(ctx: Context): Promise<void>;
  /** Answers one asset by name (a 404 in the envelope for any other name). */
  asset(ctx: Context, file: string): Promise<void>;
}

/**
 * `name`: the folder under dist (`ui`, `docs`), seen from src/api (run through tsx) or dist/src/api
 * (compiled), as src/redis/scripts.ts finds its .lua files; looked up until found, so a build made
 * after start-up is picked up. `what` names the bundle in errors.
 */
export function staticBundle(name: string, what: string, notBuiltMessage: string): StaticBundle {
  let found: string | null = null;
  const dir = (): string | null => {
    if (found) return found;
    for (const c of [new URL(`../../dist/${name}/`, import.meta.url), new URL(`../../${name}/`, import.meta.url)]) {
      const d = fileURLToPath(c);
      if (existsSync(`${d}index.html`)) return (found = d);
    }
    return null;
  };
  const built = (): string => {
    const d = dir();
    if (!d) throw new HttpError(503, notBuiltMessage);
    return d;
  };
  return {
    dir,
    async page(ctx) {
      const d = built();
      ctx.set(PAGE_HEADERS);
      ctx.type = 'text/html; charset=utf-8';
      // Read on each request (a small file): a rebuild's new asset names are served at once.
      ctx.body = await readFile(`${d}index.html`);
    },
    async asset(ctx, file) {
      const d = built();
      if (!ASSET.test(file)) throw notFound(`no ${what} asset ${file}`);
      ctx.set('Vary', 'Accept-Encoding');
      ctx.set('X-Content-Type-Options', 'nosniff');
      try {
        await send(ctx, file, { root: `${d}assets`, maxage: YEAR_MS, immutable: true });
      } catch (e) {
        if ((e as { status?: number }).status === 404) throw notFound(`no ${what} asset ${file}`);
        throw e;
      }
    },
  };
}
