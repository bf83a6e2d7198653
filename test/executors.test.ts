// Every executor on its own: no database, no queue. Aborts come through the signal, as the worker sends them.
import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executors, getExecutor } from '../src/executors/registry.js';
import { SHELL_DISABLED_MESSAGE } from '../src/executors/shell.js';
import { TaskFailure, type ExecContext } from '../src/executors/types.js';
import type { TaskConfig } from '../src/definitions/taskConfig.js';
import { TASK_TYPES } from '../src/models/definitions.js';
import { executorSettings, type ExecutorSettings } from '../src/executors/settings.js';
import { loadConfig } from '../config/index.js';

const shellState = join(tmpdir(), `ts-exec-state-${process.pid}`);
/** Settings as a member with this environment would hand them to executors. */
function settingsFor(env: Record<string, string> = {}): ExecutorSettings {
  return executorSettings(loadConfig({ SHELL_STATE_DIR: shellState, ...env }));
}
const closed = settingsFor();
const shellOn = settingsFor({ SHELL_TASKS_ENABLED: 'true' });
const loopbackAllowed = settingsFor({ HTTP_TASK_ALLOW: '127.0.0.1' });

function ctx(over: Partial<ExecContext> = {}): ExecContext {
  return { tiId: 1, taskId: 1, content: null, config: {}, attempt: 1, signal: new AbortController().signal, settings: closed, ...over };
}
function run(type: string, over: Partial<ExecContext> = {}) {
  return getExecutor(type)!.run(ctx(over));
}
/** The rejection of a promise that must reject. */
async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  expect.fail('expected the run to fail');
}

