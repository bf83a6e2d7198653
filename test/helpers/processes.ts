// Real member processes for cluster tests: `node --import tsx src/main.ts` with its own ROLES, MEMBER_ID
// and short lease/TTL settings, started and killed by the test. Output is kept (the tail) for diagnostics;
// killAll() in an after hook makes sure no member outlives its test, paused or not.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { createKnex, type Knex } from '../../src/infra/db.js';
import { baseEnv, testRun } from './env.js';
import { apiClient, type Api } from './member.js';
import { waitFor } from './wait.js';
import { leaderKey, memberKey } from '../../src/redis/keys.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAX_OUTPUT = 2 * 1024 * 1024;

/** Short timings so failures are detected in seconds (see config/index.ts for what each one does). */
export const FAST = {
  LEASE_MS: '3000',
  LEADER_TTL_MS: '1500',
  REAP_INTERVAL_MS: '200',
  RECONCILE_INTERVAL_MS: '1000',
  HEARTBEAT_MS: '300',
  LOCK_TTL_MS: '2000',
  SHUTDOWN_GRACE_MS: '3000',
};

export interface MemberProc {
  id: string;
  roles: string;
  pid: number;
  /** Base URL when the member has the web role. */
  url: string | null;
  api: Api;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** How it ended ({code, signal}), or null while it runs. */
  exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** The test sent it SIGKILL, SIGTERM or SIGINT: its exit is expected, not a crash. */
  killedByTest: boolean;
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

export interface StartOptions {
  id: string;
  roles: 'web' | 'worker' | 'web,worker';
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface ProcessesOptions {
  /** Environment every member of this set gets (e.g. DATABASE_URL and REDIS_URL of private servers). */
  env?: Record<string, string>;
}

export class Processes {
  readonly procs: MemberProc[] = [];
  private redis: Redis | Cluster | null = null;
  private readonly env: Record<string, string>;

  constructor(readonly prefix: string, opts: ProcessesOptions = {}) {
    this.env = opts.env ?? {};
  }

  /** The Redis the members use (REDIS_URL of this set, else the run's). */
  get redisUrl(): string {
    return this.env.REDIS_URL ?? testRun.redisUrl;
  }

  /** The Redis Cluster the members use (REDIS_CLUSTER_NODES of this set, else the run's unless this set has a REDIS_URL). */
  get clusterNodes(): string | null {
    return this.env.REDIS_CLUSTER_NODES ?? (this.env.REDIS_URL ? null : testRun.redisClusterNodes);
  }

