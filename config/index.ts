// Configuration comes from the environment only (Heroku style). Every variable is read and
// validated here, once, so a bad value stops start-up with one line that names the variable.
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sizeInBytes } from '../src/infra/size.js';

export type Role = 'web' | 'worker';
const ROLES: readonly Role[] = ['web', 'worker'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface Config {
  port: number;
  databaseUrl: string;
  redisUrl: string;
  /** REDIS_CLUSTER_NODES: seed nodes of a Redis Cluster; when set, REDIS_URL is not used. */
  redisCluster: RedisClusterConfig | null;
  redisPrefix: string;
  /** REDIS_QUEUE_SHARDS: the work queue's shards (null: 1 on one Redis, 16 on a cluster; queue/workQueue.ts). */
  redisQueueShards: number | null;
  roles: Set<Role>;
  logLevel: (typeof LOG_LEVELS)[number];
  /** LOG_FORMAT: JSON lines (the default, for machines) or pretty lines for a human at a terminal. */
  logFormat: 'json' | 'pretty';
  /** LOG_REQUESTS: one info line per HTTP request (method, path, status, ms, token name). */
  logRequests: boolean;
  workerConcurrency: number;
  shellTasksEnabled: boolean;
  adminToken: string | null;
  /** How long a claimed task instance stays leased to its worker before the reaper may take it back. */
  leaseMs: number;
  /** TTL of the per-flow-instance coordinator lock. */
  lockTtlMs: number;
  /** TTL of the leader lease; a new leader takes over within twice this. */
  leaderTtlMs: number;
  heartbeatMs: number;
  /** How often the leader reaps expired leases and reconciles Redis with MySQL. */
  reapIntervalMs: number;
  reconcileIntervalMs: number;
  shutdownGraceMs: number;
  bodyLimit: string;
  dbPoolMax: number;
  memberId: string | null;
  /**
   * Attempts a task may lose with its worker (crash, kill, stall) beyond its own maxRetries before the
   * reaper fails it "worker lost": a dead worker is not the task's fault, but a task that keeps killing
   * its workers must stop somewhere.
   */
  workerLostRetries: number;
  /** WORKER_MAX_POLLS: external workers' long polls a member holds waiting at once (503 beyond). */
  workerMaxPolls: number;
  /** A member without the web role serves /metrics and /healthz on this port when it is set. */
  metricsPort: number | null;
  /** How long a start's Idempotency-Key answers with the instance it made. */
  idempotencyTtlMs: number;
  /** API_TOKENS: null = the API is open (today's behaviour, warned about at start-up). */
  apiTokens: ApiToken[] | null;
  /** METRICS_TOKEN: when set, /metrics needs it (and only it). */
  metricsToken: string | null;
  /** HTTP_TASK_ALLOW: host names, addresses and CIDRs HTTP tasks may reach although they are private. */
  httpTaskAllow: string[];
  /** HTTP_TASK_SECRET_HEADERS, lower-cased: header names hidden like Authorization, beyond the built-in ones. */
  httpTaskSecretHeaders: string[];
  /** HTTP_TASK_MAX_RESPONSE_BYTES: an HTTP task stops reading its response after this many bytes. */
  httpTaskMaxResponseBytes: number;
  /**
   * TASK_OUTPUT_MAX_BYTES: the largest output (UTF-8) a task instance may record; a run whose output is
   * larger fails (its output is not kept). Lowered at start-up to what one statement may carry.
   */
  taskOutputMaxBytes: number;
  /** TASK_ENV_ALLOW: names of this member's environment that tasks may use (`${env:NAME}`, SHELL env). */
  taskEnvAllow: string[];
  /** The values of the TASK_ENV_ALLOW names that are set, read once from the environment. */
  taskEnv: Record<string, string>;
  /** START_RATE_LIMIT: starts per second per token (per client IP when the API is open); 0 = no limit. */
  startRateLimit: number;
  /** START_RATE_BURST: starts a caller may make at once before the rate applies. */
  startRateBurst: number;
  /** SHELL_STATE_DIR: where running SHELL process groups are recorded, so a restarted member can end orphans. */
  shellStateDir: string;
}

export interface ApiToken {
  /** Recorded as create_user/update_user of what the token's holder writes. */
  name: string;
  secret: string;
  /** `name:secret:read`: GET/HEAD and POST /monitor/* only. */
  readOnly: boolean;
  /** `name:secret:worker`: the external workers' protocol (/worker/*) only. */
  workerOnly?: boolean;
}

export interface RedisClusterConfig {
  /** Seed nodes: the client learns the rest of the cluster from them. */
  nodes: { host: string; port: number }[];
  /** `rediss://` on any entry: TLS to every node. */
  tls: boolean;
  username?: string;
  password?: string;
}

export class ConfigError extends Error {}

/**
 * REDIS_CLUSTER_NODES: `host:port,host:port,…`; any entry may be a URL instead,
 * `redis[s]://[user:password@]host:port`, whose scheme (TLS) and credentials apply to every node (a
 * cluster has one password). Entries that disagree on them, or a db number (a cluster has db 0 only),
 * are refused.
 */
function redisClusterNodes(env: Env): RedisClusterConfig | null {
  const raw = env.REDIS_CLUSTER_NODES?.trim();
  if (!raw) return null;
  const out: RedisClusterConfig = { nodes: [], tls: false };
  let scheme: string | null = null;
  let creds: string | null = null;
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const isUrl = /^[a-z]+:\/\//i.test(entry);
    let u: URL;
    try {
      u = new URL(isUrl ? entry : `redis://${entry}`);
    } catch {
      throw new ConfigError(`REDIS_CLUSTER_NODES: "${entry}" is not host:port or a redis:// URL`);
    }
    if (!['redis:', 'rediss:'].includes(u.protocol)) throw new ConfigError(`REDIS_CLUSTER_NODES: "${entry}" must use redis: or rediss:, got "${u.protocol}"`);
    if (!u.hostname || !u.port) throw new ConfigError(`REDIS_CLUSTER_NODES: "${entry}" must name a host and a port, e.g. 10.0.0.1:6379`);
    if (u.pathname && !['', '/', '/0'].includes(u.pathname)) throw new ConfigError(`REDIS_CLUSTER_NODES: "${entry}" names a db; a Redis Cluster has db 0 only`);
    if (isUrl) {
      const c = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
      if ((scheme !== null && scheme !== u.protocol) || (creds !== null && c !== ':' && creds !== ':' && creds !== c)) {
        throw new ConfigError('REDIS_CLUSTER_NODES: the URL entries disagree on TLS or credentials; a cluster has one of each');
      }
      scheme = u.protocol;
      if (c !== ':') creds = c;
      if (u.protocol === 'rediss:') out.tls = true;
      if (u.username) out.username = decodeURIComponent(u.username);
      if (u.password) out.password = decodeURIComponent(u.password);
    }
    out.nodes.push({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) });
  }
  if (!out.nodes.length) throw new ConfigError('REDIS_CLUSTER_NODES must name at least one host:port');
  if (out.nodes.length > 100) throw new ConfigError('REDIS_CLUSTER_NODES may name at most 100 seed nodes');
  return out;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const n = Number(raw.trim());
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function url(env: Env, name: string, def: string, protocols: string[]): string {
  const raw = env[name] || def;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: "${raw}"`);
  }
  if (!protocols.includes(u.protocol)) {
    throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${u.protocol}"`);
  }
  return raw;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration like `90s`, `30m`, `24h`, `7d`, `500ms`, or a number of milliseconds. */
