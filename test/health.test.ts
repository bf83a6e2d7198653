import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { loadConfig, ConfigError } from '../config/index.js';

describe('service basics', () => {
  let m: TestMember;
  before(async () => { m = await startTestMember({ ROLES: 'web' }); });
  after(async () => { await m.stop(); });

  it('GET /healthz answers in the envelope', async () => {
    const r = await m.api('GET', '/healthz');
    expect(r.status).to.equal(200);
    expect(r.body.code).to.equal('200');
    expect(r.body.message).to.equal('SUCCESS');
    expect(r.body.data.status).to.equal('ok');
  });

  it('GET /readyz reports MySQL and Redis', async () => {
    const r = await m.api('GET', '/readyz');
    expect(r.status).to.equal(200);
    expect(r.body.data).to.deep.equal({ mysql: 'ok', redis: 'ok' });
  });

  it('unknown routes are a 404 in the envelope', async () => {
    const r = await m.api('GET', '/no/such/thing');
    expect(r.status).to.equal(404);
    expect(r.body).to.deep.include({ code: '404', data: null });
  });

  it('serves an OpenAPI 3 document', async () => {
    const r = await m.api('GET', '/openapi.json');
    expect(r.status).to.equal(200);
    expect((r.body as any).openapi).to.match(/^3\./);
    expect((r.body as any).paths).to.have.property('/healthz');
  });
});

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c.port).to.equal(8080);
    expect(c.databaseUrl).to.equal('mysql://root@127.0.0.1:3306/task_schedule');
    expect(c.redisUrl).to.equal('redis://127.0.0.1:6379/0');
    expect(c.redisPrefix).to.equal('ts:');
    expect([...c.roles]).to.deep.equal(['web', 'worker']);
  });

  for (const [name, value] of [['PORT', 'eighty'], ['ROLES', 'web,chef'], ['DATABASE_URL', 'postgres://x/y'], ['REDIS_URL', 'nope'], ['LOG_LEVEL', 'loud'], ['WORKER_CONCURRENCY', '0'], ['SHELL_TASKS_ENABLED', 'maybe'], ['BODY_LIMIT', 'huge'], ['METRICS_PORT', '-1'], ['LEASE_MS', '10']]) {
    it(`a bad ${name} is one clear error naming it`, () => {
      expect(() => loadConfig({ [name]: value })).to.throw(ConfigError, new RegExp(`^${name} `));
    });
  }
});
