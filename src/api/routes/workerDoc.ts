// OpenAPI description of the external workers' protocol (routes in worker.ts).
import type { OpenApiPaths } from '../routeModule.js';
import { errorResponse, okResponse, retryAfter, unavailable, type Schema } from '../openapiParts.js';

const queueName: Schema = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$', example: 'resize' };
const queues: Schema = { type: 'array', minItems: 1, maxItems: 32, items: queueName };
const workerId: Schema = { type: 'string', pattern: '^[A-Za-z0-9_.:@-]{1,100}$', example: 'host-1' };
/** A JSON request body that is required (with an example, when given). */
const jsonRequest = (schema: Schema, example?: unknown): Schema => ({ required: true, content: { 'application/json': example === undefined ? { schema } : { schema, example } } });
const tiId: Schema = { type: 'integer', minimum: 1, description: 'The task instance, as the poll answered it', example: 42 };
const leaseToken: Schema = { type: 'string', minLength: 1, maxLength: 64, description: 'The token the poll answered with this task', example: 'q0y5d1yvQm2uC3VbY6dKkA' };

const polledTask: Schema = {
  type: 'object',
  required: ['tiId', 'leaseToken', 'queue', 'taskId', 'taskName', 'fiId', 'nodeKey', 'attempt', 'leaseMs', 'input', 'content'],
  properties: {
    tiId: { type: 'integer', minimum: 1 },
    leaseToken: { type: 'string', description: 'Present it to heartbeat, complete and fail; new for every lease' },
    queue: queueName,
    taskId: { type: 'integer', minimum: 1 },
    taskName: { type: 'string' },
    fiId: { type: 'integer', minimum: 1, nullable: true, description: 'Its flow instance (null for a task run on its own)' },
    nodeKey: { type: 'string', nullable: true, description: 'Its node\'s key in the flow (null for a task run on its own)' },
    attempt: { type: 'integer', minimum: 1, description: 'Runs started, this one included' },
    leaseMs: { type: 'integer', minimum: 1000, description: 'Heartbeat well within this (the TypeScript client does at a third of it)' },
    input: { description: 'The task\'s taskConfig.input with its templates filled in ({} when it has none)' },
    content: { type: 'string', nullable: true, description: 'The task\'s taskContent with its templates filled in' },
  },
};

const conflict = errorResponse(409, 'The lease is not this token\'s any more: it ran out and the task was handed out again, or the task was cancelled, timed out or ended. Stop working on it; nothing was recorded', {
  otherToken: 'leaseToken: task instance 42 is leased under another token (its lease ran out and it was handed out again); stop working on it',
  cancelled: 'leaseToken: task instance 42 is CANCELLED; stop working on it',
  timedOut: 'leaseToken: task instance 42 timed out after 60000 ms; stop working on it',
});
const noSuchTask = errorResponse(404, 'tiId names no WORKER task instance', { noSuchTask: 'tiId: no WORKER task instance 42' });
const both = unavailable('MySQL and Redis');
const badLease = { badTiId: 'tiId: must be a positive integer', badToken: 'leaseToken: must not be empty' };

