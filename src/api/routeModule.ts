// Each file in routes/ exports a function building one of these: its router and the OpenAPI
// `paths` it serves (with the tags they use), so the document at /openapi.json is assembled from the
// code that answers.
import type Router from '@koa/router';

export type OpenApiPaths = Record<string, Record<string, unknown>>;

export interface OpenApiTag {
  name: string;
  description: string;
}

export interface RouteModule {
  router: Router;
  paths: OpenApiPaths;
  /** The tags its operations use, declared at the document's top level. */
  tags?: OpenApiTag[];
}
