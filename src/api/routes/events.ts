// GET /events: status changes of flow, node and task instances as Server-Sent Events, from every
// member of the cluster (see src/api/liveHub.ts), filtered by `fiId`, `flowId` and `kind`.
import Router from '@koa/router';
import { z } from 'zod';
import type { Services } from '../../services.js';
import type { RouteModule } from '../routeModule.js';
import { parse } from '../validate.js';
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

export function eventsRoutes(_s: Services, hub: LiveHub): RouteModule {
  const router = new Router();

  router.get('/events', (ctx) => {
    const q = parse(eventsQuery, ctx.query, 'query');
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
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      // A stream is not reused for another request: when it ends (this member stopping), the socket goes.
      Connection: 'close',
    });
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  });

  const event = (name: string, data: unknown) => `id: 1a2b3c4d.42\nevent: ${name}\ndata: ${JSON.stringify(data)}`;
  return {
    router,
    paths: {
      '/events': {
        get: {
          tags: ['events'],
          summary: 'Status changes of flow, node and task instances, live, as Server-Sent Events (from every member of the cluster)',
          description:
            'A `text/event-stream`. First `event: ready` (data {memberId}); then `event: status` messages whose data is a JSON array of ' +
            'changes {kind: "flow"|"node"|"task", fiId, flowId, niId?, nodeId?, tiId?, taskId?, status, attempt?} (niId is null for a node ' +
            'instance just entered; a task event with status PENDING means the attempt failed and will be retried; fiId is null for a task run on its own). ' +
            'Every message has an id; send it back as the `Last-Event-ID` header (or ?lastEventId=) when reconnecting to get what was missed; ' +
            'when this member cannot replay from it, the stream starts with `event: reset`: refetch what you show. A comment line ' +
            `(": ping") every ${HEARTBEAT_MS / 1000} s. At most ${MAX_CLIENTS} streams per member (503 beyond).`,
          parameters: [
            { name: 'fiId', in: 'query', required: false, schema: { type: 'integer', minimum: 1 }, description: 'only this flow instance' },
            { name: 'flowId', in: 'query', required: false, schema: { type: 'integer', minimum: 1 }, description: "only this flow's instances" },
            { name: 'kind', in: 'query', required: false, schema: { type: 'string', example: 'flow,node' }, description: 'only these kinds: flow, node, task (comma-separated)' },
            { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' }, description: 'the id of the last message received' },
            { name: 'lastEventId', in: 'query', required: false, schema: { type: 'string' }, description: 'the same, for clients that cannot set headers' },
          ],
          responses: {
            '200': {
              description: 'the event stream',
              content: {
                'text/event-stream': {
                  schema: { type: 'string' },
                  example: `${event('ready', { memberId: 'host-4242-a1b2c3' })}\n\n${event('status', [
                    { kind: 'task', fiId: 7, flowId: 3, niId: 20, tiId: 31, taskId: 2, status: 'SUCCESS', attempt: 1 },
                    { kind: 'node', fiId: 7, flowId: 3, niId: 20, status: 'SUCCESS' },
                    { kind: 'flow', fiId: 7, flowId: 3, status: 'SUCCESS' },
                  ])}\n\n`,
                },
              },
            },
            '400': { description: 'bad fiId, flowId or kind' },
            '503': { description: `this member already serves ${MAX_CLIENTS} streams, or is stopping` },
          },
        },
      },
    },
  };
}
