// A private Redis Cluster for tests and the bench (issue 20): like the private servers of
// privateServices.ts, every node on a free port and a temp dir, killed by pid by stop() and at exit.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitFor } from './wait.js';
import { findBinary, freePort, gone, livePids, redisPing, removeDir, signal, tail, tempDir } from './privateServices.js';


/**
 * A Redis Cluster of the test's own: `masters` × (1 + `replicas`) redis-servers with
 * `--cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`, ready once every node
 * says cluster_state:ok. `seeds` is what REDIS_CLUSTER_NODES takes. Every server is killed by pid
 * (stop(), and at exit like the other private servers).
 */
export class PrivateRedisCluster {
  /** Port → pid of every node still running. */
  readonly pids = new Map<number, number>();

  private constructor(readonly ports: number[], readonly dir: string) {}

  get seeds(): string {
    return this.ports.map((p) => `127.0.0.1:${p}`).join(',');
  }

  static async start(opts: { masters?: number; replicas?: number } = {}): Promise<PrivateRedisCluster> {
    const masters = opts.masters ?? 3;
    const replicas = opts.replicas ?? 1;
    const ports: number[] = [];
    while (ports.length < masters * (1 + replicas)) {
      const p = await freePort();
      if (!ports.includes(p)) ports.push(p);
    }
    const c = new PrivateRedisCluster(ports, tempDir('redis-cluster'));
    try {
      for (const p of ports) await c.launch(p);
      const res = spawnSync(findBinary('redis-cli'), ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
      if (res.status !== 0) throw new Error(`redis-cli --cluster create failed (exit ${res.status}):\n${(res.stdout + res.stderr).split('\n').slice(-20).join('\n')}`);
      await c.waitHealthy(30_000);
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private logFile(port: number): string {
    return path.join(this.dir, `${port}.log`);
  }

  private async launch(port: number): Promise<void> {
    const pidFile = path.join(this.dir, `${port}.pid`);
    rmSync(pidFile, { force: true });
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--cluster-enabled', 'yes',
      '--cluster-config-file', path.join(this.dir, `n-${port}.conf`), '--cluster-node-timeout', '2000',
      '--save', '', '--appendonly', 'no', '--dir', this.dir, '--daemonize', 'yes', '--pidfile', pidFile, '--logfile', this.logFile(port),
    ];
    const res = spawnSync(findBinary('redis-server'), args, { encoding: 'utf8', timeout: 10_000 });
    if (res.status !== 0) throw new Error(`redis-server (cluster node ${port}) did not start (exit ${res.status}): ${res.stderr}\n${tail(this.logFile(port))}`);
    const pid = await waitFor(`the pidfile of cluster node ${port}`, async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || null : null), 10_000, 20);
    livePids.add(pid);
    this.pids.set(port, pid);
    await waitFor(`cluster node ${port} to answer PING`, () => redisPing(port, 500), 10_000, 20);
  }

  /** One command on one node, over a connection of its own (null when the node does not answer). */
  async command(port: number, ...args: string[]): Promise<unknown> {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null, enableOfflineQueue: false });
    c.on('error', () => {});
    try {
      await c.connect();
      return await c.call(args[0], ...args.slice(1));
    } catch {
      return null;
    } finally {
      c.disconnect();
    }
  }

  /** The ports of the nodes that are masters now (as the live nodes see it), holding slots. */
  async masterPorts(): Promise<number[]> {
    for (const port of this.pids.keys()) {
      const nodes = (await this.command(port, 'CLUSTER', 'NODES')) as string | null;
      if (!nodes) continue;
      return nodes
        .split('\n')
        .filter((l) => l.includes('master') && !l.includes('fail') && l.split(' ').length > 8)
        .map((l) => Number(/:(\d+)@/.exec(l)![1]));
    }
    return [];
  }

  /** The port of the master serving `slot` now (null when none is known to serve it). */
  async masterOf(slot: number): Promise<number | null> {
    for (const port of this.pids.keys()) {
      const nodes = (await this.command(port, 'CLUSTER', 'NODES')) as string | null;
      if (!nodes) continue;
      for (const line of nodes.split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
        for (const range of f.slice(8)) {
          const [lo, hi = lo] = range.split('-').map(Number);
          if (slot >= lo && slot <= hi) return Number(/:(\d+)@/.exec(f[1])![1]);
        }
      }
      return null;
    }
    return null;
  }

  /** Every live node says cluster_state:ok, and every replica's link to its master is up. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor('every cluster node to say cluster_state:ok with replicas in sync', async () => {
      for (const port of this.pids.keys()) {
        const info = (await this.command(port, 'CLUSTER', 'INFO')) as string | null;
        if (!info || !info.includes('cluster_state:ok')) return false;
        const repl = (await this.command(port, 'INFO', 'replication')) as string | null;
        if (!repl || (repl.includes('role:slave') && !repl.includes('master_link_status:up'))) return false;
      }
      return true;
    }, timeoutMs, 200);
  }

  /** SIGKILL one node and wait until its process is gone. */
  async kill(port: number): Promise<void> {
    const pid = this.pids.get(port);
    if (!pid) return;
    signal(pid, 'SIGKILL');
    await waitFor(`cluster node ${port} (pid ${pid}) to die`, async () => gone(pid), 10_000, 10);
    livePids.delete(pid);
    this.pids.delete(port);
  }

  logTail(port: number, lines = 30): string {
    return tail(this.logFile(port), lines);
  }

  async stop(): Promise<void> {
    for (const port of [...this.pids.keys()]) await this.kill(port).catch(() => {});
    removeDir(this.dir);
  }
}
