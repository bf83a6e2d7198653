// HTTP tasks cannot reach private addresses unless the operator allows them (HTTP_TASK_ALLOW): real
// members run real tasks against a small local server, directly, by name, through a redirect, and at a
// private address. Then the executor on its own: redirects, credentials on redirects, the read cap,
// decoding, aborts, and `${env:NAME}` references.
import { expect } from 'chai';
import os from 'node:os';
import { join } from 'node:path';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';
import { runTask } from './helpers/tasks.js';
import { startHttpTarget, type HttpTarget } from './helpers/httpTarget.js';
import { getExecutor } from '../src/executors/registry.js';
import { executorSettings } from '../src/executors/settings.js';
import { TaskFailure } from '../src/executors/types.js';
import type { TaskConfig } from '../src/definitions/taskConfig.js';
import { loadConfig } from '../config/index.js';
import { privateKind } from '../src/executors/addressPolicy.js';

const PRIVATE = /address (\S+) is private; allow it with HTTP_TASK_ALLOW=(\S+)/;

/** A private (not loopback) address of this host's own interfaces, if it has one: a server on `::` answers there. */
const hostPrivate = Object.values(os.networkInterfaces())
  .flatMap((l) => l ?? [])
  .find((i) => !i.internal && !i.address.startsWith('fe80') && ['private', 'shared (CGNAT)'].includes(privateKind(i.address) ?? ''));

