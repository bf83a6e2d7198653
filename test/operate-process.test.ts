// Mistakes of operation caught as they are made, with real processes (issue 22): a port already in use
// is one line and exit code 3 before the member migrates or joins; `npm start` passes SIGTERM to the
// member (it does not leave it orphaned and serving); LOG_FORMAT=pretty writes lines for a human.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { baseEnv, freshPrefix, isolated, testRun } from './helpers/env.js';
import { Processes } from './helpers/processes.js';
import { freePort } from './helpers/privateServices.js';
import { createKnex } from '../src/infra/db.js';
import { waitFor } from './helpers/wait.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The lines a member printed, without its routine JSON log lines (pino levels below error). */
function notableLines(out: string): string[] {
  return out.split('\n').map((l) => l.trim()).filter(Boolean).filter((l) => {
    if (!l.startsWith('{')) return true;
    try {
      return Number(JSON.parse(l).level ?? 60) >= 50;
    } catch {
      return true;
    }
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Resolves once something can listen on the port again (the member let go of it). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, () => s.close(() => resolve(true)));
  });
}

describe('operate: mistakes of operation (real processes)', function () {
  this.timeout(180_000);
  let procs: Processes;
  beforeEach(() => { procs = new Processes(freshPrefix()); });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(procs.dump());
    await procs.killAll();
  });

  it('a port already in use: one line naming PORT and the port, exit code 3, before the database is made or the cluster joined', async () => {
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(port, r));
    const { DATABASE_URL, REDIS_PREFIX } = isolated();
    try {
      const p = procs.spawn({ id: 'port-taken', roles: 'web,worker', env: { PORT: String(port), DATABASE_URL, REDIS_PREFIX } });
      const exit = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
      expect(exit, 'exited within 30 s').to.not.equal(null);
      expect(exit!.code, p.output()).to.equal(3);
      const lines = notableLines(p.output());
      expect(lines, p.output()).to.have.length(1);
      expect(lines[0]).to.include('PORT').and.match(new RegExp(`\\b${port}\\b`)).and.match(/in use/);
      expect(p.output(), 'nothing logged before it').not.to.match(/migrations applied|joined the cluster/);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
    // Nothing was made: not the database (so no migration table), not a heartbeat, not the prefix binding.
    const name = new URL(DATABASE_URL).pathname.slice(1);
    const server = createKnex(testRun.databaseUrl.replace(/\/[^/]*$/, '/'), 1);
    const redis = new Redis(testRun.redisUrl, { maxRetriesPerRequest: 2 });
    redis.on('error', () => {});
    try {
      const dbs = await server.raw('SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?', [name]);
      expect(dbs[0], `database ${name}`).to.have.length(0);
      expect(await redis.keys(`${REDIS_PREFIX}*`), 'Redis keys under the prefix').to.deep.equal([]);
    } finally {
      await server.destroy();
      redis.disconnect();
    }
  });

  it('LOG_FORMAT=pretty: human lines (time, level, message), not JSON', async () => {
    const p = procs.spawn({ id: 'pretty', roles: 'web,worker', env: { LOG_FORMAT: 'pretty', ...isolated() } });
    const line = await waitFor('the listening line', async () => {
      if (!p.alive()) throw new Error(`exited: ${p.output()}`);
      return p.output().split('\n').find((l) => l.includes('web role listening'));
    }, 60_000);
    expect(line).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO.*: web role listening \{.*"port":\d+/);
    expect(p.output().split('\n').filter((l) => l.startsWith('{"level"'))).to.deep.equal([]);
  });

  describe('npm start', () => {
    let npm: ChildProcess | null = null;
    let memberPid: number | null = null;
    afterEach(async () => {
      // Whatever outlived the test (the member orphaned, as before the fix) goes, by its own pid.
      if (memberPid && alive(memberPid)) process.kill(memberPid, 'SIGKILL');
      if (npm?.pid && alive(npm.pid)) process.kill(npm.pid, 'SIGKILL');
    });

    it('SIGTERM to npm\'s pid reaches the member: it drains, exits and frees its port', async () => {
      const port = await freePort();
      let out = '';
      npm = spawn('npm', ['start'], {
        cwd: ROOT,
        env: { ...process.env, ...baseEnv({ ...isolated(), PORT: String(port), ROLES: 'web,worker', LOG_LEVEL: 'info' }) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      npm.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      npm.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      const npmExited = new Promise<void>((r) => npm!.once('exit', () => r()));
      // `npm start` builds first (prestart): give it time.
      memberPid = await waitFor('the member to listen', async () => {
        const m = /\{"level":30[^\n]*"pid":(\d+)[^\n]*"msg":"web role listening"/.exec(out);
        if (!m) return null;
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? Number(m[1]) : null;
      }, 150_000, 200).catch((e) => {
        throw new Error(`${(e as Error).message}\n${out.slice(-3000)}`);
      });
      expect(memberPid).to.not.equal(npm.pid);
      process.kill(npm.pid!, 'SIGTERM');
      await waitFor('the member to exit', async () => !alive(memberPid!), 30_000, 50).catch((e) => {
        throw new Error(`${(e as Error).message} (pid ${memberPid} still serving: ${alive(memberPid!)})\n${out.slice(-3000)}`);
      });
      expect(out).to.match(/"signal":"SIGTERM"[^\n]*"msg":"stopping"/);
      expect(out).to.match(/"signal":"SIGTERM"[^\n]*"msg":"stopped"/);
      await waitFor('the port to be free', () => portFree(port), 10_000, 100);
      await npmExited;
    });
  });
});
