// API authentication against real members: every route group (task, flow, exec, monitor, admin,
// metrics, health, openapi) with API_TOKENS unset and set, called with no token, a wrong one, a
// read-only one, a write one and the admin token; the acting user; METRICS_TOKEN on web and worker-only
// members; the OpenAPI document's security; the start rate limit.
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { waitFor } from './helpers/wait.js';
import { TokenBuckets } from '../src/api/middleware/rateLimit.js';
import { ConfigError, loadConfig } from '../config/index.js';

const WRITE = 'write-secret-0123456789';
const READ = 'read-secret-0123456789';
const OTHER = 'other-secret-0123456789';
const ADMIN = 'admin-secret-0123456789';
const METRICS = 'metrics-secret-0123456789';
const bearer = (t: string) => ({ Authorization: `Bearer ${t}` });

type Who = 'none' | 'wrong' | 'read' | 'write' | 'admin';
const CREDENTIALS: Record<Who, Record<string, string>> = {
  none: {},
  wrong: bearer('not-a-token-at-all-000'),
  read: bearer(READ),
  write: bearer(WRITE),
  admin: bearer(ADMIN),
};

interface Route {
  group: string;
  method: string;
  path: string;
  body?: unknown;
  /** public: no token; read: any API token; write: a write token; admin: ADMIN_TOKEN; metrics. */
  kind: 'public' | 'read' | 'write' | 'admin' | 'metrics';
}

/** Every route group, with ids of things that exist in the member's database. */
function routes(ids: { task: number; spareTask: number; flow: number; spareFlow: number; fi: number; ti: number }): Route[] {
  const task = { taskName: 'auth', taskType: 'ECHO', taskContent: 'x' };
  const flow = { flowName: 'auth', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(ids.task) }, { nodeType: 'END' }] };
  return [
    { group: 'health', method: 'GET', path: '/healthz', kind: 'public' },
    { group: 'health', method: 'GET', path: '/readyz', kind: 'public' },
    { group: 'openapi', method: 'GET', path: '/openapi.json', kind: 'public' },
    { group: 'task', method: 'GET', path: '/task', kind: 'read' },
    { group: 'task', method: 'GET', path: `/task/${ids.task}`, kind: 'read' },
    { group: 'task', method: 'POST', path: '/task', body: task, kind: 'write' },
    { group: 'task', method: 'DELETE', path: `/task/${ids.spareTask}`, kind: 'write' },
    { group: 'flow', method: 'GET', path: '/flow', kind: 'read' },
    { group: 'flow', method: 'GET', path: `/flow/${ids.flow}`, kind: 'read' },
    { group: 'flow', method: 'POST', path: '/flow', body: flow, kind: 'write' },
    { group: 'flow', method: 'DELETE', path: `/flow/${ids.spareFlow}`, kind: 'write' },
    { group: 'exec', method: 'POST', path: `/exec/flow/${ids.flow}`, kind: 'write' },
    { group: 'exec', method: 'POST', path: `/exec/task/${ids.task}`, kind: 'write' },
    { group: 'exec', method: 'POST', path: `/exec/flow-ins/${ids.fi}/cancel`, kind: 'write' },
    { group: 'monitor', method: 'POST', path: '/monitor/flow', body: {}, kind: 'read' },
    { group: 'monitor', method: 'POST', path: `/monitor/flow/detail/${ids.fi}`, kind: 'read' },
    { group: 'monitor', method: 'GET', path: `/monitor/task/${ids.ti}`, kind: 'read' },
    { group: 'admin', method: 'GET', path: '/admin/members', kind: 'admin' },
    { group: 'admin', method: 'POST', path: '/admin/reconcile', kind: 'admin' },
    { group: 'metrics', method: 'GET', path: '/metrics', kind: 'metrics' },
  ];
}

