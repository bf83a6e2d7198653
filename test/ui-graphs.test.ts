// The dashboard and what the API gained after it was built, in a real browser (Debian's chromium driven
// by playwright-core) against real members: a graph flow START → a → (b, c) → d → END built through the
// form (a cycle refused next to its node), drawn with its edges, loaded again for editing, started and
// watched to SUCCESS; a start with a JSON input (the API's 400 for a non-object next to the field) and
// the instance's input, result and rendered task content; a retry refused with 409 shown at its node;
// and, against a member with API_TOKENS, the token asked for on a 401 (again when wrong), kept for the
// tab and sent on the event stream, and a read-only token's 403 on a start. No console error anywhere
// but the refusals each test provokes. Screenshots go to a temporary directory (its path is printed).
import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestMember, type Api, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, flowRow, startFlow, waitForEnd } from './helpers/flows.js';
import { builtUi } from './helpers/ui.js';
import { BrowserSession, withStatus } from './helpers/browser.js';
import { bodyOf, draftOf } from '../src/ui/app/pages/flowForm.js';

/** A flow's shape by keys: [key, keys of the nodes it follows] per node, from GET /flow/{id}. */
function shapeOf(flow: any): [string, string[]][] {
  const keyOf = new Map<number, string>(flow.flowNodes.map((n: any) => [n.nodeId, n.nodeKey]));
  return flow.flowNodes.map((n: any) => [n.nodeKey, (n.prevNodes ?? []).map((p: number) => keyOf.get(p))]);
}

async function saveFlow(api: Api, flowName: string, flowNodes: unknown[], headers: Record<string, string> = {}): Promise<any> {
  const r = await api('POST', '/flow', { flowName, flowNodes }, headers);
  expect(r.status, r.text).to.equal(200);
  return r.body.data;
}

