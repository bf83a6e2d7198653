// HTTP: one request from the task's config (method, default GET; url; headers; body, JSON-encoded when
// it is not a string), with the task instance's idempotency key in a header (runs are at-least-once). A 2xx answer is success; anything else is a TaskFailure `HTTP <status>`. Either
// way the output is JSON text {status, body} with the last 4 KiB of the response body (and
// `truncated: true` when the answer was longer than HTTP_TASK_MAX_RESPONSE_BYTES, where reading stopped).
// A task reaches only what the operator allows (addressPolicy.ts): each hop's host is resolved once,
// every address is checked, and the connection goes to a checked address (a custom `lookup` hands the
// socket those addresses, so DNS cannot answer differently between check and connect). Redirects are
// followed here, at most MAX_REDIRECTS, each hop checked the same way. The worker's AbortSignal (the
// task's timeoutMs, a cancel) stops resolving, connecting and reading.
// node:http rather than fetch: fetch cannot be told which address to connect to.
import http from 'node:http';
import https from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { normalHost, parseIp } from './addressPolicy.js';
import { resolveEnvRefs, resolveEnvRefsDeep } from './envRefs.js';
import type { ExecutorSettings } from './settings.js';
import { DEFAULT_IDEMPOTENCY_HEADER } from '../definitions/taskConfig.js';
import { idempotencyKey, Tail, TaskFailure, throwIfAborted, type ExecContext, type Executor } from './types.js';

export const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

interface Request {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

interface Answer {
  status: number;
  location: string | null;
  body: string;
  truncated: boolean;
}

/** Rejects with the signal's reason as soon as it aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The addresses the request may connect to: the host's (or the literal address), each checked against
 * the policy unless the operator allowed the host by name. Refused: a TaskFailure naming the address.
 */
async function checkedAddresses(host: string, settings: ExecutorSettings, signal: AbortSignal, hop: string): Promise<LookupAddress[]> {
  const { policy } = settings.http;
  const literal = parseIp(host);
  const all: LookupAddress[] = literal
    ? [{ address: host, family: literal.family }]
    : await abortable(
        new Promise<LookupAddress[]>((resolve, reject) =>
          dnsLookup(host, { all: true, verbatim: true }, (err, addrs) => (err ? reject(new TaskFailure(`${hop}could not resolve ${host}: ${err.code ?? err.message}`)) : resolve(addrs))),
        ),
        signal,
      );
  if (all.length === 0) throw new TaskFailure(`${hop}${host} has no address`);
  if (policy.allowsHost(host)) return all;
  const ok = all.filter((a) => policy.refusal(a.address) === null);
  if (ok.length === 0) {
    const a = all[0]!;
    const what = literal ? `a ${policy.refusal(a.address)} address` : `${host} resolves to a ${policy.refusal(a.address)} address`;
    throw new TaskFailure(`${hop}address ${a.address} is private; allow it with HTTP_TASK_ALLOW=${a.address} (${what})`);
  }
  return ok;
}

/** A `lookup` for the socket that answers with the addresses already checked, and never asks DNS. */
function pinned(addresses: LookupAddress[]): LookupFunction {
  return ((_host: string, options: { all?: boolean; family?: number | string }, cb: (...a: unknown[]) => void) => {
    const fam = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : Number(options.family) || 0;
    const list = fam ? addresses.filter((a) => a.family === fam) : addresses;
    if (list.length === 0) return cb(Object.assign(new Error(`no IPv${fam} address`), { code: 'ENOTFOUND' }));
    if (options.all) return cb(null, list);
    cb(null, list[0]!.address, list[0]!.family);
  }) as unknown as LookupFunction;
}

/** The response body decoded (gzip, deflate, br), or as it is. */
function decoded(res: http.IncomingMessage): Readable {
  const enc = String(res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder = enc === 'gzip' || enc === 'x-gzip' ? zlib.createGunzip() : enc === 'deflate' ? zlib.createInflate() : enc === 'br' ? zlib.createBrotliDecompress() : null;
  if (!decoder) return res;
  res.on('error', (e) => decoder.destroy(e));
  return res.pipe(decoder);
}

/** One request and its answer; a redirect's body is not read. */
async function exchange(req: Request, settings: ExecutorSettings, signal: AbortSignal, hop: string): Promise<Answer> {
  const host = normalHost(req.url.hostname);
  const addresses = await checkedAddresses(host, settings, signal, hop);
  throwIfAborted(signal);
  const lib = req.url.protocol === 'https:' ? https : http;
  return new Promise<Answer>((resolve, reject) => {
    let done = false;
    const settle = (f: () => void) => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      f();
    };
    const fail = (e: Error) =>
      settle(() => {
        cr?.destroy();
        reject(signal.aborted ? signal.reason : e instanceof TaskFailure ? e : new TaskFailure(`${hop}${host}: ${e.message}`));
      });
    let cr: http.ClientRequest | undefined;
    try {
      cr = lib.request({
        protocol: req.url.protocol,
        hostname: host,
        port: req.url.port || undefined,
        path: `${req.url.pathname}${req.url.search}`,
        method: req.method,
        headers: req.headers,
        lookup: pinned(addresses),
        agent: false,
        ...(parseIp(host) ? {} : { servername: host }),
      });
    } catch (e) {
      return reject(new TaskFailure(`${hop}${(e as Error).message}`)); // e.g. a header value with a line break
    }
    const onAbort = () => {
      cr.destroy(signal.reason);
      settle(() => reject(signal.reason));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    cr.on('error', fail);
    cr.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const location = res.headers.location ?? null;
      if (REDIRECTS.has(status) && location) {
        res.destroy();
        cr.destroy();
        return settle(() => resolve({ status, location, body: '', truncated: false }));
      }
      void readCapped(decoded(res), settings.http.maxResponseBytes).then(
        (r) => {
          cr.destroy();
          settle(() => resolve({ status, location, ...r }));
        },
        fail,
      );
    });
    cr.end(req.body);
  });
}

