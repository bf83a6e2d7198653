// What the dashboard's browser tests share: Debian's chromium driven by playwright-core, browser
// contexts that note every console and page error, a check after each test that none went unexpected,
// and screenshots numbered in a temporary directory (its path is printed).
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export class BrowserSession {
  browser!: Browser;
  /** Console errors the running test expects (the browser's own line about a refusal it provoked). */
  expected: RegExp[] = [];
  private problems: string[] = [];
  private shots = '';
  private n = 0;

  /**
   * A browser for the enclosing describe: launched before its tests, closed after them, and after each
   * test a check that no console or page error went unexpected. `shotsPrefix` names the screenshots'
   * directory.
   */
  static forSuite(shotsPrefix: string): BrowserSession {
    const b = new BrowserSession();
    before(async function () {
      this.timeout(60_000);
      b.shots = mkdtempSync(join(tmpdir(), shotsPrefix));
      console.log(`      screenshots: ${b.shots}`);
      b.browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
    });
    afterEach(() => {
      const seen = b.problems;
      b.problems = [];
      b.expected = [];
      expect(seen, 'no console or page errors').to.deep.equal([]);
    });
    after(async () => {
      await b.browser?.close();
    });
    return b;
  }

  /** A context (1280×900) whose console errors and page errors are noted. */
  async newContext(colorScheme: 'light' | 'dark' = 'light'): Promise<BrowserContext> {
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme });
    context.setDefaultTimeout(20_000);
    context.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = `${msg.text()} (${msg.location().url})`;
      if (!this.expected.some((re) => re.test(text))) this.problems.push(`console error on ${msg.page()?.url()}: ${text}`);
    });
    context.on('weberror', (e) => this.problems.push(`page error: ${e.error().message}`));
    return context;
  }

  async shot(p: Page, name: string): Promise<void> {
    this.n += 1;
    await p.screenshot({ path: join(this.shots, `${String(this.n).padStart(2, '0')}-${name}.png`), fullPage: true });
  }
}

/** The element with this test id once it shows this status (`data-status`). */
export const withStatus = (p: Page, testid: string, value: string) => p.locator(`[data-testid="${testid}"][data-status="${value}"]`);