function duration(env: Env, name: string, def: string, minMs: number, maxMs: number): number {
  const raw = (env[name] || def).trim().toLowerCase();
  const m = /^(\d{1,12})(ms|s|m|h|d)?$/.exec(raw);
  if (!m) throw new ConfigError(`${name} must be a duration like 30m, 24h or 7d (or milliseconds), got "${env[name]}"`);
  const ms = Number(m[1]) * UNITS[m[2] ?? 'ms'];
  if (ms < minMs || ms > maxMs) throw new ConfigError(`${name} must be between ${minMs / 1000} s and ${maxMs / 86_400_000} days, got "${env[name]}"`);
  return ms;
}


/** A number of bytes: `1048576`, `512kb`, `1mb` (units of 1024), within min–max. */
function bytes(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  let n: number;
  try {
    n = sizeInBytes(raw);
  } catch {
    throw new ConfigError(`${name} must be a number of bytes or a size like 512kb or 1mb, got "${raw}"`);
  }
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max} bytes, got "${raw}"`);
  return n;
}

function size(env: Env, name: string, def: string): string {
  const raw = (env[name] || def).trim().toLowerCase();
  try {
    sizeInBytes(raw);
  } catch {
    throw new ConfigError(`${name} must be a size like 512kb or 1mb, got "${env[name]}"`);
  }
  return raw;
}

/** MEMBER_ID names the member in leases (`memberId|claimToken`) and heartbeat keys: no `|`, no spaces. */
function memberIdOf(env: Env): string | null {
  const raw = env.MEMBER_ID;
  if (!raw) return null;
  if (!/^[A-Za-z0-9_.:@-]{1,100}$/.test(raw)) throw new ConfigError(`MEMBER_ID must be 1-100 characters of letters, digits and _.:@-, got "${raw}"`);
  return raw;
}

const MIN_SECRET = 16;
const list = (raw: string | undefined) => (raw ?? '').split(',').map((p) => p.trim()).filter(Boolean);

/** API_TOKENS: comma-separated `name:secret`, `name:secret:read`, `name:secret:worker`, or a bare secret (named `default`). */
function apiTokens(env: Env): ApiToken[] | null {
  const entries = list(env.API_TOKENS);
  if (entries.length === 0) return null;
  const tokens: ApiToken[] = [];
  for (const [i, entry] of entries.entries()) {
    const parts = entry.split(':');
    const where = `API_TOKENS entry ${i + 1}`;
    if (parts.length > 3 || (parts.length === 3 && parts[2] !== 'read' && parts[2] !== 'worker')) {
      throw new ConfigError(`API_TOKENS entries must be name:secret, name:secret:read, name:secret:worker or a bare secret; ${where} is not`);
    }
    const [name, secret] = parts.length === 1 ? ['default', parts[0]!] : [parts[0]!, parts[1]!];
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw new ConfigError(`API_TOKENS names must be 1-64 letters, digits or _.@-; ${where} is "${name}"`);
    if (secret.length < MIN_SECRET || /\s/.test(secret)) throw new ConfigError(`API_TOKENS secrets must be at least ${MIN_SECRET} characters without spaces; ${where} (${name}) is not`);
    if (tokens.some((t) => t.name === name)) throw new ConfigError(`API_TOKENS names must be unique; "${name}" is given twice`);
    if (tokens.some((t) => t.secret === secret)) throw new ConfigError(`API_TOKENS secrets must be unique; ${where} (${name}) repeats one`);
    tokens.push({ name, secret, readOnly: parts[2] === 'read', ...(parts[2] === 'worker' ? { workerOnly: true } : {}) });
  }
  return tokens;
}

/** HTTP_TASK_ALLOW: host names, IP addresses and CIDRs (10.0.0.0/8, fd00::/8). */
function allowList(env: Env): string[] {
  const out: string[] = [];
  for (const raw of list(env.HTTP_TASK_ALLOW)) {
    const entry = raw.toLowerCase().replace(/^\[(.*)\]$/, '$1');
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      const family = net.isIP(cidr[1]!);
      if (!family || Number(cidr[2]) > (family === 4 ? 32 : 128)) throw new ConfigError(`HTTP_TASK_ALLOW has a bad CIDR "${raw}"`);
    } else if (!net.isIP(entry) && !/^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$/.test(entry)) {
      throw new ConfigError(`HTTP_TASK_ALLOW entries must be host names, IP addresses or CIDRs, got "${raw}"`);
    }
    out.push(entry);
  }
  return out;
}

function names(env: Env, name: string, pattern: RegExp, what: string): string[] {
  const out = list(env[name]);
  for (const n of out) if (!pattern.test(n)) throw new ConfigError(`${name} must be a comma list of ${what}, got "${n}"`);
  return out;
}

function logFormat(env: Env): Config['logFormat'] {
  const raw = (env.LOG_FORMAT || 'json').trim().toLowerCase();
  if (raw !== 'json' && raw !== 'pretty') throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${env.LOG_FORMAT}"`);
  return raw;
}