/** Things for the routes to act on, made with `headers` (a write token, or none on an open member). */
async function fixtures(m: TestMember, headers: Record<string, string>) {
  const post = async (path: string, body?: unknown) => {
    const r = await m.api('POST', path, body, headers);
    expect(r.status, r.text).to.equal(200);
    return r.body.data;
  };
  const task = (await post('/task', { taskName: 'fixture', taskType: 'WAIT', taskContent: '60000' })).taskId;
  const spareTask = (await post('/task', { taskName: 'spare', taskType: 'ECHO' })).taskId;
  const nodes = [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(task) }, { nodeType: 'END' }];
  const flow = (await post('/flow', { flowName: 'fixture', flowNodes: nodes })).flowId;
  const spareFlow = (await post('/flow', { flowName: 'spare', flowNodes: nodes })).flowId;
  const fi = (await post(`/exec/flow/${flow}`)).fiId;
  const ti = (await post(`/exec/task/${spareTask}`)).tiId;
  return { task, spareTask, flow, spareFlow, fi, ti };
}

/** The status a request gets, and its envelope. */
async function call(m: TestMember, r: Route, who: Who) {
  const res = await m.api(r.method, r.path, r.body, CREDENTIALS[who]);
  return res;
}

describe('security: API authentication', function () {
  this.timeout(60_000);

  describe('with API_TOKENS set (a write token, a read-only token), ADMIN_TOKEN set, no METRICS_TOKEN', () => {
    let m: TestMember;
    let list: Route[];
    before(async () => {
      // web only: the fixture's flow and task instances stay as they are (no worker runs them).
      m = await startTestMember({ ...isolated(), ROLES: 'web', API_TOKENS: `alice:${WRITE},viewer:${READ}:read`, ADMIN_TOKEN: ADMIN });
      list = routes(await fixtures(m, CREDENTIALS.write));
    });
    after(async () => { await m?.stop(500); });

    /** What each kind of route answers to each credential: a status, or 'ok' (the route itself answered, 2xx). */
    const EXPECTED: Record<Route['kind'], Record<Who, number | 'ok'>> = {
      public: { none: 'ok', wrong: 'ok', read: 'ok', write: 'ok', admin: 'ok' },
      read: { none: 401, wrong: 401, read: 'ok', write: 'ok', admin: 401 },
      write: { none: 401, wrong: 401, read: 403, write: 'ok', admin: 401 },
      admin: { none: 401, wrong: 401, read: 401, write: 401, admin: 'ok' },
      metrics: { none: 401, wrong: 401, read: 'ok', write: 'ok', admin: 401 },
    };

    for (const group of ['health', 'openapi', 'task', 'flow', 'exec', 'monitor', 'admin', 'metrics']) {
      it(`${group}: 401 without or with a wrong token, 403 for a read-only token on writes, the route itself otherwise`, async () => {
        // The write token goes last: writes then change what they act on, once.
        for (const r of list.filter((x) => x.group === group)) {
          for (const who of ['none', 'wrong', 'admin', 'read', 'write'] as Who[]) {
            const res = await call(m, r, who);
            const want = EXPECTED[r.kind][who];
            const what = `${r.method} ${r.path} as ${who}: ${res.status} ${res.text.slice(0, 200)}`;
            if (want === 'ok') {
              expect(res.status, what).to.be.within(200, 299);
              continue;
            }
            expect(res.status, what).to.equal(want);
            expect(res.body, what).to.include({ code: String(want), data: null });
            if (want === 401) expect(res.headers.get('www-authenticate'), what).to.match(/^Bearer realm=/);
            if (want === 403) expect(res.body.message).to.equal('token "viewer" is read-only: it may GET and POST /monitor/* only');
          }
        }
      });
    }

    it('says what is missing or wrong', async () => {
      expect((await m.api('GET', '/task')).body.message).to.equal('this endpoint needs Authorization: Bearer <token> (see API_TOKENS)');
      expect((await m.api('GET', '/task', undefined, CREDENTIALS.wrong)).body.message).to.equal('API token is wrong');
      expect((await m.api('GET', '/task', undefined, { Authorization: `Basic ${WRITE}` })).status).to.equal(401);
      expect((await m.api('GET', '/task', undefined, { Authorization: `bearer ${READ}` })).status).to.equal(200);
    });

    it('an unknown path, or a known one spelled differently, needs a token too', async () => {
      for (const path of ['/nope', '/TASK', '/task/', '//task', '/Metrics', '/metrics/', '/events']) {
        const r = await m.api('GET', path);
        expect(r.status, path).to.equal(401);
      }
      expect((await m.api('GET', '/TASK', undefined, CREDENTIALS.read)).status).to.equal(200);
    });

    it('the token\'s name is the acting user; X-User is not believed', async () => {
      const r = await m.api('POST', '/task', { taskName: 'who', taskType: 'ECHO' }, { ...CREDENTIALS.write, 'X-User': 'mallory' });
      expect(r.status).to.equal(200);
      const row = await m.services.knex('task').where('task_id', r.body.data.taskId).first();
      expect([row.create_user, row.update_user]).to.deep.equal(['alice', 'alice']);
      const d = await m.api('DELETE', `/task/${r.body.data.taskId}`, undefined, { ...CREDENTIALS.write, 'X-User': 'mallory' });
      expect(d.status).to.equal(200);
      expect((await m.services.knex('task').where('task_id', r.body.data.taskId).first()).update_user).to.equal('alice');
    });

    it('the OpenAPI document has the security schemes, and each operation the security and errors it has here', async () => {
      const doc = (await m.api('GET', '/openapi.json')).body as any;
      // Only the schemes this member uses: without METRICS_TOKEN, /metrics takes an API token, and no metricsToken is declared.
      expect(Object.keys(doc.components.securitySchemes).sort()).to.deep.equal(['adminToken', 'apiToken']);
      for (const s of Object.values(doc.components.securitySchemes) as any[]) expect(s).to.include({ type: 'http', scheme: 'bearer' });
      const op = (path: string, method: string) => doc.paths[path][method];
      expect(op('/task', 'get').security).to.deep.equal([{ apiToken: [] }]);
      expect(op('/task', 'get').responses).to.have.property('401');
      expect(op('/task', 'get').responses).to.not.have.property('403');
      expect(op('/task', 'post').responses).to.include.keys('401', '403');
      expect(op('/task', 'post').parameters ?? []).to.not.deep.include({ name: 'X-User' });
      expect(op('/monitor/flow', 'post').responses).to.not.have.property('403');
      expect(op('/exec/flow/{flowId}', 'post').security).to.deep.equal([{ apiToken: [] }]);
      expect(op('/exec/flow/{flowId}', 'post').responses).to.not.have.property('429'); // no START_RATE_LIMIT here
      expect(op('/admin/members', 'get').security).to.deep.equal([{ adminToken: [] }]);
      expect(op('/metrics', 'get').security).to.deep.equal([{ apiToken: [] }]);
      for (const p of ['/healthz', '/readyz']) expect(op(p, 'get').security).to.deep.equal([]);
      // Every operation says what it needs.
      for (const [path, item] of Object.entries(doc.paths) as [string, any][]) {
        for (const [method, o] of Object.entries(item) as [string, any][]) expect(o.security, `${method} ${path}`).to.be.an('array');
      }
    });
  });

  describe('with API_TOKENS unset (the open default)', () => {
    let m: TestMember;
    let list: Route[];
    before(async () => {
      m = await startTestMember({ ...isolated(), ROLES: 'web', ADMIN_TOKEN: ADMIN });
      list = routes(await fixtures(m, {}));
    });
    after(async () => { await m?.stop(500); });

    it('every route but admin answers without a token, whatever token is sent; admin keeps ADMIN_TOKEN', async () => {
      for (const r of list) {
        for (const who of ['none', 'wrong', 'read', 'admin', 'write'] as Who[]) {
          const res = await call(m, r, who); // 'none' first: each write acts once on what exists
          const what = `${r.method} ${r.path} as ${who}: ${res.status} ${res.text.slice(0, 200)}`;
          if (r.kind === 'admin' && who !== 'admin') expect(res.status, what).to.equal(401);
          // The route itself answers: 2xx, or (a delete or cancel made again) its own 404/409.
          else if (who === 'none' || r.kind !== 'write') expect(res.status, what).to.be.within(200, 299);
          else expect(res.status, what).to.be.oneOf([200, 404, 409]);
        }
      }
    });

    it('X-User names the acting user, and the OpenAPI document says the API is open', async () => {
      const r = await m.api('POST', '/task', { taskName: 'who', taskType: 'ECHO' }, { 'X-User': 'bob' });
      expect((await m.services.knex('task').where('task_id', r.body.data.taskId).first()).create_user).to.equal('bob');
      const doc = (await m.api('GET', '/openapi.json')).body as any;
      expect(doc.paths['/task'].get.security).to.deep.equal([]);
      expect(doc.paths['/task'].get.responses).to.not.have.property('401');
      expect(doc.paths['/admin/members'].get.security).to.deep.equal([{ adminToken: [] }]);
    });
  });

  describe('METRICS_TOKEN', () => {
    it('on a web member: /metrics needs that token (an API token does not do), the rest is unchanged', async () => {
      const m = await startTestMember({ ...isolated(), ROLES: 'web', API_TOKENS: `alice:${WRITE}`, METRICS_TOKEN: METRICS });
      try {
        for (const h of [{}, CREDENTIALS.write, CREDENTIALS.wrong]) {
          const r = await m.api('GET', '/metrics', undefined, h);
          expect(r.status).to.equal(401);
          expect(r.body).to.include({ code: '401', data: null });
        }
        expect((await m.api('GET', '/metrics')).body.message).to.equal('/metrics needs Authorization: Bearer <METRICS_TOKEN>');
        const ok = await m.api('GET', '/metrics', undefined, bearer(METRICS));
        expect(ok.status).to.equal(200);
        expect(ok.text).to.match(/task_schedule_worker_running/);
        expect((await m.api('GET', '/task', undefined, bearer(METRICS))).status).to.equal(401);
        const doc = (await m.api('GET', '/openapi.json')).body as any;
        expect(doc.paths['/metrics'].get.security).to.deep.equal([{ metricsToken: [] }]);
      } finally {
        await m.stop(500);
      }
    });

    it('on a worker-only member (METRICS_PORT): the same token; /healthz stays open', async () => {
      const m = await startTestMember({ ...isolated(), ROLES: 'worker', METRICS_PORT: '0', METRICS_TOKEN: METRICS });
      try {
        expect((await m.api('GET', '/metrics')).status).to.equal(401);
        expect((await m.api('GET', '/metrics', undefined, bearer('wrong-metrics-token-0000'))).status).to.equal(401);
        expect((await m.api('GET', '/metrics', undefined, bearer(METRICS))).status).to.equal(200);
        expect((await m.api('GET', '/healthz')).status).to.equal(200);
      } finally {
        await m.stop(500);
      }
    });

    it('without METRICS_TOKEN and API_TOKENS, /metrics is open as before', async () => {
      const m = await startTestMember({ ...isolated(), ROLES: 'worker', METRICS_PORT: '0' });
      try {
        expect((await m.api('GET', '/metrics')).status).to.equal(200);
      } finally {
        await m.stop(500);
      }
    });
  });

  describe('START_RATE_LIMIT', () => {
    it('answers 429 with Retry-After once a token has used its burst, per token, and recovers', async () => {
      const m = await startTestMember({ ...isolated(), ROLES: 'web', API_TOKENS: `alice:${WRITE},bob:${OTHER}`, START_RATE_LIMIT: '2', START_RATE_BURST: '3' });
      try {
        const t = await m.api('POST', '/task', { taskName: 'r', taskType: 'ECHO' }, CREDENTIALS.write);
        const start = (h: Record<string, string>) => m.api('POST', `/exec/task/${t.body.data.taskId}`, undefined, h);
        for (let i = 0; i < 3; i++) expect((await start(CREDENTIALS.write)).status, `start ${i + 1}`).to.equal(200);
        const limited = await start(CREDENTIALS.write);
        expect(limited.status).to.equal(429);
        expect(limited.body).to.include({ code: '429', data: null });
        expect(limited.body.message).to.match(/^too many starts: at most 2 per second \(START_RATE_LIMIT, burst 3\); retry in 1 s$/);
        expect(limited.headers.get('retry-after')).to.equal('1');
        // Another token has its own bucket; reads and other writes are not counted.
        expect((await start(bearer(OTHER))).status).to.equal(200);
        expect((await m.api('GET', '/task', undefined, CREDENTIALS.write)).status).to.equal(200);
        expect((await m.api('POST', '/task', { taskName: 'r2', taskType: 'ECHO' }, CREDENTIALS.write)).status).to.equal(200);
        // Refilled at 2 per second: a start goes through again within a second or so.
        await waitFor('a start to be allowed again', async () => (await start(CREDENTIALS.write)).status === 200, 5000, 100);
        const doc = (await m.api('GET', '/openapi.json')).body as any;
        expect(doc.paths['/exec/flow/{flowId}'].post.responses).to.have.property('429');
        expect(doc.paths['/exec/task/{taskId}'].post.responses).to.have.property('429');
        expect(doc.paths['/exec/flow-ins/{fiId}/cancel'].post.responses).to.not.have.property('429');
      } finally {
        await m.stop(500);
      }
    });

    it('counts per client IP when the API is open (X-Forwarded-For is believed), retries included', async () => {
      const m = await startTestMember({ ...isolated(), ROLES: 'web', START_RATE_LIMIT: '1', START_RATE_BURST: '1' });
      try {
        const t = await m.api('POST', '/task', { taskName: 'r', taskType: 'ECHO' });
        const n = (await m.api('POST', '/flow', { flowName: 'r', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(t.body.data.taskId) }, { nodeType: 'END' }] })).body.data.flowId;
        const ip = (a: string) => ({ 'X-Forwarded-For': a });
        expect((await m.api('POST', `/exec/flow/${n}`, undefined, ip('198.51.100.1'))).status).to.equal(200);
        expect((await m.api('POST', `/exec/flow/${n}`, { fiId: 1, niId: 1 }, ip('198.51.100.1'))).status).to.equal(429); // a retry counts
        expect((await m.api('POST', `/exec/flow/${n}`, undefined, ip('198.51.100.2'))).status).to.equal(200);
      } finally {
        await m.stop(500);
      }
    });

    it('keeps its memory bounded: idle buckets are dropped', () => {
      let now = 0;
      const b = new TokenBuckets(10, 10, () => now);
      for (let i = 0; i < 500; i++) b.take(`k${i}`);
      expect(b.size).to.equal(500);
      for (let i = 0; i < 10; i++) expect(b.take('hot'), `take ${i}`).to.equal(0);
      expect(b.take('hot')).to.be.closeTo(0.1, 1e-9);
      now = 1500; // past the refill time of every bucket
      b.take('fresh');
      expect(b.size).to.equal(1);
    });
  });

  describe('configuration', () => {
    it('reads name:secret, name:secret:read and a bare secret (named default)', () => {
      const c = loadConfig({ API_TOKENS: ` alice:${WRITE} , viewer:${READ}:read, ${OTHER} ` });
      expect(c.apiTokens).to.deep.equal([
        { name: 'alice', secret: WRITE, readOnly: false },
        { name: 'viewer', secret: READ, readOnly: true },
        { name: 'default', secret: OTHER, readOnly: false },
      ]);
      expect(loadConfig({}).apiTokens).to.equal(null);
      expect(loadConfig({}).startRateLimit).to.equal(0);
    });

    for (const [name, value] of [
      ['API_TOKENS', 'alice:short'],
      ['API_TOKENS', `alice:${WRITE}:write`],
      ['API_TOKENS', `bad name:${WRITE}`],
      ['API_TOKENS', `a:${WRITE},a:${READ}`],
      ['API_TOKENS', `a:${WRITE},b:${WRITE}`],
      ['METRICS_TOKEN', 'short'],
      ['START_RATE_LIMIT', '-1'],
      ['START_RATE_BURST', '0'],
      ['HTTP_TASK_MAX_RESPONSE_BYTES', '0'],
      ['HTTP_TASK_SECRET_HEADERS', 'X Bad'],
    ]) {
      it(`a bad ${name} (${value.slice(0, 30)}) is one error naming it, without echoing a secret`, () => {
        let err: unknown;
        try {
          loadConfig({ [name]: value });
        } catch (e) {
          err = e;
        }
        expect(err).to.be.instanceOf(ConfigError);
        expect((err as Error).message).to.match(new RegExp(`^${name} `));
        expect((err as Error).message).to.not.include(WRITE);
      });
    }
  });
});
