// Private Redis and MariaDB servers for fault tests: each on a free port and a temp dir of its own, so a
// test may SIGKILL, SIGSTOP, fill up or restart them without touching the shared services (or anyone
// else's run). Everything started here is killed by pid: by stop() in the tests' after hooks, and again
// when the process exits (a crashed run leaves no server behind). A server that does not come up fails
// with the tail of its own log.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createConnection, type Connection } from 'mysql2/promise';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';

/** A TCP port nobody listens on right now (bound to port 0, then let go). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** An executable from PATH, or from the sbin directories Debian puts servers in. */
export function findBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  throw new Error(`${name} not found in PATH or /usr/sbin (install it: apt-get install ${name.startsWith('redis') ? 'redis-server' : 'mariadb-server'})`);
}

// Every pid and temp dir this process made, for the last-resort cleanup at exit.
export const livePids = new Set<number>();
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const pid of livePids) signal(pid, 'SIGCONT');
  for (const pid of livePids) signal(pid, 'SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** No such process, or a zombie nobody reaped yet (a daemonised server is not our child). */
export function gone(pid: number): boolean {
  if (!signal(pid, 0)) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `ts-${label}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

/** Sends PING over a raw socket: true on +PONG within `timeoutMs` (no client library, no reconnects). */
export function redisPing(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.on('error', () => done(false));
  });
}

/**
 * A redis-server of the test's own: `--save "" --appendonly no --daemonize yes`, its pid from the pidfile.
 * restart() brings it back on the same port, empty (what a Redis without persistence is after a crash).
 */
export class PrivateRedis {
  pid = 0;
  private clients: Redis[] = [];

  private constructor(readonly port: number, readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  private get logFile(): string {
    return path.join(this.dir, 'redis.log');
  }

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort(), tempDir('redis'));
    await r.launch();
    return r;
  }

  private async launch(): Promise<void> {
    const pidFile = path.join(this.dir, 'redis.pid');
    rmSync(pidFile, { force: true });
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir,
      '--daemonize', 'yes', '--pidfile', pidFile, '--logfile', this.logFile, '--protected-mode', 'no',
    ];
    const res = spawnSync(findBinary('redis-server'), args, { encoding: 'utf8', timeout: 10_000 });
    if (res.status !== 0) throw new Error(`redis-server did not start (exit ${res.status}): ${res.stderr}\n${tail(this.logFile)}`);
    try {
      this.pid = await waitFor('the redis pidfile', async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || null : null), 10_000, 20);
      livePids.add(this.pid);
      await waitFor(`redis on port ${this.port} to answer PING`, () => redisPing(this.port, 500), 10_000, 20);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n--- ${this.logFile} ---\n${tail(this.logFile)}`);
    }
  }

  /** SIGSTOP freezes it (connections stay open, nothing answers); SIGCONT resumes it. */
  signal(sig: NodeJS.Signals): void {
    if (this.pid) signal(this.pid, sig);
  }

  /** SIGKILL, and wait until the process is gone (its port is free again). */
  async kill(): Promise<void> {
    if (!this.pid) return;
    const pid = this.pid;
    signal(pid, 'SIGCONT');
    signal(pid, 'SIGKILL');
    await waitFor(`redis pid ${pid} to die`, async () => gone(pid), 10_000, 10);
    livePids.delete(pid);
    this.pid = 0;
  }

  /** Killed (if running) and started again on the same port, empty. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** A client of the test's own (disconnected by stop()); errors are expected while the server is down. */
  client(): Redis {
    const c = new Redis(this.url, { maxRetriesPerRequest: 1, connectTimeout: 2000, lazyConnect: false });
    c.on('error', () => {});
    this.clients.push(c);
    return c;
  }

  logTail(lines = 30): string {
    return tail(this.logFile, lines);
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.disconnect();
    this.clients = [];
    await this.kill().catch(() => {});
    removeDir(this.dir);
  }
}

// ---------------------------------------------------------------------------------------------------
// MariaDB

/** Options that make a throwaway server start in about a second and stay small. */
const MARIADB_FLAGS = [
  '--skip-log-bin',
  '--skip-name-resolve',
  '--innodb-buffer-pool-size=32M',
  '--innodb-log-file-size=16M',
  // Each commit is written to the OS (which outlives a SIGKILLed server) but not fsynced: a process
  // crash loses nothing, and the shared machine's disk is spared.
  '--innodb-flush-log-at-trx-commit=2',
  '--performance-schema=OFF',
  '--max-connections=300',
];

