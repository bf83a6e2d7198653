// Admin endpoints against real MariaDB and Redis: the token guard, and what each endpoint shows while
// a flow runs. The member has a database and a Redis prefix of its own (isolated()): it is the cluster's
// only member and its leader, and nothing of other tests is there for its reconciler to take up.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, detail, flowRow, startFlow } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { flowLockKey } from '../src/redis/keys.js';

const TOKEN = 'secret';
const auth = { Authorization: `Bearer ${TOKEN}` };
const ENDPOINTS: [string, string][] = [
  ['GET', '/admin/members'],
  ['GET', '/admin/leader'],
  ['GET', '/admin/locks'],
  ['GET', '/admin/inflight'],
  ['GET', '/admin/queue'],
  ['POST', '/admin/reconcile'],
];

describe('admin endpoints', function () {
  this.timeout(60_000);
  let m: TestMember;
  let prefix: string;

  before(async () => {
    const env = isolated();
    prefix = env.REDIS_PREFIX;
    m = await startTestMember({ ...env, ADMIN_TOKEN: TOKEN, WORKER_CONCURRENCY: '4' });
  });
  after(async () => { await m?.stop(1000); });

  describe('the token', () => {
    for (const [method, path] of ENDPOINTS) {
      it(`${method} ${path}: 401 without the token, with a wrong one, or with another scheme`, async () => {
        const bad: Record<string, string>[] = [{}, { Authorization: 'Bearer wrong' }, { Authorization: `Bearer ${TOKEN}x` }, { Authorization: TOKEN }, { Authorization: `Basic ${TOKEN}` }];
        for (const headers of bad) {
          const r = await m.api(method, path, undefined, headers);
          expect(r.status, `${JSON.stringify(headers)} ${r.text}`).to.equal(401);
          expect(r.body).to.include({ code: '401', data: null });
          expect(r.headers.get('www-authenticate')).to.match(/^Bearer/);
        }
        const good = await m.api(method, path, undefined, auth);
        expect(good.status, good.text).to.equal(200);
        expect(good.body).to.include({ code: '200', message: 'SUCCESS' });
      });
    }

    it('the scheme is case-insensitive', async () => {
      expect((await m.api('GET', '/admin/queue', undefined, { Authorization: `bearer ${TOKEN}` })).status).to.equal(200);
    });

    it('without ADMIN_TOKEN the endpoints are off: 404 saying so, whatever the header', async () => {
      const off = await startTestMember({ ...isolated(), ROLES: 'web' });
      try {
        for (const [method, path] of ENDPOINTS) {
          for (const headers of [{}, auth] as Record<string, string>[]) {
            const r = await off.api(method, path, undefined, headers);
            expect(r.status, r.text).to.equal(404);
            expect(r.body).to.deep.equal({ code: '404', message: 'admin endpoints are disabled (set ADMIN_TOKEN)', data: null });
          }
        }
      } finally {
        await off.stop(500);
      }
    });

    it('every admin path is in the OpenAPI document with the adminToken security', async () => {
      const doc = (await m.api('GET', '/openapi.json')).body as any;
      for (const [method, path] of ENDPOINTS) {
        const op = doc.paths[path]?.[method.toLowerCase()];
        expect(op, path).to.be.an('object');
        expect(op.security).to.deep.equal([{ adminToken: [] }]);
        // 404: admin endpoints off (no ADMIN_TOKEN); 503: Redis not answering; 400: a bad body or limit; default: 500.
        expect(op.responses).to.include.keys('200', '400', '401', '404', '503', 'default');
        expect(op.responses).to.not.have.property('403');
      }
      expect(doc.components.securitySchemes.adminToken).to.deep.include({ type: 'http', scheme: 'bearer' });
    });
  });

  describe('with a flow running', () => {
    let fiId: number;
    let waitTask: number;
    /** Before the flow was started: its task cannot have run for longer than since then. */
    let startedAt: number;

    before(async () => {
      waitTask = await createTask(m.api, 'WAIT', null, { waitMs: 30_000 });
      const flowId = await createFlow(m.api, [[waitTask]]);
      startedAt = Date.now();
      fiId = await startFlow(m.api, flowId);
    });
    after(async () => {
      const r = await m.api('POST', `/exec/flow-ins/${fiId}/cancel`);
      expect(r.status, r.text).to.equal(200);
      expect((await flowRow(m.api, fiId)).status).to.equal('CANCELLED');
    });

    it('/admin/inflight shows the running task: fiId, taskId, worker, attempt, lease and age', async () => {
      const entry = await waitFor('the WAIT task in flight', async () => {
        const r = await m.api('GET', '/admin/inflight', undefined, auth);
        expect(r.status, r.text).to.equal(200);
        return (r.body.data as any[]).find((e) => e.fiId === fiId && e.attempt === 1);
      });
      const ti = (await detail(m.api, fiId))[1].tasks[0];
      expect(entry).to.have.keys('tiId', 'fiId', 'taskId', 'taskName', 'worker', 'attempt', 'leaseDeadline', 'leaseMsLeft', 'runningForMs');
      const taskName = (await m.api('GET', `/task/${waitTask}`)).body.data.taskName;
      expect(entry).to.include({ tiId: ti.tiId, fiId, taskId: waitTask, taskName, worker: m.services.memberId, attempt: 1 });
      expect(entry.leaseDeadline).to.match(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
      expect(entry.leaseMsLeft).to.be.greaterThan(0).and.at.most(m.services.config.leaseMs);
      // Measured by the Redis clock, the machine's (1 ms of rounding either way).
      expect(entry.runningForMs).to.be.within(0, Date.now() - startedAt + 1);
      // It keeps running: a moment later it has run longer.
      await new Promise((r) => setTimeout(r, 150));
      const again = ((await m.api('GET', '/admin/inflight', undefined, auth)).body.data as any[]).find((e) => e.tiId === ti.tiId);
      expect(again.runningForMs).to.be.greaterThan(entry.runningForMs);
      // ?limit is checked
      expect((await m.api('GET', '/admin/inflight?limit=0', undefined, auth)).status).to.equal(400);
      expect((await m.api('GET', '/admin/inflight?limit=x', undefined, auth)).status).to.equal(400);
      expect((await m.api('GET', '/admin/inflight?limit=1', undefined, auth)).body.data).to.have.length(1);
    });

    it("/admin/locks shows the flow's lock with its holder and TTL while it is held, and not after", async () => {
      const key = flowLockKey(prefix, fiId);
      const lock = await m.engine.coordinator.locks.acquire(fiId);
      expect(lock, 'lock acquired').to.not.equal(null);
      try {
        const r = await m.api('GET', '/admin/locks', undefined, auth);
        expect(r.status, r.text).to.equal(200);
        const entry = (r.body.data as any[]).find((l) => l.key === key);
        expect(entry, r.text).to.be.an('object');
        expect(entry).to.have.keys('key', 'holder', 'ttlMs');
        expect(entry.holder).to.equal(m.services.memberId);
        expect(entry.ttlMs).to.be.greaterThan(0).and.at.most(m.services.config.lockTtlMs);
        for (const l of r.body.data as any[]) expect(l.key.startsWith(`${prefix}lock:`), l.key).to.equal(true);
      } finally {
        await m.engine.coordinator.locks.release(lock!);
      }
      const after = await m.api('GET', '/admin/locks', undefined, auth);
      expect((after.body.data as any[]).map((l) => l.key)).to.not.include(key);
    });

    it('/admin/queue counts: delayed ids move `delayed` and `ready`, the running task counts in `inflight`', async () => {
      const q = m.services.queue;
      const before = (await m.api('GET', '/admin/queue', undefined, auth)).body.data;
      expect(before).to.have.keys('ready', 'dueNow', 'delayed', 'inflight', 'oldestWaitingMs');
      expect(before.inflight).to.be.at.least(1);
      const ids = [990_000_001, 990_000_002, 990_000_003];
      await q.enqueue(ids.map((tiId) => ({ tiId, delayMs: 600_000 })));
      try {
        const during = (await m.api('GET', '/admin/queue', undefined, auth)).body.data;
        expect(during.delayed - before.delayed).to.equal(3);
        expect(during.ready - before.ready).to.equal(3);
        expect(during.dueNow).to.equal(before.dueNow);
      } finally {
        await q.remove(ids);
      }
      const after = (await m.api('GET', '/admin/queue', undefined, auth)).body.data;
      expect(after.delayed).to.equal(before.delayed);
    });

    it('/admin/members and /admin/leader show this member, alone, as the leader', async () => {
      const leader = await waitFor('this member elected', async () => {
        const l = (await m.api('GET', '/admin/leader', undefined, auth)).body.data;
        return l.memberId === m.services.memberId && l;
      });
      expect(leader).to.have.keys('memberId', 'ttlMs', 'self');
      expect(leader.self).to.equal(true);
      expect(leader.ttlMs).to.be.greaterThan(0).and.at.most(m.services.config.leaderTtlMs);

      // `running` and `leader` are as of the member's last heartbeat.
      const members = await waitFor('a heartbeat as leader, running the WAIT task', async () => {
        const all = (await m.api('GET', '/admin/members', undefined, auth)).body.data as any[];
        return all.some((x) => x.leader && x.running === 1) && all;
      });
      expect(members.map((x) => x.id)).to.deep.equal([m.services.memberId]);
      expect(members[0]).to.have.keys('id', 'roles', 'host', 'pid', 'started', 'lastBeat', 'running', 'leader');
      expect(members[0].pid).to.equal(process.pid);
      expect(members[0].roles).to.have.members(['web', 'worker']);
    });

    it('POST /admin/reconcile runs the reconciler and returns its report: nothing to mend here', async () => {
      const r = await m.api('POST', '/admin/reconcile', undefined, auth);
      expect(r.status, r.text).to.equal(200);
      // The one open task is RUNNING and leased: Redis lost nothing.
      expect(r.body.data).to.deep.equal({ requeued: 0, released: 0, advanced: 0 });
      // The running flow is untouched by it.
      expect((await flowRow(m.api, fiId)).status).to.equal('RUNNING');
    });
  });
});
