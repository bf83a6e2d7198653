// Idle long polls are cheap: 50 polls waiting on a member cost Redis about one command each when they
// arrive and nothing while they wait (woken by the member's one pub/sub subscription, not by polling
// Redis). Counted on a private redis-server (MONITOR: the commands clients send, not those the scripts
// run inside), against the same window with no polls; and a waiting poll is still answered at once when
// a task is enqueued.
import { expect } from 'chai';
import http from 'node:http';
import { Redis } from 'ioredis';
import { PrivateRedis } from './helpers/privateServices.js';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { sleep } from './helpers/faultRun.js';

describe('external workers: idle polls', function () {
  this.timeout(60_000);
  let redis: PrivateRedis;
  let m: TestMember;
  let probe: Redis;
  before(async () => {
    redis = await PrivateRedis.start();
    m = await startTestMember({ ...isolated(), REDIS_URL: redis.url, ROLES: 'web' });
    probe = new Redis(redis.url);
    probe.on('error', () => {});
  });
  after(async () => {
    probe?.disconnect();
    await m?.stop(100);
    await redis?.kill();
  });

  /** Commands clients sent while `during` ran, by name (scripts count once, whatever they run inside). */
  const commandsDuring = async (during: () => Promise<unknown>): Promise<Map<string, number>> => {
    const mon = await probe.monitor();
    const seen = new Map<string, number>();
    mon.on('monitor', (_time: string, args: string[], source: string) => {
      if (source.startsWith('lua')) return;
      const name = String(args[0]).toLowerCase();
      seen.set(name, (seen.get(name) ?? 0) + 1);
    });
    try {
      await during();
    } finally {
      mon.disconnect();
    }
    return seen;
  };
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('50 idle polls add about one Redis command per poll, not per second per poller', async () => {
    const poll = (waitMs: number) => m.api('POST', '/worker/poll', { queues: ['idle'], workerId: 'idler', waitMs });
    await poll(0); // the member's subscription and scripts in place
    const WINDOW = 4_000;
    const idle = await commandsDuring(() => sleep(WINDOW));
    let answers: any[] = [];
    const t0 = performance.now();
    const busy = await commandsDuring(async () => {
      const polls = Array.from({ length: 50 }, () => poll(WINDOW));
      await waitFor('50 polls waiting', async () => m.engine.external.hub.waiting === 50);
      answers = await Promise.all(polls);
    });
    // The busy window is the polls' WINDOW plus the time to start them: the member's own background
    // commands (leader, reaper, heartbeats) are counted for that longer time, at the idle window's rate.
    const busyMs = performance.now() - t0;
    for (const a of answers) expect(a.body.data).to.deep.equal([]);
    const added = Math.round(total(busy) - (total(idle) * busyMs) / WINDOW);
    console.log(`      Redis commands: ${total(idle)} in ${WINDOW} ms idle, ${total(busy)} in ${Math.round(busyMs)} ms with 50 polls waiting (+${added}): ${JSON.stringify(Object.fromEntries(busy))}`);
    // One command per poll (its claim on arrival), and room for the background's own jitter: a leader or
    // reaper cycle more or fewer in a window is 10-20 commands (+58 and +68 seen in two CI runs). Polling
    // per second per poller would be 200 and more.
    expect(added).to.be.at.most(50 + 25);
  });

  it('a waiting poll is answered as soon as a task is enqueued', async () => {
    const t = await createTask(m.api, 'WORKER', null, { queue: 'idle' });
    const waiting = m.api('POST', '/worker/poll', { queues: ['idle'], workerId: 'idler', waitMs: 20_000 });
    await waitFor('the poll waiting', async () => m.engine.external.hub.waiting === 1);
    const t0 = Date.now();
    const tiId = (await m.api('POST', `/exec/task/${t}`)).body.data.tiId;
    const r = await waiting;
    expect(r.body.data.map((x: any) => x.tiId)).to.deep.equal([tiId]);
    expect(Date.now() - t0).to.be.below(2_000);
  });
});

// A member that stops must not wait on its clients. Node's server.close() ends only the connections idle
// at that instant; one busy then (a long poll held, a dashboard's request) that the client goes on reusing
// kept it open for ever, so a member with a worker polling never finished stopping.
describe('a member stopping while a worker long-polls on a kept-alive connection', function () {
  this.timeout(60_000);

  it('answers the held poll at once (empty, Connection: close) and stops, refusing new connections', async () => {
    const m = await startTestMember({ ...isolated(), ROLES: 'web' });
    const url = new URL(m.url!);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ queues: ['nothing-queued-here'], workerId: 'w-stop', waitMs: 20_000 });
    type Answer = { status?: number; connection?: string; data?: unknown; error?: string };
    const poll = () =>
      new Promise<Answer>((resolve) => {
        const req = http.request({ method: 'POST', host: url.hostname, port: url.port, path: '/worker/poll', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode, connection: res.headers.connection, data: JSON.parse(text).data }));
        });
        req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
        req.end(body);
      });
    try {
      // The worker's loop: poll after poll on the one connection. The first is held (nothing queued).
      const answers: Answer[] = [];
      let polling = true;
      const held = waitFor('the poll to be held', async () => m.engine.external.hub.waiting === 1, 10_000, 20);
      const loop = (async () => {
        while (polling) {
          const a = await poll();
          answers.push(a);
          if (a.error) break;
        }
      })();
      await held;
      const stopped = await Promise.race([m.stop(1000).then(() => true), sleep(15_000).then(() => false)]);
      polling = false;
      expect(stopped, 'the member stopped').to.equal(true);
      await loop;
      // The held poll is answered when the member stops, not at its 20 s; a poll sent on the same
      // connection after that is answered at once too, closing the connection; then nothing connects.
      const last = answers.pop()!;
      expect(last.error).to.equal('ECONNREFUSED');
      expect(answers.map((a) => [a.status, a.data])).to.deep.equal(answers.map(() => [200, []]));
      expect(answers.at(-1)!.connection).to.equal('close');
    } finally {
      agent.destroy();
    }
  });
});
