// JSON request bodies, read by hand so that every way a body can be wrong is a 4xx in the envelope
// (via errorEnvelope) and nothing is done with it before it is checked:
//   a body on GET/HEAD/DELETE/OPTIONS → 400 (no endpoint takes one there);
//   a type other than JSON → 415; a Content-Encoding other than gzip, deflate, br or identity → 415;
//   more than BODY_LIMIT bytes, sent or once decompressed → 413 (and the connection is closed);
//   a body that does not decompress → 400; bytes that are not UTF-8 → 400; not JSON → 400;
//   not a JSON object at the top → 400; nested deeper than 64 levels, a lone surrogate or a
//   `__proto__` key → 400 (src/infra/jsonShape.ts).
// koa-bodyparser did most of this, but it decodes invalid UTF-8 into U+FFFD silently, answers a body
// that is not gzip with a 500, and knows no depth limit.
import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import type { Middleware } from 'koa';
import { HttpError } from '../http.js';
import { jsonShapeProblem } from '../../infra/jsonShape.js';
import { normalPath } from '../accessRules.js';

/** The body of POST /worker/complete may be this large whatever BODY_LIMIT says: 1 MiB of output and room around it. */
export const WORKER_COMPLETE_BODY = 1024 * 1024 + 64 * 1024;

declare module 'koa' {
  interface Request {
    /** The parsed JSON body: always an object ({} when the request has none). */
    body?: unknown;
  }
}

const NO_BODY_METHODS = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);
const CODINGS = ['gzip', 'x-gzip', 'deflate', 'br', 'identity'];
const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** "1mb" → 1048576 (BODY_LIMIT's syntax, checked by config/index.ts; units of 1024 as koa-bodyparser's). */
export function sizeInBytes(text: string): number {
  const m = /^(\d+)(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: "${text}"`);
  return Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()];
}

const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

/**
 * The body's bytes, decompressed, at most `limit` of them (sent and decompressed alike). On a refusal
 * it stops reading: the answer goes out and the connection is closed (413) or the rest discarded.
 */
function readBody(req: IncomingMessage, coding: string, limit: number, limitText: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const decoder = coding === 'identity' ? null : coding === 'br' ? zlib.createBrotliDecompress() : zlib.createUnzip();
    const chunks: Buffer[] = [];
    let sent = 0;
    let size = 0;
    let settled = false;
    const tooLarge = () => new HttpError(413, `request body is larger than BODY_LIMIT (${limitText})${decoder ? ' once decompressed' : ''}`);
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      req.off('data', onSent).off('end', onEnd).off('error', onReadError).off('close', onClose);
      if (decoder) {
        req.unpipe(decoder);
        decoder.off('data', onData).off('end', onEnd).off('error', onDecodeError);
        decoder.destroy();
      }
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onSent = (c: Buffer) => {
      sent += c.length;
      if (sent > limit) finish(tooLarge());
      else if (!decoder) onData(c);
    };
    function onData(c: Buffer) {
      size += c.length;
      if (size > limit) return finish(tooLarge());
      chunks.push(c);
    }
    const onEnd = () => finish(null);
    const onDecodeError = (e: Error) => finish(new HttpError(400, `request body is not valid ${coding} data (${e.message})`));
    const onReadError = (e: Error) => finish(new HttpError(400, `request body could not be read (${e.message})`));
    const onClose = () => {
      if (!req.complete) finish(new HttpError(400, 'request body was cut off'));
    };
    req.on('data', onSent).on('error', onReadError).on('close', onClose);
    if (decoder) {
      decoder.on('data', onData).on('end', onEnd).on('error', onDecodeError);
      req.pipe(decoder);
    } else {
      req.on('end', onEnd);
    }
  });
}

export function jsonBody(limitText: string): Middleware[] {
  const limit = sizeInBytes(limitText);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const json: Middleware = async (ctx, next) => {
    const length = ctx.get('content-length');
    const hasBody = Number(length || 0) > 0 || ctx.get('transfer-encoding') !== '';
    if (!hasBody) {
      // Nothing to read (e.g. a start): give routes {}.
      ctx.request.body = {};
      return next();
    }
    if (NO_BODY_METHODS.has(ctx.method)) throw new HttpError(400, `${ctx.method} requests take no body; send it without one`);
    if (!ctx.is('application/json', 'application/*+json')) {
      throw new HttpError(415, `request body must be application/json, got "${ctx.get('content-type') || 'none'}"`);
    }
    const coding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
    if (!CODINGS.includes(coding)) {
      throw new HttpError(415, `Content-Encoding "${ctx.get('content-encoding')}" is not supported: send gzip, deflate, br or identity`);
    }
    // A worker's result may be 1 MiB of JSON: its body may be larger than BODY_LIMIT (worker.ts).
    const wide = normalPath(ctx.path) === '/worker/complete' && limit < WORKER_COMPLETE_BODY;
    const max = wide ? WORKER_COMPLETE_BODY : limit;
    const tooLarge = () => (wide ? new HttpError(413, `output: the request body is larger than ${max} bytes: output must be at most 1048576 bytes as JSON`) : null);
    if (coding === 'identity' && Number(length) > max) {
      ctx.set('Connection', 'close');
      throw tooLarge() ?? new HttpError(413, `request body is larger than BODY_LIMIT (${limitText})`);
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(ctx.req, coding, max, limitText);
    } catch (e) {
      // Do not read (or wait for) the rest of a refused body.
      if (e instanceof HttpError && e.status === 413) {
        ctx.set('Connection', 'close');
        throw tooLarge() ?? e;
      }
      throw e;
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
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
  return [json];
}
