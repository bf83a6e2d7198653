// The OpenAPI 3.0.3 document, assembled from the route modules' own `paths` and `tags`. What the
// middleware in front of every route does is added here, from each path (accessRules.ts) and this
// member's configuration, not by each module: every operation gets the `security` it really has on this
// member with its 401/403 (and 429 on starts), the body reader's 400/413/415, and the 500 any route can
// end in. The test suite lints the result with Redocly's recommended rules (test/openapi-lint.test.ts).
import type { Config } from '../../config/index.js';
import type { OpenApiPaths, OpenApiTag } from './routeModule.js';
import { accessOf, isRead, isStart, isWorkerProtocol } from './accessRules.js';
import { errorEnvelopeSchema, errorResponse, retryAfter, type Schema } from './openapiParts.js';

export type DocConfig = Pick<Config, 'apiTokens' | 'metricsToken' | 'startRateLimit' | 'startRateBurst' | 'bodyLimit'>;

const OPEN: DocConfig = { apiTokens: null, metricsToken: null, startRateLimit: 0, startRateBurst: 1, bodyLimit: '1mb' };

/** The project is private: npm's UNLICENSED (no permission granted). Change it here if it gets a license. */
const LICENSE = { name: 'UNLICENSED (private: all rights reserved)', url: 'https://docs.npmjs.com/cli/v10/configuring-npm/package-json#license' };

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const BODY_METHODS = new Set(['post', 'put', 'patch']);

type Operation = { parameters?: { name?: string; in?: string }[]; responses?: Record<string, Schema> } & Schema;

function securityOf(path: string, c: DocConfig): Record<string, string[]>[] {
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

/** An error response of a route with more example messages (and a note on why) added: a copy. */
function withMore(res: Schema | undefined, status: number, description: string, messages: Record<string, string>): Schema {
  const added = errorResponse(status, description, messages);
  if (!res) return added;
  const media = (res.content as Record<string, Schema>)['application/json'];
  const more = ((added.content as Record<string, Schema>)['application/json'].examples ?? {}) as Schema;
  return {
    ...res,
    description: `${String(res.description)}; also: ${description[0].toLowerCase()}${description.slice(1)}`,
    content: { 'application/json': { ...media, examples: { ...(media.examples as Schema), ...more } } },
  };
}

/** The statuses the middleware in front of the routes answers (middleware/*.ts), added to one operation. */
function complete(path: string, method: string, op: Operation, c: DocConfig, readOnlyTokens: boolean, workerTokens = false): Operation {
  const security = securityOf(path, c);
  const access = accessOf(path);
  const responses: Record<string, Schema> = { ...(op.responses ?? {}) };
  const M = method.toUpperCase();
  // The body reader (middleware/body.ts).
  if (BODY_METHODS.has(method)) {
    responses['400'] = withMore(responses['400'], 400, 'A body that is not a JSON object (or not UTF-8, nested deeper than 64 levels, or not decompressible)', {
      notJson: "request body is not valid JSON: Expected property name or '}' in JSON at position 1",
      notAnObject: 'body: must be a JSON object, got an array',
    });
    responses['413'] ??= errorResponse(413, `The body is larger than BODY_LIMIT (${c.bodyLimit} on this member), as sent or once decompressed; the connection is closed`, {
      tooLarge: `request body is larger than BODY_LIMIT (${c.bodyLimit})`,
    }, { Connection: { description: 'close', schema: { type: 'string', enum: ['close'] } } });
    responses['415'] ??= errorResponse(415, 'The body is not application/json (or application/*+json), or its Content-Encoding is not gzip, deflate, br or identity', {
      notJsonType: 'request body must be application/json, got "text/plain"',
      badEncoding: 'Content-Encoding "compress" is not supported: send gzip, deflate, br or identity',
    });
  } else {
    responses['400'] = withMore(responses['400'], 400, `A body sent with a ${M}`, { bodyNotAllowed: `${M} requests take no body; send it without one` });
  }
  // Authentication (middleware/access.ts; admin routes answer their own 401).
  if (security.length && access !== 'admin') {
    const metrics = access === 'metrics' && c.metricsToken;
    responses['401'] ??= errorResponse(
      401,
      metrics ? 'No or wrong Authorization: Bearer <METRICS_TOKEN>' : 'No or wrong Authorization: Bearer <token> (a secret of API_TOKENS)',
      metrics
        ? { noToken: '/metrics needs Authorization: Bearer <METRICS_TOKEN>', wrongToken: 'metrics token is wrong' }
        : { noToken: 'this endpoint needs Authorization: Bearer <token> (see API_TOKENS)', wrongToken: 'API token is wrong' },
      { 'WWW-Authenticate': { description: `Bearer realm="${metrics ? 'metrics' : 'task-schedule'}"`, schema: { type: 'string' } } },
    );
  }
  if (access === 'api' && readOnlyTokens && !isRead(method, path)) {
    responses['403'] ??= errorResponse(403, 'The token is read-only: it may GET and POST /monitor/* only', { readOnly: 'token "dashboard" is read-only: it may GET and POST /monitor/* only' });
  }
  if (access === 'api' && workerTokens && !isWorkerProtocol(path)) {
    responses['403'] = withMore(responses['403'], 403, 'The token is a worker token: it may call /worker/* only', { workerOnly: 'token "bot" is a worker token: it may call /worker/* only' });
  }
  // The start rate limit (middleware/rateLimit.ts).
  if (c.startRateLimit > 0 && isStart(method, path)) {
    responses['429'] ??= errorResponse(
      429,
      `More than ${c.startRateLimit} starts per second (burst ${c.startRateBurst}) from this token or client IP, on this member`,
      { tooManyStarts: `too many starts: at most ${c.startRateLimit} per second (START_RATE_LIMIT, burst ${c.startRateBurst}); retry in 1 s` },
      retryAfter('Seconds until a start is allowed again'),
    );
  }
  // Anything unexpected (middleware/errors.ts): logged, answered without internals.
  responses.default ??= errorResponse(500, 'An unexpected failure: 500, logged by the member', { internal: 'internal error' });
  // With API tokens the token's name is the acting user: X-User is not read.
  const parameters = c.apiTokens && op.parameters ? op.parameters.filter((p) => !(p.in === 'header' && p.name === 'X-User')) : op.parameters;
  return { ...op, ...(parameters ? { parameters } : {}), security, responses };
}

function completeAll(paths: OpenApiPaths, c: DocConfig): OpenApiPaths {
  const readOnlyTokens = (c.apiTokens ?? []).some((t) => t.readOnly);
  const workerTokens = (c.apiTokens ?? []).some((t) => t.workerOnly);
  const out: OpenApiPaths = {};
  for (const [path, item] of Object.entries(paths)) {
    out[path] = Object.fromEntries(
      Object.entries(item).map(([method, op]) =>
        METHODS.has(method) && op && typeof op === 'object' ? [method, complete(path, method, op as Operation, c, readOnlyTokens, workerTokens)] : [method, op],
      ),
    );
  }
  return out;
}

const SECURITY_SCHEMES: Record<string, Schema> = {
  apiToken: { type: 'http', scheme: 'bearer', description: 'A secret of API_TOKENS; its name is recorded as create_user/update_user. A read-only token (name:secret:read) may GET and POST /monitor/* only.' },
  adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN: the /admin endpoints only (API tokens do not open them).' },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN: /metrics only.' },
};

