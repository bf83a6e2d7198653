// Who may call what, by path: the one place the auth middleware (middleware/access.ts), the start rate
// limit and the OpenAPI document's `security` read it from. Paths are compared as the router matches
// them (case-insensitive, a trailing slash ignored), so a differently spelled path cannot slip past.
export type Access =
  /** No token ever: liveness, readiness, the OpenAPI document and its rendering (/docs), the dashboard's pages. */
  | 'public'
  /** ADMIN_TOKEN, checked by the admin routes themselves (adminAuth.ts). */
  | 'admin'
  /** METRICS_TOKEN when set, else an API token when API_TOKENS is set, else open. */
  | 'metrics'
  /** An API token when API_TOKENS is set. */
  | 'api';

/** The path as the router sees it: lower case, one slash between segments, no trailing slash. */
export function normalPath(path: string): string {
  return path.toLowerCase().replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
}

export function accessOf(path: string): Access {
  const p = normalPath(path);
  if (p === '/healthz' || p === '/readyz' || p === '/openapi.json') return 'public';
  if (p === '/docs' || p.startsWith('/docs/')) return 'public';
  // The dashboard's static pages (they ask for a token themselves) and the `/` redirect to them.
  if (p === '/' || p === '/ui' || p.startsWith('/ui/')) return 'public';
  if (p === '/admin' || p.startsWith('/admin/')) return 'admin';
  if (p === '/metrics') return 'metrics';
  return 'api';
}

/** What a read-only token (`name:secret:read`) may do: read, and query the monitor. */
export function isRead(method: string, path: string): boolean {
  const m = method.toUpperCase();
  return m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || (m === 'POST' && normalPath(path).startsWith('/monitor/'));
}

/** A start (or a retry) of work: what START_RATE_LIMIT counts. */
export function isStart(method: string, path: string): boolean {
  return method.toUpperCase() === 'POST' && /^\/exec\/(flow|task)\/[^/]+$/.test(normalPath(path));
}

/** The external workers' protocol: all a worker token (`name:secret:worker`) may call. */
export function isWorkerProtocol(path: string): boolean {
  const p = normalPath(path);
  return p === '/worker' || p.startsWith('/worker/');
}
