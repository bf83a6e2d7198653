// Real member processes for cluster tests: `node --import tsx src/main.ts` with its own ROLES, MEMBER_ID
// and short lease/TTL settings, started and killed by the test. Output is kept (the tail) for diagnostics;
// killAll() in an after hook makes sure no member outlives its test, paused or not.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { createKnex, type Knex } from '../../src/infra/db.js';
import { baseEnv, testRun } from './env.js';
import { apiClient, type Api } from './member.js';
import { waitFor } from './wait.js';

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
  output(): string;
  kill(signal: NodeJS.Signals): void;
}

export interface StartOptions {
  id: string;
  roles: 'web' | 'worker' | 'web,worker';
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

export class Processes {
  readonly procs: MemberProc[] = [];
  private redis: Redis | null = null;

  constructor(readonly prefix: string) {}

  private get r(): Redis {
    this.redis ??= new Redis(testRun.redisUrl);
    return this.redis;
  }

  /** Starts a member and waits until it serves (web) or beats (worker-only). */
  async start(opts: StartOptions): Promise<MemberProc> {
    const env = {
      ...process.env,
      ...baseEnv({ REDIS_PREFIX: this.prefix, ROLES: opts.roles, MEMBER_ID: opts.id, PORT: '0', LOG_LEVEL: 'info', ...FAST, ...opts.env }),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let port: number | null = null;
    const append = (chunk: Buffer) => {
      out += chunk.toString();
      if (out.length > MAX_OUTPUT) out = out.slice(-MAX_OUTPUT / 2);
      if (port === null) {
        const m = /"port":(\d+)[^\n]*"msg":"web role listening"/.exec(out);
        if (m) port = Number(m[1]);
      }
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    let done = false;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        done = true;
        resolve({ code, signal });
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
      alive: () => !done,
      output: () => out,
      kill: (signal) => {
        if (!done) child.kill(signal);
      },
    };
    this.procs.push(proc);
    const timeout = opts.readyTimeoutMs ?? 30_000;
    await waitFor(`member ${opts.id} to be ready`, async () => {
      if (done) throw new Error(`member ${opts.id} exited during start-up:\n${out.slice(-4000)}`);
      if (opts.roles.includes('web')) {
        if (port === null) return false;
        const res = await fetch(`http://127.0.0.1:${port}/healthz`);
        return res.ok;
      }
      return (await this.r.exists(`${this.prefix}member:${opts.id}`)) === 1;
    }, timeout, 50).catch((e) => {
      throw new Error(`${(e as Error).message}\n--- output of ${opts.id} ---\n${out.slice(-4000)}`);
    });
    if (port !== null) {
      proc.url = `http://127.0.0.1:${port}`;
      proc.api = apiClient(proc.url);
    }
    return proc;
  }

  /** Who holds the leader lease now (the value starts with the holder's member id). */
  async leader(): Promise<string | null> {
    const v = await this.r.get(`${this.prefix}leader`);
    return v ? v.slice(0, v.lastIndexOf('|')) : null;
  }

  /** Output of every member, for a failed test's report. */
  dump(): string {
    return this.procs.map((p) => `--- ${p.id} (pid ${p.pid}, ${p.alive() ? 'alive' : 'exited'}) ---\n${p.output().slice(-6000)}`).join('\n');
  }

  /** SIGKILLs every member still running (a SIGSTOPped one too) and waits for them to go. */
  async killAll(): Promise<void> {
    for (const p of this.procs) p.kill('SIGKILL');
    await Promise.all(this.procs.map((p) => p.exited));
    this.redis?.disconnect();
    this.redis = null;
  }
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
  await knex('task_flow').whereIn('flow_id', flowIds).update({ cron_enabled: false, update_time: now });
  const fis = knex('task_flow_ins').select('fi_id').whereIn('flow_id', flowIds);
  await knex('task_ins').whereIn('fi_id', fis).whereIn('exec_status', ['PENDING', 'RUNNING']).update({ exec_status: 'CANCELLED', error_msg: 'test over', end_time: now, version: knex.raw('version + 1'), update_time: now });
  await knex('task_node_ins').whereIn('fi_id', fis).where('status', 'RUNNING').update({ status: 'CANCELLED', end_time: now, version: knex.raw('version + 1'), update_time: now });
  await knex('task_flow_ins').whereIn('flow_id', flowIds).where('status', 'RUNNING').update({ status: 'CANCELLED', error_msg: 'test over', end_time: now, version: knex.raw('version + 1'), update_time: now });
}
