// GET /docs: the API reference, Swagger UI rendering this member's /openapi.json (built by
// src/docs/build.ts into dist/docs). Open without a token, like /openapi.json; the page loads only
// from this origin (its Content-Security-Policy says so), so it works with no internet. /docs/assets/*
// are content-hashed and cached for a year. It is not in the OpenAPI document: it is its rendering.
import Router from '@koa/router';
import type { RouteModule } from '../routeModule.js';
import { staticBundle } from '../staticBundle.js';

const bundle = staticBundle('docs', 'API reference', 'the API reference page is not built: run `npm run build` (the document itself is at /openapi.json)');

export function docsRoutes(): RouteModule {
  const router = new Router();
  // The router is not strict: '/docs' also matches '/docs/'.
  router.get('/docs', (ctx) => bundle.page(ctx));
  router.get('/docs/assets/:file', (ctx) => bundle.asset(ctx, (ctx.params as Record<string, string>).file ?? ''));
  return { router, paths: {} };
}