export function workerPaths(): OpenApiPaths {
  return {
    '/worker/poll': {
      post: {
        operationId: 'pollWorkerTasks',
        tags: ['workers'],
        summary: 'Long-poll for WORKER task instances of some queues: each is leased to this poll alone',
        description:
          'Answers as soon as at least one task of the queues is available (all it can give, up to max), or [] once waitMs has passed. ' +
          'Each task is RUNNING for this worker when answered, under a lease of its task\'s leaseMs that heartbeats renew. ' +
          'A poll whose client goes away before its answer is written hands its tasks back at once.',
        requestBody: jsonRequest(
          {
            type: 'object',
            required: ['queues', 'workerId'],
            properties: {
              queues,
              workerId: { ...workerId, description: 'Names this worker on the dashboard and on the task instances' },
              max: { type: 'integer', minimum: 1, maximum: 100, default: 1 },
              waitMs: { type: 'integer', minimum: 0, maximum: 60000, default: 20000 },
            },
          },
          { queues: ['resize'], workerId: 'host-1', max: 1, waitMs: 20000 },
        ),
        responses: {
          '200': okResponse({ type: 'array', items: polledTask }, 'The tasks leased to this poll ([] when none came within waitMs)', [
            { tiId: 42, leaseToken: 'q0y5d1yvQm2uC3VbY6dKkA', queue: 'resize', taskId: 3, taskName: 'resize image', fiId: 7, nodeKey: 'resize', attempt: 1, leaseMs: 30000, input: { url: 'https://example.org/a.png' }, content: null },
          ]),
          '400': errorResponse(400, 'A bad field; the message names it', {
            badQueue: 'queues[0]: must be 1-128 characters of letters, digits and _.:-',
            noQueues: 'queues: must name at least one queue',
            badMax: 'max: must be from 1 to 100',
            badWait: 'waitMs: must be from 0 to 60000',
            badWorkerId: 'workerId: must be 1-100 characters of letters, digits and _.:@-',
          }),
          '503': errorResponse(503, 'This member holds WORKER_MAX_POLLS polls already, or MySQL or Redis is not answering: try again (the TypeScript client backs off)', {
            tooManyPolls: 'this member holds 1000 polls already (WORKER_MAX_POLLS); try again shortly or another member',
            mysqlDown: 'MySQL is not answering; try again shortly',
          }, retryAfter('Seconds to wait: 1')),
        },
      },
    },
    '/worker/heartbeat': {
      post: {
        operationId: 'heartbeatWorkerTask',
        tags: ['workers'],
        summary: 'Renew a task\'s lease; 409 when it is not this token\'s any more (stop then)',
        requestBody: jsonRequest({ type: 'object', required: ['tiId', 'leaseToken'], properties: { tiId, leaseToken } }),
        responses: {
          '200': okResponse({ type: 'object', required: ['leaseMs'], properties: { leaseMs: { type: 'integer', minimum: 1000 } } }, 'The lease renewed for leaseMs from now', { leaseMs: 30000 }),
          '400': errorResponse(400, 'A bad field; the message names it', badLease),
          '404': noSuchTask,
          '409': conflict,
          '503': both,
        },
      },
    },
    '/worker/complete': {
      post: {
        operationId: 'completeWorkerTask',
        tags: ['workers'],
        summary: 'The task SUCCESS with this output (any JSON, at most 1 MiB); the flow moves on. The same call again: 200, nothing changes',
        description:
          'With next (optional), the answer hands this worker its flow\'s next task instances when they are WORKER tasks of the queues it names without concurrencyLimit or rateLimit: ' +
          'the transaction that records this result creates them RUNNING for it under a lease of their leaseMs, and data.next lists them as a poll would (one request and one commit per step, no poll). ' +
          'data.next is [] when there are none (the flow ended, or its next step is of another type or queue, has limits, or waits on other nodes: it is queued as always). ' +
          'Heartbeat and complete each one as a polled task; one whose answer does not reach the worker goes back to its queue when its lease runs out (at once when the connection closes before the answer is written). ' +
          'Without next the answer is {status} alone.',
        requestBody: jsonRequest(
          {
            type: 'object',
            required: ['tiId', 'leaseToken'],
            properties: {
              tiId,
              leaseToken,
              output: { description: 'Any JSON (default null), at most 1,048,576 bytes as JSON; ${nodes.<key>.output.<path>} walks into it' },
              next: {
                type: 'object',
                required: ['queues', 'workerId'],
                description: 'Hand over the flow\'s next WORKER tasks of these queues in the answer (as POST /worker/poll\'s fields)',
                properties: {
                  queues,
                  workerId,
                  max: { type: 'integer', minimum: 1, maximum: 100, default: 1, description: 'The most handed over (the worker\'s free slots, this one included)' },
                },
              },
            },
          },
          { tiId: 42, leaseToken: 'q0y5d1yvQm2uC3VbY6dKkA', output: { width: 640 }, next: { queues: ['resize'], workerId: 'host-1', max: 1 } },
        ),
        responses: {
          '200': okResponse(
            { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['SUCCESS'] }, next: { type: 'array', items: polledTask, description: 'Only when next was asked for: the tasks handed over, leased to this worker ([] when none)' } } },
            'Recorded (or recorded already by this token: then next is [])',
            { status: 'SUCCESS', next: [{ tiId: 43, leaseToken: 'Xk1q0y5d1yvQm2uC3VbY6d', queue: 'resize', taskId: 4, taskName: 'thumbnail', fiId: 7, nodeKey: 'thumb', attempt: 1, leaseMs: 30000, input: { width: '640' }, content: null }] },
          ),
          '400': errorResponse(400, 'A bad field; the message names it', { ...badLease, outputTooLarge: 'output: must be at most 1048576 bytes as JSON', badNext: 'next.queues: must name at least one queue' }),
          '404': noSuchTask,
          '409': conflict,
          '413': errorResponse(413, 'The body is larger than BODY_LIMIT or 1 MiB and 64 KiB, whichever is larger, as sent or once decompressed', { tooLarge: 'output: the request body is larger than 1114112 bytes: output must be at most 1048576 bytes as JSON' }),
          '503': both,
        },
      },
    },
    '/worker/complete-many': {
      post: {
        operationId: 'completeWorkerTasks',
        tags: ['workers'],
        summary: 'Several completes in one request (at most 100): each as POST /worker/complete, answered on its own',
        description:
          'What the TypeScript client sends for the handlers that finish together: one request, and one MySQL round trip on a busy member, for many steps. ' +
          'Every complete is checked before any is recorded (a 400 names the field, e.g. completes[2].output, and nothing is written). ' +
          'Each one is then recorded as POST /worker/complete would: data.results answers each in order, code 200 (recorded, or recorded already by this token), or 404/409 with the message that call would have had; one refused complete does not stop the others. ' +
          'With next, each complete may hand over its flow\'s next WORKER task (at most one each), all listed in data.next. ' +
          'MySQL or Redis away is a 503 for the whole request: send it again (what was recorded answers 200; what it handed over went back to its queue).',
        requestBody: jsonRequest(
          {
            type: 'object',
            required: ['completes'],
            properties: {
              completes: {
                type: 'array',
                minItems: 1,
                maxItems: 100,
                description: 'Each task instance at most once; the body at most 1 MiB and 64 KiB (or BODY_LIMIT, whichever is larger)',
                items: { type: 'object', required: ['tiId', 'leaseToken'], properties: { tiId, leaseToken, output: { description: 'Any JSON (default null), at most 1,048,576 bytes as JSON' } } },
              },
              next: {
                type: 'object',
                required: ['queues', 'workerId'],
                description: 'Hand over each completed task\'s next WORKER task of these queues (at most one each) in the answer',
                properties: { queues, workerId },
              },
            },
          },
          { completes: [{ tiId: 42, leaseToken: 'q0y5d1yvQm2uC3VbY6dKkA', output: { width: 640 } }, { tiId: 44, leaseToken: 'Zq0y5d1yvQm2uC3VbY6dKk', output: null }], next: { queues: ['resize'], workerId: 'host-1' } },
        ),
        responses: {
          '200': okResponse(
            {
              type: 'object',
              required: ['results'],
              properties: {
                results: {
                  type: 'array',
                  items: { type: 'object', required: ['tiId', 'code'], properties: { tiId: { type: 'integer' }, code: { type: 'string', enum: ['200', '404', '409'] }, status: { type: 'string', enum: ['SUCCESS'] }, message: { type: 'string', description: 'Why it was refused (404, 409)' } } },
                },
                next: { type: 'array', items: polledTask, description: 'Only when next was asked for: the tasks handed over, leased to this worker ([] when none)' },
              },
            },
            'Each complete answered in the order sent',
            { results: [{ tiId: 42, code: '200', status: 'SUCCESS' }, { tiId: 44, code: '409', message: 'leaseToken: task instance 44 is CANCELLED; stop working on it' }], next: [] },
          ),
          '400': errorResponse(400, 'A bad field; the message names it; nothing was recorded', { empty: 'completes: must hold at least one complete', twice: 'completes[1].tiId: task instance 42 is completed twice in this request', outputTooLarge: 'completes[0].output: must be at most 1048576 bytes as JSON' }),
          '413': errorResponse(413, 'The body is larger than BODY_LIMIT or 1 MiB and 64 KiB, whichever is larger, as sent or once decompressed', { tooLarge: 'completes: the request body is larger than 1114112 bytes: send fewer completes together' }),
          '503': both,
        },
      },
    },
    '/worker/fail': {
      post: {
        operationId: 'failWorkerTask',
        tags: ['workers'],
        summary: 'A failed attempt: retried per maxRetries and retryBackoffMs while retryable, FAILED otherwise (answers the status it left)',
        requestBody: jsonRequest(
          { type: 'object', required: ['tiId', 'leaseToken', 'error'], properties: { tiId, leaseToken, error: { type: 'string', description: 'Kept to 8 KiB' }, retryable: { type: 'boolean', default: true } } },
          { tiId: 42, leaseToken: 'q0y5d1yvQm2uC3VbY6dKkA', error: 'image is corrupt', retryable: false },
        ),
        responses: {
          '200': okResponse({ type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['PENDING', 'FAILED'], description: 'PENDING: it will run again after its back-off' } } }, 'Recorded', { status: 'FAILED' }),
          '400': errorResponse(400, 'A bad field; the message names it', { ...badLease, badError: 'error: must be a string' }),
          '404': noSuchTask,
          '409': conflict,
          '503': both,
        },
      },
    },
    '/worker/release': {
      post: {
        operationId: 'releaseWorkerTask',
        tags: ['workers'],
        summary: 'Hand a task back (a worker that stops): PENDING again at once, the run not counted against maxRetries',
        requestBody: jsonRequest({ type: 'object', required: ['tiId', 'leaseToken'], properties: { tiId, leaseToken } }),
        responses: {
          '200': okResponse({ type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['PENDING'] } } }, 'Back in its queue', { status: 'PENDING' }),
          '400': errorResponse(400, 'A bad field; the message names it', badLease),
          '404': noSuchTask,
          '409': conflict,
          '503': both,
        },
      },
    },
  };
}
