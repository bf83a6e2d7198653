// The OpenAPI 3 document, assembled from the route modules' own `paths`. Security is applied here,
// from each path (accessRules.ts) and this member's configuration, not by each module: every operation
// gets the `security` it really has on this member, with its 401/403 (and 429 on starts) responses.
import type { Config } from '../../config/index.js';
import type { OpenApiPaths } from './routeModule.js';
import { accessOf, isRead, isStart } from './accessRules.js';

type SecurityConfig = Pick<Config, 'apiTokens' | 'metricsToken' | 'startRateLimit' | 'startRateBurst'>;

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Envelope' } } },
});

function securityOf(path: string, c: SecurityConfig): Record<string, string[]>[] {
  switch (accessOf(path)) {
    case 'public':
      return [];
    case 'admin':
      return [{ adminToken: [] }];
    case 'metrics':
      return c.metricsToken ? [{ metricsToken: [] }] : c.apiTokens ? [{ apiToken: [] }] : [];
    default:
      return c.apiTokens ? [{ apiToken: [] }] : [];
  }
}

function secure(paths: OpenApiPaths, c: SecurityConfig): OpenApiPaths {
  const readOnlyTokens = (c.apiTokens ?? []).some((t) => t.readOnly);
  const out: OpenApiPaths = {};
  for (const [path, item] of Object.entries(paths)) {
    out[path] = Object.fromEntries(
      Object.entries(item).map(([method, op]) => {
        if (!METHODS.has(method) || !op || typeof op !== 'object') return [method, op];
        const security = securityOf(path, c);
        const responses = { ...((op as { responses?: Record<string, unknown> }).responses ?? {}) };
        const access = accessOf(path);
        if (security.length && access !== 'admin') responses['401'] ??= error('No or wrong Authorization: Bearer token');
        if (access === 'api' && readOnlyTokens && !isRead(method, path)) responses['403'] ??= error('The token is read-only');
        if (c.startRateLimit > 0 && isStart(method, path)) {
          responses['429'] ??= {
            ...error(`More than ${c.startRateLimit} starts per second (burst ${c.startRateBurst}) from this token or client IP, on this member`),
            headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds' } },
          };
        }
        // With API tokens the token's name is the acting user: X-User is not read.
        const params = (op as { parameters?: { name?: string; in?: string }[] }).parameters;
        const parameters = c.apiTokens && params ? params.filter((p) => !(p.in === 'header' && p.name === 'X-User')) : params;
        return [method, { ...op, ...(parameters ? { parameters } : {}), security, responses }];
      }),
    );
  }
  return out;
}

export function openApiDocument(paths: OpenApiPaths, c: SecurityConfig = { apiTokens: null, metricsToken: null, startRateLimit: 0, startRateBurst: 1 }): Record<string, unknown> {
  return {
    openapi: '3.0.3',
    info: {
      title: 'task-schedule',
      version: '0.1.0',
      description:
        'Distributed task-flow scheduler. Every answer is the envelope {"code":"200","message":"SUCCESS","data":…}; ' +
        'errors use the same envelope with the HTTP status as code and data null. Times are "YYYY-MM-DD HH:mm:ss". ' +
        (c.apiTokens
          ? 'This member requires an API token (Authorization: Bearer …) on every endpoint but /healthz, /readyz and /openapi.json.'
          : 'This member has no API_TOKENS set: its API is open.'),
    },
    components: {
      schemas: {
        Envelope: {
          type: 'object',
          required: ['code', 'message', 'data'],
          properties: { code: { type: 'string', example: '200' }, message: { type: 'string', example: 'SUCCESS' }, data: {} },
        },
      },
      securitySchemes: {
        apiToken: { type: 'http', scheme: 'bearer', description: 'A secret of API_TOKENS; its name is recorded as create_user/update_user. A read-only token (name:secret:read) may GET and POST /monitor/* only.' },
        adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN: the /admin endpoints only.' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN: /metrics only.' },
      },
    },
    paths: secure(paths, c),
  };
}