  private get r(): Redis | Cluster {
    if (!this.redis) {
      const seeds = this.clusterNodes;
      // A few retries, not forever: a test that froze or killed this Redis must not hang on it.
      this.redis = seeds
        ? new Cluster(seeds.split(',').map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })), { redisOptions: { connectTimeout: 2000 }, maxRedirections: 4 })
        : new Redis(this.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 2000 });
      this.redis.on('error', () => {});
    }
    return this.redis;
  }

  /** Starts a member and waits until it serves (web) or beats (worker-only). */
  async start(opts: StartOptions): Promise<MemberProc> {
    const proc = this.spawn(opts);
    const timeout = opts.readyTimeoutMs ?? 30_000;
    let port: number | null = null;
    await waitFor(`member ${opts.id} to be ready`, async () => {
      if (!proc.alive()) throw new Error(`member ${opts.id} exited during start-up:\n${proc.output().slice(-4000)}`);
      if (opts.roles.includes('web')) {
        port ??= listeningPort(proc.output());
        if (port === null) return false;
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.ok;
      }
      return (await this.r.exists(memberKey(this.prefix, opts.id))) === 1;
    }, timeout, 50).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- output of ${opts.id} ---\n${proc.output().slice(-4000)}`);
    });
    if (port !== null) {
      proc.url = `http://127.0.0.1:${port}`;
      proc.api = apiClient(proc.url);
    }
    return proc;
  }

  /** Starts a member process and returns at once (start() waits for it to be ready; a start-up test does not). */
  spawn(opts: Omit<StartOptions, 'readyTimeoutMs'>): MemberProc {
    const env = {
      ...process.env,
      ...baseEnv({ REDIS_PREFIX: this.prefix, ROLES: opts.roles, MEMBER_ID: opts.id, PORT: '0', LOG_LEVEL: 'info', ...FAST, ...this.env, ...opts.env }),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const append = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.length > MAX_OUTPUT) out = out.slice(-MAX_OUTPUT / 2);
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    let status: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        status = { code, signal };
        resolve(status);
      }),
    );
    const proc: MemberProc = {
      id: opts.id,
      roles: opts.roles,
      pid: child.pid!,
      url: null,
      api: apiClient('http://127.0.0.1:1'),
      child,
      exited,
      alive: () => status === null,
      exitStatus: () => status,
      killedByTest: false,
      output: () => out,
      kill: (signal) => {
        if (status !== null) return;
        if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') proc.killedByTest = true;
        child.kill(signal);
      },
    };
    this.procs.push(proc);
    return proc;
  }

  /** Members that exited without the test killing them (a crash, or an exit the test did not ask for). */
  unexpectedExits(): MemberProc[] {
    return this.procs.filter((p) => !p.alive() && !p.killedByTest);
  }

  /** Who holds the leader lease now (the value starts with the holder's member id). */
  async leader(): Promise<string | null> {
    const v = await this.r.get(leaderKey(this.prefix));
    return v ? v.slice(0, v.lastIndexOf('|')) : null;
  }

  /** Output of every member, for a failed test's report. */
  dump(): string {
    return this.procs.map((p) => `--- ${p.id} (pid ${p.pid}, ${describeExit(p)}) ---\n${p.output().slice(-6000)}`).join('\n');
  }

  /** SIGKILLs every member still running (a SIGSTOPped one too) and waits for them to go. */
  async killAll(): Promise<void> {
    for (const p of this.procs) {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    }
    await Promise.all(this.procs.map((p) => p.exited));
    this.redis?.disconnect();
    this.redis = null;
  }
}

/** The port a web member logged it listens on, or null before that line. */
function listeningPort(out: string): number | null {
  const m = /"port":(\d+)[^\n]*"msg":"web role listening"/.exec(out);
  return m ? Number(m[1]) : null;
}

/** "alive", or how the member ended and whether the test asked for it. */
export function describeExit(p: MemberProc): string {
  const st = p.exitStatus();
  if (!st) return 'alive';
  return `exited ${st.signal ? `on ${st.signal}` : `with code ${st.code}`}${p.killedByTest ? ', killed by the test' : ''}`;
}

/** A small pool of the test's own on this run's database, for looking at rows directly. */
export function testDb(): Knex {
  return createKnex(testRun.databaseUrl, 4);
}

/**
 * Leaves nothing of a test's flows for later tests to pick up (the database is shared by every test file
 * of the run, and every member's reconciler and cron look at all of it): cron off, open instances ended.
 */
export async function retireFlows(knex: Knex, flowIds: number[]): Promise<void> {
  if (!flowIds.length) return;
  const now = new Date();
  // Members may still be running these flows: MariaDB may pick one of these bulk updates as a deadlock's
  // victim (seen in CI), and the answer to that is to run it again.
  const retried = async (update: () => Promise<unknown>) => {
    for (let tries = 1; ; tries++) {
      try {
        return await update();
      } catch (e) {
        if ((e as { errno?: number }).errno !== 1213 || tries >= 5) throw e;
      }
    }
  };
  await retried(() => knex('task_flow').whereIn('flow_id', flowIds).update({ cron_enabled: false, update_time: now }));
  const fis = knex('task_flow_ins').select('fi_id').whereIn('flow_id', flowIds);
  await retried(() => knex('task_ins').whereIn('fi_id', fis).whereIn('exec_status', ['PENDING', 'RUNNING']).update({ exec_status: 'CANCELLED', error_msg: 'test over', end_time: now, version: knex.raw('version + 1'), update_time: now }));
  await retried(() => knex('task_node_ins').whereIn('fi_id', fis).where('status', 'RUNNING').update({ status: 'CANCELLED', end_time: now, version: knex.raw('version + 1'), update_time: now }));
  await retried(() => knex('task_flow_ins').whereIn('flow_id', flowIds).where('status', 'RUNNING').update({ status: 'CANCELLED', error_msg: 'test over', end_time: now, version: knex.raw('version + 1'), update_time: now }));
}
