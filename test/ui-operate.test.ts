// The dashboard for operating it day to day (issue 22), in a real browser (Debian's chromium driven by
// playwright-core) against a real member: the flow form with no tasks links to making one; tasks and
// flows searched by name; Run once with an input; a cron paused and resumed from the flow list (its next
// run shown); a flow deleted from its page (and the API's refusal shown); nodes named by key in the
// graph, the timeline and the node instances, with "retry N" after a retry; a cancel that says who
// did it in words; typed 24-hour start-time filters; bulk cancel and retry; the failing node in the
// instance list; the bad-input message under Start shown once; in-flight task names and human
// durations. No console error but the refusals a test provokes. Screenshots go to a temporary directory.
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, detail, flowRow, startFlow, waitForEnd } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { builtUi } from './helpers/ui.js';

const ADMIN_TOKEN = 'ui-operate-admin';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

describe('dashboard: operating it day to day', function () {
  this.timeout(60_000);
  let m: TestMember;
  let base: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let shots: string;
  let problems: string[] = [];
  let expected: RegExp[] = [];
  let n = 0;
  const shot = async (name: string) => {
    n += 1;
    await page.screenshot({ path: join(shots, `${String(n).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
  const go = async (path: string) => {
    const res = await page.goto(`${base}${path}`);
    expect(res?.status(), path).to.equal(200);
  };
  const status = (testid: string, value: string) => page.locator(`[data-testid="${testid}"][data-status="${value}"]`);
  const accept = () => page.once('dialog', (d) => void d.accept());
  const running: number[] = [];

  before(async function () {
    this.timeout(120_000);
    await builtUi();
    m = await startTestMember({ ...isolated(), ROLES: 'web,worker', ADMIN_TOKEN, WORKER_CONCURRENCY: '8' });
    base = m.url!;
    shots = mkdtempSync(join(tmpdir(), 'ts-dashboard-operate-'));
    console.log(`      screenshots: ${shots}`);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    context.setDefaultTimeout(20_000);
    context.on('console', (msg: ConsoleMessage) => {
      if (msg.type() !== 'error') return;
      const text = `${msg.text()} (${msg.location().url})`;
      if (!expected.some((re) => re.test(text))) problems.push(`console error on ${msg.page()?.url()}: ${text}`);
    });
    context.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
    page = await context.newPage();
  });
  afterEach(() => {
    const seen = problems;
    problems = [];
    expected = [];
    expect(seen, 'no console or page errors').to.deep.equal([]);
  });
  after(async () => {
    for (const fiId of running) await m.api('POST', `/exec/flow-ins/${fiId}/cancel`);
    await browser?.close();
    await m?.stop(1000);
  });

  it('the flow form with no tasks yet links to creating one', async () => {
    await go('/ui/flows/new');
    const note = page.getByTestId('no-tasks');
    await note.waitFor();
    expect(await note.getByRole('link', { name: 'create a task' }).getAttribute('href')).to.equal('/ui/tasks/new');
    await shot('flow-form-no-tasks');
  });

  let greet: number;
  it('tasks: search by name, and Run once with an input fills the task\'s templates; the Run column stays narrow', async () => {
    greet = await createTask(m.api, 'ECHO', 'hello ${input.name}', undefined, 'greet someone');
    await createTask(m.api, 'ECHO', 'plain', undefined, 'plain echo');
    await go('/ui/tasks');
    await page.getByLabel('Name contains').fill('GREET');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/ui\/tasks\?name=GREET$/);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="tasks-table"] tbody tr').length === 1);
    const row = page.locator(`tr[data-task-id="${greet}"]`);
    // A task whose templates read the input opens its input box by itself.
    const input = row.getByLabel('Input for greet someone (JSON)');
    expect(await input.isVisible()).to.equal(true);
    const button = row.getByRole('button', { name: 'Run greet someone once' });
    expect((await button.boundingBox())!.width).to.be.below(110);

    // An input the template cannot use: the API's 400, once, at the input; nothing runs.
    expected = [/status of 400/];
    await input.fill('{"nom": "Ada"}');
    await button.click();
    await row.locator('.field-error').waitFor();
    expect(await row.locator('.field-error').textContent()).to.equal('template ${input.name}: input has no field "name"');
    expect(await row.locator('.notice').count()).to.equal(0);

    await input.fill('{"name": "Ada"}');
    await button.click();
    await row.locator('[data-status="SUCCESS"]').waitFor();
    expect(await row.textContent()).to.include('hello Ada');
    await shot('tasks-run-with-input');
  });

  it('flows: search by name; the next run is shown and the switch pauses and resumes the cron in place', async () => {
    const cron = await createFlow(m.api, [[greet]], { flowName: 'nightly cron flow', cron: '0 0 5 * * *', cronEnabled: true });
    await createFlow(m.api, [[greet]], { flowName: 'other flow' });
    await go('/ui/flows?name=nightly');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="flows-table"] tbody tr').length === 1);
    const cell = page.getByTestId(`cron-${cron}`);
    const next = (await m.api('GET', `/flow/${cron}`)).body.data.nextRunTime;
    expect(next).to.match(TIME);
    expect(await cell.getByTestId('next-run').textContent()).to.equal(`next ${next}`);
    const toggle = cell.getByRole('switch', { name: 'Schedule of nightly cron flow' });
    expect(await toggle.getAttribute('aria-checked')).to.equal('true');

    await toggle.click();
    await cell.locator('[role="switch"][aria-checked="false"]').waitFor();
    expect(await cell.getByTestId('next-run').textContent()).to.equal('paused');
    let saved = (await m.api('GET', `/flow/${cron}`)).body.data;
    expect(saved).to.include({ cronEnabled: false, flowVersion: 1, nextRunTime: null });
    await shot('flows-paused');

    await toggle.click();
    await cell.locator('[role="switch"][aria-checked="true"]').waitFor();
    saved = (await m.api('GET', `/flow/${cron}`)).body.data;
    expect(saved).to.include({ cronEnabled: true, flowVersion: 1 });
    expect(await cell.getByTestId('next-run').textContent()).to.equal(`next ${saved.nextRunTime}`);
    const row = await m.services.knex('task_flow').where('flow_id', cron).first();
    expect(row.update_user).to.equal('dashboard');
  });

  it('a flow is deleted from its page after a confirmation; a refusal is shown', async () => {
    const doomed = await createFlow(m.api, [[greet]], { flowName: 'doomed flow' });
    await go(`/ui/flows/${doomed}`);
    page.once('dialog', (d) => void d.dismiss());
    await page.getByRole('button', { name: 'Delete' }).click();
    expect((await m.api('GET', `/flow/${doomed}`)).status).to.equal(200);
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); void d.accept(); });
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.waitForURL(`${base}/ui/flows`);
    expect(asked).to.match(/^Delete flow "doomed flow"/);
    await page.getByRole('status').filter({ hasText: `Deleted flow "doomed flow" (#${doomed}).` }).waitFor();
    expect((await m.api('GET', `/flow/${doomed}`)).status).to.equal(404);

    // Deleted behind the page's back: the API's 404 is said on the page.
    expected = [/status of 404/];
    const gone = await createFlow(m.api, [[greet]], { flowName: 'gone flow' });
    await go(`/ui/flows/${gone}`);
    await page.getByRole('button', { name: 'Delete' }).waitFor();
    await m.api('DELETE', `/flow/${gone}`);
    accept();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('notice').filter({ hasText: `404: flow ${gone} does not exist` }).waitFor();

    // In use: another flow starts it as a sub-flow. The API's 409 is said on the page; nothing is deleted.
    expected = [/status of 409/];
    const used = await createFlow(m.api, [[greet]], { flowName: 'used flow' });
    const user = await m.api('POST', '/flow', { flowName: 'user flow', flowNodes: [{ nodeType: 'START' }, { nodeType: 'SUB_FLOW', nodeKey: 'ship', flowId: used }, { nodeType: 'END' }] });
    expect(user.status, user.text).to.equal(200);
    await go(`/ui/flows/${used}`);
    accept();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('notice').filter({ hasText: `409: flow ${used} is started as a sub-flow by the current version of flow ${user.body.data.flowId} "user flow"` }).waitFor();
    expect((await m.api('GET', `/flow/${used}`)).status).to.equal(200);
  });

  it('the bad-input message under Start is shown once', async () => {
    expected = [/status of 400/];
    const flowId = await createFlow(m.api, [[greet]], { flowName: 'input flow' });
    await go(`/ui/flows/${flowId}`);
    await page.getByText('Start with an input (JSON)').click();
    await page.getByLabel('Flow-instance input').fill('[1, 2]');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.locator('#start-input-error').waitFor();
    expect(await page.locator('#start-input-error').textContent()).to.equal('must be a JSON object');
    expect(await page.getByTestId('notice').textContent()).to.equal('');
    expect(await page.getByText('must be a JSON object').count()).to.equal(1);
  });

  let failedFi: number;
  let boomTask: number;
  let keyedFlow: number;
  it('names nodes by key in the graph, the timeline and the node instances; ids are secondary', async () => {
    const hello = await createTask(m.api, 'ECHO', 'hi', undefined, 'say hi');
    boomTask = await createTask(m.api, 'EXCEPTION', 'boom', undefined, 'explode');
    const r = await m.api('POST', '/flow', {
      flowName: 'keyed flow',
      flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'fetch', taskIds: [hello] }, { nodeType: 'TASK', nodeKey: 'boom', taskIds: [boomTask], prevNodes: ['fetch'] }, { nodeType: 'END' }],
    });
    expect(r.status, r.text).to.equal(200);
    keyedFlow = r.body.data.flowId;
    const boomNode = r.body.data.flowNodes[2].nodeId;
    failedFi = await startFlow(m.api, keyedFlow);
    expect((await waitForEnd(m.api, failedFi)).status).to.equal('FAILED');
    await go(`/ui/instances/${failedFi}`);
    await status('fi-status', 'FAILED').waitFor();
    const titles = await page.locator('[data-testid="flow-graph"] .g-title').allTextContents();
    expect(titles).to.deep.equal(['START', 'fetch', 'boom', 'END']);
    expect(await page.locator(`[data-testid="flow-graph"] [data-node-id="${boomNode}"] .g-id`).textContent()).to.equal(`node #${boomNode}`);
    const labels = await page.locator('[data-testid="gantt"] .gantt-label').allTextContents();
    expect(labels.filter((l) => l)).to.deep.equal(['fetch · say hi', 'boom · explode']);
    const heading = await page.locator(`article[data-node-id="${boomNode}"] h3`).textContent();
    expect(heading).to.match(new RegExp(`^boom TASK node #${boomNode} · node instance \\d+$`));
    expect(await page.getByTestId('fi-failed-at').textContent()).to.equal('boom');
    await shot('instance-by-key');
  });

  it('after a retry, the timeline row and the node instance say "retry 1"', async () => {
    await m.api('POST', '/task', { taskId: boomTask, taskName: 'explode', taskType: 'ECHO', taskContent: 'fixed' });
    await go(`/ui/instances/${failedFi}`);
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); void d.accept(); });
    await page.getByRole('button', { name: 'Retry from this node' }).click();
    expect(asked).to.match(/^Retry instance \d+ from node boom\?/);
    await page.getByTestId('ni-notice').filter({ hasText: `Retrying instance ${failedFi} from node boom.` }).waitFor();
    await status('fi-status', 'SUCCESS').waitFor();
    const rows = page.locator('[data-testid="gantt"] .gantt-row');
    // The instance's status and its timeline are fetched apart: wait for the retried row itself to say it ended.
    await rows.nth(2).locator('.bar-text').filter({ hasText: /^SUCCESS/ }).waitFor();
    const texts = await rows.locator('.bar-text').allTextContents();
    expect(texts[1]).to.match(/^FAILED · attempt 1/);
    expect(texts[2]).to.match(/^SUCCESS · retry 1 · attempt 1/);
    expect(await page.getByTestId('ni-retry').allTextContents()).to.deep.equal(['retry 1']);
    await shot('instance-retried');
  });

  let longTask: number;
  let longFlow: number;
  it('a cancel says who did it in words (the name given as "You", sent as X-User)', async () => {
    longTask = await createTask(m.api, 'WAIT', '60000', undefined, 'long wait');
    longFlow = await createFlow(m.api, [[longTask]], { flowName: 'long flow' });
    const fiId = await startFlow(m.api, longFlow);
    running.push(fiId);
    await go(`/ui/instances/${fiId}`);
    await page.locator('table.tasks-ins [data-status="RUNNING"]').waitFor();
    await page.getByLabel('You').fill('ops-alice');
    accept();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await status('fi-status', 'CANCELLED').waitFor();
    expect(await page.getByTestId('notice').textContent()).to.equal(`Cancelled instance ${fiId}: its queued tasks were dropped and running ones told to stop.`);
    const row = await flowRow(m.api, fiId);
    expect(row.errorMsg).to.equal('cancelled by ops-alice');
    expect(await page.getByTestId('fi-error').textContent()).to.equal(`Cancelled by ops-alice at ${row.endTime}.`);
    await shot('instance-cancelled');
    await page.getByLabel('You').fill('');
  });

  it('start-time filters are typed as YYYY-MM-DD HH:mm:ss (server time); a bad one is said, a good one filters', async () => {
    await go('/ui/instances');
    const from = page.getByLabel('Started from');
    expect(await from.getAttribute('type')).to.equal('text');
    expect(await from.getAttribute('placeholder')).to.equal('YYYY-MM-DD HH:mm:ss');
    await from.fill('12/05/2026 1:00 PM');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('#f-from-error').waitFor();
    expect(page.url()).to.equal(`${base}/ui/instances`);

    // The failed-then-retried instance's own start time, as the list shows it: from = to = it keeps it.
    const fi = await flowRow(m.api, failedFi);
    await from.fill(fi.startTime);
    await page.getByLabel('to', { exact: true }).fill(fi.startTime);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/from=/);
    await page.locator(`tr[data-fi-id="${failedFi}"]`).waitFor();
    const shown = await page.locator('[data-testid="instances-table"] tbody tr [data-testid="started"]').evaluateAll((cells) => cells.map((c) => c.textContent));
    expect(shown.every((t) => t === fi.startTime), String(shown)).to.equal(true);
    // A bare date is the whole day.
    await from.fill('2000-01-01');
    await page.getByLabel('to', { exact: true }).fill('2000-01-01');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.locator('text=No instances.').waitFor();
    await shot('instances-time-filter');
  });

  it('the instance list shows the failing node and human durations; selected instances are cancelled and retried together', async () => {
    const boom2 = await createTask(m.api, 'EXCEPTION', 'still broken', undefined, 'broken');
    const r = await m.api('POST', '/flow', { flowName: 'breaks', flowNodes: [{ nodeType: 'START' }, { nodeType: 'TASK', nodeKey: 'step_two', taskIds: [boom2] }, { nodeType: 'END' }] });
    const failing = await startFlow(m.api, r.body.data.flowId);
    expect((await waitForEnd(m.api, failing)).status).to.equal('FAILED');
    await go('/ui/instances');
    const failedRow = page.locator(`tr[data-fi-id="${failing}"]`);
    await failedRow.waitFor();
    expect(await failedRow.getByTestId('failed-at').textContent()).to.equal('step_two');
    expect(await failedRow.getByTestId('took').textContent()).to.match(/^\d+(\.\d+)? (ms|s)$/);

    const a = await startFlow(m.api, longFlow);
    const b = await startFlow(m.api, longFlow);
    running.push(a, b);
    for (const fiId of [a, b]) await waitFor(`instance ${fiId} to run its WAIT`, async () => (await detail(m.api, fiId))[1]?.tasks[0]?.status === 'RUNNING');
    await go(`/ui/instances?flowId=${longFlow}&status=RUNNING`);
    await page.locator(`tr[data-fi-id="${b}"]`).waitFor();
    await page.getByLabel('Select all shown').check();
    const cancelButton = page.getByRole('button', { name: 'Cancel selected (2)' });
    accept();
    await cancelButton.click();
    await page.getByTestId('bulk-notice').filter({ hasText: 'Cancelled 2 of 2 instances.' }).waitFor();
    for (const fiId of [a, b]) expect((await flowRow(m.api, fiId)).status).to.equal('CANCELLED');

    await go(`/ui/instances?flowId=${longFlow}&status=CANCELLED`);
    await page.locator(`tr[data-fi-id="${b}"]`).waitFor();
    await page.getByLabel(`Select instance ${a}`).check();
    await page.getByLabel(`Select instance ${b}`).check();
    accept();
    await page.getByRole('button', { name: 'Retry selected (2)' }).click();
    await page.getByTestId('bulk-notice').filter({ hasText: 'Retried 2 of 2 instances.' }).waitFor();
    for (const fiId of [a, b]) expect((await flowRow(m.api, fiId)).status).to.equal('RUNNING');
    await shot('instances-bulk');
  });

  it('the cluster page names in-flight tasks and gives human durations', async () => {
    const fiId = await startFlow(m.api, longFlow);
    running.push(fiId);
    await waitFor('the WAIT in flight', async () => (await detail(m.api, fiId))[1]?.tasks[0]?.status === 'RUNNING');
    await go('/ui/cluster');
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Use admin token' }).click();
    const row = page.locator('tr', { has: page.locator(`a[href="/ui/instances/${fiId}"]`) });
    await row.waitFor();
    expect(await row.getByRole('link', { name: 'long wait' }).count()).to.equal(1);
    const ran = (await row.getByTestId('running-for').textContent())!;
    expect(ran).to.match(/^(\d+ ms|\d+(\.\d+)? s|\d+ min( \d\d s)?)$/);
    for (const cell of await row.locator('td').allTextContents()) expect(cell).to.not.match(/^\d{4,} ms$/);
    await shot('cluster-inflight');
  });
});
