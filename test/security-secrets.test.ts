// Secrets in task configs are written, never read back: every read path shows them as "***", an
// update sending "***" keeps the stored value (the task still sends it), and a database error that
// quotes the statement does not put them in the log.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { runTask } from './helpers/tasks.js';
import { startHttpTarget, type HttpTarget } from './helpers/httpTarget.js';
import { createLogger } from '../src/infra/logger.js';
import { SseClient } from './helpers/sse.js';
import { waitForEnd } from './helpers/flows.js';

const SECRET = 'Bearer sk-live-0123456789abcdef';
const COOKIE = 'session=very-secret-cookie';
const VAULT = 'hvs.vault-token-secret';

describe('security: secrets in task configs', function () {
  this.timeout(60_000);
  let m: TestMember;
  let target: HttpTarget;
  let taskId: number;
  /** Every line the member logged (at debug level). */
  const logged: string[] = [];
  const api = (method: string, path: string, body?: unknown) => m.api(method, path, body);

  before(async () => {
    target = await startHttpTarget();
    m = await startTestMember({
      ...isolated(),
      WORKER_CONCURRENCY: '4',
      HTTP_TASK_ALLOW: '127.0.0.1',
      HTTP_TASK_SECRET_HEADERS: 'X-Vault-Token',
      TASK_ENV_ALLOW: 'UPSTREAM_TOKEN',
      UPSTREAM_TOKEN: 'from-the-environment',
      SHELL_TASKS_ENABLED: 'true',
    }, (config) => createLogger('debug', {}, config.httpTaskSecretHeaders, new Writable({ write(chunk, _enc, cb) { logged.push(String(chunk)); cb(); } }) as unknown as pino.DestinationStream));
    const r = await api('POST', '/task', {
      taskName: 'with secrets',
      taskType: 'HTTP',
      taskConfig: {
        url: `http://127.0.0.1:${target.port}/ok`,
        headers: { Authorization: SECRET, cookie: COOKIE, 'x-vault-token': VAULT, 'X-Trace': 'visible' },
      },
    });
    expect(r.status, r.text).to.equal(200);
    taskId = r.body.data.taskId;
  });
  after(async () => {
    await m?.stop(500);
    await target?.close();
  });

  const leaks = (text: string) => [SECRET, 'sk-live', COOKIE, VAULT].filter((s) => text.includes(s));

  it('POST /task, GET /task/{id} and the unauthenticated GET /task show "***"', async () => {
    const created = await api('GET', `/task/${taskId}`);
    expect(created.body.data.taskConfig.headers).to.deep.equal({ Authorization: '***', cookie: '***', 'x-vault-token': '***', 'X-Trace': 'visible' });
    const list = await api('GET', '/task?pageSize=200');
    expect(list.body.data.list.find((t: any) => t.taskId === taskId).taskConfig.headers.Authorization).to.equal('***');
    for (const r of [created, list]) expect(leaks(r.text)).to.deep.equal([]);
    // It is stored, though: the task sends it.
    const row = await m.services.knex('task').where('task_id', taskId).first();
    expect(JSON.parse(row.task_config).headers.Authorization).to.equal(SECRET);
  });

  it('neither the task instance nor a flow using the task shows it', async () => {
    const ti = await runTask(m.api, taskId);
    expect(ti.status, ti.errorMsg).to.equal('SUCCESS');
    expect(JSON.parse(JSON.parse(ti.output).body).authorization).to.equal(SECRET); // what the server got
    const flow = await api('POST', '/flow', { flowName: 'f', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(taskId) }, { nodeType: 'END' }] });
    const reads = [
      await api('GET', `/monitor/task/${ti.tiId}`),
      await api('GET', `/flow/${flow.body.data.flowId}`),
      await api('GET', '/flow'),
      flow,
    ];
    // The task instance's output is the server's answer (this test server echoes the header back, so
    // it is there): what the member itself adds to these answers never includes the config.
    for (const r of reads.slice(1)) expect(leaks(r.text), r.text.slice(0, 300)).to.deep.equal([]);
    expect(reads[0]!.body.data).to.not.have.property('taskConfig');
  });

  it('an update that sends "***" back keeps the stored values; a new value replaces one', async () => {
    const shown = (await api('GET', `/task/${taskId}`)).body.data;
    const upd = await api('POST', '/task', { ...shown, taskConfig: { ...shown.taskConfig, headers: { ...shown.taskConfig.headers, COOKIE: 'fresh=1', Authorization: '***' } } });
    expect(upd.status, upd.text).to.equal(200);
    expect(leaks(upd.text)).to.deep.equal([]);
    const stored = JSON.parse((await m.services.knex('task').where('task_id', taskId).first()).task_config).headers;
    expect(stored.Authorization).to.equal(SECRET);
    expect(stored['x-vault-token']).to.equal(VAULT);
    expect(stored.COOKIE).to.equal('fresh=1');
    const ti = await runTask(m.api, taskId);
    const got = JSON.parse(JSON.parse(ti.output).body);
    expect(got.authorization).to.equal(SECRET);
  });

  it('a secret filled in from a template is masked in renderedConfig (monitor, flow detail), and never reaches logs or live events', async () => {
    const TOK = 'rendered-tok-9f8e7d6c';
    const VAULT_IN = 'rendered-vault-5a4b3c';
    const rendered = [TOK, VAULT_IN];
    const shell = await api('POST', '/task', {
      taskName: 'sh templated', taskType: 'SHELL', taskContent: 'printf %s "$REGION"',
      taskConfig: { env: { API_TOKEN: '${input.token}', REGION: '${input.region}' } },
    });
    const http = await api('POST', '/task', {
      taskName: 'http templated', taskType: 'HTTP',
      // /gzip answers without echoing the request: whatever shows the secret below is the member's doing.
      taskConfig: { url: `http://127.0.0.1:${target.port}/gzip`, headers: { Authorization: 'Bearer ${input.token}', 'X-Vault-Token': '${input.vault}', 'X-Trace': '${input.trace}' } },
    });
    expect([shell.status, http.status], shell.text + http.text).to.deep.equal([200, 200]);
    expect(http.body.data.taskConfig.headers).to.deep.equal({ Authorization: '***', 'X-Vault-Token': '***', 'X-Trace': '${input.trace}' });
    const flow = await api('POST', '/flow', {
      flowName: 'templated secrets',
      flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(shell.body.data.taskId) }, { nodeType: 'TASK', taskIds: String(http.body.data.taskId) }, { nodeType: 'END' }],
    });
    const flowId = flow.body.data.flowId;
    const sse = await SseClient.open(`${m.url}/events?flowId=${flowId}`);
    try {
      await sse.waitForMessage('ready');
      const start = await api('POST', `/exec/flow/${flowId}`, { input: { token: TOK, vault: VAULT_IN, trace: 'trace-1', region: 'eu' } });
      expect(start.status, start.text).to.equal(200);
      const fiId = start.body.data.fiId;
      expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      await sse.waitForEvent('the flow to succeed', (e) => e.kind === 'flow' && e.fiId === fiId && e.status === 'SUCCESS');
      // The run used the real values.
      const sent = target.seen.find((r) => r.url === '/gzip')!;
      expect([sent.headers.authorization, sent.headers['x-vault-token']]).to.deep.equal([`Bearer ${TOK}`, VAULT_IN]);

      const detail = await api('POST', `/monitor/flow/detail/${fiId}`);
      const tasks = detail.body.data.flatMap((ni: any) => ni.tasks);
      const sh = tasks.find((t: any) => t.taskId === shell.body.data.taskId);
      const ht = tasks.find((t: any) => t.taskId === http.body.data.taskId);
      expect(sh.renderedConfig).to.deep.equal({ env: { API_TOKEN: '***', REGION: 'eu' } });
      expect(ht.renderedConfig.headers).to.deep.equal({ Authorization: '***', 'X-Vault-Token': '***', 'X-Trace': 'trace-1' });
      const one = await api('GET', `/monitor/task/${ht.tiId}`);
      expect(one.body.data.renderedConfig.headers).to.deep.equal({ Authorization: '***', 'X-Vault-Token': '***', 'X-Trace': 'trace-1' });
      const shOne = await api('GET', `/monitor/task/${sh.tiId}`);
      expect(shOne.body.data.renderedConfig.env).to.deep.equal({ API_TOKEN: '***', REGION: 'eu' });
      for (const r of [detail, one, shOne]) expect(rendered.filter((x) => r.text.includes(x)), r.text.slice(0, 300)).to.deep.equal([]);
      // Stored as the run used it (a later attempt runs the same text).
      const row = await m.services.knex('task_ins').where('ti_id', ht.tiId).first();
      expect(JSON.parse(row.rendered_config).headers.Authorization).to.equal(`Bearer ${TOK}`);

      const streamed = sse.messages.map((x) => x.data).join('\n');
      expect(streamed).to.include(`"fiId":${fiId}`);
      expect(rendered.filter((x) => streamed.includes(x))).to.deep.equal([]);
      const logs = logged.join('');
      expect(logs.length, 'the member logs at debug level').to.be.above(0);
      expect(rendered.filter((x) => logs.includes(x))).to.deep.equal([]);
    } finally {
      await sse.close();
    }
  });

  it('"***" keeps a secret header only while the url keeps its origin (scheme, host, port); otherwise a 400 naming the header', async () => {
    const port = target.port;
    const made = await api('POST', '/task', { taskName: 'pinned', taskType: 'HTTP', taskConfig: { url: `http://127.0.0.1:${port}/ok`, headers: { Authorization: SECRET, 'X-Trace': 't' } } });
    expect(made.status, made.text).to.equal(200);
    const id = made.body.data.taskId;
    const stored = async () => JSON.parse((await m.services.knex('task').where('task_id', id).first()).task_config);
    const before = await stored();
    const update = (url: string, Authorization = '***') => api('POST', '/task', { taskId: id, taskName: 'pinned', taskType: 'HTTP', taskConfig: { url, headers: { Authorization, 'X-Trace': 't' } } });
    for (const elsewhere of [`http://evil.example:${port}/ok`, `http://127.0.0.1:${port + 1}/ok`, `https://127.0.0.1:${port}/ok`, 'http://127.0.0.2/ok']) {
      const r = await update(elsewhere);
      expect(r.status, elsewhere).to.equal(400);
      expect(r.body.code).to.equal('400');
      expect(r.body.data).to.equal(null);
      expect(r.body.message, elsewhere).to.match(/^taskConfig\.headers\.Authorization: "\*\*\*" keeps the stored value only while the url's origin/);
      expect(r.body.message).to.include(`http://127.0.0.1:${port}`);
      expect(leaks(r.text)).to.deep.equal([]);
      expect(await stored(), 'nothing written').to.deep.equal(before);
    }
    // The same origin, written differently or with another path and query: kept.
    const same = await update(`HTTP://127.0.0.1:${port}/other?x=1`);
    expect(same.status, same.text).to.equal(200);
    expect((await stored()).headers.Authorization).to.equal(SECRET);
    // A new origin with the value itself is fine, and from then on "***" keeps that value for that origin.
    expect((await update('https://api.example.org/x', 'Bearer for-api-example')).status).to.equal(200);
    expect((await update('https://API.example.org:443/y')).status).to.equal(200);
    expect((await stored()).headers.Authorization).to.equal('Bearer for-api-example');
  });

  it('"***" with nothing stored behind it is a 400 naming the header', async () => {
    const r = await api('POST', '/task', { taskName: 'x', taskType: 'HTTP', taskConfig: { url: 'http://example.com/', headers: { 'X-Api-Key': '***' } } });
    expect(r.status).to.equal(400);
    expect(r.body).to.deep.equal({ code: '400', message: 'taskConfig.headers.X-Api-Key: "***" stands for the stored value, and none is stored; send the value itself', data: null });
  });

  it('credentials in the url are refused: they would be shown to every reader', async () => {
    const r = await api('POST', '/task', { taskName: 'x', taskType: 'HTTP', taskConfig: { url: 'https://user:pw@example.com/' } });
    expect(r.status).to.equal(400);
    expect(r.body.message).to.equal('taskConfig.url: must not carry user:password@; send an Authorization header instead (its value is never shown)');
  });

  it('a header that only references the environment is shown as written, and resolved when the task runs', async () => {
    const r = await api('POST', '/task', {
      taskName: 'env ref',
      taskType: 'HTTP',
      taskConfig: { url: `http://127.0.0.1:${target.port}/ok`, headers: { Authorization: 'Bearer ${env:UPSTREAM_TOKEN}' } },
    });
    expect(r.body.data.taskConfig.headers.Authorization).to.equal('Bearer ${env:UPSTREAM_TOKEN}');
    const ti = await runTask(m.api, r.body.data.taskId);
    expect(JSON.parse(JSON.parse(ti.output).body).authorization).to.equal('Bearer from-the-environment');
  });

  it('SHELL env values with secret-looking names are hidden the same way', async () => {
    const r = await api('POST', '/task', { taskName: 'sh', taskType: 'SHELL', taskContent: 'echo "$DB_PASSWORD $REGION"', taskConfig: { env: { DB_PASSWORD: 'hunter2-secret', REGION: 'eu' } } });
    expect(r.status, r.text).to.equal(200);
    expect(r.body.data.taskConfig.env).to.deep.equal({ DB_PASSWORD: '***', REGION: 'eu' });
    const kept = await api('POST', '/task', { ...r.body.data, taskContent: 'echo "$DB_PASSWORD $REGION!"' });
    expect(kept.status, kept.text).to.equal(200);
    const ti = await runTask(m.api, r.body.data.taskId);
    expect(JSON.parse(ti.output).stdout).to.equal('hunter2-secret eu!\n');
  });

  it('a database error quoting the statement is logged with the secrets masked', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { lines.push(String(chunk)); cb(); } });
    const log = createLogger('error', {}, ['X-Vault-Token'], sink as unknown as pino.DestinationStream);
    // A config too long for its TEXT column: MariaDB refuses it, and knex's error quotes the values.
    const cfg = JSON.stringify({ url: 'http://example.com/', headers: { Authorization: SECRET, 'X-Vault-Token': VAULT }, body: 'x'.repeat(70_000) });
    let err: unknown;
    try {
      await m.services.knex('task').insert({ task_name: 'too long', task_type: 'HTTP', task_config: cfg, create_time: new Date(), update_time: new Date() });
    } catch (e) {
      err = e;
    }
    expect(err, 'the insert must fail').to.be.instanceOf(Error);
    // mysql2's `sql` has the values written in: it is never logged (the message quotes the statement
    // with `?` placeholders, knex's compileSqlOnError off: see src/infra/db.ts and logger.ts).
    expect((err as { sql?: string }).sql).to.include(SECRET);
    log.error({ err }, 'request failed');
    const out = lines.join('');
    expect(out).to.include('request failed');
    expect(leaks(out)).to.deep.equal([]);
    expect(out).to.include('insert into `task`');
    expect(out).not.to.include('xxxxxxxxxx');
  });
});