describe('dashboard: flows as graphs, data, API tokens', function () {
  this.timeout(60_000);
  const session = BrowserSession.forSuite('ts-dashboard-graphs-');
  const shot = (p: Page, name: string) => session.shot(p, name);
  const newContext = () => session.newContext();
  const startRequest = (p: Page, flowId: number) => p.waitForRequest((r) => r.method() === 'POST' && new URL(r.url()).pathname === `/exec/flow/${flowId}`);

  before(async function () {
    this.timeout(120_000);
    await builtUi();
  });

  describe('graphs and data', () => {
    let m: TestMember;
    let base: string;
    let context: BrowserContext;
    let page: Page;
    const tasks: Record<'one' | 'two' | 'slow' | 'three', { id: number; label: string }> = {} as never;
    let graphFlow: number;

    before(async function () {
      this.timeout(60_000);
      m = await startTestMember({ ...isolated(), ROLES: 'web,worker', WORKER_CONCURRENCY: '8' });
      base = m.url!;
      for (const [name, type, content, config] of [
        ['one', 'ECHO', 'one', undefined],
        ['two', 'ECHO', 'two', undefined],
        ['slow', 'WAIT', null, { waitMs: 1000 }],
        ['three', 'ECHO', 'three', undefined],
      ] as const) {
        const id = await createTask(m.api, type, content, config, name);
        tasks[name] = { id, label: `${name} (${type}, #${id})` };
      }
      context = await newContext();
      page = await context.newPage();
    });
    after(async () => {
      await context?.close();
      await m?.stop(1000);
    });

    /** Fills TASK node `i` (1-based) of the flow form: one task, its key and what it follows. */
    const fillNode = async (i: number, task: { label: string }, key: string, after: string) => {
      const node = page.getByTestId(`node-${i}`);
      await page.getByLabel(`Task to add to node ${i}`).selectOption({ label: task.label });
      await node.getByRole('button', { name: 'Add task' }).click();
      await node.getByLabel('Key (optional)', { exact: true }).fill(key);
      await node.getByLabel('After (keys, optional)', { exact: true }).fill(after);
    };

    it('builds START → a → (b, c) → d → END in the form; a cycle is refused next to the node the API names', async () => {
      session.expected = [/status of 400/];
      await page.goto(`${base}/ui/flows/new`);
      await page.getByLabel('Name', { exact: true }).fill('diamond');
      await fillNode(1, tasks.one, 'a', '');
      await page.getByRole('button', { name: 'Add TASK node' }).click();
      await fillNode(2, tasks.two, 'b', 'c'); // b after c and c after b: a cycle
      await page.getByRole('button', { name: 'Add TASK node' }).click();
      await fillNode(3, tasks.slow, 'c', 'b');
      await page.getByRole('button', { name: 'Add TASK node' }).click();
      await fillNode(4, tasks.three, 'd', 'b, c');
      await page.getByRole('button', { name: 'Create flow' }).click();

      const err = page.locator('[data-testid="flow-form"] .field-error');
      await err.first().waitFor();
      expect(await err.count(), 'one error, at one field').to.equal(1);
      const id = (await err.getAttribute('id'))!;
      expect(id).to.be.oneOf(['node-2-after-error', 'node-3-after-error']);
      const key = id === 'node-2-after-error' ? 'b' : 'c';
      const other = key === 'b' ? 'c' : 'b';
      expect(await err.textContent()).to.equal(`node "${key}" is in a cycle: ${key} → ${other} → ${key}`);
      expect(await page.locator(`#${id.replace('-error', '')}`).getAttribute('aria-describedby')).to.include(id);
      await shot(page, 'graph-form-cycle');

      for (const i of [2, 3]) await page.getByTestId(`node-${i}`).getByLabel('After (keys, optional)', { exact: true }).fill('a');
      await page.getByRole('button', { name: 'Create flow' }).click();
      await page.waitForURL(/\/ui\/flows\/\d+$/);
      graphFlow = Number(/(\d+)$/.exec(page.url())![1]);
      const saved = (await m.api('GET', `/flow/${graphFlow}`)).body.data;
      expect(shapeOf(saved)).to.deep.equal([['n0', []], ['a', ['n0']], ['b', ['a']], ['c', ['a']], ['d', ['b', 'c']], ['n5', ['d']]]);
      const idOf = (k: string) => saved.flowNodes.find((x: any) => x.nodeKey === k).nodeId as number;

      // The page draws the edges from prevNodes: two into d (from b and c), six in all.
      const graph = page.getByTestId('flow-graph');
      await graph.locator('[data-node-key="d"]').waitFor();
      expect(await graph.locator('path.g-edge').count()).to.equal(6);
      const into = graph.locator(`path.g-edge[data-to="${idOf('d')}"]`);
      expect((await into.evaluateAll((ps) => ps.map((p) => Number(p.getAttribute('data-from'))))).sort()).to.deep.equal([idOf('b'), idOf('c')].sort());
      expect(await graph.locator(`path.g-edge[data-to="${idOf('b')}"]`).getAttribute('data-from')).to.equal(String(idOf('a')));
      // b and c side by side (one column, two rows), d after both.
      const [b, c, d] = await Promise.all(['b', 'c', 'd'].map((k) => graph.locator(`[data-node-key="${k}"]`).boundingBox()));
      expect(Math.abs(b!.x - c!.x)).to.be.below(1);
      expect(Math.abs(b!.y - c!.y)).to.be.above(b!.height - 1);
      expect(d!.x).to.be.above(b!.x + b!.width);
      // Each node's key, in the graph and in the list below it (which says what each follows).
      expect(await graph.locator('.g-title').allTextContents()).to.include.members(['START', 'a', 'd', 'END']);
      expect(await page.locator(`[data-testid="node-list"] li[data-node-id="${idOf('d')}"]`).textContent()).to.include('after b, c');
      await shot(page, 'graph-flow');
    });

    it('loads the graph flow for editing with its keys and predecessors; saved unchanged, the shape stays', async () => {
      await page.goto(`${base}/ui/flows/${graphFlow}/edit`);
      await page.getByTestId('node-4').waitFor();
      const values = async (what: string) => Promise.all([1, 2, 3, 4].map((i) => page.locator(`#node-${i}-${what}`).inputValue()));
      expect(await values('key')).to.deep.equal(['a', 'b', 'c', 'd']);
      expect(await values('after')).to.deep.equal(['START', 'a', 'a', 'b, c']);
      await shot(page, 'graph-form-edit');
      await page.getByRole('button', { name: 'Save new version' }).click();
      await page.getByRole('status').filter({ hasText: 'version 2' }).waitFor();
      const v1 = (await m.api('GET', `/flow/${graphFlow}?version=1`)).body.data;
      const v2 = (await m.api('GET', `/flow/${graphFlow}`)).body.data;
      expect(v2.flowVersion).to.equal(2);
      expect(shapeOf(v2)).to.deep.equal(shapeOf(v1));
    });

    it('starts it from the flow page (no input sent) and watches it reach SUCCESS live, every node SUCCESS', async () => {
      // Still on the flow page the save led to.
      await page.evaluate(() => { (window as any).__sameDocument = true; });
      const [req] = await Promise.all([startRequest(page, graphFlow), page.getByRole('button', { name: 'Start', exact: true }).click()]);
      expect(req.postData(), 'no body without an input').to.equal(null);
      await page.waitForURL(/\/ui\/instances\/\d+$/);
      await withStatus(page, 'fi-status', 'RUNNING').waitFor();
      await shot(page, 'graph-instance-running');
      await withStatus(page, 'fi-status', 'SUCCESS').waitFor();
      expect(await page.evaluate(() => (window as any).__sameDocument), 'no reload').to.equal(true);
      const graph = page.getByTestId('flow-graph');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid="flow-graph"] [data-node-id][data-status="SUCCESS"]').length === 6);
      expect(await graph.locator('.g-status').allTextContents()).to.deep.equal(Array(6).fill('SUCCESS'));
      expect(await graph.locator('path.g-edge').count()).to.equal(6);
      await shot(page, 'graph-instance-success');
    });

    it('starts a flow with a JSON input; the instance shows its input, result and what each task ran', async () => {
      session.expected = [/status of 400/];
      const greet = await createTask(m.api, 'ECHO', 'hello ${input.name}', undefined, 'greet');
      const shout = await createTask(m.api, 'ECHO', '${nodes.a.output}!', undefined, 'shout');
      const flow = await saveFlow(m.api, 'greeting', [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'a', taskIds: [greet] }, { nodeType: 'TASK', nodeKey: 'b', taskIds: [shout], prevNodes: ['a'] }, { nodeType: 'END' }]);
      await page.goto(`${base}/ui/flows/${flow.flowId}`);
      await page.getByText('Start with an input (JSON)').click();
      const input = page.getByLabel('Flow-instance input');

      // Not an object: the API's 400, next to the field; nothing started.
      await input.fill('[1, 2]');
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page.locator('#start-input-error').waitFor();
      expect(await page.locator('#start-input-error').textContent()).to.equal('must be a JSON object');
      expect(await page.getByTestId('notice').textContent(), 'said once, at the field').to.equal('');
      expect(await input.getAttribute('aria-describedby')).to.equal('start-input-error');
      expect((await m.api('POST', '/monitor/flow', { flowId: flow.flowId })).body.data).to.deep.equal([]);
      await shot(page, 'start-input-400');

      await input.fill('{"name": "Ada"}');
      const [req] = await Promise.all([startRequest(page, flow.flowId), page.getByRole('button', { name: 'Start', exact: true }).click()]);
      expect(JSON.parse(req.postData()!)).to.deep.equal({ input: { name: 'Ada' } });
      await page.waitForURL(/\/ui\/instances\/\d+$/);
      await withStatus(page, 'fi-status', 'SUCCESS').waitFor();
      await page.getByTestId('fi-result').waitFor();
      expect(JSON.parse((await page.getByTestId('fi-input').textContent())!)).to.deep.equal({ name: 'Ada' });
      expect(JSON.parse((await page.getByTestId('fi-result').textContent())!)).to.deep.equal({ b: 'hello Ada!' });
      expect(await page.getByTestId('rendered-content').allTextContents()).to.deep.equal(['hello Ada', 'hello Ada!']);
      await shot(page, 'instance-data');
    });

    it("the form's round trip (answer → form → save) keeps a graph whose nodes all follow START, and START's own key", async () => {
      // Every TASK node after START only: dropping START from "after" would save a chain instead.
      for (const start of [{ nodeType: 'START' }, { nodeType: 'START', nodeKey: 'begin' }]) {
        const k = start.nodeKey ?? 'n0';
        const flow = await saveFlow(m.api, 'fan-out', [start, { nodeType: 'TASK', nodeKey: 'x', taskIds: [tasks.one.id], prevNodes: [k] }, { nodeType: 'TASK', taskIds: [tasks.two.id], prevNodes: [k] }, { nodeType: 'END' }]);
        const draft = draftOf(flow);
        expect(draft.nodes.map((d) => [d.key, d.after])).to.deep.equal([['x', 'START'], ['n2', 'START']]);
        const again = await m.api('POST', '/flow', bodyOf(draft, flow.flowId));
        expect(again.status, again.text).to.equal(200);
        expect(again.body.data.flowVersion).to.equal(2);
        expect(shapeOf(again.body.data)).to.deep.equal(shapeOf(flow));
        expect(shapeOf(flow)).to.deep.equal([[k, []], ['x', [k]], ['n2', [k]], ['n3', ['x', 'n2']]]);
      }
    });

    it('a retry the API refuses (409: a predecessor did not succeed) shows its message at that node', async () => {
      session.expected = [/status of 409/];
      const first = await createTask(m.api, 'ECHO', 'fine', undefined, 'first');
      const second = await createTask(m.api, 'EXCEPTION', 'no', undefined, 'second');
      const flow = await saveFlow(m.api, 'retry refused', [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'a', taskIds: [first] }, { nodeType: 'TASK', nodeKey: 'b', taskIds: [second], prevNodes: ['a'] }, { nodeType: 'END' }]);
      const fiId = await startFlow(m.api, flow.flowId);
      expect((await waitForEnd(m.api, fiId)).status).to.equal('FAILED');
      const [, aIns, bIns] = await detail(m.api, fiId);
      // a breaks and is retried: it fails, and b's instance is left from before.
      expect((await m.api('POST', '/task', { taskId: first, taskName: 'first', taskType: 'EXCEPTION', taskContent: 'a broke' })).status).to.equal(200);
      expect((await m.api('POST', `/exec/flow/${flow.flowId}`, { fiId, niId: aIns.niId })).status).to.equal(200);
      expect((await waitForEnd(m.api, fiId)).errorMsg).to.equal('a broke');

      await page.goto(`${base}/ui/instances/${fiId}`);
      const article = page.locator(`article[data-ni-id="${bIns.niId}"]`);
      expect(await article.locator('h3').textContent()).to.match(/^b TASK node #\d+ · node instance \d+/);
      page.once('dialog', (dlg) => void dlg.accept());
      await article.getByRole('button', { name: 'Retry from this node' }).click();
      const notice = article.getByTestId('ni-notice');
      await notice.filter({ hasText: '409' }).waitFor();
      expect(await notice.textContent()).to.equal('409: node "b" follows "a", which did not succeed: retry from there');
      expect(await notice.getAttribute('class')).to.include('bad');
      expect(await page.getByTestId('notice').textContent(), 'not at the top as well').to.equal('');
      expect((await flowRow(m.api, fiId)).status).to.equal('FAILED');
      await shot(page, 'retry-409');
    });
  });

  describe('API tokens', () => {
    const WRITE = '0123456789abcdef0123';
    const READ = 'fedcba9876543210fedc';
    const auth = { Authorization: `Bearer ${WRITE}` };
    let m: TestMember;
    let base: string;
    let flowId: number;

    before(async function () {
      this.timeout(60_000);
      m = await startTestMember({ ...isolated(), ROLES: 'web,worker', API_TOKENS: `ui:${WRITE},viewer:${READ}:read`, ADMIN_TOKEN: 'ui-graphs-admin' });
      base = m.url!;
      const t = await m.api('POST', '/task', { taskName: 'short wait', taskType: 'WAIT', taskConfig: { waitMs: 1000 } }, auth);
      expect(t.status, t.text).to.equal(200);
      flowId = (await saveFlow(m.api, 'guarded flow', [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: [t.body.data.taskId] }, { nodeType: 'END' }], auth)).flowId;
    });
    after(async () => {
      await m?.stop(1000);
    });

    it('asks for the token on a 401 (again when it is wrong), keeps it for the tab, and the live stream works with it', async () => {
      session.expected = [/status of 401/];
      const context = await newContext();
      try {
        const page = await context.newPage();
        const streamAuth: (string | undefined)[] = [];
        page.on('request', (r) => { if (new URL(r.url()).pathname === '/events') streamAuth.push(r.headers().authorization); });
        const res = await page.goto(`${base}/ui/flows`);
        expect(res?.status(), 'the page itself needs no token').to.equal(200);

        const dialog = page.getByRole('dialog', { name: 'API token' });
        await dialog.waitFor();
        expect(await dialog.textContent()).to.include('This server needs an API token.');
        await shot(page, 'token-dialog');
        await dialog.getByLabel('Token', { exact: true }).fill('not-the-token');
        await dialog.getByRole('button', { name: 'Use token' }).click();
        await dialog.filter({ hasText: 'The token was refused' }).waitFor();
        expect(await dialog.getByLabel('Token', { exact: true }).inputValue(), 'asked afresh').to.equal('');
        await dialog.getByLabel('Token', { exact: true }).fill(WRITE);
        await dialog.getByRole('button', { name: 'Use token' }).click();
        await page.getByTestId('flows-table').getByRole('link', { name: 'guarded flow' }).waitFor();
        expect(await dialog.isVisible()).to.equal(false);
        expect(await page.evaluate(() => sessionStorage.getItem('ts.apiToken'))).to.equal(WRITE);

        // Kept for the tab: a reload does not ask again. Then start the flow and watch it live.
        await page.reload();
        await page.getByTestId('flows-table').getByRole('link', { name: 'guarded flow' }).click();
        await page.getByRole('button', { name: 'Start', exact: true }).click();
        await page.waitForURL(/\/ui\/instances\/\d+$/);
        await page.evaluate(() => { (window as any).__sameDocument = true; });
        await withStatus(page, 'fi-status', 'RUNNING').waitFor();
        await withStatus(page, 'fi-status', 'SUCCESS').waitFor();
        expect(await page.evaluate(() => (window as any).__sameDocument), 'no reload').to.equal(true);
        expect(await dialog.isVisible()).to.equal(false);
        expect(streamAuth, 'the event stream sends the token').to.include(`Bearer ${WRITE}`);
        await shot(page, 'token-instance-live');
      } finally {
        await context.close();
      }
    });

    it('a read-only token reads, and a Start shows its 403 clearly', async () => {
      session.expected = [/status of 401/, /status of 403/];
      const context = await newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${base}/ui/flows/${flowId}`);
        const dialog = page.getByRole('dialog', { name: 'API token' });
        await dialog.getByLabel('Token', { exact: true }).fill(READ);
        await dialog.getByRole('button', { name: 'Use token' }).click();
        await page.getByRole('heading', { name: /guarded flow/ }).waitFor();
        const before = (await m.api('POST', '/monitor/flow', { flowId }, auth)).body.data.length;
        await page.getByRole('button', { name: 'Start', exact: true }).click();
        const notice = page.getByTestId('notice');
        await notice.filter({ hasText: '403' }).waitFor();
        expect(await notice.textContent()).to.equal('403: Not allowed with this token: token "viewer" is read-only: it may GET and POST /monitor/* only');
        expect(await notice.getAttribute('class')).to.include('bad');
        expect(page.url()).to.equal(`${base}/ui/flows/${flowId}`);
        expect((await m.api('POST', '/monitor/flow', { flowId }, auth)).body.data.length).to.equal(before);
        await shot(page, 'token-read-only-403');
      } finally {
        await context.close();
      }
    });
  });
});
