// GET /docs: the API reference, Swagger UI rendering this member's /openapi.json (built by
// src/docs/build.ts into dist/docs). Open without a token, like /openapi.json; the page loads only
// from this origin (its Content-Security-Policy says so), so it works with no internet. /docs/assets/*
// are content-hashed and cached for a year. It is not in the OpenAPI document: it is its rendering.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import { send } from '@koa/send';
import { HttpError, notFound } from '../http.js';
import type { RouteModule } from '../routeModule.js';

const ASSET = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/;
const YEAR_MS = 365 * 24 * 3600 * 1000;

/** The dashboard's policy: everything from this origin, no inline script or style (Swagger UI needs neither). */
const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

/** dist/docs, seen from src/api/routes (tsx) or dist/src/api/routes (compiled); looked up until found. */
let found: string | null = null;
export function docsDir(): string | null {
  if (found) return found;
  for (const c of [new URL('../../../dist/docs/', import.meta.url), new URL('../../../docs/', import.meta.url)]) {
    const dir = fileURLToPath(c);
    if (existsSync(`${dir}index.html`)) return (found = dir);
  }
  return null;
}

function built(): string {
  const dir = docsDir();
  if (!dir) throw new HttpError(503, 'the API reference page is not built: run `npm run build` (the document itself is at /openapi.json)');
  return dir;
}

export function docsRoutes(): RouteModule {
  const router = new Router();
  // The router is not strict: '/docs' also matches '/docs/'.
  router.get('/docs', async (ctx) => {
    const dir = built();
    ctx.set(PAGE_HEADERS);
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = await readFile(`${dir}index.html`);
  });
  router.get('/docs/assets/:file', async (ctx) => {
    const file = (ctx.params as Record<string, string>).file ?? '';
    const dir = built();
    if (!ASSET.test(file)) throw notFound(`no API reference asset ${file}`);
    ctx.set('Vary', 'Accept-Encoding');
    ctx.set('X-Content-Type-Options', 'nosniff');
    try {
      await send(ctx, file, { root: `${dir}assets`, maxage: YEAR_MS, immutable: true });
    } catch (e) {
      if ((e as { status?: number }).status === 404) throw notFound(`no API reference asset ${file}`);
      throw e;
    }
  });
  return { router, paths: {} };
}