describe('security: HTTP tasks and private addresses', function () {
  this.timeout(60_000);
  let target: HttpTarget;
  let closed: TestMember; // the defaults: nothing private
  let byName: TestMember; // HTTP_TASK_ALLOW=localhost
  let open: TestMember; // loopback, localhost, a private address and range allowed
  let url: (host: string, path: string) => string;

  before(async () => {
    target = await startHttpTarget();
    url = (host, path) => `http://${host}:${target.port}${path}`;
    const worker = { ROLES: 'web,worker', WORKER_CONCURRENCY: '4' };
    [closed, byName, open] = await Promise.all([
      startTestMember({ ...isolated(), ...worker }),
      startTestMember({ ...isolated(), ...worker, HTTP_TASK_ALLOW: 'localhost' }),
      startTestMember({
        ...isolated(),
        ...worker,
        HTTP_TASK_ALLOW: ['127.0.0.1', 'localhost', '10.255.255.1', ...(hostPrivate ? [hostPrivate.family === 'IPv6' ? `${hostPrivate.address}/128` : `${hostPrivate.address}/32`] : [])].join(','),
      }),
    ]);
  });
  after(async () => {
    await Promise.all([closed, byName, open].map((m) => m?.stop(500)));
    await target?.close();
  });

  async function run(m: TestMember, config: TaskConfig): Promise<any> {
    const id = await createTask(m.api, 'HTTP', null, config as Record<string, unknown>);
    return runTask(m.api, id);
  }
  function expectRefused(ti: any, address: RegExp | string): RegExpExecArray {
    expect(ti.status, JSON.stringify(ti)).to.equal('FAILED');
    const m = PRIVATE.exec(ti.errorMsg);
    expect(m, ti.errorMsg).to.not.equal(null);
    if (typeof address === 'string') expect(m![1]).to.equal(address);
    else expect(m![1]).to.match(address);
    expect(m![2], 'the hint allows exactly that address').to.equal(m![1]);
    return m!;
  }

  it('127.0.0.1 fails with the documented message, and nothing reaches the server', async () => {
    const before = target.seen.length;
    const ti = await run(closed, { url: url('127.0.0.1', '/ok') });
    expectRefused(ti, '127.0.0.1');
    expect(ti.errorMsg).to.equal('address 127.0.0.1 is private; allow it with HTTP_TASK_ALLOW=127.0.0.1 (a loopback address)');
    expect(target.seen.length).to.equal(before);
  });

  it('localhost, [::1], [::ffff:127.0.0.1] and 0.0.0.0 fail the same way', async () => {
    expect(expectRefused(await run(closed, { url: url('localhost', '/ok') }), /^(127\.0\.0\.1|::1)$/)).to.be.ok;
    expect((await run(closed, { url: url('localhost', '/ok') })).errorMsg).to.match(/\(localhost resolves to a loopback address\)$/);
    expectRefused(await run(closed, { url: url('[::1]', '/ok') }), '::1');
    expectRefused(await run(closed, { url: url('[::ffff:127.0.0.1]', '/ok') }), /^::ffff:/);
    expectRefused(await run(closed, { url: url('0.0.0.0', '/ok') }), '0.0.0.0');
  });

  it('a private address (RFC 1918) and the cloud metadata address fail without a connection attempt', async () => {
    const ti = await run(closed, { url: 'http://10.255.255.1/x', timeoutMs: 20_000 });
    expectRefused(ti, '10.255.255.1');
    expect(ti.errorMsg).to.match(/\(a private address\)$/);
    expectRefused(await run(closed, { url: 'http://169.254.169.254/latest/meta-data/' }), '169.254.169.254');
  });

  it('the documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) fail without a connection attempt', async () => {
    // Short timeouts: were they tried, nothing answers there and the run would end as a timeout instead.
    for (const ip of ['192.0.2.1', '198.51.100.1', '203.0.113.1', '2001:db8::1']) {
      const ti = await run(closed, { url: `http://${ip.includes(':') ? `[${ip}]` : ip}/x`, timeoutMs: 3_000 });
      expectRefused(ti, ip);
      expect(ti.errorMsg, ip).to.match(/\(a documentation address\)$/);
    }
  });

  it('a redirect that lands on loopback fails at that hop, even when the first host was allowed', async () => {
    // byName may reach `localhost` (allowed by name), but not 127.0.0.1 by address.
    const ti = await run(byName, { url: url('localhost', `/redirect?to=${encodeURIComponent(url('127.0.0.1', '/ok'))}`) });
    expectRefused(ti, '127.0.0.1');
    expect(ti.errorMsg).to.match(/^redirect 1 to 127\.0\.0\.1: address 127\.0\.0\.1 is private/);
    expect(target.seen.at(-1)!.url).to.match(/^\/redirect/); // the redirect was asked for; its target never was
  });

  it('each of these succeeds when allowed', async () => {
    for (const host of ['127.0.0.1', 'localhost']) {
      const ti = await run(open, { url: url(host, '/ok') });
      expect(ti.status, `${host}: ${ti.errorMsg}`).to.equal('SUCCESS');
      expect(JSON.parse(ti.output).status).to.equal(200);
    }
    const ok = await run(open, { url: url('localhost', `/redirect?to=${encodeURIComponent(url('127.0.0.1', '/ok'))}`) });
    expect(ok.status, ok.errorMsg).to.equal('SUCCESS');
    expect(JSON.parse(JSON.parse(ok.output).body).path).to.equal('/ok');
    expect((await run(byName, { url: url('localhost', '/ok') })).status).to.equal('SUCCESS');
  });

  it('every attempt of one task instance sends the same Idempotency-Key (at-least-once: the receiver can deduplicate)', async () => {
    const ti = await run(open, { url: url('127.0.0.1', '/no-such-path-idem'), maxRetries: 1, retryBackoffMs: 0 });
    expect(ti.status).to.equal('FAILED');
    expect(ti.attempt).to.equal(2);
    const got = target.seen.filter((r) => r.url === '/no-such-path-idem').map((r) => r.headers['idempotency-key']);
    expect(got).to.deep.equal([`ts-${ti.tiId}`, `ts-${ti.tiId}`]);
  });

  it('idempotencyHeader is a header name or false, checked when the task is saved (400 naming it)', async () => {
    const save = (idempotencyHeader: unknown) => open.api('POST', '/task', { taskName: 'idem', taskType: 'HTTP', taskConfig: { url: 'https://example.com/', idempotencyHeader } });
    for (const good of ['X-Request-Id', 'Idempotency-Key', false]) expect((await save(good)).status, String(good)).to.equal(200);
    for (const bad of [true, '', 'Bad Header', 'x'.repeat(65), 42, 'Content-Length', 'host', null]) {
      const r = await save(bad);
      expect(r.status, JSON.stringify(bad)).to.equal(400);
      expect(r.body.message, JSON.stringify(bad)).to.match(/^taskConfig\.idempotencyHeader: /);
      expect(r.body.data).to.equal(null);
    }
  });

  it('an allowed private address is connected to: whatever happens there (an answer, a timeout), it is not refused', async () => {
    const ti = await run(open, { url: 'http://10.255.255.1/x', timeoutMs: 300 });
    expect(ti.status).to.equal('FAILED');
    expect(ti.errorMsg).to.not.match(PRIVATE);
  });

  it("a private address of this host's own interfaces: refused, then reached when allowed", function () {
    if (!hostPrivate) this.skip(); // the host has no private address besides loopback
    const host = hostPrivate!.family === 'IPv6' ? `[${hostPrivate!.address}]` : hostPrivate!.address;
    return (async () => {
      expectRefused(await run(closed, { url: url(host, '/ok') }), hostPrivate!.address);
      const ti = await run(open, { url: url(host, '/ok') });
      expect(ti.status, ti.errorMsg).to.equal('SUCCESS');
    })();
  });
});

