// Several completes in one request: POST /worker/complete-many, as the TypeScript client sends the
// completes of handlers that finish together. Against a real member: each complete answered on its own
// (a stale token refused alone, a repeat answered 200), one next step handed over per complete, every
// complete checked before any is recorded, and the client batching its completes, or sending them one by
// one to a member that does not know the route.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, waitForEnd } from './helpers/flows.js';
import { Worker } from '../src/client/worker.js';
import { workerApi } from './helpers/workerApi.js';

describe('external workers: several completes in one request (complete-many)', function () {
  this.timeout(60_000);
  let m: TestMember;
  before(async () => {
    m = await startTestMember({ ...isolated(), ROLES: 'web,worker' });
  });
  after(async () => {
    await m.stop(1000);
  });

  const { poll, call } = workerApi(() => m);
  const row = async (tiId: number) => (await m.services.knex('task_ins').where('ti_id', tiId))[0];
  const q = () => `q${Math.random().toString(36).slice(2, 8)}`;
  /** A flow START → a → b → END of WORKER tasks in `queue`, started `n` times; its instances. */
  const chains = async (queue: string, n: number) => {
    const a = await createTask(m.api, 'WORKER', 'a', { queue });
    const b = await createTask(m.api, 'WORKER', 'b ${nodes.a.output.v}', { queue });
    const r = await m.api('POST', '/flow', { flowName: 'batch', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'a', taskIds: String(a) }, { nodeType: 'TASK', nodeKey: 'b', taskIds: String(b) }, { nodeType: 'END' }] });
    expect(r.status, r.text).to.equal(200);
    const fiIds: number[] = [];
    for (let i = 0; i < n; i++) fiIds.push((await m.api('POST', `/exec/flow/${r.body.data.flowId}`)).body.data.fiId);
    return fiIds;
  };

  it('answers each complete on its own: recorded, refused (409) or recorded already (200); one next step per complete', async () => {
    const queue = q();
    const fiIds = await chains(queue, 3);
    const [x, y, z] = await poll([queue], { max: 3 });
    expect([x, y, z].every(Boolean)).to.equal(true);
    const r = await call('/worker/complete-many', {
      completes: [
        { tiId: x.tiId, leaseToken: x.leaseToken, output: { v: 1 } },
        { tiId: y.tiId, leaseToken: 'not-its-token', output: { v: 2 } },
        { tiId: z.tiId, leaseToken: z.leaseToken, output: { v: 3 } },
      ],
      next: { queues: [queue], workerId: 'w-batch' },
    });
    expect(r.status, r.text).to.equal(200);
    const { results, next } = r.body.data;
    expect(results.map((e: any) => [e.tiId, e.code])).to.deep.equal([[x.tiId, '200'], [y.tiId, '409'], [z.tiId, '200']]);
    expect(results[1].message).to.match(/^leaseToken: /);
    // x's and z's flows moved on to b, handed over in the answer; y's is untouched, still its worker's.
    expect(next.map((t: any) => t.fiId).sort()).to.deep.equal([x.fiId, z.fiId].sort());
    expect(next.map((t: any) => t.content).sort()).to.deep.equal(['b 1', 'b 3']);
    for (const t of next) expect(await row(t.tiId)).to.include({ exec_status: 'RUNNING', worker_id: 'w-batch', lease_token: t.leaseToken });
    expect(await row(y.tiId)).to.include({ exec_status: 'RUNNING', lease_token: y.leaseToken });

    // Sent again (an answer that never arrived): recorded already, 200, nothing handed over twice.
    const again = await call('/worker/complete-many', { completes: [{ tiId: x.tiId, leaseToken: x.leaseToken, output: { v: 1 } }], next: { queues: [queue], workerId: 'w-batch' } });
    expect(again.body.data).to.deep.equal({ results: [{ tiId: x.tiId, code: '200', status: 'SUCCESS' }], next: [] });
    // Without next: results alone.
    const plain = await call('/worker/complete-many', { completes: [{ tiId: y.tiId, leaseToken: y.leaseToken, output: { v: 2 } }] });
    expect(plain.body.data).to.deep.equal({ results: [{ tiId: y.tiId, code: '200', status: 'SUCCESS' }] });
    const finish = await call('/worker/complete-many', { completes: next.map((t: any) => ({ tiId: t.tiId, leaseToken: t.leaseToken, output: null })) });
    expect(finish.body.data.results.every((e: any) => e.code === '200')).to.equal(true);
    const [b] = await poll([queue]);
    expect(b.fiId).to.equal(y.fiId);
    await call('/worker/complete', { tiId: b.tiId, leaseToken: b.leaseToken, output: null });
    for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
  });

  it('checks every complete before recording any: a 400 names the field and nothing is written', async () => {
    const queue = q();
    await chains(queue, 2);
    const [x, y] = await poll([queue], { max: 2 });
    const ok = { tiId: x.tiId, leaseToken: x.leaseToken, output: 1 };
    const bad = async (body: unknown, status: number, field: RegExp) => {
      const r = await call('/worker/complete-many', body);
      expect(r.status, r.text).to.equal(status);
      expect(r.body.message).to.match(field);
    };
    await bad({}, 400, /^completes: /);
    await bad({ completes: [] }, 400, /^completes: /);
    await bad({ completes: Array.from({ length: 101 }, (_, i) => ({ tiId: i + 1, leaseToken: 'x' })) }, 400, /^completes: .*at most 100/);
    await bad({ completes: [ok, { tiId: 0, leaseToken: 'x' }] }, 400, /^completes\[1\]\.tiId: /);
    await bad({ completes: [ok, { tiId: y.tiId }] }, 400, /^completes\[1\]\.leaseToken: /);
    await bad({ completes: [ok, { ...ok }] }, 400, /^completes\[1\]\.tiId: .*twice/);
    await bad({ completes: [ok, { tiId: y.tiId, leaseToken: y.leaseToken, output: 'x'.repeat(1024 * 1024) }] }, 400, /^completes\[1\]\.output: /);
    await bad({ completes: [ok], next: { queues: [] , workerId: 'w' } }, 400, /^next\.queues: /);
    await bad({ completes: [ok], next: { queues: ['a'], workerId: 'bad id' } }, 400, /^next\.workerId: /);
    const huge = await m.api('POST', '/worker/complete-many', JSON.stringify({ completes: [ok, { tiId: y.tiId, leaseToken: y.leaseToken, output: 'x'.repeat(1200 * 1024) }] }));
    expect(huge.status).to.equal(413);
    expect(huge.body.message).to.match(/^completes: /);
    // None of it was recorded: both still RUNNING under their leases.
    expect(await row(x.tiId)).to.include({ exec_status: 'RUNNING', lease_token: x.leaseToken });
    expect(await row(y.tiId)).to.include({ exec_status: 'RUNNING', lease_token: y.leaseToken });
  });

  /** A proxy to the member that counts the completes per request, and answers 404 to complete-many when `old`. */
  async function proxy(old: boolean) {
    const sizes: number[] = [];
    const singles = { n: 0 };
    const target = new URL(m.url!);
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.url === '/worker/complete-many') {
          if (old) {
            res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: '404', message: 'no route for POST /worker/complete-many', data: null }));
            return;
          }
          sizes.push(JSON.parse(body.toString()).completes.length);
        }
        if (req.url === '/worker/complete') singles.n++;
        const out = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (r) => {
          res.writeHead(r.statusCode!, r.headers);
          r.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, sizes, singles, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  for (const old of [false, true]) {
    it(old ? 'the TypeScript client completes one by one on a member without complete-many' : 'the TypeScript client sends the completes of handlers that finish together in one request', async () => {
      const queue = q();
      const p = await proxy(old);
      // Tasks waiting before the worker starts: its polls bring several at once, and their handlers finish together.
      const fiIds = await chains(queue, 10);
      const w = new Worker({ url: p.url, queues: [queue], workerId: 'client-batch', concurrency: 10, polls: 1, waitMs: 2000, handler: (t) => ({ v: t.tiId }) }).start();
      try {
        for (const fiId of fiIds) expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
      } finally {
        await w.stop(1000);
        await p.close();
      }
      if (old) {
        expect(p.sizes).to.deep.equal([]);
        expect(p.singles.n).to.equal(20);
      } else {
        expect(p.sizes.reduce((a, b) => a + b, 0)).to.equal(20);
        expect(Math.max(...p.sizes), `completes per request: ${p.sizes}`).to.be.at.least(2);
        expect(p.singles.n).to.equal(0);
      }
    });
  }

  it('the TypeScript client fails an attempt whose output JSON cannot hold, saying why; the completes beside it are recorded', async () => {
    const queue = q();
    const kinds = ['ok', 'big', 'cycle', 'fn'];
    const fiIds: Record<string, number> = {};
    for (const k of kinds) {
      const task = await createTask(m.api, 'WORKER', k, { queue, maxRetries: 0 });
      fiIds[k] = (await m.api('POST', `/exec/flow/${await createFlow(m.api, [[task]])}`)).body.data.fiId;
    }
    const errors: string[] = [];
    // The four are waiting before the worker starts: their handlers finish together, their completes in one batch.
    const w = new Worker({
      url: m.url!,
      queues: [queue],
      workerId: 'client-json',
      concurrency: 4,
      onError: (e) => errors.push(e.message),
      handler: (t) => {
        if (t.content === 'big') return { n: 1n };
        if (t.content === 'cycle') {
          const o: Record<string, unknown> = {};
          o.self = o;
          return o;
        }
        if (t.content === 'fn') return () => 1;
        return { v: 1 };
      },
    }).start();
    try {
      const ends = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await waitForEnd(m.api, fiIds[k])])));
      expect(ends.ok.status).to.equal('SUCCESS');
      for (const k of ['big', 'cycle', 'fn']) expect(ends[k].status, k).to.equal('FAILED');
      const tasks = await m.services.knex('task_ins').whereIn('fi_id', Object.values(fiIds)).select('fi_id', 'exec_status', 'error_msg');
      const byKind = (k: string) => tasks.find((r: { fi_id: number }) => r.fi_id === fiIds[k]);
      expect(byKind('big').error_msg).to.match(/^the handler's output cannot be sent as JSON: .*BigInt/);
      expect(byKind('cycle').error_msg).to.match(/^the handler's output cannot be sent as JSON: .*circular/i);
      expect(byKind('fn').error_msg).to.equal("the handler's output cannot be sent as JSON: a function has no JSON form");
      expect(errors).to.deep.equal([]);
    } finally {
      await w.stop(1000);
    }
  });
});