let template: Promise<string> | null = null;

/**
 * One initialised datadir per test process (`mariadb-install-db` takes a few seconds; a copy of its
 * result a fraction of one). `--no-defaults` keeps the system's my.cnf (user=mysql, log paths) out.
 */
function mariadbTemplate(): Promise<string> {
  template ??= (async () => {
    const dir = tempDir('mariadb-template');
    const data = path.join(dir, 'data');
    const res = spawnSync(findBinary('mariadb-install-db'), [
      '--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--user=root', '--skip-test-db',
      '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M', '--skip-log-bin',
    ], { encoding: 'utf8', timeout: 120_000 });
    if (res.status !== 0) throw new Error(`mariadb-install-db failed (exit ${res.status}):\n${(res.stdout + res.stderr).split('\n').slice(-30).join('\n')}`);
    return data;
  })();
  template.catch(() => { template = null; });
  return template;
}

/** True when `SELECT 1` answers on this port within the connect timeout. */
export async function mysqlAnswers(port: number, timeoutMs = 1000): Promise<boolean> {
  let conn: Connection | null = null;
  try {
    conn = await createConnection({ host: '127.0.0.1', port, user: 'root', connectTimeout: timeoutMs });
    await conn.query({ sql: 'SELECT 1', timeout: timeoutMs });
    return true;
  } catch {
    return false;
  } finally {
    conn?.destroy();
  }
}

/**
 * A mariadbd of the test's own: a copy of the initialised datadir, a free port, root without a
 * password (--skip-grant-tables), loopback only. kill()/restart() keep the datadir: a restart is a
 * crash recovery of the same data.
 */
export class PrivateMariaDb {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(readonly port: number, readonly dir: string, private readonly extraArgs: string[]) {}

  /** `args`: more server options, e.g. `--max-allowed-packet=1M`. */
  static async start(opts: { args?: string[] } = {}): Promise<PrivateMariaDb> {
    const tpl = await mariadbTemplate();
    const dir = tempDir('mariadb');
    cpSync(tpl, path.join(dir, 'data'), { recursive: true });
    const m = new PrivateMariaDb(await freePort(), dir, opts.args ?? []);
    await m.launch();
    return m;
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** A connection URL for `database` on this server (the members create it). */
  url(database: string): string {
    return `mysql://root@127.0.0.1:${this.port}/${database}`;
  }

  private get logFile(): string {
    return path.join(this.dir, 'error.log');
  }

  private async launch(): Promise<void> {
    const args = [
      '--no-defaults', '--user=root', `--datadir=${path.join(this.dir, 'data')}`, `--port=${this.port}`,
      `--socket=${path.join(this.dir, 's.sock')}`, '--bind-address=127.0.0.1', '--skip-grant-tables',
      `--pid-file=${path.join(this.dir, 'mariadb.pid')}`, `--log-error=${this.logFile}`, ...MARIADB_FLAGS, ...this.extraArgs,
    ];
    const child = spawn(findBinary('mariadbd'), args, { stdio: 'ignore' });
    this.child = child;
    livePids.add(child.pid!);
    let exit: string | null = null;
    this.exited = new Promise((resolve) => child.once('exit', (code, sig) => {
      exit = `exit ${code ?? sig}`;
      livePids.delete(child.pid!);
      resolve();
    }));
    try {
      await waitFor(`mariadbd on port ${this.port} to answer SELECT 1`, async () => {
        if (exit) throw new Error(`mariadbd stopped (${exit})`);
        return mysqlAnswers(this.port, 1000);
      }, 60_000, 50);
    } catch (e) {
      signal(child.pid!, 'SIGKILL');
      throw new Error(`${(e as Error).message}\n--- ${this.logFile} ---\n${tail(this.logFile)}`);
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child?.pid && this.child.exitCode === null && this.child.signalCode === null) signal(this.child.pid, sig);
  }

  /** SIGKILL (a crash: nothing flushed beyond what InnoDB already wrote) and wait for it to be gone. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.signal('SIGCONT');
    this.signal('SIGKILL');
    await this.exited;
    this.child = null;
  }

  /** Killed (if running) and started again on the same datadir and port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  logTail(lines = 30): string {
    return tail(this.logFile, lines);
  }

  async stop(): Promise<void> {
    await this.kill().catch(() => {});
    removeDir(this.dir);
  }
}
