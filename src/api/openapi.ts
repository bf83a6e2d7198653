// The OpenAPI 3 document, assembled from the route modules' own `paths`.
import type { OpenApiPaths } from './routeModule.js';

export function openApiDocument(paths: OpenApiPaths): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'task-schedule',
      version: '0.1.0',
      description:
        'Distributed task-flow scheduler. Every answer is the envelope {"code":"200","message":"SUCCESS","data":…}; ' +
        'errors use the same envelope with the HTTP status as code and data null. Times are "YYYY-MM-DD HH:mm:ss".',
    },
    components: {
      schemas: {
        Envelope: {
          type: 'object',
          required: ['code', 'message', 'data'],
          properties: { code: { type: 'string', example: '200' }, message: { type: 'string', example: 'SUCCESS' }, data: {} },
        },
      },
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } },
    },
    paths,
  };
}