describe('security: the HTTP executor', function () {
  this.timeout(30_000);
  let target: HttpTarget;
  const state = join(os.tmpdir(), `ts-sec-http-${process.pid}`);
  const settings = (env: Record<string, string> = {}) => executorSettings(loadConfig({ SHELL_STATE_DIR: state, HTTP_TASK_ALLOW: '127.0.0.1,localhost', ...env }));
  const base = settings();
  const run = (config: TaskConfig, s = base, signal = new AbortController().signal) =>
    getExecutor('HTTP')!.run({ tiId: 1, taskId: 1, content: null, config, attempt: 1, signal, settings: s });
  const url = (path: string, host = '127.0.0.1') => `http://${host}:${target.port}${path}`;
  async function failure(p: Promise<unknown>): Promise<TaskFailure> {
    try {
      await p;
    } catch (e) {
      return e as TaskFailure;
    }
    throw new Error('expected the task to fail');
  }

  before(async () => {
    target = await startHttpTarget();
  });
  after(async () => {
    await target?.close();
  });

  it('follows at most 5 redirects', async () => {
    const e = await failure(run({ url: url('/loop/0') }));
    expect(e).to.be.instanceOf(TaskFailure);
    expect(e.message).to.equal('too many redirects (more than 5)');
    const fine = JSON.parse((await run({ url: url(`/redirect?to=${encodeURIComponent('/redirect?to=/ok')}`) }))!);
    expect(fine.status).to.equal(200);
  });

  it('follows redirects as fetch does: 303 (and 301/302 after a POST) become a GET without body; 307/308 keep both', async () => {
    const post = { method: 'POST' as const, body: { a: 1 } };
    for (const [status, method, body] of [[303, 'GET', ''], [302, 'GET', ''], [301, 'GET', ''], [307, 'POST', '{"a":1}'], [308, 'POST', '{"a":1}']] as const) {
      const out = JSON.parse((await run({ url: url(`/redirect?status=${status}&to=/ok`), ...post }))!);
      const got = JSON.parse(out.body);
      expect([got.method, got.body], String(status)).to.deep.equal([method, body]);
    }
    const put = JSON.parse(JSON.parse((await run({ url: url('/redirect?status=302&to=/ok'), method: 'PUT', body: 'x' }))!).body);
    expect([put.method, put.body]).to.deep.equal(['PUT', 'x']);
  });

  it('keeps credentials on a same-origin redirect and drops them on a redirect to another origin', async () => {
    const headers = { Authorization: 'Bearer s3cret', Cookie: 'sid=1', 'X-Trace': 't' };
    const same = JSON.parse(JSON.parse((await run({ url: url('/redirect?to=/ok'), headers }))!).body);
    expect([same.authorization, same.cookie]).to.deep.equal(['Bearer s3cret', 'sid=1']);
    const other = JSON.parse(JSON.parse((await run({ url: url(`/redirect?to=${encodeURIComponent(url('/ok', 'localhost'))}`), headers }))!).body);
    expect([other.authorization, other.cookie]).to.deep.equal([null, null]);
    expect(target.seen.at(-1)!.headers['x-trace']).to.equal('t');
  });

  it('stops reading after HTTP_TASK_MAX_RESPONSE_BYTES, says so, keeps the 4 KiB tail, and lets the connection go', async () => {
    const out = JSON.parse((await run({ url: url('/endless') }, settings({ HTTP_TASK_MAX_RESPONSE_BYTES: '100000' })))!);
    expect(out).to.include({ status: 200, truncated: true });
    expect(out.body).to.equal('z'.repeat(4096));
    const ok = JSON.parse((await run({ url: url('/ok') }))!);
    expect(ok).to.not.have.property('truncated');
    const deadline = Date.now() + 5000;
    while ((await target.connections()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await target.connections()).to.equal(0);
  });

  it('decodes a gzip answer', async () => {
    expect(JSON.parse((await run({ url: url('/gzip') }))!).body).to.equal('unzipped body');
  });

  it('stops on abort while reading the body, with the abort reason', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = run({ url: url('/trickle') }, base, ac.signal);
    setTimeout(() => ac.abort(new Error('timed out after 200 ms')), 200);
    const e = await failure(p);
    expect(e.message).to.equal('timed out after 200 ms');
    expect(Date.now() - t0).to.be.below(3000);
  });

  it('resolves ${env:NAME} in url, headers and body from TASK_ENV_ALLOW names only', async () => {
    const s = settings({ TASK_ENV_ALLOW: 'API_KEY,TARGET_PATH', API_KEY: 'k-42', TARGET_PATH: '/ok', NOT_ALLOWED: 'x' });
    const out = JSON.parse(JSON.parse((await run({ url: url('${env:TARGET_PATH}'), method: 'POST', headers: { Authorization: 'Bearer ${env:API_KEY}' }, body: { key: '${env:API_KEY}' } }, s))!).body);
    expect(out.authorization).to.equal('Bearer k-42');
    expect(JSON.parse(out.body)).to.deep.equal({ key: 'k-42' });
    const e = await failure(run({ url: url('/ok'), headers: { 'X-Api-Key': '${env:NOT_ALLOWED}' } }, s));
    expect(e.message).to.equal('taskConfig.headers.X-Api-Key: ${env:NOT_ALLOWED} is not allowed; add NOT_ALLOWED to TASK_ENV_ALLOW');
  });

  it('refuses a non-http redirect and a header value with a line break, clearly', async () => {
    expect((await failure(run({ url: url('/redirect?to=file:///etc/passwd') }))).message).to.equal('redirect 1 (Location) must be http or https, got file:');
    expect((await failure(run({ url: url('/ok'), headers: { 'X-A': 'a\r\nb' } }))).message).to.match(/X-A/);
  });
});
