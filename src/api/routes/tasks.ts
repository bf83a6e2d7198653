// Placeholder: the task definitions API (issue 2) is built here.
import Router from '@koa/router';
import type { Services } from '../../services.js';
import type { RouteModule } from '../routeModule.js';

export function taskRoutes(_s: Services): RouteModule {
  return { router: new Router(), paths: {} };
}
