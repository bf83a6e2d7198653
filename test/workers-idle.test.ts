// Idle long polls are cheap: 50 polls waiting on a member cost Redis about one command each when they
// arrive and nothing while they wait (woken by the member's one pub/sub subscription, not by polling
// Redis). Counted on a private redis-server (MONITOR: the commands clients send, not those the scripts
// run inside), against the same window with no polls; and a waiting poll is still answered at once when
// a task is enqueued.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { PrivateRedis } from './helpers/privateServices.js';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';

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
