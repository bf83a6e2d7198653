// The dashboard's serving and what the API gained for it, without a browser: / and /ui/ pages and
// assets (caching, compression, 404s in the envelope), the JavaScript budget, the flow graph's layout,
// and the monitor API's additions (time filter, detail times and worker, each flow's last run).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { UiBuild } from '../src/ui/build.js';
import { formatTime } from '../src/infra/time.js';
import { edgesOf, layoutGraph } from '../src/ui/app/components/graph.js';
import type { FlowNode } from '../src/ui/app/types.js';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, detail, flowRow, startFlow, waitForEnd } from './helpers/flows.js';
import { builtUi } from './helpers/ui.js';

/** The budget for the page's JavaScript, gzipped (README: Dashboard). */
const JS_BUDGET_GZIP_BYTES = 150 * 1024;

describe('dashboard serving and API', function () {
  this.timeout(60_000);
  let build: UiBuild;
  let m: TestMember;
  let base: string;

  before(async function () {
    this.timeout(120_000);
    build = await builtUi();
    m = await startTestMember({ ...isolated(), ROLES: 'web,worker', WORKER_CONCURRENCY: '4' });
    base = m.url!;
  });
  after(async () => {
    await m?.stop(1000);
  });

  describe('serving', () => {
    it(`the page's JavaScript is within budget (${JS_BUDGET_GZIP_BYTES / 1024} KiB gzipped)`, () => {
      const js = readFileSync(join(build.outDir, 'assets', build.js));
      const gz = gzipSync(js).length;
      console.log(`      dashboard JS: ${(js.length / 1024).toFixed(1)} KiB, ${(gz / 1024).toFixed(1)} KiB gzipped`);
      expect(gz).to.be.at.most(JS_BUDGET_GZIP_BYTES);
    });

    it('/ redirects to /ui/; page paths answer index.html, never cached', async () => {
      const root = await fetch(`${base}/`, { redirect: 'manual' });
      expect(root.status).to.equal(302);
      expect(root.headers.get('location')).to.equal('/ui/');
      for (const p of ['/ui', '/ui/']) {
        const r = await fetch(`${base}${p}`, { redirect: 'manual' });
        if (p === '/ui') expect(r.headers.get('location')).to.equal('/ui/');
        else expect(r.status).to.equal(200);
      }
      for (const p of ['/ui/flows', '/ui/flows/12', '/ui/flows/12/edit', '/ui/flows/new', '/ui/instances', '/ui/instances/9', '/ui/tasks', '/ui/tasks/new', '/ui/tasks/3', '/ui/cluster']) {
        const r = await fetch(`${base}${p}`);
        expect(r.status, p).to.equal(200);
        expect(r.headers.get('content-type')).to.match(/^text\/html/);
        expect(r.headers.get('cache-control')).to.equal('no-cache');
        expect(r.headers.get('content-security-policy')).to.include("script-src 'self'");
        const html = await r.text();
        expect(html).to.include(`/ui/assets/${build.js}`).and.to.include(`/ui/assets/${build.css}`);
        expect(html, 'nothing from another origin').not.to.match(/https?:\/\//);
      }
    });

    it('assets are cached for a year and sent compressed; unknown ones and unknown pages are 404 in the envelope', async () => {
      const r = await fetch(`${base}/ui/assets/${build.js}`, { headers: { 'Accept-Encoding': 'gzip' } });
      expect(r.status).to.equal(200);
      expect(r.headers.get('cache-control')).to.equal('max-age=31536000,immutable');
      expect(r.headers.get('content-type')).to.match(/javascript/);
      expect((await r.arrayBuffer()).byteLength, 'decoded').to.equal(build.jsBytes);
      for (const p of ['/ui/assets/nope.js', '/ui/assets/..%2Fapp.js', '/ui/nope', '/ui/flows/abc', '/ui/instances/1/x']) {
        const x = await fetch(`${base}${p}`);
        expect(x.status, p).to.equal(404);
        expect(await x.json(), p).to.include({ code: '404', data: null });
      }
    });
  });

  describe('flow graph layout (the page draws what this lays out)', () => {
    const task = (nodeId: number, extra: Partial<FlowNode> = {}): FlowNode => ({ nodeId, nodeType: 'TASK', tasks: [{ taskId: 1, taskName: 't', taskType: 'ECHO' }], completion: 'ANY', ...extra });
    const xOf = (d: ReturnType<typeof layoutGraph>, id: number) => d.boxes.find((b) => b.node.nodeId === id)!.x;

    it('a chain: edges from prevNode (or the order when there is none), left to right', () => {
      const chain: FlowNode[] = [{ nodeId: 1, nodeType: 'START' }, task(2, { prevNode: 1 }), task(3, { prevNode: 2 }), { nodeId: 4, nodeType: 'END', prevNode: 3 }];
      expect(edgesOf(chain)).to.deep.equal([[1, 2], [2, 3], [3, 4]]);
      const noPrev = chain.map(({ prevNode: _p, ...n }) => n);
      expect(edgesOf(noPrev)).to.deep.equal([[1, 2], [2, 3], [3, 4]]);
      const d = layoutGraph(chain, (id) => (id === 3 ? 'FAILED' : undefined));
      expect([1, 2, 3, 4].map((id) => xOf(d, id))).to.satisfy((xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!));
      expect(d.paths).to.have.length(3);
      expect(d.boxes.find((b) => b.node.nodeId === 3)!.lines.map((l) => l.text)).to.include('FAILED');
    });

    it('a node with several predecessors (prevNodes) draws: the branches side by side, the join after both', () => {
      const diamond: FlowNode[] = [
        { nodeId: 1, nodeType: 'START' },
        task(2, { prevNode: 1, prevNodes: [1], nodeKey: 'a' }),
        task(3, { prevNode: 1, prevNodes: [1], nodeKey: 'b' }),
        task(4, { prevNode: 2, prevNodes: [2, 3], nodeKey: 'join' }),
        { nodeId: 5, nodeType: 'END', prevNode: 4, prevNodes: [4] },
      ];
      expect(edgesOf(diamond)).to.deep.equal([[1, 2], [1, 3], [2, 4], [3, 4], [4, 5]]);
      const d = layoutGraph(diamond);
      expect(xOf(d, 2)).to.equal(xOf(d, 3));
      expect(xOf(d, 4)).to.be.above(xOf(d, 2));
      expect(d.paths.every((p) => /^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+$/.test(p.d))).to.equal(true);
      expect(d.paths.map((p) => [p.from, p.to]), 'each drawn edge says which nodes it joins').to.deep.equal(edgesOf(diamond));
      expect(d.boxes.find((b) => b.node.nodeId === 4)!.lines.slice(0, 2).map((l) => l.text), 'named by key, the id below').to.deep.equal(['join', 'node #4']);
    });
  });

  describe('API additions for the dashboard', () => {
    let flowId: number;
    let fiId: number;
    before(async () => {
      const t = await createTask(m.api, 'ECHO', 'x');
      flowId = await createFlow(m.api, [[t]]);
      fiId = await startFlow(m.api, flowId);
      await waitForEnd(m.api, fiId);
    });

    it('POST /monitor/flow filters by start time (epoch ms or the API\'s time format)', async () => {
      const row = await flowRow(m.api, fiId);
      const startMs = (await detail(m.api, fiId))[0].startMs as number;
      const q = async (body: Record<string, unknown>) => (await m.api('POST', '/monitor/flow', { flowId, ...body })).body.data.map((r: any) => r.fiId);
      expect(await q({ from: startMs - 60_000 })).to.include(fiId);
      expect(await q({ from: startMs + 60_000 })).to.deep.equal([]);
      expect(await q({ to: startMs - 60_000 })).to.deep.equal([]);
      // Whole seconds on the wire: up to the second after the start (a start in a minute's 59th second
      // is past "…:59.000").
      expect(await q({ from: row.startTime, to: formatTime(new Date(startMs + 1000)) })).to.include(fiId);
      const bad = await m.api('POST', '/monitor/flow', { from: 'yesterday' });
      expect(bad.status).to.equal(400);
      expect(bad.body.message).to.match(/^from: /);
    });

    it('detail rows carry workerId and epoch-ms times after the original API\'s keys', async () => {
      const nis = await detail(m.api, fiId);
      const task = nis.find((n) => n.tasks.length)!.tasks[0];
      expect(Object.keys(task)).to.deep.equal(['tiId', 'taskId', 'status', 'attempt', 'startTime', 'endTime', 'errorMsg', 'output', 'outputTruncated', 'workerId', 'priority', 'startMs', 'endMs']);
      expect(task.workerId).to.equal(m.services.memberId);
      expect(task.endMs).to.be.at.least(task.startMs);
      expect(Object.keys(nis[0]).slice(-3)).to.deep.equal(['tasks', 'startMs', 'endMs']);
    });

    it('POST /monitor/flow/latest gives each flow\'s newest instance in one call', async () => {
      const fi2 = await startFlow(m.api, flowId);
      await waitForEnd(m.api, fi2);
      const never = await createFlow(m.api, [[(await detail(m.api, fiId))[1].tasks[0].taskId]]);
      const r = await m.api('POST', '/monitor/flow/latest', { flowIds: [flowId, never] });
      expect(r.status, r.text).to.equal(200);
      expect(r.body.data).to.have.length(1);
      expect(r.body.data[0]).to.include({ flowId, fiId: fi2, status: 'SUCCESS' });
      for (const body of [{}, { flowIds: [] }, { flowIds: ['x'] }, { flowIds: Array.from({ length: 201 }, (_, i) => i + 1) }]) {
        const bad = await m.api('POST', '/monitor/flow/latest', body);
        expect(bad.status, JSON.stringify(body).slice(0, 40)).to.equal(400);
        expect(bad.body.message).to.match(/^flowIds/);
      }
    });
  });

});
