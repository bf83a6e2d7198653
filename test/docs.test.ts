// GET /docs, the API reference (issue 22), in a real browser with no internet: every request that
// does not go to the member is refused, and the test asserts none was even attempted. The page renders
// /openapi.json (Swagger UI, built by src/docs/build.ts), lists the operations, breaks no
// Content-Security-Policy rule, and is open like /openapi.json when API_TOKENS is set. The dashboard's
// header links to it.
import { expect } from 'chai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildDocs } from '../src/docs/build.js';
import { startTestMember, type TestMember } from './helpers/member.js';
import { isolated } from './helpers/env.js';
import { builtUi } from './helpers/ui.js';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TOKEN = 'docs-test-token-0123456789';

describe('API reference page (/docs)', function () {
  this.timeout(90_000);
  let m: TestMember;
  let browser: Browser;
  let page: Page;
  const external: string[] = [];
  const problems: string[] = [];

  before(async function () {
    this.timeout(120_000);
    await Promise.all([buildDocs(), builtUi()]);
    m = await startTestMember({ ...isolated(), ROLES: 'web', API_TOKENS: `docs:${TOKEN}` });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    const context = await browser.newContext();
    // No internet: anything but the member is refused, and noted.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'data:' || ((url.hostname === '127.0.0.1' || url.hostname === 'localhost') && url.origin === new URL(m.url!).origin)) return route.continue();
      external.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    // A Content-Security-Policy violation becomes a console error the test sees.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) problems.push(`console ${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  });
  after(async () => {
    await browser?.close();
    await m?.stop(1000);
  });

  it('is served without a token, with a same-origin Content-Security-Policy and no cache', async () => {
    const r = await fetch(`${m.url}/docs`);
    expect(r.status).to.equal(200);
    expect(r.headers.get('content-type')).to.match(/^text\/html/);
    expect(r.headers.get('cache-control')).to.equal('no-cache');
    const csp = r.headers.get('content-security-policy') ?? '';
    expect(csp).to.include("default-src 'self'").and.include("script-src 'self';").and.include("connect-src 'self'");
    const html = await r.text();
    const asset = /\/docs\/assets\/(swagger-ui-bundle-[0-9a-f]+\.js)/.exec(html)![1];
    const a = await fetch(`${m.url}/docs/assets/${asset}`, { headers: { 'Accept-Encoding': 'br' } });
    expect(a.status).to.equal(200);
    expect(a.headers.get('content-encoding')).to.equal('br');
    expect(a.headers.get('cache-control')).to.include('immutable');
    expect((await fetch(`${m.url}/docs/assets/nope.js`)).status).to.equal(404);
    // The API itself still needs the token.
    expect((await fetch(`${m.url}/task`)).status).to.equal(401);
  });

  it('renders the operations of /openapi.json in the browser, requesting nothing outside the member', async () => {
    const res = await page.goto(`${m.url}/docs`);
    expect(res?.status()).to.equal(200);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    const doc = await (await fetch(`${m.url}/openapi.json`)).json();
    const operations = Object.values(doc.paths as Record<string, Record<string, unknown>>).reduce((n, ops) => n + Object.keys(ops).filter((k) => k !== 'parameters').length, 0);
    expect(await page.locator('.opblock').count()).to.equal(operations);
    expect(await page.locator('.opblock-summary-path', { hasText: '/exec/flow/{flowId}' }).count()).to.be.at.least(1);
    expect(await page.locator('#operations-exec-startOrRetryFlow').count()).to.equal(1);
    expect(await page.locator('.info .title').innerText()).to.include('task-schedule');
    // Opening an operation shows its description and responses, rendered from the document.
    await page.locator('#operations-exec-startOrRetryFlow .opblock-summary').click();
    await page.locator('#operations-exec-startOrRetryFlow .responses-table').first().waitFor();
    expect(await page.locator('#operations-exec-startOrRetryFlow').innerText()).to.include('A start commits the instance');
    expect(external, 'requests outside the member').to.deep.equal([]);
    expect(problems, 'console errors and CSP violations').to.deep.equal([]);
  });

  it('the dashboard\'s header links to it', async () => {
    await page.goto(`${m.url}/ui/`);
    // (With API_TOKENS the dashboard opens its token dialog over the page: the link is checked, then followed.)
    const link = page.locator('header a[href="/docs"]');
    await link.waitFor({ state: 'attached' });
    expect(await link.innerText()).to.match(/API/);
    await page.goto(new URL((await link.getAttribute('href'))!, m.url!).href);
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    expect(external, 'requests outside the member').to.deep.equal([]);
  });
});
