// Pieces of the OpenAPI document that the route modules share: the success envelope around `data`, the
// one error envelope (components.schemas.ErrorEnvelope, with real error messages as examples), the
// parameters several routes take, and the 503 of a dependency that does not answer. OAS 3.0.3: a
// `nullable` always sits next to a `type`, and every example validates against its schema (the test
// suite lints the document: test/openapi-lint.test.ts).
import { MAX_NAME_FILTER, MAX_PAGE_SIZE } from '../definitions/schemas.js';

export type Schema = Record<string, unknown>;

export const ERROR_ENVELOPE = '#/components/schemas/ErrorEnvelope';

/** components.schemas.ErrorEnvelope: every error answer (src/api/middleware/errors.ts). */
export const errorEnvelopeSchema: Schema = {
  type: 'object',
  description: 'An error: the original API\'s envelope with the HTTP status as `code` and `data` null. A 400\'s message names the field first.',
  required: ['code', 'message', 'data'],
  additionalProperties: false,
  properties: {
    code: { type: 'string', pattern: '^[45][0-9]{2}$', description: 'The HTTP status, as a string', example: '404' },
    message: { type: 'string', description: 'What went wrong, for a person to read', example: 'flow 7 does not exist' },
    // OAS 3.0 has no `type: null`: a nullable object whose only allowed value is null.
    data: { type: 'object', nullable: true, enum: [null], description: 'Always null on an error', example: null },
  },
};

export { id, nullableId, nullableTime, time } from '../definitions/apiDoc.js';

/** A 200 answer: the envelope {"code":"200","message":"SUCCESS","data":…}. */
export function okResponse(data: Schema, description: string, example?: unknown, headers?: Schema): Schema {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: {
      'application/json': {
        schema: {
          type: 'object',
          required: ['code', 'message', 'data'],
          additionalProperties: false,
          properties: { code: { type: 'string', enum: ['200'] }, message: { type: 'string', enum: ['SUCCESS'] }, data },
        },
        ...(example === undefined ? {} : { example: { code: '200', message: 'SUCCESS', data: example } }),
      },
    },
  };
}

/**
 * An error answer in the ErrorEnvelope, with its real messages as named examples (`{name: message}`).
 * Every error status of the document is made here, so they share the one schema.
 */
export function errorResponse(status: number, description: string, messages: Record<string, string>, headers?: Schema): Schema {
  const examples = Object.fromEntries(Object.entries(messages).map(([name, message]) => [name, { value: { code: String(status), message, data: null } }]));
  return { description, ...(headers ? { headers } : {}), content: { 'application/json': { schema: { $ref: ERROR_ENVELOPE }, examples } } };
}

export const retryAfter = (description: string): Schema => ({ 'Retry-After': { description, schema: { type: 'integer', minimum: 1 } } });

/** A 503 of an operation that needs MySQL, Redis or both. */
export function unavailable(needs: 'MySQL' | 'Redis' | 'MySQL and Redis'): Schema {
  const messages: Record<string, string> = {};
  if (needs !== 'Redis') messages.mysqlDown = 'MySQL is not answering; try again shortly';
  if (needs !== 'MySQL') messages.redisDown = 'Redis is not answering; try again shortly';
  return errorResponse(503, `${needs === 'MySQL and Redis' ? 'MySQL or Redis' : needs} is not answering (down, frozen or out of connections): try again`, messages, retryAfter('Seconds to wait: 1'));
}

/** A path id: a positive integer of at most 15 digits (400 otherwise, 404 when nothing has it). */
export const idPath = (name: string, what: string): Schema => ({
  name,
  in: 'path',
  required: true,
  description: `The ${what}: a positive integer of at most 15 digits (400 otherwise)`,
  schema: { type: 'integer', minimum: 1, maximum: 999_999_999_999_999 },
  example: 1,
});

/** A path id that is not a positive integer. */
export const badId = (name: string): Record<string, string> => ({ badId: `${name} must be a positive integer, got "abc"` });

export const pageParams: Schema[] = [
  { name: 'page', in: 'query', required: false, description: 'Page number, from 1; given once', schema: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 } },
  { name: 'pageSize', in: 'query', required: false, description: `Items per page, at most ${MAX_PAGE_SIZE}; given once`, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 20 } },
  { name: 'name', in: 'query', required: false, description: `Only those whose name contains this text (case-insensitive, at most ${MAX_NAME_FILTER} characters; given once)`, schema: { type: 'string', maxLength: MAX_NAME_FILTER } },
];
export const badPage: Record<string, string> = { badPageSize: `pageSize: must be a whole number from 1 to ${MAX_PAGE_SIZE}` };

/** A page of a list endpoint: {total, page, pageSize, list}. */
export function pageOf(item: Schema, description: string): Schema {
  return {
    type: 'object',
    description,
    required: ['total', 'page', 'pageSize', 'list'],
    properties: {
      total: { type: 'integer', minimum: 0, description: 'Live items in all pages' },
      page: { type: 'integer', minimum: 1 },
      pageSize: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE },
      list: { type: 'array', items: item },
    },
  };
}

/**
 * X-User: who is acting, recorded as create_user/update_user. Only read while API_TOKENS is unset:
 * src/api/openapi.ts leaves it out of the document when a token's name is the user.
 */
export const userHeader: Schema = {
  name: 'X-User',
  in: 'header',
  required: false,
  description: 'Recorded as create_user/update_user (default "system"; the first 64 characters are kept). Anyone may claim any name: API_TOKENS is not set on this member.',
  schema: { type: 'string' },
  example: 'alice',
};

/** Idempotency-Key on a start (src/engine/idempotency.ts). */
export function idempotencyKeyHeader(answer: 'fiId' | 'tiId'): Schema {
  return {
    name: 'Idempotency-Key',
    in: 'header',
    required: false,
    description:
      `Makes the start safe to send again: a repeat with the same key within IDEMPOTENCY_TTL (default 24h) answers the same ${answer} and starts nothing. ` +
      '1 to 128 printable ASCII characters without spaces (400 otherwise); a key already used for another flow or task is a 409.',
    schema: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[!-~]{1,128}$' },
    example: 'order-4711-start',
  };
}
export const badIdempotencyKey: Record<string, string> = { badIdempotencyKey: 'Idempotency-Key: must be 1-128 printable ASCII characters without spaces' };
export const idempotencyKeyReused = (first: string): Record<string, string> => ({
  idempotencyKeyReused: `Idempotency-Key "order-4711-start" was used for ${first} ; a key names one request: send a new key for a new request`,
});