function metricsToken(env: Env): string | null {
  const t = env.METRICS_TOKEN;
  if (t === undefined || t === '') return null;
  if (t.length < MIN_SECRET || /\s/.test(t)) throw new ConfigError(`METRICS_TOKEN must be at least ${MIN_SECRET} characters without spaces`);
  return t;
}

export function loadConfig(env: Env = process.env): Config {
  const rolesRaw = (env.ROLES || 'web,worker').split(',').map((r) => r.trim()).filter(Boolean);
  for (const r of rolesRaw) {
    if (!ROLES.includes(r as Role)) throw new ConfigError(`ROLES must be a comma list of ${ROLES.join(', ')}, got "${r}"`);
  }
  if (rolesRaw.length === 0) throw new ConfigError('ROLES must name at least one role');
  const logLevel = (env.LOG_LEVEL || 'info').trim().toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }
  const redisPrefix = env.REDIS_PREFIX ?? 'ts:';
  if (!/^[A-Za-z0-9_:.{}-]{1,64}$/.test(redisPrefix)) {
    throw new ConfigError(`REDIS_PREFIX must be 1-64 characters of letters, digits and _:.{}-, got "${redisPrefix}"`);
  }
  const leaseMs = int(env, 'LEASE_MS', 30_000, 1_000);
  const taskEnvAllow = names(env, 'TASK_ENV_ALLOW', /^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'environment variable names');
  const startRateLimit = int(env, 'START_RATE_LIMIT', 0, 0, 1_000_000);
  const databaseUrl = url(env, 'DATABASE_URL', 'mysql://root@127.0.0.1:3306/task_schedule', ['mysql:', 'mysql2:']);
  if (!new URL(databaseUrl).pathname.replace(/^\//, '')) throw new ConfigError('DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/task_schedule');
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    databaseUrl,
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379/0', ['redis:', 'rediss:']),
    redisCluster: redisClusterNodes(env),
    redisPrefix,
    redisQueueShards: env.REDIS_QUEUE_SHARDS ? int(env, 'REDIS_QUEUE_SHARDS', 1, 1, 256) : null,
    roles: new Set(rolesRaw as Role[]),
    logLevel: logLevel as Config['logLevel'],
    logFormat: logFormat(env),
    logRequests: bool(env, 'LOG_REQUESTS', false),
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 50, 1, 10_000),
    shellTasksEnabled: bool(env, 'SHELL_TASKS_ENABLED', false),
    adminToken: env.ADMIN_TOKEN ? env.ADMIN_TOKEN : null,
    leaseMs,
    lockTtlMs: int(env, 'LOCK_TTL_MS', 5_000, 100),
    leaderTtlMs: int(env, 'LEADER_TTL_MS', 5_000, 500),
    heartbeatMs: int(env, 'HEARTBEAT_MS', 2_000, 100),
    reapIntervalMs: int(env, 'REAP_INTERVAL_MS', 1_000, 50),
    reconcileIntervalMs: int(env, 'RECONCILE_INTERVAL_MS', 15_000, 100),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 25_000, 0),
    bodyLimit: size(env, 'BODY_LIMIT', '1mb'),
    dbPoolMax: int(env, 'DB_POOL_MAX', 10, 1, 1000),
    memberId: memberIdOf(env),
    workerLostRetries: int(env, 'WORKER_LOST_RETRIES', 2, 0, 100),
    workerMaxPolls: int(env, 'WORKER_MAX_POLLS', 1_000, 1, 100_000),
    metricsPort: env.METRICS_PORT ? int(env, 'METRICS_PORT', 0, 0, 65535) : null,
    idempotencyTtlMs: duration(env, 'IDEMPOTENCY_TTL', '24h', 1_000, 30 * 86_400_000),
    apiTokens: apiTokens(env),
    metricsToken: metricsToken(env),
    httpTaskAllow: allowList(env),
    httpTaskSecretHeaders: names(env, 'HTTP_TASK_SECRET_HEADERS', /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, 'header names').map((h) => h.toLowerCase()),
    httpTaskMaxResponseBytes: int(env, 'HTTP_TASK_MAX_RESPONSE_BYTES', 1024 * 1024, 1, 1024 ** 3),
    // At most the output column (MEDIUMTEXT).
    taskOutputMaxBytes: bytes(env, 'TASK_OUTPUT_MAX_BYTES', 1024 * 1024, 1024, 16_777_215),
    taskEnvAllow,
    taskEnv: Object.fromEntries(taskEnvAllow.filter((n) => env[n] !== undefined).map((n) => [n, env[n]!])),
    startRateLimit,
    startRateBurst: int(env, 'START_RATE_BURST', Math.max(1, Math.ceil(startRateLimit)), 1, 1_000_000),
    shellStateDir: env.SHELL_STATE_DIR ? path.resolve(env.SHELL_STATE_DIR) : path.join(os.tmpdir(), `task-schedule-shell-${process.getuid?.() ?? 'user'}`),
  };
}
