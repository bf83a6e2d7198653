// The dashboard's Workers page and WORKER task instances in a real browser (Debian's chromium driven by
// playwright-core) against a real member: queues with waiting and in-flight tasks, the workers seen
// polling with the tasks they hold, and an instance page showing a WORKER task's queue, worker, attempt,
// input and output. No console error.
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createTask, waitForEnd } from './helpers/flows.js';
import { builtUi } from './helpers/ui.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('dashboard: the Workers page', function () {
  this.timeout(90_000);
  let m: TestMember;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async function () {
    this.timeout(120_000);
    await builtUi();
    m = await startTestMember({ ...isolated(), ROLES: 'web' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(20_000);
    context.on('console', (msg) => { if (msg.type() === 'error') problems.push(msg.text()); });
    context.on('weberror', (e) => problems.push(e.error().message));
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
    await m?.stop(100);
  });

  it('lists queues, the workers polling them and what they hold; an instance shows its WORKER task', async () => {
    const t = await createTask(m.api, 'WORKER', null, { queue: 'thumbs', input: { url: '${input.url}', size: 64 } });
    const flow = await m.api('POST', '/flow', { flowName: 'thumbs', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'thumb', taskIds: String(t) }, { nodeType: 'END' }] });
    const flowId = flow.body.data.flowId;
    const fis = [];
    for (let i = 0; i < 3; i++) fis.push((await m.api('POST', `/exec/flow/${flowId}`, { input: { url: `https://example.org/${i}.png` } })).body.data.fiId);
    const polled = (await m.api('POST', '/worker/poll', { queues: ['thumbs'], workerId: 'ui-worker-1', max: 1, waitMs: 5000 })).body.data;
    expect(polled).to.have.length(1);

    await page.goto(`${m.url}/ui/workers`);
    const row = page.locator('[data-testid="queues-table"] tr[data-queue="thumbs"]');
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect(cells.slice(0, 4)).to.deep.equal(['thumbs', '2', '0', '1']);
    const w = page.locator('[data-testid="workers-table"] tr[data-worker-id="ui-worker-1"]');
    await w.waitFor();
    const wc = await w.locator('td').allTextContents();
    expect(wc[1]!.trim()).to.equal('thumbs');
    expect(wc[3]).to.equal('1'); // tasks held
    expect(await page.title()).to.match(/^Workers · /);

    const done = await m.api('POST', '/worker/complete', { tiId: polled[0].tiId, leaseToken: polled[0].leaseToken, output: { thumb: 'ok-64' } });
    expect(done.status).to.equal(200);
    const fiId = polled[0].fiId;
    expect((await waitForEnd(m.api, fiId)).status).to.equal('SUCCESS');
    await page.goto(`${m.url}/ui/instances/${fiId}`);
    await page.getByTestId('worker-queue').waitFor();
    expect(await page.getByTestId('worker-queue').textContent()).to.include('thumbs');
    const input = JSON.parse((await page.getByTestId('worker-input').locator('pre').textContent())!);
    expect(input).to.deep.equal({ url: `https://example.org/${fis.indexOf(fiId)}.png`, size: 64 });
    const tiRow = page.locator(`tr[data-ti-id="${polled[0].tiId}"]`);
    const text = await tiRow.textContent();
    expect(text).to.include('ui-worker-1').and.include('ok-64');
    expect(problems).to.deep.equal([]);
  });
});
