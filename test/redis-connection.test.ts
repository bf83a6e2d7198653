// The member's main Redis connection (infra/redis.ts createRedis, with its options and its watchdog)
// against a private redis-server: issue 23, "a Redis restart can wedge a member for good".
//  a. Redis SIGKILLed under load and restarted empty: every command settles and the connection serves
//     again. With ioredis 6.0.0 the commands on the wire at the kill never settled and the auto-pipeline
//     never flushed again (wedged in every try).
//  b. A connection that goes mute (open, nothing comes back: a partition, a forgotten NAT flow) is
//     noticed and replaced by the watchdog; without it, it stays mute for good.
//  c. A member whose every new connection goes mute after its handshake (reconnecting cannot help)
//     says so on /healthz (503), and answers 200 again once connections work.
import { expect } from 'chai';
import { createLogger } from '../src/infra/logger.js';
import { createRedis, type Redis } from '../src/infra/redis.js';
import { redisLiveness } from '../src/infra/redisWatchdog.js';
import { isolated } from './helpers/env.js';
import { PrivateRedis } from './helpers/privateServices.js';
import { MuteProxy } from './helpers/muteProxy.js';
import { Processes } from './helpers/processes.js';
import { sleep } from './helpers/faultRun.js';
import { waitFor } from './helpers/wait.js';

const log = createLogger('silent');

describe('the main Redis connection: reconnects, and a connection that stops answering (issue 23)', function () {
  this.timeout(90_000);
  let redis: PrivateRedis;
  let proxy: MuteProxy | null = null;
  let client: Redis | null = null;

  beforeEach(async () => {
    redis = await PrivateRedis.start();
  });
  afterEach(async () => {
    client?.disconnect();
    client = null;
    await proxy?.stop();
    proxy = null;
    await redis.stop();
  });

  it('a. SIGKILL under load, restarted empty 1.5 s later: every command settles, and the connection serves again', async () => {
    client = createRedis(redis.url, 'conn-a', log);
    const c = client;
    await c.ping();
    let stop = false;
    let sent = 0;
    let settled = 0;
    const loops = Array.from({ length: 50 }, async () => {
      while (!stop) {
        sent += 1;
        await c.incr('n').catch(() => {});
        settled += 1;
      }
    });
    await waitFor('commands flowing', async () => settled > 1_000, 10_000);
    await redis.kill();
    await sleep(1_500);
    await redis.restart();
    const answered = await Promise.race([c.ping().then(() => true), sleep(10_000).then(() => false)]);
    stop = true;
    const allSettled = await Promise.race([Promise.all(loops).then(() => true), sleep(5_000).then(() => false)]);
    expect({ answered, allSettled, pending: sent - settled }, 'after the restart').to.deep.equal({ answered: true, allSettled: true, pending: 0 });
  });

  it('b. a connection that goes mute is reconnected by the watchdog, and commands answer again', async () => {
    proxy = await MuteProxy.start(redis.port);
    client = createRedis(proxy.url, 'conn-b', log);
    await client.set('k', 'v');
    const before = proxy.accepted;
    proxy.muteOpen();
    const mutedAt = Date.now();
    // Issued into the mute connection: it fails with it (or is answered by the new one), never hangs.
    const inMute = client.get('k').then(() => 'answered', (e: Error) => `failed: ${e.message}`);
    await waitFor('the watchdog to make a new connection', async () => proxy!.accepted > before, 15_000, 50);
    const v = await Promise.race([client.get('k'), sleep(5_000).then(() => 'no answer in 5 s')]);
    expect(v).to.equal('v');
    expect(await Promise.race([inMute, sleep(1_000).then(() => 'still pending')])).to.not.equal('still pending');
    expect(proxy.accepted, 'connections made').to.be.greaterThan(before);
    expect(redisLiveness(client)).to.include({ reconnects: 1, stuckInARow: 0, stuckSince: null });
    console.log(`    [redis] mute connection → answered again in ${Date.now() - mutedAt} ms`);
  });

  it('c. a member whose connections all go mute after their handshake answers /healthz 503, and 200 again once they work', async () => {
    proxy = await MuteProxy.start(redis.port);
    const iso = isolated();
    const procs = new Processes(iso.REDIS_PREFIX, { env: { DATABASE_URL: iso.DATABASE_URL, REDIS_URL: proxy.url } });
    try {
      const m = await procs.start({ id: 'mute-web', roles: 'web' });
      const get = async (path: string) => {
        const res = await fetch(`${m.url}${path}`, { signal: AbortSignal.timeout(5_000) });
        return { status: res.status, body: (await res.json()) as { message: string; data: unknown } };
      };
      expect((await get('/healthz')).status).to.equal(200);
      proxy.muteAll();
      const mutedAt = Date.now();
      const sick = await waitFor('/healthz 503', async () => {
        const r = await get('/healthz');
        return r.status === 503 ? r : null;
      }, 30_000, 200);
      const sickAfter = Date.now() - mutedAt;
      expect(sick.body.message).to.match(/^Redis connection up but not answering for \d+ s, reconnected 2 times: restart this member$/);
      expect(sick.body.data).to.equal(null);
      expect((await get('/readyz')).status).to.equal(503);

      proxy.heal();
      const healedAt = Date.now();
      await waitFor('/healthz and /readyz 200 again', async () => (await get('/healthz')).status === 200 && (await get('/readyz')).status === 200, 30_000, 200);
      console.log(`    [redis] all connections mute → /healthz 503 after ${sickAfter} ms; healed → 200 after ${Date.now() - healedAt} ms`);
      expect(procs.unexpectedExits()).to.deep.equal([]);
    } catch (e) {
      console.error(procs.dump());
      throw e;
    } finally {
      await procs.killAll();
    }
  });
});
