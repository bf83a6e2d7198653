// Flow control in the dashboard (issue 18), in a real browser against a real member: the task form
// edits concurrencyLimit and rateLimit, the flow form edits timeout, max active and overflow, Start takes
// a priority, the instances list filters QUEUED, the Cluster page lists tasks waiting on a limit.
import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { createFlow, createTask, flowRow } from './helpers/flows.js';
import { waitFor } from './helpers/wait.js';
import { builtUi } from './helpers/ui.js';
import { BrowserSession } from './helpers/browser.js';

const ADMIN_TOKEN = 'ui-flow-control-admin';

describe('dashboard: flow control', function () {
  this.timeout(90_000);
  let m: TestMember;
  let base: string;

  before(async function () {
    this.timeout(120_000);
    await builtUi();
    m = await startTestMember({ ...isolated(), ROLES: 'web,worker', ADMIN_TOKEN, WORKER_CONCURRENCY: '4' });
    base = m.url!;
  });
  after(async () => {
    await m?.stop(1000);
  });

  const session = BrowserSession.forSuite('ts-flow-control-');
  let context: BrowserContext;
  let page: Page;
  const go = async (path: string) => {
    const res = await page.goto(`${base}${path}`);
    expect(res?.status(), path).to.equal(200);
  };
  before(async () => {
    context = await session.newContext();
    page = await context.newPage();
  });

  it('the task form edits concurrencyLimit and rateLimit', async () => {
    const taskId = await createTask(m.api, 'WAIT', null, { waitMs: 100 });
    await go(`/ui/tasks/${taskId}`);
    // The form is filled in once the task has loaded (its fields depend on its type).
    await page.waitForFunction(() => (document.getElementById('cfg-waitMs') as HTMLInputElement | null)?.value === '100');
    await page.getByLabel('Concurrency limit').fill('3');
    await page.getByLabel('Rate limit: starts').fill('5');
    await page.getByLabel('Rate limit: window (ms)').fill('1000');
    await page.getByRole('button', { name: 'Save task' }).click();
    await page.waitForURL(`${base}/ui/tasks`);
    expect((await m.api('GET', `/task/${taskId}`)).body.data.taskConfig).to.deep.equal({ waitMs: 100, concurrencyLimit: 3, rateLimit: { max: 5, perMs: 1000 } });
    await session.shot(page, 'task-limits');
  });

  it('the flow form edits timeout, max active and overflow; Start takes a priority', async () => {
    const echo = await createTask(m.api, 'ECHO', 'x');
    const flowId = await createFlow(m.api, [[echo]]);
    await go(`/ui/flows/${flowId}/edit`);
    await page.getByLabel('Timeout (ms, optional)').fill('60000');
    await page.getByLabel('Max active instances (optional)').fill('2');
    await page.getByLabel('Beyond that').selectOption('SKIP');
    await page.getByRole('button', { name: 'Save new version' }).click();
    await page.waitForURL(`${base}/ui/flows/${flowId}`);
    const f = (await m.api('GET', `/flow/${flowId}`)).body.data;
    expect([f.timeoutMs, f.maxActiveInstances, f.overflow]).to.deep.equal([60000, 2, 'SKIP']);
    await page.getByText('at most 2 running (beyond: SKIP)').waitFor();
    await page.getByLabel('Priority').selectOption('7');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await page.waitForURL(/\/ui\/instances\/\d+$/);
    const fiId = Number(page.url().split('/').pop());
    expect((await flowRow(m.api, fiId)).priority).to.equal(7);
  });

  it('the instances list filters QUEUED; the Cluster page lists the tasks waiting on a limit', async () => {
    const slow = await createTask(m.api, 'WAIT', null, { waitMs: 3000, concurrencyLimit: 1 });
    await waitFor('the limit in the queue and the worker', async () => (await m.services.queue.limitedTasks()).has(slow) && m.engine.worker!.limitedTasks.has(slow), 10_000);
    const flowId = await createFlow(m.api, [{ taskIds: [slow, slow, slow], completion: 'ALL' }], { maxActiveInstances: 1 });
    const first = (await m.api('POST', `/exec/flow/${flowId}`)).body.data.fiId;
    const queued = (await m.api('POST', `/exec/flow/${flowId}`)).body.data.fiId;
    expect((await flowRow(m.api, queued)).status).to.equal('QUEUED');
    await go(`/ui/instances?status=QUEUED&flowId=${flowId}`);
    await page.getByRole('link', { name: `#${queued}` }).waitFor();
    expect(await page.getByRole('link', { name: `#${first}` }).count()).to.equal(0);
    await session.shot(page, 'instances-queued');

    await go('/ui/cluster');
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Use admin token' }).click();
    const row = page.locator(`[data-testid="limits-table"] tr[data-task-id="${slow}"]`);
    await row.waitFor();
    expect(await row.textContent()).to.match(/1 at once/);
    await session.shot(page, 'cluster-limits');
    await m.api('POST', `/exec/flow-ins/${queued}/cancel`);
    await m.api('POST', `/exec/flow-ins/${first}/cancel`);
  });
});
