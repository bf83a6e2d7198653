// OpenAPI 3.0.3 schemas of tasks (what POST /task takes, what the task endpoints answer) and the
// primitives every part of the document shares (times, ids). Kept next to schemas.ts and present.ts so a
// change of shape and its description sit side by side; flows are in flowDoc.ts. Examples here are
// validated against their schemas by the linter in the test suite (test/openapi-lint.test.ts).
import { TASK_TYPES } from '../models/definitions.js';
import { TASK_CONFIG_MAX_BYTES } from './schemas.js';
import { IDEMPOTENCY_HEADER_MAX } from './taskConfig.js';

type Schema = Record<string, unknown>;

/** A time as the API writes them: `YYYY-MM-DD HH:mm:ss` in the server's time zone. */
export const time: Schema = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}$', description: 'YYYY-MM-DD HH:mm:ss, server time zone', example: '2026-11-27 08:00:00' };
export const nullableTime: Schema = { ...time, nullable: true, description: 'YYYY-MM-DD HH:mm:ss, server time zone; null until it happened' };
/** An id as answered: a positive integer. */
export const id: Schema = { type: 'integer', minimum: 1, example: 1 };
export const nullableId: Schema = { type: 'integer', minimum: 1, nullable: true };

export const TEMPLATES_NOTE =
  'Templates, filled in when the task runs in a flow (and stored as renderedContent/renderedConfig of its task instance): ${input.<path>} reads ' +
  'the start\'s input, ${nodes.<nodeKey>.output<.path>} the output of an earlier node (its one task\'s output, or an object by task id; a string ' +
  'holding JSON is read into). Plain text substitution, nothing is evaluated; $${ writes a literal ${. A template that cannot be filled in fails the task.';

const ms = (description: string, def?: number): Schema => ({ type: 'integer', minimum: 0, maximum: 86_400_000, ...(def === undefined ? {} : { default: def }), description });

const envRef = '${env:NAME} is replaced, when the task runs, by the member\'s variable NAME (only names in TASK_ENV_ALLOW; any other fails the task)';

/** taskConfig as answered: secret values shown as "***" (secrets.ts). */
const taskConfigProperties: Schema = {
  timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000, default: 3_600_000, description: 'Every type: the limit of one attempt in ms; the run is aborted past it' },
  maxRetries: { type: 'integer', minimum: 0, maximum: 100, default: 0, description: 'Every type: attempts after the first one when it fails (or its worker is lost)' },
  retryBackoffMs: ms('Every type: wait before the next attempt in ms, doubled on each further attempt (at most an hour)', 1000),
  waitMs: ms('WAIT only: how long to wait in ms (else the content read as milliseconds, else 1000)'),
  env: {
    type: 'object',
    maxProperties: 64,
    description:
      'SHELL only: variables added to the scrubbed environment; names [A-Za-z_][A-Za-z0-9_]* (at most 128 characters). ' +
      `Values may use ${envRef}. A variable whose name contains SECRET, TOKEN, PASS, KEY, CREDENTIAL, AUTH or COOKIE is answered as "***" ` +
      '(unless its value is only a ${env:NAME} reference); sending "***" back keeps the stored value.',
    additionalProperties: { type: 'string', maxLength: 8192 },
    example: { REPORT_DIR: '/var/reports', DB_PASSWORD: '${env:REPORT_DB_PASSWORD}' },
  },
  method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'], default: 'GET', description: 'HTTP only' },
  url: {
    type: 'string',
    pattern: '^[Hh][Tt][Tt][Pp][Ss]?://',
    description: `HTTP only, required there: http(s), no user:password@ (send a header). Its path and query may use ${envRef}; private addresses are refused unless HTTP_TASK_ALLOW opens them`,
    example: 'https://api.example.org/orders',
  },
  headers: {
    type: 'object',
    description:
      `HTTP only. Values may use ${envRef}. Authorization, Proxy-Authorization, Cookie, X-Api-Key and HTTP_TASK_SECRET_HEADERS are answered as "***" ` +
      '(unless the value is only a reference, optionally after a scheme word: "Bearer ${env:API_TOKEN}"); sending "***" back keeps the stored value, ' +
      'but only while the url keeps the stored origin (scheme, host, port): with a url elsewhere it is a 400 naming the header, send the value itself.',
    additionalProperties: { type: 'string' },
    example: { Authorization: '***', 'Content-Type': 'application/json' },
  },
  body: { description: 'HTTP only: a string sent as it is, or any other JSON value sent as JSON (content-type application/json). Strings may use ${env:NAME}.' },
  idempotencyHeader: {
    description:
      'HTTP only: the header each request carries the task instance\'s idempotency key in, "ts-<tiId>", the same for every run of that instance ' +
      '(runs are at-least-once: after a lost worker or Redis one may happen twice, and the service called can drop the repeat). Default Idempotency-Key; ' +
      'false sends none; a header of that name in headers wins. Not Host, Content-Length, Content-Type, Transfer-Encoding or Connection. ' +
      'SHELL tasks get the same key as TASK_SCHEDULE_IDEMPOTENCY_KEY.',
    oneOf: [
      { type: 'string', pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", minLength: 1, maxLength: IDEMPOTENCY_HEADER_MAX },
      { type: 'boolean', enum: [false] },
    ],
    default: 'Idempotency-Key',
    example: 'X-Request-Id',
  },
  queue: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'WORKER only, required there: the queue external workers poll (POST /worker/poll) to take it', example: 'resize' },
  input: { description: 'WORKER only: any JSON handed to the worker (default {}); every string in it takes the templates, filled in at first run' },
  leaseMs: { type: 'integer', minimum: 1000, maximum: 3600000, default: 30000, description: 'WORKER only: how long a worker may hold the task without a heartbeat before it goes back to its queue' },
};