/** Reads at most `max` bytes, keeping the tail; stops (and destroys the stream) when there is more. */
async function readCapped(body: Readable, max: number): Promise<{ body: string; truncated: boolean }> {
  const tail = new Tail();
  let read = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    if (read + b.length > max) {
      tail.push(b.subarray(0, max - read));
      body.destroy();
      return { body: tail.toString(), truncated: true };
    }
    read += b.length;
    tail.push(b);
  }
  return { body: tail.toString(), truncated: false };
}

function parseUrl(text: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new TaskFailure(`${what} is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TaskFailure(`${what} must be http or https, got ${u.protocol}`);
  if (u.username || u.password) throw new TaskFailure(`${what} must not carry user:password@; send an Authorization header instead`);
  return u;
}

/**
 * The first request of the task, `${env:…}` resolved. It carries the instance's idempotency key (in
 * `idempotencyHeader`, default Idempotency-Key; none when false) unless the task sets that header itself.
 */
function firstRequest(config: ExecContext['config'], settings: ExecutorSettings, tiId: number): Request {
  const env = settings.env;
  const url = parseUrl(resolveEnvRefs(config.url!, env, 'taskConfig.url'), 'taskConfig.url');
  const headers: Record<string, string> = { 'user-agent': 'task-schedule', accept: '*/*' };
  const set = (name: string, value: string) => {
    for (const k of Object.keys(headers)) if (k.toLowerCase() === name.toLowerCase()) delete headers[k];
    headers[name] = value;
  };
  const idem = config.idempotencyHeader ?? DEFAULT_IDEMPOTENCY_HEADER;
  if (idem !== false) set(idem, idempotencyKey(tiId));
  for (const [k, v] of Object.entries(config.headers ?? {})) set(k, resolveEnvRefs(String(v), env, `taskConfig.headers.${k}`));
  let body: Buffer | undefined;
  if (config.body !== undefined && config.body !== null) {
    if (typeof config.body === 'string') {
      body = Buffer.from(resolveEnvRefs(config.body, env, 'taskConfig.body'));
    } else {
      body = Buffer.from(JSON.stringify(resolveEnvRefsDeep(config.body, env, 'taskConfig.body')));
      if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
    }
    headers['content-length'] = String(body.length);
  }
  return { url, method: config.method ?? 'GET', headers, body };
}

/** The request a redirect asks for (fetch's rules), or a TaskFailure. */
function redirected(prev: Request, status: number, location: string, n: number, secretHeaders: ReadonlySet<string>): Request {
  const url = parseUrl(new URL(location, prev.url).toString(), `redirect ${n} (Location)`);
  let { method, body } = prev;
  const headers = { ...prev.headers };
  if ((status === 303 && method !== 'GET' && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
    method = 'GET';
    body = undefined;
    for (const k of Object.keys(headers)) if (['content-type', 'content-length'].includes(k.toLowerCase())) delete headers[k];
  }
  // Credentials are for the origin they were configured for, not for wherever it redirects.
  if (url.origin !== prev.url.origin) {
    for (const k of Object.keys(headers)) if (secretHeaders.has(k.toLowerCase())) delete headers[k];
  }
  return { url, method, headers, body };
}

export const httpExecutor: Executor = {
  type: 'HTTP',
  async run({ tiId, config, signal, settings }) {
    throwIfAborted(signal);
    if (!config.url) throw new TaskFailure('HTTP task has no url in its config');
    let req = firstRequest(config, settings, tiId);
    for (let n = 0; ; n++) {
      const hop = n === 0 ? '' : `redirect ${n} to ${normalHost(req.url.hostname)}: `;
      const a = await exchange(req, settings, signal, hop);
      if (a.location !== null && REDIRECTS.has(a.status)) {
        if (n === MAX_REDIRECTS) throw new TaskFailure(`too many redirects (more than ${MAX_REDIRECTS})`);
        req = redirected(req, a.status, a.location, n + 1, settings.http.secretHeaders);
        continue;
      }
      throwIfAborted(signal);
      const output = JSON.stringify({ status: a.status, body: a.body, ...(a.truncated ? { truncated: true } : {}) });
      if (a.status >= 200 && a.status < 300) return output;
      throw new TaskFailure(`HTTP ${a.status}`, output);
    }
  },
};
