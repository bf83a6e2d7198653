// JSON request bodies: koa-bodyparser reads them (BODY_LIMIT, gzip/deflate/br), and the checks around it
// make every way a body can be wrong a 4xx in the envelope (via errorEnvelope), nothing done with it
// before it is checked:
//   a body on GET/HEAD/DELETE/OPTIONS → 400 (no endpoint takes one there);
//   a type other than JSON → 415; a Content-Encoding other than gzip, deflate, br or identity → 415;
//   more than BODY_LIMIT bytes, sent (Content-Length) or once decompressed → 413 (the connection is closed);
//   a body that does not decompress → 400; bytes that are not UTF-8 → 400; not JSON → 400;
//   not a JSON object at the top → 400; nested deeper than 64 levels, a lone surrogate or a
//   `__proto__` key → 400 (src/infra/jsonShape.ts).
// koa-bodyparser is asked for the bytes (its text mode, no encoding) and the JSON is parsed here: its own
// JSON mode decodes invalid UTF-8 into U+FFFD without a word, so the UTF-8 rule could not hold (README,
// Limits). Its other gaps are closed here: a body that is not gzip is a 500 there (a zlib error with no
// status), `x-gzip` and an upper-case coding a 415, and it knows no depth limit.
import bodyParser from 'koa-bodyparser';
import type { Middleware } from 'koa';
import { HttpError } from '../http.js';
import { jsonShapeProblem } from '../../infra/jsonShape.js';
import { sizeInBytes } from '../../infra/size.js';
import { normalPath } from '../accessRules.js';

/** The body of POST /worker/complete may be this large whatever BODY_LIMIT says: 1 MiB of output and room around it. */
export const WORKER_COMPLETE_BODY = 1024 * 1024 + 64 * 1024;
/** The completes (one, or several together) whose body may be WORKER_COMPLETE_BODY. */
const WIDE_PATHS = new Set(['/worker/complete', '/worker/complete-many']);

const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
const JSON_TYPES = ['application/json', 'application/*+json'];
const CODINGS = ['gzip', 'x-gzip', 'deflate', 'br', 'identity'];

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

export function jsonBody(limitText: string): Middleware {
  const limit = sizeInBytes(limitText);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  // `encoding: null` makes its text mode hand over a Buffer (co-body passes it to raw-body as is).
  const reader = (bytes: number) => bodyParser({ enableTypes: ['text'], extendTypes: { text: JSON_TYPES }, textLimit: String(bytes), encoding: null as unknown as string });
  const read = reader(limit);
  const readWide = limit < WORKER_COMPLETE_BODY ? reader(WORKER_COMPLETE_BODY) : null;
  const tooLarge = (coding: string) => new HttpError(413, `request body is larger than BODY_LIMIT (${limitText})${coding === 'identity' ? '' : ' once decompressed'}`);

  return async (ctx, next) => {
    const length = ctx.get('content-length');
    const hasBody = Number(length || 0) > 0 || ctx.get('transfer-encoding') !== '';
    if (!hasBody) {
      // Nothing to read (e.g. a start): give routes {}.
      ctx.request.body = {};
      return next();
    }
    if (NO_BODY_METHODS.has(ctx.method)) throw new HttpError(400, `${ctx.method} requests take no body; send it without one`);
    if (!ctx.is(JSON_TYPES)) throw new HttpError(415, `request body must be application/json, got "${ctx.get('content-type') || 'none'}"`);
    const coding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
    if (!CODINGS.includes(coding)) {
      throw new HttpError(415, `Content-Encoding "${ctx.get('content-encoding')}" is not supported: send gzip, deflate, br or identity`);
    }
    // A worker's result may be 1 MiB of JSON: its body may be larger than BODY_LIMIT (worker.ts).
    const path = readWide !== null ? normalPath(ctx.path) : '';
    const wide = WIDE_PATHS.has(path);
    const max = wide ? WORKER_COMPLETE_BODY : limit;
    const refused = (as: string) =>
      !wide ? tooLarge(as)
      : path === '/worker/complete' ? new HttpError(413, `output: the request body is larger than ${max} bytes: output must be at most 1048576 bytes as JSON`)
      : new HttpError(413, `completes: the request body is larger than ${max} bytes: send fewer completes together`);
    // Do not read (or wait for) the rest of a refused body.
    if (Number(length) > max) {
      ctx.set('Connection', 'close');
      throw refused('identity');
    }
    // The reader (inflation) knows only these spellings.
    ctx.req.headers['content-encoding'] = coding === 'x-gzip' ? 'gzip' : coding;
    try {
      await (wide ? readWide! : read)(ctx, async () => {});
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 413) {
        ctx.set('Connection', 'close');
        throw refused(coding);
      }
      // zlib's own errors carry no status (koa-bodyparser would answer them 500).
      if (status === undefined && coding !== 'identity') throw new HttpError(400, `request body is not valid ${coding} data (${(e as Error).message})`);
      throw e;
    }
    let text: string;
    try {
      text = utf8.decode(ctx.request.body as Buffer);
    } catch {
      throw new HttpError(400, 'request body is not valid UTF-8');
    }
    if (text.trim() === '') {
      ctx.request.body = {};
      return next();
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
    }
    // Named `body` like the schemas' own body-level issues (`body: must be a JSON object`).
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, `body: must be a JSON object, got ${kindOf(body)}`);
    const problem = jsonShapeProblem(body);
    if (problem) throw new HttpError(400, `body: ${problem}`);
    ctx.request.body = body;
    return next();
  };
}
