// The program's own errors. The engine and the definitions throw these (they know nothing of HTTP);
// the API's error middleware maps each kind to a status (src/api/middleware/errors.ts):
//   InvalidInputError → 400 · NotFoundError → 404 · ConflictError, StaleVersionError → 409 ·
//   UnavailableError (MySQL or Redis not answering) → 503.
// Errors of the drivers that mean "a dependency is down" are recognised by dependencyDown().

export class DomainError extends Error {
  override name = 'DomainError';
}

/** Bad input; the message starts with the field it is about, e.g. `flowNodes[2].taskIds: …`. */
export class InvalidInputError extends DomainError {
  override name = 'InvalidInputError';
}

export class NotFoundError extends DomainError {
  override name = 'NotFoundError';
}

/** The request does not fit the state of what it names (e.g. cancelling a finished instance), or it is busy. */
export class ConflictError extends DomainError {
  override name = 'ConflictError';
}

/** A version-fenced write found its row moved on (optimistic lock): someone else changed it first. */
export class StaleVersionError extends DomainError {
  override name = 'StaleVersionError';
}

/** MySQL or Redis did not answer (in time): try again later. */
export class UnavailableError extends DomainError {
  override name = 'UnavailableError';
}

/**
 * A member cannot start (a dependency not reachable, a Redis prefix of another database…): main prints
 * the message as one line and exits with `exitCode`.
 */
export class StartupError extends Error {
  override name = 'StartupError';
  constructor(message: string, readonly exitCode = 3) {
    super(message);
  }
}

/** A URL as it may be shown: without its password. */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, '//$1:***@');
  }
}

/** `a.b[2].c` from a validation issue's path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

const DOWN_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_QUERY_INTERRUPTED',
  'ER_LOCK_WAIT_TIMEOUT', 'ER_LOCK_DEADLOCK', 'ER_OPTION_PREVENTS_STATEMENT', 'ER_CANT_CREATE_THREAD', 'CR_SERVER_GONE_ERROR', 'CR_SERVER_LOST',
]);

/**
 * Which dependency an error says is down or refusing work ('mysql' | 'redis'), or null when it is not
 * such an error. Driver errors carry no common type, so this looks at their names, codes and messages.
 */
export function dependencyDown(e: unknown): 'mysql' | 'redis' | null {
  if (e instanceof UnavailableError) return /redis/i.test(e.message) ? 'redis' : 'mysql';
  const err = e as { name?: string; code?: string; message?: string; fatal?: boolean; sqlState?: string } | null;
  if (!err || typeof err !== 'object') return null;
  const name = err.name ?? '';
  const msg = err.message ?? '';
  if (name === 'KnexTimeoutError' || /Knex: Timeout acquiring a connection/.test(msg)) return 'mysql';
  if (name === 'MaxRetriesPerRequestError' || /Connection is closed|Command timed out|Stream isn't writeable|enableOfflineQueue/i.test(msg)) return 'redis';
  // A Redis Cluster between topologies (a master died and its replica is not promoted yet, slots moving):
  // ioredis follows and retries for a few seconds, then gives up with one of these.
  if (name === 'ClusterAllFailedError' || /^(Too many Cluster redirections|None of startup nodes is available|Cluster isn't ready|Cluster is (disconnected|disconnecting|ended)|Failed to refresh slots cache|Node is disconnected)/.test(msg)) return 'redis';
  if (name === 'ReplyError' && /^(OOM|LOADING|BUSY|MISCONF|READONLY|NOSCRIPT|CLUSTERDOWN|MASTERDOWN|TRYAGAIN|MOVED|ASK)\b/.test(msg)) return 'redis';
  if (err.code && DOWN_CODES.has(err.code)) return err.sqlState || err.fatal !== undefined || /^ER_|^PROTOCOL|^CR_/.test(err.code) ? 'mysql' : 'redis';
  return null;
}