const taskConfigDescription =
  'Per-type settings, checked against taskType; unknown fields are refused (400 naming them). Every type: timeoutMs, maxRetries, retryBackoffMs. ' +
  `WAIT: waitMs. SHELL: env. HTTP: url (required), method, headers, body, idempotencyHeader. WORKER: queue (required), input, leaseMs. At most ${TASK_CONFIG_MAX_BYTES.toLocaleString('en-US')} bytes as stored JSON. ${TEMPLATES_NOTE}`;

export const taskConfigSchema: Schema = {
  type: 'object',
  additionalProperties: false,
  description: taskConfigDescription,
  properties: taskConfigProperties,
  example: { url: 'https://api.example.org/orders/${input.orderId}', method: 'POST', headers: { Authorization: '***' }, body: { note: '${nodes.a.output}' }, maxRetries: 2 },
};

const taskTypeSchema: Schema = {
  type: 'string',
  enum: TASK_TYPES,
  description: 'ECHO: output = content. WAIT: waits. EXCEPTION: fails with the content as message. SHELL: /bin/sh -c content (off unless SHELL_TASKS_ENABLED=true). HTTP: one request (taskConfig). WORKER: run by an external worker polling taskConfig.queue (POST /worker/poll); its output is what the worker completes it with',
};

const taskName: Schema = { type: 'string', minLength: 1, maxLength: 255, example: 'notify' };

/** A task as POST /task and GET /task answer it (src/definitions/present.ts); a null key is left out. */
export const taskSchema: Schema = {
  type: 'object',
  description: 'A task, in the original API\'s key order; a key whose value is null is left out.',
  required: ['createTime', 'updateTime', 'taskId', 'taskName', 'taskType'],
  properties: {
    createTime: time,
    updateTime: time,
    taskId: id,
    taskName,
    taskType: taskTypeSchema,
    taskContent: { type: 'string', description: 'What the task runs: ECHO the text, WAIT the milliseconds (a whole number from 0 to 86,400,000, checked at save unless taskConfig.waitMs is given or it is a ${input.…} template), EXCEPTION the error message, SHELL the command' },
    taskDescription: { type: 'string', maxLength: 1024 },
    taskConfig: taskConfigSchema,
  },
};

export const taskExample = {
  createTime: '2026-11-27 08:00:00',
  updateTime: '2026-11-27 08:00:00',
  taskId: 2,
  taskName: 'notify',
  taskType: 'HTTP',
  taskConfig: { url: 'https://api.example.org/orders/${input.orderId}', method: 'POST', headers: { Authorization: '***', 'X-Trace': 'on' }, body: { status: '${nodes.a.output}' } },
};

/** A task inside a flow node: the original API sent only these five fields there. */
export const nodeTaskSchema: Schema = {
  type: 'object',
  required: ['createTime', 'updateTime', 'taskId', 'taskName', 'taskType'],
  properties: { createTime: time, updateTime: time, taskId: id, taskName, taskType: { type: 'string', enum: TASK_TYPES } },
};

export const taskSaveSchema: Schema = {
  type: 'object',
  required: ['taskName', 'taskType'],
  description:
    'Without taskId: creates a task. With the taskId of a live task: updates it; a field left out keeps its stored value, ' +
    'a field sent as null is cleared. An unknown taskId is a 404. Keys the API answers (createTime…) may be sent back and are ignored.',
  properties: {
    taskId: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER, nullable: true, description: 'Omit to create; a string of digits is taken too' },
    taskName: { ...taskName, description: 'Not blank' },
    taskType: taskTypeSchema,
    taskContent: {
      type: 'string',
      nullable: true,
      description: `What the task runs (a number is taken as its text); at most 16,777,215 bytes, an EXCEPTION task's 65,535. ${TEMPLATES_NOTE}`,
    },
    taskDescription: { type: 'string', maxLength: 1024, nullable: true },
    taskConfig: {
      description: `${taskConfigDescription} May also be sent as a string holding the JSON object; a blank string or null clears it.`,
      oneOf: [
        { type: 'object', nullable: true, additionalProperties: false, properties: taskConfigProperties },
        { type: 'string', description: 'The same object as JSON text' },
      ],
    },
  },
};

export const taskSaveExamples: Schema = {
  exception: { summary: 'The original API\'s EXCEPTION task', value: { taskName: 'exception task1', taskType: 'EXCEPTION', taskContent: 'task content' } },
  echoTemplate: { summary: 'ECHO with a template reading the start\'s input', value: { taskName: 'greet', taskType: 'ECHO', taskContent: 'hello ${input.customer.name}' } },
  http: {
    summary: 'HTTP with a secret header taken from the member\'s environment and a body from node "a"',
    value: {
      taskName: 'notify',
      taskType: 'HTTP',
      taskConfig: { url: 'https://api.example.org/orders/${input.orderId}', method: 'POST', headers: { Authorization: 'Bearer ${env:ORDERS_TOKEN}' }, body: { status: '${nodes.a.output}' }, timeoutMs: 10000, maxRetries: 2 },
    },
  },
  update: { summary: 'Update task 2, keeping its stored secret header', value: { taskId: 2, taskName: 'notify', taskType: 'HTTP', taskConfig: { url: 'https://api.example.org/orders', headers: { Authorization: '***' } } } },
};
