// The Koa app: a tiny core with cross-cutting concerns as middleware (logging, error envelope,
// authentication, the start rate limit, JSON bodies) and one router per area. Stateless: any number of
// web members can serve it.
import Koa from 'koa';
import Router from '@koa/router';
import type { Services } from '../services.js';
import { errorEnvelope } from './middleware/errors.js';
import { jsonBody } from './middleware/body.js';
import { requestLog } from './middleware/log.js';
import { methodEnvelope } from './middleware/methods.js';
import { apiAccess } from './middleware/access.js';
import { startRateLimit } from './middleware/rateLimit.js';
import { openApiDocument } from './openapi.js';
import type { RouteModule } from './routeModule.js';
import { healthRoutes } from './routes/health.js';
import { taskRoutes } from './routes/tasks.js';
import { flowRoutes } from './routes/flows.js';
import { execRoutes } from './routes/exec.js';
import { monitorRoutes } from './routes/monitor.js';
import { uiRoutes } from './routes/ui.js';
import { docsRoutes } from './routes/docs.js';
import type { Engine } from '../engine/engine.js';

export function createApp(s: Services, engine: Engine, extra: RouteModule[] = []): Koa {
  const app = new Koa();
  app.proxy = true;
  // What Koa reports itself (errorEnvelope answers everything else): failures after the answer began,
  // mostly a client that went away mid-request (a dashboard page closed or navigated). Logged, never
  // printed to stderr.
  app.on('error', (err: NodeJS.ErrnoException) => {
    if (['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(err.code ?? '')) s.log.debug({ err }, 'client went away');
    else s.log.warn({ err }, 'response failed');
  });
  const docs = documentRoute();
  const modules = [healthRoutes(s), taskRoutes(s), flowRoutes(s), execRoutes(engine), monitorRoutes(s), uiRoutes(), docsRoutes(), ...extra, docs];
  docs.serve(openApiDocument(Object.assign({}, ...modules.map((m) => m.paths)), s.config, modules.flatMap((m) => m.tags ?? [])));

  if (!s.config.apiTokens) s.log.warn('API_TOKENS is not set: anyone who reaches this port can define and run tasks (see README, Security)');

  app.use(requestLog(s.log, s.config.logRequests));
  app.use(errorEnvelope(s.log));
  // Before the body is read: a caller without a token costs no parsing.
  app.use(apiAccess(s.config));
  if (s.config.startRateLimit > 0) app.use(startRateLimit(s.config.startRateLimit, s.config.startRateBurst));
  app.use(jsonBody(s.config.bodyLimit));
  // One router holding every module's routes: a request is matched once, not once per module.
  const root = new Router();
  for (const m of modules) root.use(m.router.routes());
  app.use(methodEnvelope());
  app.use(root.routes());
  return app;
}

/** GET /openapi.json: the document assembled from every module (this one included), given once they are known. */
function documentRoute(): RouteModule & { serve(doc: Record<string, unknown>): void } {
  let doc: Record<string, unknown> = {};
  const router = new Router();
  router.get('/openapi.json', (ctx) => {
    ctx.body = doc;
  });
  return {
    router,
    serve: (d) => {
      doc = d;
    },
    tags: [{ name: 'openapi', description: 'This document, as this member serves it (its security reflects this member\'s configuration); open without a token.' }],
    paths: {
      '/openapi.json': {
        get: {
          operationId: 'getOpenApiDocument',
          tags: ['openapi'],
          summary: 'This OpenAPI 3.0.3 document (not in the envelope)',
          responses: { '200': { description: 'The document', content: { 'application/json': { schema: { type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { type: 'string', enum: ['3.0.3'] }, info: { type: 'object' }, paths: { type: 'object' } } } } } } },
        },
      },
    },
  };
}

/** What a member without the web role serves when METRICS_PORT is set: liveness and its metrics. */
export function createOpsApp(s: Services, modules: RouteModule[]): Koa {
  const app = new Koa();
  app.use(errorEnvelope(s.log));
  app.use(methodEnvelope());
  app.use(apiAccess(s.config)); // METRICS_TOKEN (or an API token) for /metrics, as on a web member
  const root = new Router();
  for (const m of [healthRoutes(s), ...modules]) root.use(m.router.routes());
  app.use(root.routes());
  return app;
}
