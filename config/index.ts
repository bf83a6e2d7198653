// Configuration comes from the environment only (Heroku style). Every variable is read and
// validated here, once, so a bad value stops start-up with one line that names the variable.

export type Role = 'web' | 'worker';
const ROLES: readonly Role[] = ['web', 'worker'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface Config {
  port: number;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  roles: Set<Role>;
  logLevel: (typeof LOG_LEVELS)[number];
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
  /** A member without the web role serves /metrics and /healthz on this port when it is set. */
  metricsPort: number | null;
  /** How long a start's Idempotency-Key answers with the instance it made. */
  idempotencyTtlMs: number;
}

export class ConfigError extends Error {}

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

function size(env: Env, name: string, def: string): string {
  const raw = (env[name] || def).trim().toLowerCase();
  if (!/^\d+(b|kb|mb|gb)?$/.test(raw)) throw new ConfigError(`${name} must be a size like 512kb or 1mb, got "${env[name]}"`);
  return raw;
}

/** MEMBER_ID names the member in leases (`memberId|claimToken`) and heartbeat keys: no `|`, no spaces. */
function memberIdOf(env: Env): string | null {
  const raw = env.MEMBER_ID;
  if (!raw) return null;
  if (!/^[A-Za-z0-9_.:@-]{1,100}$/.test(raw)) throw new ConfigError(`MEMBER_ID must be 1-100 characters of letters, digits and _.:@-, got "${raw}"`);
  return raw;
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
  const databaseUrl = url(env, 'DATABASE_URL', 'mysql://root@127.0.0.1:3306/task_schedule', ['mysql:', 'mysql2:']);
  if (!new URL(databaseUrl).pathname.replace(/^\//, '')) throw new ConfigError('DATABASE_URL must name a database, e.g. mysql://root@127.0.0.1:3306/task_schedule');
  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    databaseUrl,
    redisUrl: url(env, 'REDIS_URL', 'redis://127.0.0.1:6379/0', ['redis:', 'rediss:']),
    redisPrefix,
    roles: new Set(rolesRaw as Role[]),
    logLevel: logLevel as Config['logLevel'],
    workerConcurrency: int(env, 'WORKER_CONCURRENCY', 32, 1, 10_000),
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
    metricsPort: env.METRICS_PORT ? int(env, 'METRICS_PORT', 0, 0, 65535) : null,
    idempotencyTtlMs: duration(env, 'IDEMPOTENCY_TTL', '24h', 1_000, 30 * 86_400_000),
  };
}
