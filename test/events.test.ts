// GET /events at the HTTP level, with two real members on one database and Redis prefix: what member
// A commits reaches member B's stream (through Redis pub/sub), flowId filled in for the worker's task
// events; the fiId / flowId / kind filters; replay with Last-Event-ID and `reset` when it cannot (also
// after its Redis subscription was cut); bad filters; the per-member stream limit; streams ended when a
// member stops.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { Redis } from 'ioredis';
import { isolated, testRun } from './helpers/env.js';
import { createFlow, createTask, startFlow, waitForEnd } from './helpers/flows.js';
import { SseClient } from './helpers/sse.js';
import { waitFor } from './helpers/wait.js';
import { MAX_CLIENTS } from '../src/api/liveHub.js';

describe('live events (GET /events)', function () {
  this.timeout(60_000);
  let a: TestMember; // web + worker: runs the flows
  let b: TestMember; // web only: streams what A does
  const clients: SseClient[] = [];
  let echo: number;
  let wait: number;

  const open = async (m: TestMember, query = '', headers: Record<string, string> = {}) => {
    const c = await SseClient.open(`${m.url}/events${query}`, headers);
    clients.push(c);
    return c;
  };

  before(async () => {
    const env = { ...isolated(), WORKER_CONCURRENCY: '8' };
    a = await startTestMember({ ...env, ROLES: 'web,worker' });
    b = await startTestMember({ ...env, ROLES: 'web' });
    echo = await createTask(a.api, 'ECHO', 'hi');
    wait = await createTask(a.api, 'WAIT', '300');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  after(async () => {
    await b?.stop(1000);
    await a?.stop(1000);
  });

  it('what member A commits reaches a stream of member B, task events with their flowId', async () => {
    const flowId = await createFlow(a.api, [[echo], [wait]]);
    const c = await open(b, `?flowId=${flowId}`);
    expect(c.status).to.equal(200);
    const ready = await c.waitForMessage('ready');
    expect(JSON.parse(ready.data)).to.deep.equal({ memberId: b.services.memberId });
    expect(ready.id).to.match(/^[0-9a-f]{8}\.\d+$/);

    const fiId = await startFlow(a.api, flowId);
    await c.waitForEvent('the flow to succeed', (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'SUCCESS');
    const evs = c.events.filter((e) => e.fiId === fiId);
    expect(evs.find((e) => e.kind === 'flow' && e.status === 'RUNNING'), 'flow started').to.include({ flowId });
    // From the worker (no flowId sent): resolved by the web member.
    const taskDone = evs.filter((e) => e.kind === 'task' && e.status === 'SUCCESS');
    expect(taskDone).to.have.length(2);
    for (const e of taskDone) expect(e).to.include({ flowId, attempt: 1 }).and.to.have.property('tiId');
    expect(evs.filter((e) => e.kind === 'node' && e.status === 'SUCCESS').length).to.be.at.least(4); // START, 2 TASK, END
    // Every message carries an id, in order.
    const ids = c.messages.map((m) => Number(m.id!.split('.')[1]));
    expect(ids).to.deep.equal([...ids].sort((x, y) => x - y));
  });

  it('filters by fiId, flowId and kind', async () => {
    const f1 = await createFlow(a.api, [[wait], [echo]]);
    const f2 = await createFlow(a.api, [[wait], [echo]]);
    const all = await open(b);
    const byFlow = await open(b, `?flowId=${f2}`);
    const flowsOnly = await open(b, '?kind=flow');
    await Promise.all([all, byFlow, flowsOnly].map((c) => c.waitForMessage('ready')));
    const fi1 = await startFlow(a.api, f1);
    const byFi = await open(b, `?fiId=${fi1}`);
    await byFi.waitForMessage('ready');
    const fi2 = await startFlow(a.api, f2);
    for (const fiId of [fi1, fi2]) await all.waitForEvent(`instance ${fiId} to end`, (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'SUCCESS');
    await byFi.waitForEvent('instance 1 to end', (e) => e.kind === 'flow' && e.status === 'SUCCESS');
    await byFlow.waitForEvent('instance 2 to end', (e) => e.kind === 'flow' && e.status === 'SUCCESS');
    await flowsOnly.waitForEvent('instance 2 to end', (e) => e.fiId === fi2 && e.status === 'SUCCESS');

    expect(all.events.some((e) => e.fiId === fi1) && all.events.some((e) => e.fiId === fi2)).to.equal(true);
    expect(byFi.events.map((e) => e.fiId)).to.satisfy((ids: number[]) => ids.length > 0 && ids.every((id) => id === fi1));
    expect(byFi.events.some((e) => e.kind === 'task')).to.equal(true);
    expect(byFlow.events.map((e) => e.flowId)).to.satisfy((ids: number[]) => ids.length > 0 && ids.every((id) => id === f2));
    expect(byFlow.events.some((e) => e.fiId === fi1)).to.equal(false);
    expect(flowsOnly.events.map((e) => e.kind)).to.satisfy((k: string[]) => k.length >= 4 && k.every((x) => x === 'flow'));
  });

  it('replays what a reconnecting client missed (Last-Event-ID); an id it cannot replay gets `reset`', async () => {
    const flowId = await createFlow(a.api, [[echo]]);
    // Another client stays connected meanwhile (a member nobody watches keeps nothing: see below).
    await (await open(b, '?kind=flow')).waitForMessage('ready');
    const first = await open(b, `?flowId=${flowId}`);
    const ready = await first.waitForMessage('ready');
    await first.close();

    const fiId = await startFlow(a.api, flowId);
    await waitForEnd(a.api, fiId);
    const again = await open(b, `?flowId=${flowId}`, { 'Last-Event-ID': ready.id! });
    await again.waitForEvent('the missed end of the instance', (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'SUCCESS');
    expect(again.messages.some((m) => m.event === 'reset')).to.equal(false);
    // The query parameter works too (for clients that cannot set headers).
    const viaQuery = await open(b, `?flowId=${flowId}&lastEventId=${encodeURIComponent(ready.id!)}`);
    await viaQuery.waitForEvent('the missed start', (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'RUNNING');

    for (const unknown of ['0badbeef.1', `${ready.id!.split('.')[0]}.999999999`, 'not-an-id']) {
      const c = await open(b, '', { 'Last-Event-ID': unknown });
      const reset = await c.waitForMessage('reset');
      expect(JSON.parse(reset.data).reason, unknown).to.match(/refetch/);
      expect(c.events, unknown).to.deep.equal([]);
    }
    // An id of member A means nothing to member B.
    const onA = await open(a);
    const idOfA = (await onA.waitForMessage('ready')).id!;
    const crossed = await open(b, '', { 'Last-Event-ID': idOfA });
    await crossed.waitForMessage('reset');
  });

  it('a member nobody watches neither parses nor keeps events: a client coming back gets `reset`', async () => {
    const flowId = await createFlow(a.api, [[echo]]);
    const lone = await open(b, `?flowId=${flowId}`);
    const ready = await lone.waitForMessage('ready');
    await lone.close();
    await waitFor('member B to see the client go', async () => b.hub!.clientCount === 0);
    await waitForEnd(a.api, await startFlow(a.api, flowId));
    const back = await open(b, `?flowId=${flowId}`, { 'Last-Event-ID': ready.id! });
    await back.waitForMessage('reset');
    // From then on it is followed again.
    const fiId = await startFlow(a.api, flowId);
    await back.waitForEvent('the new instance to end', (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'SUCCESS');
  });

  it('when its Redis subscription is cut and comes back, a member tells its clients to refetch, then streams again', async () => {
    const c = await open(b);
    await c.waitForMessage('ready');
    const admin = new Redis(testRun.redisUrl);
    try {
      const name = `task-schedule:${b.services.memberId}:events`;
      const line = String(await admin.client('LIST')).split('\n').find((l) => l.includes(` name=${name} `));
      expect(line, name).to.be.a('string');
      await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line!)![1]!);
    } finally {
      admin.disconnect();
    }
    const reset = await c.waitForMessage('reset');
    expect(JSON.parse(reset.data).reason).to.match(/reconnected/);
    const flowId = await createFlow(a.api, [[echo]]);
    const fiId = await startFlow(a.api, flowId);
    await c.waitForEvent('events after the reconnection', (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'SUCCESS');
  });

  it('HEAD /events answers its headers at once and takes no stream slot', async () => {
    const before = b.hub!.clientCount;
    // A HEAD that is never answered would hold this past the deadline (and hold one of the slots).
    const r = await fetch(`${b.url}/events?kind=flow`, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/^text\/event-stream/);
    expect(await r.text()).to.equal('');
    expect(b.hub!.clientCount).to.equal(before);
    // Its filters are checked as GET's are.
    const bad = await fetch(`${b.url}/events?kind=flows`, { method: 'HEAD', signal: AbortSignal.timeout(5_000) });
    expect(bad.status).to.equal(400);
    expect(b.hub!.clientCount).to.equal(before);
  });

  it('refuses bad filters with a 400 naming the parameter', async () => {
    for (const [q, field] of [['?fiId=abc', 'fiId'], ['?flowId=0', 'flowId'], ['?kind=flows', 'kind'], ['?fiId=1&fiId=2', 'fiId']] as const) {
      const c = await open(b, q);
      expect(c.status, q).to.equal(400);
      const body = JSON.parse(c.body!);
      expect(body.code).to.equal('400');
      expect(body.message, q).to.match(new RegExp(`^${field}: `));
    }
  });

  it(`serves at most ${MAX_CLIENTS} streams per member, then 503 in the envelope`, async () => {
    const many = await Promise.all(Array.from({ length: MAX_CLIENTS }, () => open(b)));
    expect(many.every((c) => c.status === 200)).to.equal(true);
    const over = await open(b);
    expect(over.status).to.equal(503);
    expect(JSON.parse(over.body!)).to.include({ code: '503', data: null });
    // Another member still serves.
    expect((await open(a)).status).to.equal(200);
    // A stream that goes frees its place.
    await many[0]!.close();
    await waitFor('the closed stream to free its place', async () => (await open(b)).status === 200, 5_000);
  });

  it('with no stream open anywhere nothing is published; a first stream gets `ready` once publishers are on, then every event', async () => {
    // Listen on the channel itself, as a web member's hub does.
    const raw = new Redis(testRun.redisUrl);
    raw.on('error', () => {});
    const heard: string[] = [];
    raw.on('message', (_ch: string, msg: string) => heard.push(msg));
    try {
      await raw.subscribe(`${a.services.config.redisPrefix}events`);
      const flowId = await createFlow(a.api, [[echo]]);
      // The earlier tests' streams are closed; their watch runs out within seconds. Then a flow runs
      // and not one of its events is sent.
      await waitFor('a flow to run with nothing published', async () => {
        const fiId = await startFlow(a.api, flowId);
        expect((await waitForEnd(a.api, fiId)).status).to.equal('SUCCESS');
        return !heard.some((m) => m.includes(`"fiId":${fiId},`));
      }, 15_000, 200);
      const c = await open(b, `?flowId=${flowId}`);
      await c.waitForMessage('ready');
      const watched = await startFlow(a.api, flowId);
      await c.waitForEvent('the watched flow to succeed', (e) => e.kind === 'flow' && e.fiId === watched && e.status === 'SUCCESS');
      expect(c.events.filter((e) => e.fiId === watched && e.kind === 'flow').map((e) => e.status)).to.deep.equal(['RUNNING', 'SUCCESS']);
    } finally {
      raw.disconnect();
    }
  });

  it('a stopping member ends its streams (and stops)', async () => {
    const c3 = await startTestMember({ ...isolated(), ROLES: 'web' });
    const c = await open(c3);
    await c.waitForMessage('ready');
    await c3.stop(1000);
    await c.waitEnded();
  });
});