describe('executors', () => {
  after(() => rm(shellState, { recursive: true, force: true }));
  it('has one executor per task type but WORKER (run by external workers), and none for an unknown type', () => {
    const internal = TASK_TYPES.filter((t) => t !== 'WORKER');
    for (const t of internal) expect(getExecutor(t)?.type).to.equal(t);
    expect([...executors.keys()].sort()).to.deep.equal([...internal].sort());
    expect(getExecutor('WORKER')).to.equal(undefined);
    expect(getExecutor('NOPE')).to.equal(undefined);
    expect(getExecutor('echo')).to.equal(undefined);
  });

  describe('ECHO', () => {
    it('outputs the content', async () => {
      expect(await run('ECHO', { content: 'hello flow' })).to.equal('hello flow');
      expect(await run('ECHO', { content: null })).to.equal(null);
    });
  });

  describe('EXCEPTION', () => {
    it('fails with the content as message', async () => {
      const e = await rejection(run('EXCEPTION', { content: 'boom at node 3' }));
      expect(e).to.be.instanceOf(TaskFailure);
      expect(e.message).to.equal('boom at node 3');
    });
    it('fails with a default message when the content is empty', async () => {
      const e = await rejection(run('EXCEPTION', { content: '' }));
      expect(e.message).to.equal('EXCEPTION task failed');
    });
  });

  describe('WAIT', () => {
    it('waits config.waitMs, which wins over the content', async () => {
      const t0 = Date.now();
      await run('WAIT', { config: { waitMs: 150 }, content: '5000' });
      expect(Date.now() - t0).to.be.within(140, 1_000);
    });
    it('reads the content as milliseconds', async () => {
      const t0 = Date.now();
      expect(await run('WAIT', { content: ' 120 ' })).to.equal('waited 120 ms');
      expect(Date.now() - t0).to.be.within(110, 1_000);
    });
    it('waits 1000 ms by default', async () => {
      const t0 = Date.now();
      await run('WAIT');
      expect(Date.now() - t0).to.be.within(990, 2_000);
    });
    it('refuses content that is not a number', async () => {
      const e = await rejection(run('WAIT', { content: 'soon' }));
      expect(e.message).to.match(/number of milliseconds/);
    });
    it('stops at once on abort, rejecting with the reason', async () => {
      const ac = new AbortController();
      const t0 = Date.now();
      const p = run('WAIT', { config: { waitMs: 30_000 }, signal: ac.signal });
      setTimeout(() => ac.abort(new Error('timed out after 50 ms')), 50);
      const e = await rejection(p);
      expect(e.message).to.equal('timed out after 50 ms');
      expect(Date.now() - t0).to.be.below(1_000);
    });
  });

  describe('SHELL', () => {
    const sh = (content: string, signal?: AbortSignal) => run('SHELL', { content, settings: shellOn, ...(signal ? { signal } : {}) });

    it('is refused unless enabled', async () => {
      const e = await rejection(run('SHELL', { content: 'echo hi', settings: closed }));
      expect(e.message).to.equal(SHELL_DISABLED_MESSAGE);
      expect(e.message).to.equal('SHELL tasks are disabled: set SHELL_TASKS_ENABLED=true');
    });

    it('runs the content with /bin/sh and outputs exit code, stdout and stderr', async () => {
      const out = JSON.parse((await sh('echo "out $((1+2))"; echo err >&2'))!);
      expect(out).to.deep.include({ exitCode: 0, stdout: 'out 3\n', stderr: 'err\n' });
    });

    it('fails on a non-zero exit with the code, the stderr and the output', async () => {
      const e = await rejection(sh('echo partial; echo "no such file" >&2; exit 3'));
      expect(e).to.be.instanceOf(TaskFailure);
      expect(e.message).to.equal('exit code 3: no such file');
      expect(JSON.parse(e.output)).to.deep.include({ exitCode: 3, stdout: 'partial\n', stderr: 'no such file\n' });
    });

    it('gets TASK_SCHEDULE_IDEMPOTENCY_KEY, the same on every attempt of one task instance', async () => {
      const key = async (tiId: number, attempt: number) =>
        JSON.parse((await run('SHELL', { tiId, attempt, content: 'printf %s "$TASK_SCHEDULE_IDEMPOTENCY_KEY"', settings: shellOn }))!).stdout;
      expect(await key(42, 1)).to.equal('ts-42');
      expect(await key(42, 3)).to.equal('ts-42');
      expect(await key(43, 1)).to.equal('ts-43');
    });

    it('fails with just the code when stderr is empty', async () => {
      const e = await rejection(sh('exit 7'));
      expect(e.message).to.equal('exit code 7');
    });

    it('keeps only the last 4 KiB of each stream', async () => {
      const out = JSON.parse((await sh("head -c 10000 /dev/zero | tr '\\0' a; printf END; head -c 6000 /dev/zero | tr '\\0' b >&2"))!);
      expect(out.stdout).to.have.length(4096);
      expect(out.stdout.endsWith('aaaEND')).to.equal(true);
      expect(out.stderr).to.equal('b'.repeat(4096));
    });

    it('kills a long command (and its children) on abort and rejects with the reason', async () => {
      const ac = new AbortController();
      const t0 = Date.now();
      const p = sh('sleep 30; echo done', ac.signal);
      setTimeout(() => ac.abort(new Error('cancelled')), 100);
      const e = await rejection(p);
      expect(e.message).to.equal('cancelled');
      expect(Date.now() - t0).to.be.below(3_000);
    });

    it('kills the whole process group, not just the shell', async () => {
      const pidFile = join(tmpdir(), `ts-exec-${process.pid}-${Date.now()}.pid`);
      const ac = new AbortController();
      const p = sh(`sleep 30 & echo $! > ${pidFile}; wait`, ac.signal);
      let pid = 0;
      for (let i = 0; i < 200 && !pid; i++) {
        await new Promise((r) => setTimeout(r, 10));
        pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim()) || 0;
      }
      expect(pid).to.be.greaterThan(0);
      ac.abort(new Error('stop'));
      expect((await rejection(p)).message).to.equal('stop');
      await rm(pidFile, { force: true });
      // Gone, or a zombie waiting for whoever adopted it to reap it (dead all the same).
      const alive = () => {
        try {
          return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(alive()).to.equal(false);
    });

    it('rejects at once when already aborted', async () => {
      const ac = new AbortController();
      ac.abort(new Error('too late'));
      const e = await rejection(sh('echo hi', ac.signal));
      expect(e.message).to.equal('too late');
    });
  });

  describe('HTTP', () => {
    let server: http.Server;
    let base: string;
    const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; rawHeaders: string[]; body: string }[] = [];

    before(async () => {
      server = http.createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
          if (req.url === '/fail') {
            res.writeHead(500, { 'content-type': 'text/plain' });
            return res.end('it broke');
          }
          if (req.url === '/big') return res.end('x'.repeat(10_000) + 'TAIL');
          if (req.url === '/slow') return setTimeout(() => res.end('late'), 30_000).unref();
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true, got: body }));
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    beforeEach(() => {
      seen.length = 0;
    });
    // The test server is on loopback, which HTTP tasks may reach only when allowed.
    const call = (config: TaskConfig, signal?: AbortSignal) => run('HTTP', { config, settings: loopbackAllowed, ...(signal ? { signal } : {}) });

    it('GETs by default; a 2xx is success with status and body', async () => {
      const out = JSON.parse((await call({ url: `${base}/ok` }))!);
      expect(out.status).to.equal(201);
      expect(JSON.parse(out.body)).to.deep.equal({ ok: true, got: '' });
      expect(seen[0].method).to.equal('GET');
    });

    it('sends method, headers and a JSON-encoded body', async () => {
      await call({ url: `${base}/post`, method: 'POST', headers: { 'X-Trace': 'abc' }, body: { a: 1, b: [true] } });
      expect(seen[0].method).to.equal('POST');
      expect(seen[0].headers['x-trace']).to.equal('abc');
      expect(seen[0].headers['content-type']).to.equal('application/json');
      expect(JSON.parse(seen[0].body)).to.deep.equal({ a: 1, b: [true] });
    });

    it('sends a string body as it is, keeping a given content-type', async () => {
      await call({ url: `${base}/put`, method: 'PUT', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2' });
      expect(seen[0].body).to.equal('a,b\n1,2');
      expect(seen[0].headers['content-type']).to.equal('text/csv');
    });

    it('sends Idempotency-Key: ts-<tiId>, the same on every attempt of one task instance', async () => {
      await run('HTTP', { tiId: 42, attempt: 1, config: { url: `${base}/a` }, settings: loopbackAllowed });
      await run('HTTP', { tiId: 42, attempt: 2, config: { url: `${base}/a` }, settings: loopbackAllowed });
      await run('HTTP', { tiId: 43, attempt: 1, config: { url: `${base}/a` }, settings: loopbackAllowed });
      expect(seen.map((r) => r.headers['idempotency-key'])).to.deep.equal(['ts-42', 'ts-42', 'ts-43']);
    });

    it('idempotencyHeader renames the header or (false) leaves it out; a header the task sets itself wins', async () => {
      await call({ url: `${base}/a`, idempotencyHeader: 'X-Request-Id' });
      expect(seen[0].headers['x-request-id']).to.equal('ts-1');
      expect(seen[0].headers).to.not.have.property('idempotency-key');
      await call({ url: `${base}/a`, idempotencyHeader: false });
      expect(Object.keys(seen[1].headers).filter((h) => /idempotency|request-id/.test(h))).to.deep.equal([]);
      await call({ url: `${base}/a`, headers: { 'idempotency-KEY': 'order-7' } });
      expect(seen[2].headers['idempotency-key']).to.equal('order-7');
      expect(seen[2].rawHeaders.filter((h) => /^idempotency-key$/i.test(h))).to.have.length(1);
    });

    it('fails on a non-2xx answer with HTTP <status> and the output', async () => {
      const e = await rejection(call({ url: `${base}/fail` }));
      expect(e).to.be.instanceOf(TaskFailure);
      expect(e.message).to.equal('HTTP 500');
      expect(JSON.parse(e.output)).to.deep.equal({ status: 500, body: 'it broke' });
    });

    it('keeps the last 4 KiB of the response body', async () => {
      const out = JSON.parse((await call({ url: `${base}/big` }))!);
      expect(out.body).to.have.length(4096);
      expect(out.body.endsWith('xTAIL')).to.equal(true);
    });

    it('stops on abort', async () => {
      const ac = new AbortController();
      const t0 = Date.now();
      const p = call({ url: `${base}/slow` }, ac.signal);
      setTimeout(() => ac.abort(new Error('timed out')), 100);
      const e = await rejection(p);
      expect(e.message).to.equal('timed out');
      expect(Date.now() - t0).to.be.below(3_000);
    });

    it('fails clearly without a url, and on a refused connection', async () => {
      expect((await rejection(call({}))).message).to.match(/no url/);
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const e = await rejection(call({ url: `http://127.0.0.1:${port}/` }));
      expect(e).to.be.instanceOf(Error);
    });
  });
});
