// Staying up, the parts that do not need a dependency to fail: a start sent twice makes one instance;
// two databases cannot share a Redis prefix; a coordinator whose lock expired mid-pass advances again;
// two runs of one task instance in one member keep apart; results are recorded when Redis refuses the
// locks. (Redis and MySQL faults with real processes are in the fault suite.)
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated, testRun } from './helpers/env.js';
import { createFlow, createTask, startFlow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { loadConfig } from '../config/index.js';
import { startMember } from '../src/member.js';
import { createLogger } from '../src/infra/logger.js';
import { StartupError } from '../src/errors.js';
import { PrivateRedis } from './helpers/privateServices.js';
import { queueKeys } from '../src/redis/keys.js';

describe('staying up', function () {
  this.timeout(60_000);

  describe('Idempotency-Key on starts', () => {
    let m: TestMember;
    let flowId: number;
    let taskId: number;
    before(async () => {
      m = await startTestMember({ ...isolated(), ROLES: 'web', IDEMPOTENCY_TTL: '2s' });
      taskId = await createTask(m.api, 'ECHO', 'once');
      flowId = await createFlow(m.api, [[taskId]]);
    });
    after(async () => { await m.stop(); });

    const count = async (table: string, where: Record<string, unknown>) => Number((await m.services.knex(table).where(where).count({ n: '*' }))[0].n);

    it('a start sent again with the same key answers the same fiId and makes one instance, also when sent at once', async () => {
      const key = { 'Idempotency-Key': 'order-1234' };
      const first = await m.api('POST', `/exec/flow/${flowId}`, undefined, key);
      expect(first.status, first.text).to.equal(200);
      const again = await m.api('POST', `/exec/flow/${flowId}`, undefined, key);
      expect(again.body.data).to.deep.equal(first.body.data);
      const burst = await Promise.all(Array.from({ length: 10 }, () => m.api('POST', `/exec/flow/${flowId}`, undefined, { 'Idempotency-Key': 'burst-1' })));
      expect(new Set(burst.map((r) => r.status))).to.deep.equal(new Set([200]));
      expect(new Set(burst.map((r) => r.body.data.fiId)).size).to.equal(1);
      expect(await count('task_flow_ins', { fi_id: burst[0].body.data.fiId })).to.equal(1);
      const other = await m.api('POST', `/exec/flow/${flowId}`, undefined, { 'Idempotency-Key': 'order-5678' });
      expect(other.body.data.fiId).not.to.equal(first.body.data.fiId);
    });

    it('works for a single task, and a key is bound to what it started (another target is a 409)', async () => {
      const key = { 'Idempotency-Key': 'task-run-1' };
      const a = await m.api('POST', `/exec/task/${taskId}`, undefined, key);
      const b = await m.api('POST', `/exec/task/${taskId}`, undefined, key);
      expect(a.status).to.equal(200);
      expect(b.body.data).to.deep.equal(a.body.data);
      const clash = await m.api('POST', `/exec/flow/${flowId}`, undefined, key);
      expect(clash.status).to.equal(409);
      expect(clash.body).to.deep.include({ code: '409', data: null });
      expect(clash.body.message).to.match(/Idempotency-Key/);
    });

    it('a key expires after IDEMPOTENCY_TTL: the same key then starts anew', async () => {
      const key = { 'Idempotency-Key': 'short-lived' };
      const a = await m.api('POST', `/exec/flow/${flowId}`, undefined, key);
      await m.services.knex('idempotency_key').where('idem_key', 'short-lived').update({ create_time: new Date(Date.now() - 3_000) });
      const b = await m.api('POST', `/exec/flow/${flowId}`, undefined, key);
      expect(b.status).to.equal(200);
      expect(b.body.data.fiId).not.to.equal(a.body.data.fiId);
      expect(await count('idempotency_key', { idem_key: 'short-lived' })).to.equal(1);
    });

    it('a malformed key is a 400 naming the header, and starts nothing', async () => {
      const before = await count('task_flow_ins', { flow_id: flowId });
      for (const bad of ['x'.repeat(129), 'has space', 'tab\tinside']) {
        const r = await m.api('POST', `/exec/flow/${flowId}`, undefined, { 'Idempotency-Key': bad });
        expect(r.status, bad).to.equal(400);
        expect(r.body.message).to.match(/^Idempotency-Key: /);
      }
      expect(await count('task_flow_ins', { flow_id: flowId })).to.equal(before);
    });
  });

  describe('one Redis prefix, one database', () => {
    it('a member whose database is not the one the prefix belongs to refuses to start, naming REDIS_PREFIX', async () => {
      const a = isolated();
      const b = isolated();
      const first = await startTestMember({ ...a, ROLES: 'web' });
      try {
        const config = loadConfig({ ...process.env, DATABASE_URL: b.DATABASE_URL, REDIS_URL: testRun.redisUrl, REDIS_PREFIX: a.REDIS_PREFIX, LOG_LEVEL: 'silent', PORT: '0', ROLES: 'web' });
        let err: unknown;
        try {
          const m = await startMember(config, createLogger('silent'));
          await m.stop();
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(StartupError);
        expect((err as Error).message).to.match(/REDIS_PREFIX/);
        expect((err as Error).message).not.to.match(/\n/);
        // A second member of the same database is welcome.
        const second = await startTestMember({ ...a, ROLES: 'web' });
        await second.stop();
      } finally {
        await first.stop();
      }
    });
  });

  describe('coordinator locks', () => {
    // A Redis of its own: one test pauses it (CLIENT PAUSE), which must not stall anyone else.
    let m: TestMember;
    let priv: PrivateRedis;
    before(async () => {
      priv = await PrivateRedis.start();
      m = await startTestMember({ ...isolated(), REDIS_URL: priv.url, ROLES: 'web' });
    });
    after(async () => {
      await m.stop();
      await priv.stop();
    });

    it('a release that finds its lock expired (someone else holds it now) reports the instance for another pass', async () => {
      const locks = m.engine.coordinator.locks;
      const mine = locks.request([991, 992], { markBusy: false, waitMs: 1000 });
      expect(await mine.granted).to.deep.equal([991, 992]);
      // 991's lock expires mid-pass and another coordinator takes it.
      await m.services.redis.del(locks.key(991));
      const theirs = locks.request([991], { markBusy: false, waitMs: 1000 });
      expect(await theirs.granted).to.deep.equal([991]);
      expect(await mine.release()).to.deep.equal([991]);
      expect(await m.services.redis.exists(locks.key(991))).to.equal(1); // theirs is left alone
      expect(await theirs.release()).to.deep.equal([]);
    });

    it('a lock request Redis answers after the pass gave up is released when the answer comes', async () => {
      const locks = m.engine.coordinator.locks;
      const redis = m.services.redis;
      // Hold the connection up for a moment (CLIENT PAUSE stalls every client's writes).
      const admin = new Redis(priv.url);
      admin.on('error', () => {});
      try {
        await admin.client('PAUSE', 300, 'WRITE');
        const late = locks.request([993], { markBusy: false, waitMs: 50 });
        expect(await late.granted).to.deep.equal([]);
        expect(late.error()).to.be.an('error');
        await waitFor('the late grant to be released', async () => (await redis.exists(locks.key(993))) === 0 && (await redis.ping()) === 'PONG', 5_000);
      } finally {
        admin.disconnect();
      }
    });
  });

  describe('one member, two runs of one task instance', () => {
    let m: TestMember;
    before(async () => { m = await startTestMember({ ...isolated(), LEASE_MS: '1200', WORKER_CONCURRENCY: '4' }); });
    after(async () => { await m.stop(1000); });

    it('a run whose lease was reaped and that this member claims again: the old run is abandoned, the new one finishes, the books balance', async () => {
      const { knex, queue, redis, config } = m.services;
      const wait = await createTask(m.api, 'WAIT', null, { waitMs: 1500 });
      const fiId = await startFlow(m.api, await createFlow(m.api, [[wait]]));
      const first = await waitFor('the run', async () => knex('task_ins').where({ fi_id: fiId, exec_status: 'RUNNING' }).first());
      // As the reaper would during a partition: the lease goes, the row is put back (version + 1), queued.
      const [entry] = (await queue.inflight(10)).filter((e) => e.tiId === first.ti_id);
      await redis.zrem(queueKeys(config.redisPrefix).inflight, String(first.ti_id));
      await knex('task_ins').where({ ti_id: first.ti_id, version: first.version }).update({ exec_status: 'PENDING', version: first.version + 1, lost_attempts: 1 });
      await queue.enqueue([{ tiId: first.ti_id }]);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      const row = await knex('task_ins').where('ti_id', first.ti_id).first();
      expect(row).to.include({ exec_status: 'SUCCESS', attempt: 2, worker_id: m.services.memberId });
      const second = (await queue.inflight(10)).filter((e) => e.tiId === first.ti_id);
      expect(second).to.deep.equal([]); // the new run acked its own lease
      expect(entry.owner.startsWith(`${m.services.memberId}|`)).to.equal(true);
      await waitFor('both runs to leave the worker', async () => m.engine.worker!.running === 0);
    });
  });

  describe('the reconciler after Redis lost the work', () => {
    it('a pass that finds fresh RUNNING rows Redis does not know comes back for them after their grace, not a whole interval later', async () => {
      const iso = isolated();
      // A member that lays out the database, then stops: the row below is then made as a worker that died
      // right after its commit would leave it (RUNNING, just now, no lease in Redis).
      const first = await startTestMember({ ...iso, ROLES: 'web' });
      const taskId = await createTask(first.api, 'ECHO', 'x');
      const now = new Date();
      const [tiId] = await first.services.knex('task_ins').insert({ task_id: taskId, exec_status: 'RUNNING', attempt: 1, version: 1, worker_id: 'gone', start_time: now, create_time: now, update_time: now });
      await first.stop();
      // The new leader's first pass finds it too fresh to release; its next periodic pass is ten minutes away.
      const m = await startTestMember({ ...iso, ROLES: 'web', RECONCILE_INTERVAL_MS: '600000' });
      try {
        const row = await waitFor('the fresh row to be released by the follow-up pass', async () => {
          const r = await m.services.knex('task_ins').where('ti_id', tiId).first();
          return r.exec_status === 'PENDING' ? r : null;
        }, 15_000, 100);
        expect(row).to.include({ attempt: 0, version: 2 });
      } finally {
        await m.stop();
      }
    });
  });

  describe('Redis refusing writes while results come in', () => {
    it('results are committed to MySQL all the same, and the flows move on once Redis takes writes again', async () => {
      const priv = await PrivateRedis.start();
      let m: TestMember | null = null;
      const admin = new Redis(priv.url);
      admin.on('error', () => {});
      try {
        m = await startTestMember({ ...isolated(), REDIS_URL: priv.url, WORKER_CONCURRENCY: '8', RECONCILE_INTERVAL_MS: '500', LEASE_MS: '3000' });
        const wait = await createTask(m.api, 'WAIT', null, { waitMs: 800 });
        const echo = await createTask(m.api, 'ECHO', 'after');
        const flowId = await createFlow(m.api, [[wait], [echo]]);
        const fiIds = await Promise.all(Array.from({ length: 6 }, () => startFlow(m!.api, flowId)));
        const knex = m.services.knex;
        await waitFor('the WAITs to run', async () => Number((await knex('task_ins').whereIn('fi_id', fiIds).where('exec_status', 'RUNNING').count({ n: '*' }))[0].n) === 6);
        const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
        await admin.config('SET', 'maxmemory-policy', 'noeviction');
        await admin.config('SET', 'maxmemory', String(used - 64 * 1024));
        // The WAITs end while Redis refuses new data: every result is in MySQL, each from its first run.
        await waitFor('the results to be recorded', async () =>
          Number((await knex('task_ins').whereIn('fi_id', fiIds).where({ exec_status: 'SUCCESS', attempt: 1 }).count({ n: '*' }))[0].n) === 6, 10_000);
        await admin.config('SET', 'maxmemory', '0');
        for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId, 20_000)).status).to.equal('SUCCESS');
        const rows = await knex('task_ins').select('attempt').whereIn('fi_id', fiIds);
        expect(rows.map((r: { attempt: number }) => r.attempt)).to.deep.equal(Array(12).fill(1)); // nothing ran twice
      } finally {
        await admin.config('SET', 'maxmemory', '0').catch(() => {});
        admin.disconnect();
        await m?.stop(1000);
        await priv.stop();
      }
    });
  });
});