/** The schemes some operation of this member asks for: a scheme this member does not use is not declared. */
function usedSchemes(paths: OpenApiPaths): Record<string, Schema> {
  const used = new Set<string>();
  for (const item of Object.values(paths)) {
    for (const op of Object.values(item)) for (const req of ((op as Operation).security ?? []) as Record<string, unknown>[]) for (const k of Object.keys(req)) used.add(k);
  }
  return Object.fromEntries(Object.entries(SECURITY_SCHEMES).filter(([k]) => used.has(k)));
}

export function openApiDocument(paths: OpenApiPaths, c: DocConfig = OPEN, tags: OpenApiTag[] = []): Record<string, unknown> {
  const completed = completeAll(paths, c);
  const declared = [...new Map(tags.map((t) => [t.name, t])).values()];
  return {
    openapi: '3.0.3',
    info: {
      title: 'task-schedule',
      version: '0.1.0',
      description:
        'Distributed task-flow scheduler. Every JSON answer is the envelope {"code":"200","message":"SUCCESS","data":…}; errors use the same envelope ' +
        '(ErrorEnvelope) with the HTTP status as code and data null. Fields are camelCase; times "YYYY-MM-DD HH:mm:ss" in the server\'s time zone. ' +
        'Beyond the statuses listed per operation: a method a path does not serve is a 405 with Allow (OPTIONS on any path answers 200 with Allow and ' +
        'the allowed methods as data), an unknown path a 404, a request line and headers over 16 KB a 431, and a request not received in time a 408. ' +
        (c.apiTokens
          ? 'This member requires an API token (Authorization: Bearer …) on every endpoint but /healthz, /readyz, /openapi.json and the dashboard\'s pages.'
          : 'This member has no API_TOKENS set: its API is open, and X-User names the acting user.'),
      license: LICENSE,
    },
    servers: [{ url: '/', description: 'The member that served this document (every web member serves the same API)' }],
    tags: declared,
    paths: completed,
    components: {
      schemas: { ErrorEnvelope: errorEnvelopeSchema },
      securitySchemes: usedSchemes(completed),
    },
  };
}
