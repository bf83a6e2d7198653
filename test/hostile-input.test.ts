// Hostile and odd input (issue 9): no request takes a member down or gets a 500. Each one below is a 4xx
// in the envelope whose message names the problem, answered without writing anything, and the member
// still answers afterwards.
import { expect } from 'chai';
import net from 'node:net';
import zlib from 'node:zlib';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask } from './helpers/flows.js';

interface Raw {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

describe('hostile input', function () {
  this.timeout(60_000);
  let m: TestMember;
  let echo: number;
  before(async () => {
    m = await startTestMember({ ...isolated(), ROLES: 'web' });
    echo = await createTask(m.api, 'ECHO', 'hello');
  });
  after(async () => {
    await m.stop(1000);
  });

  /** Any method, any bytes, any headers: what a hostile client can send. */
  async function raw(method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}): Promise<Raw> {
    const res = await fetch(m.url + path, { method, body: typeof body === 'string' ? body : body && new Uint8Array(body), headers });
    const text = await res.text();
    let parsed: any = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  }
  const JSON_TYPE = { 'content-type': 'application/json' };
  /** The envelope of a refusal: the status as code, data null, a message matching `message`. */
  function refused(r: Raw, status: number, message: RegExp | string): void {
    expect(r.status, r.text).to.equal(status);
    expect(r.body, r.text).to.deep.include({ code: String(status), data: null });
    if (typeof message === 'string') expect(r.body.message).to.contain(message);
    else expect(r.body.message).to.match(message);
  }
  const rows = async () => Promise.all(['task', 'task_flow', 'task_node', 'task_flow_ins'].map(async (t) => Number((await m.services.knex(t).count({ n: '*' }))[0].n)));
  const alive = async () => expect((await m.api('GET', '/healthz')).status).to.equal(200);
  const flowBody = (extra: Record<string, unknown>) => ({ flowName: 'f', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(echo) }, { nodeType: 'END' }], ...extra });
  let counted: number[];
  beforeEach(async () => {
    counted = await rows();
  });
  const nothingWritten = async () => expect(await rows()).to.deep.equal(counted);

  describe('cron expressions that node-cron would expand without end', () => {
    for (const cron of ['1-99999999999 * * * * *', '1-10000000 * * * * *', '* 1-30000000 * * * *']) {
      it(`POST /flow with cron "${cron}" is a 400 naming cron and the field; the member lives on`, async () => {
        const r = await raw('POST', '/flow', JSON.stringify(flowBody({ cron, cronEnabled: true })), JSON_TYPE);
        const field = cron.startsWith('*') ? 'field 2 (minute)' : 'field 1 (second)';
        refused(r, 400, new RegExp(`^cron: is not a valid cron expression: ${field.replace(/[()]/g, '\\$&')} value \\d+ is out of range 0-59$`));
        await nothingWritten();
        await alive();
      });
    }
  });

  describe('Content-Encoding', () => {
    const task = (name: string) => Buffer.from(JSON.stringify({ taskName: name, taskType: 'ECHO', taskContent: 'x' }));

    it('gzip that is not gzip is a 400; an unknown coding a 415', async () => {
      refused(await raw('POST', '/task', task('a'), { ...JSON_TYPE, 'content-encoding': 'gzip' }), 400, 'request body is not valid gzip data');
      refused(await raw('POST', '/task', Buffer.from('garbage'), { ...JSON_TYPE, 'content-encoding': 'br' }), 400, 'request body is not valid br data');
      refused(await raw('POST', '/task', zlib.gzipSync(task('a')).subarray(0, 20), { ...JSON_TYPE, 'content-encoding': 'gzip' }), 400, 'request body is not valid gzip data');
      refused(await raw('POST', '/task', task('a'), { ...JSON_TYPE, 'content-encoding': 'zstd' }), 415, 'Content-Encoding "zstd" is not supported');
      await nothingWritten();
    });

    it('gzip (x-gzip), deflate and br bodies are read, the coding named in any case', async () => {
      for (const [coding, bytes] of [['gzip', zlib.gzipSync(task('gz'))], ['x-gzip', zlib.gzipSync(task('xgz'))], ['GZip', zlib.gzipSync(task('Gz'))], ['deflate', zlib.deflateSync(task('df'))], ['br', zlib.brotliCompressSync(task('br'))]] as const) {
        const r = await raw('POST', '/task', bytes, { ...JSON_TYPE, 'content-encoding': coding });
        expect(r.status, `${coding}: ${r.text}`).to.equal(200);
      }
    });

    it('a body over BODY_LIMIT once decompressed (a gzip bomb) is a 413', async () => {
      const bomb = zlib.gzipSync(Buffer.alloc(3 * 1024 * 1024, 0x20)); // 3 MB of spaces in a few KB
      expect(bomb.length).to.be.below(10_000);
      refused(await raw('POST', '/task', bomb, { ...JSON_TYPE, 'content-encoding': 'gzip' }), 413, 'request body is larger than BODY_LIMIT (1mb) once decompressed');
      const sent = await raw('POST', '/task', Buffer.alloc(1024 * 1024 + 1, 0x20), JSON_TYPE);
      refused(sent, 413, 'request body is larger than BODY_LIMIT (1mb)');
      // The rest of a refused body is not read: the connection is closed.
      expect(sent.headers.get('connection')).to.equal('close');
      // Sent in chunks without a Content-Length: counted as it is read.
      const chunks = new ReadableStream({
        start(c) {
          for (let i = 0; i < 5; i++) c.enqueue(new Uint8Array(256 * 1024).fill(0x20));
          c.close();
        },
      });
      const chunked = await fetch(m.url + '/task', { method: 'POST', body: chunks, headers: JSON_TYPE, duplex: 'half' } as RequestInit);
      expect(chunked.status).to.equal(413);
      expect(chunked.headers.get('connection')).to.equal('close');
      expect((await chunked.json()).message).to.equal('request body is larger than BODY_LIMIT (1mb)');
      await alive();
    });
  });

  describe('sizes the columns and answers hold', () => {
    it('taskConfig larger than task_config (65,535 bytes of JSON, counted in UTF-8 bytes) is a 400 naming taskConfig', async () => {
      const cfg = (body: string) => ({ url: 'http://127.0.0.1:1/', body });
      const overhead = Buffer.byteLength(JSON.stringify(cfg('')));
      const fits = await m.api('POST', '/task', { taskName: 'fits', taskType: 'HTTP', taskConfig: cfg('a'.repeat(65_535 - overhead)) });
      expect(fits.status, fits.text).to.equal(200);
      counted = await rows();
      refused(await raw('POST', '/task', JSON.stringify({ taskName: 'x', taskType: 'HTTP', taskConfig: cfg('a'.repeat(65_536 - overhead)) }), JSON_TYPE), 400, /^taskConfig: is 65536 bytes as stored JSON; at most 65535 bytes fit$/);
      // 40,000 characters, 80,000 bytes.
      refused(await raw('POST', '/task', JSON.stringify({ taskName: 'x', taskType: 'HTTP', taskConfig: cfg('é'.repeat(40_000)) }), JSON_TYPE), 400, /^taskConfig: is \d+ bytes/);
      // As a string holding the JSON, too.
      refused(await raw('POST', '/task', JSON.stringify({ taskName: 'x', taskType: 'HTTP', taskConfig: JSON.stringify(cfg('a'.repeat(70_000))) }), JSON_TYPE), 400, /^taskConfig: is \d+ bytes/);
      await nothingWritten();
    });

    it("an EXCEPTION task's content (its error message, stored in TEXT error_msg columns) is at most 65,535 bytes", async () => {
      refused(await raw('POST', '/task', JSON.stringify({ taskName: 'x', taskType: 'EXCEPTION', taskContent: 'e'.repeat(65_536) }), JSON_TYPE), 400, /^taskContent: an EXCEPTION task's content is its error message/);
      // Nor may a long content become one by a change of type.
      const t = await createTask(m.api, 'ECHO', 'e'.repeat(70_000));
      counted = await rows();
      refused(await raw('POST', '/task', JSON.stringify({ taskId: t, taskName: 'x', taskType: 'EXCEPTION' }), JSON_TYPE), 400, /^taskContent: /);
      await nothingWritten();
    });

    it('a flow names at most 2,000 tasks in all (1,000 nodes × 200 ids is refused), at most 1,000 nodes', async () => {
      const ids = (n: number) => Array(n).fill(String(echo)).join(',');
      const flow = (nodes: string[]) => ({ flowName: 'big', flowNodes: [{ nodeType: 'START' }, ...nodes.map((taskIds) => ({ nodeType: 'TASK', taskIds })), { nodeType: 'END' }] });
      refused(await raw('POST', '/flow', JSON.stringify(flow(Array(998).fill(ids(200)))), JSON_TYPE), 400, /^flowNodes: name at most 2000 tasks in all .*got 199600$/);
      refused(await raw('POST', '/flow', JSON.stringify(flow([...Array(9).fill(ids(200)), ids(201)])), JSON_TYPE), 400, /^flowNodes: name at most 2000 tasks in all/);
      refused(await raw('POST', '/flow', JSON.stringify(flow(Array(999).fill(ids(1)))), JSON_TYPE), 400, /^flowNodes: must have at most 1000 nodes/);
      await nothingWritten();
      const ok = await m.api('POST', '/flow', flow(Array(10).fill(ids(200))));
      expect(ok.status, ok.text).to.equal(200);
      expect(ok.body.data.flowNodes.flatMap((n: any) => n.tasks ?? [])).to.have.length(2000);
    });
  });

  describe('JSON', () => {
    const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

    it('nested thousands deep is a 400 naming the body; 64 levels are fine, 65 are not', async () => {
      refused(await raw('POST', '/task', `{"taskName":"x","taskType":"HTTP","taskConfig":{"url":"http://x/","body":${'['.repeat(5000)}${']'.repeat(5000)}}}`, JSON_TYPE), 400, /^body: is nested deeper than 64 levels/);
      refused(await raw('POST', '/monitor/flow', nested(100_000), JSON_TYPE), 400, /^body: is nested deeper than 64 levels/);
      expect((await raw('POST', '/monitor/flow', nested(64), JSON_TYPE)).status).to.equal(200);
      refused(await raw('POST', '/monitor/flow', nested(65), JSON_TYPE), 400, /^body: is nested deeper than 64 levels/);
      // A taskConfig sent as a string holding deep JSON.
      const deep = JSON.stringify({ url: 'http://x/', body: JSON.parse('['.repeat(60) + ']'.repeat(60)) }).replace('[[', '['.repeat(3000) + '[[').replace(']]', ']'.repeat(3000) + ']]');
      refused(await raw('POST', '/task', JSON.stringify({ taskName: 'x', taskType: 'HTTP', taskConfig: deep }), JSON_TYPE), 400, /^taskConfig: is nested deeper than 64 levels/);
      await nothingWritten();
      await alive();
    });

    it('a body that is not a JSON object, not JSON, not UTF-8, or holds a lone surrogate or __proto__ is a 400', async () => {
      for (const [body, kind] of [['[]', 'an array'], ['"x"', 'a string'], ['null', 'null'], ['1', 'a number'], ['true', 'a boolean']]) {
        for (const path of ['/task', '/flow', '/monitor/flow', `/exec/flow/1`]) {
          refused(await raw('POST', path, body, JSON_TYPE), 400, `body: must be a JSON object, got ${kind}`);
        }
      }
      refused(await raw('POST', '/task', '{"taskName":', JSON_TYPE), 400, /^request body is not valid JSON: /);
      refused(await raw('POST', '/task', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), JSON_TYPE), 400, 'request body is not valid UTF-8');
      refused(await raw('POST', '/task', '{"taskName":"a\\ud800","taskType":"ECHO"}', JSON_TYPE), 400, 'body: holds a string with a lone UTF-16 surrogate');
      refused(await raw('POST', '/task', '{"taskName":"a","taskType":"ECHO","__proto__":{"x":1}}', JSON_TYPE), 400, 'body: holds a "__proto__" key');
      await nothingWritten();
      // A surrogate pair is text, and a byte order mark is skipped.
      const pair = await raw('POST', '/task', '\ufeff{"taskName":"a\\ud83d\\ude00","taskType":"ECHO"}', JSON_TYPE);
      expect(pair.status, pair.text).to.equal(200);
      expect(pair.body.data.taskName).to.equal('a😀');
    });

    it('a body on GET or DELETE, or one of another type, is refused', async () => {
      refused(await raw('POST', '/task', 'taskName=x', { 'content-type': 'application/x-www-form-urlencoded' }), 415, 'request body must be application/json');
      refused(await raw('POST', '/task', '{}', { 'content-type': 'text/plain' }), 415, 'request body must be application/json');
      refused(await raw('DELETE', `/task/${echo}`, '{}', JSON_TYPE), 400, 'DELETE requests take no body');
      const get = await new Promise<string>((resolve, reject) => {
        // fetch() will not send a body with GET; a raw socket will.
        const s = net.connect(Number(new URL(m.url!).port), '127.0.0.1', () => s.end('GET /task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}'));
        let out = '';
        s.on('data', (c) => (out += c)).on('end', () => resolve(out)).on('error', reject);
      });
      expect(get).to.match(/^HTTP\/1\.1 400 /);
      expect(get).to.contain('"message":"GET requests take no body; send it without one"');
      expect((await m.api('GET', `/task/${echo}`)).status).to.equal(200);
    });
  });

  describe('methods', () => {
    it('OPTIONS on a path answers the envelope with Allow and the allowed methods; on an unknown path a 404', async () => {
      const r = await raw('OPTIONS', '/task');
      expect(r.status).to.equal(200);
      expect(r.body).to.deep.equal({ code: '200', message: 'SUCCESS', data: ['GET', 'HEAD', 'POST', 'OPTIONS'] });
      expect(r.headers.get('allow')).to.equal('GET, HEAD, POST, OPTIONS');
      expect((await raw('OPTIONS', `/flow/${echo}`)).body.data).to.deep.equal(['GET', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS']);
      expect((await raw('OPTIONS', '/exec/flow/1')).headers.get('allow')).to.equal('POST, OPTIONS');
      refused(await raw('OPTIONS', '/nope'), 404, 'no route for OPTIONS /nope');
    });

    it('a method the path does not serve is a 405 with Allow, known to Node or not; on an unknown path a 404', async () => {
      for (const method of ['PATCH', 'PUT', 'PROPFIND', 'MKCOL']) {
        const r = await raw(method, '/task');
        refused(r, 405, `${method} is not allowed on /task; allowed: GET, HEAD, POST, OPTIONS`);
        expect(r.headers.get('allow')).to.equal('GET, HEAD, POST, OPTIONS');
      }
      refused(await raw('DELETE', '/task'), 405, 'DELETE is not allowed on /task');
      refused(await raw('GET', '/exec/flow/1'), 405, 'GET is not allowed on /exec/flow/1');
      refused(await raw('PROPFIND', '/nope'), 404, 'no route for PROPFIND /nope');
    });
  });

  describe('paths, ids and query strings', () => {
    it('repeated query parameters, odd ids and odd paths are 4xx naming what is wrong', async () => {
      refused(await raw('GET', '/task?page=1&page=2'), 400, 'page: must be given once');
      refused(await raw('GET', '/flow?pageSize=10&pageSize=20'), 400, 'pageSize: must be given once');
      refused(await raw('GET', `/flow/${echo}?version=1&version=2`), 400, 'version: must be given once');
      refused(await raw('GET', '/task?page=99999999999'), 400, 'page: must be a whole number from 1 to 1000000');
      refused(await raw('GET', '/task/99999999999999999999'), 400, 'taskId must be a positive integer');
      refused(await raw('GET', '/task/999999999999999'), 404, 'task 999999999999999 does not exist');
      refused(await raw('POST', '/exec/flow/1e3'), 400, 'flowId must be a positive integer');
      refused(await raw('GET', '/task/%'), 400, 'taskId must be a positive integer, got "%"');
      refused(await raw('GET', '/flow/%E0%A4%A'), 400, 'flowId must be a positive integer');
      refused(await raw('GET', '/%'), 404, 'no route for GET /%');
      refused(await raw('POST', '/monitor/flow', JSON.stringify({ flowId: 1e300 }), JSON_TYPE), 400, /^flowId: /);
      refused(await raw('POST', '/monitor/flow', JSON.stringify({ page: 0 }), JSON_TYPE), 400, /^page: /);
      refused(await raw('POST', '/exec/flow/1', JSON.stringify({ fiId: 9007199254740993, niId: 1 }), JSON_TYPE), 400, /^fiId: /);
    });

    it('a path over Node\'s header limit is a 431, a malformed request a 400, both in the envelope', async () => {
      refused(await raw('GET', `/task/${'a'.repeat(20_000)}`), 431, 'request line and headers are too large');
      const answer = await new Promise<string>((resolve, reject) => {
        const s = net.connect(Number(new URL(m.url!).port), '127.0.0.1', () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'));
        let out = '';
        s.on('data', (c) => (out += c)).on('end', () => resolve(out)).on('error', reject);
      });
      expect(answer).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
      const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
      expect(body).to.deep.include({ code: '400', data: null });
      expect(body.message).to.match(/^malformed HTTP request/);
      await alive();
    });
  });
});
