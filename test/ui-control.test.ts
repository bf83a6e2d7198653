// The dashboard and control flow (issue 19), in a real browser against a real member: a SKIPPED node
// greyed and named SKIPPED (graph and list), a waiting SIGNAL's "Send signal" form moving the instance
// on, a sub-flow's link to its child and the child's back to its parent, a forEach node's runs; and the
// flow form building SIGNAL, SUB_FLOW, when and forEach nodes (and keeping them on a round trip).
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, detail, waitForEnd } from './helpers/flows.js';
import { builtUi } from './helpers/ui.js';
import { waitFor } from './helpers/wait.js';
import { bodyOf, draftOf } from '../src/ui/app/pages/flowForm.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('dashboard: control flow', function () {
  this.timeout(90_000);
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let m: TestMember;
  let problems: string[] = [];

  before(async function () {
    this.timeout(120_000);
    await builtUi();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    m = await startTestMember({ ...isolated(), ROLES: 'web,worker', WORKER_CONCURRENCY: '8' });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(20_000);
    context.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`); });
    context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
    page = await context.newPage();
  });
  afterEach(() => {
    const seen = problems;
    problems = [];
    expect(seen, 'no console or page errors').to.deep.equal([]);
  });
  after(async () => {
    await context?.close();
    await browser?.close();
    await m?.stop(1000);
  });

  const save = async (flowName: string, flowNodes: unknown[]) => {
    const r = await m.api('POST', '/flow', { flowName, flowNodes });
    expect(r.status, r.text).to.equal(200);
    return r.body.data;
  };

  it('the form keeps SIGNAL, SUB_FLOW, when and forEach nodes on a round trip (answer → form → body)', async () => {
    const e = await createTask(m.api, 'ECHO', 'x');
    const child = await save('rt child', [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(e) }, { nodeType: 'END' }]);
    const flowNodes = [
      { nodeType: 'START' },
      { nodeType: 'TASK', nodeKey: 'a', taskIds: [e], completion: 'ALL', forEach: 'input.items', maxParallel: 3, when: 'input.go == true' },
      { nodeType: 'SIGNAL', nodeKey: 'approve', timeoutMs: 5000, onTimeout: 'SUCCESS', prevNodes: ['a'] },
      { nodeType: 'SUB_FLOW', nodeKey: 'sub', flowId: child.flowId, flowVersion: 1, input: { x: '${input.x}' }, prevNodes: ['approve'] },
      { nodeType: 'END' },
    ];
    const f = await save('round trip', flowNodes);
    const body = bodyOf(draftOf(f), f.flowId);
    const again = await m.api('POST', '/flow', body);
    expect(again.status, again.text).to.equal(200);
    const strip = (nodes: any[]) => nodes.map(({ nodeId: _a, createTime: _b, updateTime: _c, prevNode: _d, prevNodes: _e, tasks: _f, ...rest }) => rest);
    expect(strip(again.body.data.flowNodes)).to.deep.equal(strip(f.flowNodes));
  });

  it('draws SKIPPED greyed with its word, sends a signal from the form, links a sub-flow both ways, shows forEach runs', async () => {
    const e = await createTask(m.api, 'ECHO', 'item ${item}');
    const plain = await createTask(m.api, 'ECHO', 'plain');
    const child = await save('ui child', [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'c', taskIds: String(plain) }, { nodeType: 'END' }]);
    const f = await save('ui control', [
      { nodeType: 'START' },
      { nodeType: 'TASK', nodeKey: 'skipme', taskIds: String(plain), when: 'input.never == true' },
      { nodeType: 'SIGNAL', nodeKey: 'approve', prevNodes: ['n0'] },
      { nodeType: 'SUB_FLOW', nodeKey: 'sub', flowId: child.flowId, prevNodes: ['approve'] },
      { nodeType: 'TASK', nodeKey: 'each', taskIds: String(e), forEach: 'input.items', prevNodes: ['approve'] },
      { nodeType: 'END' },
    ]);
    const r = await m.api('POST', `/exec/flow/${f.flowId}`, { input: { items: [1, 2, 3] } });
    const fiId = r.body.data.fiId;
    await waitFor('approve waiting', async () => (await detail(m.api, fiId)).some((n: any) => n.nodeKey === 'approve' && n.status === 'RUNNING'), 10_000);
    await page.goto(`${m.url}/ui/instances/${fiId}`);
    const skipped = page.locator('.g-node[data-node-key="skipme"]');
    await expect(await skipped.getAttribute('data-status')).to.equal('SKIPPED');
    expect(await skipped.locator('text.g-status').textContent()).to.equal('SKIPPED');
    expect(await skipped.locator('text.g-rule').last().textContent()).to.equal('when input.never == true');
    const skippedArticle = page.locator('article.node-ins', { has: page.locator('.badge[data-status="SKIPPED"]') });
    expect(await skippedArticle.locator('.badge').textContent()).to.contain('SKIPPED');
    expect(await skippedArticle.evaluate((el) => Number(getComputedStyle(el).opacity))).to.be.below(1);
    expect(await page.locator('.g-node[data-node-key="approve"] text.g-title').textContent()).to.equal('SIGNAL · approve');

    // Send signal: a bad payload is refused in the page; a good one moves the instance on.
    const form = page.getByTestId('signal-form');
    await form.getByLabel('Signal payload (JSON)').fill('{not json');
    await form.getByRole('button', { name: 'Send signal' }).click();
    expect(await page.getByTestId('signal-notice').textContent()).to.match(/payload: not valid JSON/);
    await form.getByLabel('Signal payload (JSON)').fill('{"by": "ada"}');
    await form.getByRole('button', { name: 'Send signal' }).click();
    await page.locator('[data-testid="fi-status"][data-status="SUCCESS"]').waitFor();
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    expect(await page.getByTestId('signal-payload').textContent()).to.equal('{"by":"ada"}');
    expect(await page.getByTestId('foreach-runs').textContent()).to.equal('forEach: 3 items, 3 runs made, 3 succeeded');

    // The sub-flow: to the child, and back.
    await page.getByTestId('child-link').click();
    const childId = (await detail(m.api, fiId)).find((n: any) => n.nodeKey === 'sub').childFiId;
    await page.waitForURL(`**/ui/instances/${childId}`);
    await page.getByTestId('parent-link').click();
    await page.waitForURL(`**/ui/instances/${fiId}`);
  });

  it('the flow form builds a SIGNAL and a SUB_FLOW node; the API stores what was typed', async () => {
    const plain = await createTask(m.api, 'ECHO', 'plain');
    const child = await save('form child', [{ nodeType: 'START' }, { nodeType: 'TASK', taskIds: String(plain) }, { nodeType: 'END' }]);
    await page.goto(`${m.url}/ui/flows/new`);
    await page.getByLabel('Name').fill('built in the form');
    await page.getByLabel('Task to add to node 1').selectOption({ label: `echo task (ECHO, #${plain})` });
    await page.getByTestId('node-1').getByRole('button', { name: 'Add task' }).click();
    await page.getByTestId('node-1').getByLabel('When (optional condition)').fill('input.go == true');
    await page.getByRole('button', { name: 'Add SIGNAL node' }).click();
    const sig = page.getByTestId('node-2');
    await sig.getByLabel('Key (optional)', { exact: true }).fill('approve');
    await sig.getByLabel('Timeout ms (optional)').fill('60000');
    await page.getByRole('button', { name: 'Add SUB_FLOW node' }).click();
    const sub = page.getByTestId('node-3');
    await sub.getByLabel('Key (optional)', { exact: true }).fill('ship');
    await sub.getByLabel('Flow id').fill(String(child.flowId));
    await sub.getByLabel('Input (JSON, optional)').fill('{"n": "${input.n}"}');
    await page.getByRole('button', { name: 'Create flow' }).click();
    await page.waitForURL(/\/ui\/flows\/\d+$/);
    const flowId = Number(new URL(page.url()).pathname.split('/').pop());
    // The flow page says it in words too, and links the sub-flow's flow.
    await page.getByTestId('node-control').first().waitFor(); // the page loads the flow after its URL changes
    const words = await page.getByTestId('node-control').allTextContents();
    expect(words.map((w) => w.trim())).to.deep.equal(['· when input.go == true', '· waits 60000 ms, then FAIL', `· runs flow #${child.flowId}`]);
    expect(await page.getByRole('link', { name: `open flow #${child.flowId}` }).getAttribute('href')).to.equal(`/ui/flows/${child.flowId}`);
    const got = (await m.api('GET', `/flow/${flowId}`)).body.data.flowNodes;
    expect(got.map((n: any) => [n.nodeType, n.nodeKey ?? null])).to.deep.equal([['START', null], ['TASK', null], ['SIGNAL', 'approve'], ['SUB_FLOW', 'ship'], ['END', null]]);
    expect(got[1].when).to.equal('input.go == true');
    expect(got[2]).to.include({ timeoutMs: 60000, onTimeout: 'FAIL' });
    expect(got[3]).to.include({ flowId: child.flowId });
    expect(got[3].input).to.deep.equal({ n: '${input.n}' });
  });
});
