// GET /events: status changes of flow, node and task instances as Server-Sent Events, from every
// member of the cluster (see src/api/liveHub.ts), filtered by `fiId`, `flowId` and `kind`.
import Router from '@koa/router';
import { z } from 'zod';
import type { RouteModule } from '../routeModule.js';
import { parse } from '../validate.js';
import { errorResponse } from '../openapiParts.js';
import { HEARTBEAT_MS, MAX_CLIENTS, type Kind, type LiveHub } from '../liveHub.js';

const KINDS: Kind[] = ['flow', 'node', 'task'];
const idQuery = z
  .string({ error: 'must be given once' })
  .regex(/^\d{1,15}$/, 'must be a positive integer')
  .transform(Number)
  .pipe(z.number().min(1, 'must be a positive integer'));

const eventsQuery = z.object({
  fiId: idQuery.optional(),
  flowId: idQuery.optional(),
  kind: z
    .string({ error: 'must be given once' })
    .transform((v, ctx) => {
      const list = v.split(',').map((k) => k.trim()).filter(Boolean);
      const bad = list.find((k) => !KINDS.includes(k as Kind));
      if (bad !== undefined || !list.length) {
        ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of ${KINDS.join(', ')}, got ${JSON.stringify(v)}` });
        return z.NEVER;
      }
      return new Set(list as Kind[]);
    })
    .optional(),
  lastEventId: z.string().max(64).optional(),
});

const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

export function eventsRoutes(hub: LiveHub): RouteModule {
  const router = new Router();

  router.get('/events', (ctx) => {
    const q = parse(eventsQuery, ctx.query, 'query');
    if (ctx.method === 'HEAD') {
      // What GET would answer, at once: a HEAD response has no body, so a stream would never send
      // its headers (Node sends them with the first body byte) and would hold a slot for nothing.
      hub.assertRoom();
      ctx.status = 200;
      ctx.set(STREAM_HEADERS);
      return;
    }
    const lastEventId = ctx.get('Last-Event-ID') || q.lastEventId;
    const stream = hub.open({ fiId: q.fiId, flowId: q.flowId, kinds: q.kind }, lastEventId || undefined);
    // Written to the response directly, not through Koa: a client going away is the normal end of a
    // stream, not an error to report.
    ctx.respond = false;
    ctx.status = 200;
    const res = ctx.res;
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    res.writeHead(200, {
      ...STREAM_HEADERS,
      // A stream is not reused for another request: when it ends (this member stopping), the socket goes.
      Connection: 'close',
    });
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  });

  const event = (n: number, name: string, data: unknown) => `id: 1a2b3c4d.${n}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  return {
    router,
    tags: [{ name: 'events', description: 'Live status changes of flow, node and task instances from the whole cluster, as Server-Sent Events (what the dashboard listens to).' }],
    paths: {
      '/events': {
        get: {
          operationId: 'streamEvents',
          tags: ['events'],
          summary: 'Status changes of flow, node and task instances, live, as Server-Sent Events (from every member of the cluster)',
          description:
            'A `text/event-stream` (not the envelope). It opens with `retry: 2000` and `event: ready` (data {"memberId": …}). Then `event: status` messages whose `data` is ' +
            'a JSON array of changes {kind: "flow"|"node"|"task", fiId, flowId, niId?, nodeId?, tiId?, taskId?, status, attempt?}: niId is null for a node ' +
            'instance just entered; a task event with status PENDING and an attempt means that attempt failed and will be retried; fiId is null (and flowId absent) ' +
            'for a task run on its own. A change may come more than once: treat it as "this changed, look again". ' +
            'Every message has an id (`<member boot>.<n>`): send the last one back as the `Last-Event-ID` header (or ?lastEventId=) when reconnecting to get what was ' +
            'missed (from the member\'s last 1,000 messages); when this member cannot replay from it, the stream says `event: reset` (data {"reason": …}): refetch what ' +
            `you show. A comment line (": ping") every ${HEARTBEAT_MS / 1000} s keeps proxies from closing an idle stream. At most ${MAX_CLIENTS} streams per member ` +
            '(503 beyond); a client that stops reading (over 1 MiB waiting) is dropped. `HEAD /events` answers what GET would (200 with these headers, ' +
            'or its 400/503) at once, without opening a stream or taking a slot.',
          parameters: [
            { name: 'fiId', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 999_999_999_999_999 }, description: 'Only this flow instance' },
            { name: 'flowId', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 999_999_999_999_999 }, description: "Only this flow's instances" },
            { name: 'kind', in: 'query', required: false, schema: { type: 'string', pattern: '^\\s*(flow|node|task)\\s*(,\\s*(flow|node|task)\\s*)*$' }, example: 'flow,node', description: 'Only these kinds: flow, node, task (comma-separated)' },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string', maxLength: 64 }, example: '1a2b3c4d.41', description: 'The id of the last message received' },
            { name: 'lastEventId', in: 'query', required: false, schema: { type: 'string', maxLength: 64 }, example: '1a2b3c4d.41', description: 'The same, for clients that cannot set headers (the header wins)' },
          ],
          responses: {
            '200': {
              description: 'The event stream, until the client or the member goes away',
              headers: { 'Cache-Control': { description: 'no-cache, no-transform', schema: { type: 'string' } } },
              content: {
                'text/event-stream': {
                  schema: { type: 'string', description: 'Server-Sent Events: `id:`, `event:` and `data:` lines, a blank line after each message; `:` comment lines as heartbeats' },
                  example:
                    `retry: 2000\n${event(41, 'ready', { memberId: 'host-4242-a1b2c3' })}${event(42, 'status', [
                      { kind: 'task', fiId: 7, flowId: 3, niId: 20, nodeId: 13, tiId: 31, taskId: 2, status: 'SUCCESS', attempt: 1 },
                      { kind: 'node', fiId: 7, flowId: 3, niId: 20, nodeId: 13, status: 'SUCCESS' },
                      { kind: 'flow', fiId: 7, flowId: 3, status: 'SUCCESS' },
                    ])}: ping\n\n`,
                },
              },
            },
            '400': errorResponse(400, 'A bad fiId, flowId or kind', {
              badKind: 'kind: must be a comma-separated list of flow, node, task, got "foo"',
              badFiId: 'fiId: must be a positive integer',
            }),
            '503': errorResponse(503, `This member already serves ${MAX_CLIENTS} streams, or is stopping: try again or use another member`, {
              tooMany: `too many event streams on this member (at most ${MAX_CLIENTS}); try again shortly or use another member`,
              stopping: 'this member is stopping',
            }),
          },
        },
      },
    },
  };
}
