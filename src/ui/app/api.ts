// The dashboard's only way to the server: fetch() against the REST API, unwrapping the envelope
// {code, message, data}. Tokens live in sessionStorage (gone with the tab): the API token is asked for
// on the first 401 (when the server has API_TOKENS) and sent on every request; the admin token is
// asked for by the cluster page and sent to /admin/* only.
import { askToken } from './tokens.js';

const API_KEY = 'ts.apiToken';
const USER_KEY = 'ts.user';
/** Who acts when the server has no API_TOKENS (with them, the token's name is recorded instead). */
export const DEFAULT_USER = 'dashboard';

/** The name sent as X-User: the one typed in the top bar (kept in this browser), else "dashboard". */
export const actingUser = {
  get: (): string => {
    const v = (localStorage.getItem(USER_KEY) ?? '').trim();
    // A header carries printable ASCII only; anything else would make fetch() throw.
    return /^[\x20-\x7e]{1,64}$/.test(v) ? v : DEFAULT_USER;
  },
  set: (name: string) => (name.trim() ? localStorage.setItem(USER_KEY, name.trim()) : localStorage.removeItem(USER_KEY)),
};
const ADMIN_KEY = 'ts.adminToken';

export const tokens = {
  api: () => sessionStorage.getItem(API_KEY),
  admin: () => sessionStorage.getItem(ADMIN_KEY),
  setApi: (t: string | null) => (t ? sessionStorage.setItem(API_KEY, t) : sessionStorage.removeItem(API_KEY)),
  setAdmin: (t: string | null) => (t ? sessionStorage.setItem(ADMIN_KEY, t) : sessionStorage.removeItem(ADMIN_KEY)),
};

/** A refused request: the HTTP status, the API's message and, when the message names one, the field. */
export class ApiError extends Error {
  /** e.g. `flowNodes[2].taskIds` from "flowNodes[2].taskIds: task 7 does not exist". */
  readonly field: string | null;
  readonly detail: string;
  /** Seconds, from Retry-After (a 503 while MySQL or Redis is away, a 429), when the answer has it. */
  readonly retryAfter: number | null;
  constructor(readonly status: number, message: string, retryAfter: string | null = null) {
    super(message);
    this.retryAfter = retryAfter !== null && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null;
    const m = /^([A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*): ([\s\S]*)$/.exec(message);
    this.field = m ? m[1]! : null;
    this.detail = m ? m[2]! : message;
  }
}

export interface Answer<T> {
  status: number;
  message: string;
  data: T;
  /** X-Total-Count, when the answer has one. */
  total: number | null;
}

export interface CallOptions {
  body?: unknown;
  /** An /admin/* call: sends the admin token instead of the API token. */
  admin?: boolean;
  signal?: AbortSignal;
}

/** The Authorization header for a call (API or admin token), if there is a token. */
export function authHeader(admin = false): Record<string, string> {
  const t = admin ? tokens.admin() : tokens.api();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

async function once<T>(method: string, path: string, o: CallOptions): Promise<{ res: Response; json: any }> {
  const headers: Record<string, string> = { Accept: 'application/json', ...authHeader(o.admin) };
  // Changes record who made them (create/update user, "cancelled by …").
  if (method !== 'GET') headers['X-User'] = actingUser.get();
  const init: RequestInit = { method, headers, signal: o.signal };
  if (o.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(o.body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `the server did not answer (${(e as Error).message})`);
  }
  let json: any = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  return { res, json: json as T };
}

/** Calls the API; resolves with the envelope's data, or throws an ApiError with the API's message. */
export async function call<T = any>(method: string, path: string, o: CallOptions = {}): Promise<Answer<T>> {
  for (let tries = 0; ; tries++) {
    const sent = tokens.api();
    const { res, json } = await once<any>(method, path, o);
    const message: string = json && typeof json.message === 'string' ? json.message : res.statusText || `HTTP ${res.status}`;
    if (res.ok) {
      const total = res.headers.get('X-Total-Count');
      return { status: res.status, message, data: json ? (json.data as T) : (null as T), total: total === null ? null : Number(total) };
    }
    if (res.status === 401 && !o.admin && tries < 3) {
      // Another request got a token from the user while this one was on its way: try with that.
      if (tokens.api() !== sent) continue;
      // The server wants an API token (API_TOKENS): ask once, keep it for the tab, try again.
      const token = await askToken(tokens.api() ? `The token was refused: ${message}` : 'This server needs an API token.');
      if (token) {
        tokens.setApi(token);
        continue;
      }
    }
    if (res.status === 403) throw new ApiError(403, `Not allowed with this token: ${message}`);
    throw new ApiError(res.status, message, res.headers.get('Retry-After'));
  }
}

export const get = <T = any>(path: string, o?: CallOptions) => call<T>('GET', path, o);
export const post = <T = any>(path: string, body?: unknown, o: CallOptions = {}) => call<T>('POST', path, { ...o, body });
export const del = <T = any>(path: string, o?: CallOptions) => call<T>('DELETE', path, o);
export const patch = <T = any>(path: string, body: unknown, o: CallOptions = {}) => call<T>('PATCH', path, { ...o, body });

/** Every page of a paged list (GET /task, GET /flow), up to `max` items. */
export async function getAll<T>(path: string, max = 1000): Promise<T[]> {
  const out: T[] = [];
  for (let page = 1; out.length < max; page++) {
    const { data } = await get<{ total: number; list: T[] }>(`${path}${path.includes('?') ? '&' : '?'}page=${page}&pageSize=200`);
    out.push(...data.list);
    if (!data.list.length || out.length >= data.total) break;
  }
  return out;
}
