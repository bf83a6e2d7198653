// The dashboard's files (built by src/ui/build.ts into dist/ui): `/` redirects to `/ui/`; every page
// path of the single-page app (/ui/flows/42, /ui/instances/7 …) answers index.html, never cached, so
// a deep link survives a reload; /ui/assets/* are content-hashed and cached for a year. Anything else
// under /ui is a 404 in the envelope. The pages talk to the API with fetch; they hold no data.
import Router from '@koa/router';
import type { Context } from 'koa';
import { notFound } from '../http.js';
import type { RouteModule } from '../routeModule.js';
import { errorResponse } from '../openapiParts.js';
import { staticBundle } from '../staticBundle.js';

/** The page paths the app routes itself (src/ui/app/router.ts keeps the same list). */
const PAGE = /^\/ui\/(?:flows(?:\/new|\/\d{1,15}(?:\/edit)?)?|instances(?:\/\d{1,15})?|tasks(?:\/new|\/\d{1,15})?|cluster|workers)?$/;

const bundle = staticBundle('ui', 'dashboard', 'the dashboard is not built: run `npm run build`');

export function uiRoutes(): RouteModule {
  const router = new Router();
  router.get('/', (ctx) => ctx.redirect('/ui/'));

  router.get('/ui/assets/:file', (ctx) => bundle.asset(ctx, (ctx.params as Record<string, string>).file ?? ''));

  const pages = async (ctx: Context) => {
    if (ctx.path === '/ui') return ctx.redirect('/ui/');
    if (!PAGE.test(ctx.path)) throw notFound(`no dashboard page ${ctx.path}`);
    await bundle.page(ctx);
  };
  // The router is not strict: '/ui' also matches '/ui/'.
  router.get('/ui', pages);
  router.get('/ui/{*rest}', pages);

  const notBuilt = errorResponse(503, 'The dashboard is not built (`npm run build`)', { notBuilt: 'the dashboard is not built: run `npm run build`' });
  const html = { 'text/html': { schema: { type: 'string', description: 'index.html of the single-page app' } } };
  return {
    router,
    tags: [{ name: 'dashboard', description: 'The web dashboard\'s files (open without a token; the page asks for one and sends it with its API calls).' }],
    paths: {
      '/': {
        get: {
          operationId: 'redirectToDashboard',
          tags: ['dashboard'],
          summary: 'Redirects to the dashboard, /ui/ (so does /ui)',
          responses: {
            '302': {
              description: 'To the dashboard',
              headers: { Location: { description: '/ui/', schema: { type: 'string', enum: ['/ui/'] } } },
              content: { 'text/plain': { schema: { type: 'string' }, example: 'Redirecting to /ui/.' } },
            },
          },
        },
      },
      '/ui/{page}': {
        get: {
          operationId: 'getDashboardPage',
          tags: ['dashboard'],
          summary: 'A page of the dashboard (HTML): /ui/ itself, /ui/flows, /ui/instances, /ui/tasks, /ui/workers, /ui/cluster and the pages under them',
          description:
            'A single-page app: /ui/ (the instances), /ui/flows, /ui/flows/{flowId}[?version=N], /ui/flows/new, /ui/flows/{flowId}/edit, /ui/instances, ' +
            '/ui/instances/{fiId}, /ui/tasks, /ui/tasks/new, /ui/tasks/{taskId}, /ui/workers and /ui/cluster all answer the same page (Cache-Control: no-cache, a ' +
            'same-origin Content-Security-Policy), which shows what its path names. Other paths under /ui are 404.',
          parameters: [{ name: 'page', in: 'path', required: true, description: 'The page', schema: { type: 'string', enum: ['flows', 'instances', 'tasks', 'workers', 'cluster'] } }],
          responses: {
            '200': { description: 'index.html', headers: { 'Cache-Control': { description: 'no-cache', schema: { type: 'string' } } }, content: html },
            '404': errorResponse(404, 'No such page', { noSuchPage: 'no dashboard page /ui/nope' }),
            '503': notBuilt,
          },
        },
      },
      '/ui/assets/{file}': {
        get: {
          operationId: 'getDashboardAsset',
          tags: ['dashboard'],
          summary: 'A script or style sheet of the dashboard (content-hashed name, cached for a year; gzip or brotli when accepted)',
          parameters: [{ name: 'file', in: 'path', required: true, description: 'The asset\'s file name, as index.html names it', schema: { type: 'string', pattern: '^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$' }, example: 'app-3F2A9C1B.js' }],
          responses: {
            '200': {
              description: 'The file',
              headers: { 'Cache-Control': { description: 'max-age=31536000, immutable', schema: { type: 'string' } } },
              content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } },
            },
            '404': errorResponse(404, 'No such asset', { noSuchAsset: 'no dashboard asset app-00000000.js' }),
            '503': notBuilt,
          },
        },
      },
    },
  };
}
