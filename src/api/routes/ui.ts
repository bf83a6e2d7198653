// The dashboard's files (built by src/ui/build.ts into dist/ui): `/` redirects to `/ui/`; every page
// path of the single-page app (/ui/flows/42, /ui/instances/7 …) answers index.html, never cached, so
// a deep link survives a reload; /ui/assets/* are content-hashed and cached for a year. Anything else
// under /ui is a 404 in the envelope. The pages talk to the API with fetch; they hold no data.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import { send } from '@koa/send';
import type { Context } from 'koa';
import { HttpError, notFound } from '../http.js';
import type { RouteModule } from '../routeModule.js';

/** The page paths the app routes itself (src/ui/app/router.ts keeps the same list). */
const PAGE = /^\/ui\/(?:flows(?:\/new|\/\d{1,15}(?:\/edit)?)?|instances(?:\/\d{1,15})?|tasks(?:\/new|\/\d{1,15})?|cluster)?$/;
const ASSET = /^[A-Za-z0-9_.-]{1,200}$/;
const YEAR_S = 365 * 24 * 3600;

/** Everything the page loads comes from this origin; no inline script, no frames. */
const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin',
};

/**
 * dist/ui, seen from src/api/routes (run through tsx) or from dist/src/api/routes (compiled), as
 * src/queue/scripts.ts finds its .lua files. Looked up until found, so a build made after start-up is
 * picked up.
 */
let found: string | null = null;
export function uiDir(): string | null {
  if (found) return found;
  for (const c of [new URL('../../../dist/ui/', import.meta.url), new URL('../../../ui/', import.meta.url)]) {
    const dir = fileURLToPath(c);
    if (existsSync(`${dir}index.html`)) return (found = dir);
  }
  return null;
}

function built(): string {
  const dir = uiDir();
  if (!dir) throw new HttpError(503, 'the dashboard is not built: run `npm run build`');
  return dir;
}

async function page(ctx: Context): Promise<void> {
  const dir = built();
  ctx.set(PAGE_HEADERS);
  ctx.type = 'text/html; charset=utf-8';
  // Read on each request (a small file): a rebuild's new asset names are served at once.
  ctx.body = await readFile(`${dir}index.html`);
}

export function uiRoutes(): RouteModule {
  const router = new Router();
  router.get('/', (ctx) => ctx.redirect('/ui/'));

  router.get('/ui/assets/:file', async (ctx) => {
    const file = (ctx.params as Record<string, string>).file ?? '';
    const dir = built();
    if (!ASSET.test(file) || file.startsWith('.')) throw notFound(`no dashboard asset ${file}`);
    ctx.set('Vary', 'Accept-Encoding');
    ctx.set('X-Content-Type-Options', 'nosniff');
    try {
      await send(ctx, file, { root: `${dir}assets`, maxage: YEAR_S * 1000, immutable: true });
    } catch (e) {
      if ((e as { status?: number }).status === 404) throw notFound(`no dashboard asset ${file}`);
      throw e;
    }
  });

  const pages = async (ctx: Context) => {
    if (ctx.path === '/ui') return ctx.redirect('/ui/');
    if (!PAGE.test(ctx.path)) throw notFound(`no dashboard page ${ctx.path}`);
    await page(ctx);
  };
  // The router is not strict: '/ui' also matches '/ui/'.
  router.get('/ui', pages);
  router.get('/ui/{*rest}', pages);

  return {
    router,
    paths: {
      '/ui/': {
        get: {
          tags: ['dashboard'],
          summary: 'The dashboard (HTML; `/` redirects here)',
          description:
            'A single-page app: /ui/flows, /ui/flows/{flowId}[?version=N], /ui/flows/new, /ui/flows/{flowId}/edit, /ui/instances, /ui/instances/{fiId}, ' +
            '/ui/tasks, /ui/tasks/new, /ui/tasks/{taskId} and /ui/cluster all answer this page (no-cache); its assets are under /ui/assets/ (hashed names, cached for a year). ' +
            'Other paths under /ui are 404; 503 when the dashboard was not built (`npm run build`).',
          responses: { '200': { description: 'index.html', content: { 'text/html': {} } }, '404': { description: 'no such page or asset' }, '503': { description: 'the dashboard is not built' } },
        },
      },
    },
  };
}
