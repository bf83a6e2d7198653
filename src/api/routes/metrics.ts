// Placeholder until metrics land (issue 4).
import Router from '@koa/router';
import type { Services } from '../../services.js';
import type { Engine } from '../../engine/engine.js';
import type { Cluster } from '../../cluster/types.js';
import type { RouteModule } from '../routeModule.js';

export function metricsRoutes(_s: Services, _engine: Engine, _cluster: Cluster): RouteModule {
  return { router: new Router(), paths: {} };
}
