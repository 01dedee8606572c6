/**
 * Browser test harness: Debian's Chromium (/usr/bin/chromium, installed by scripts/debian-tools.mjs)
 * driven by playwright-core — never a downloaded browser — against the real service. Every page
 * is watched: a page error or a console error fails the test; each page can be saved as a
 * screenshot under test-output/screenshots/ for a person to look at, and is then checked by
 * axe-core (WCAG 2.1 A and AA rules): a serious or critical violation fails the test.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

/**
 * The browser's own log line for an HTTP error answer (4xx) to a fetch: the page handles such
 * answers and shows their code, which the tests assert. Anything else on the console is a fault.
 */
const HANDLED_HTTP_ERROR = /^Failed to load resource: the server responded with a status of 4\d\d/;

/** axe-core's browser bundle, evaluated in the page (over the DevTools protocol, so the page's CSP still forbids inline script). */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }

/** Runs axe-core on the page as it is now; returns the serious and critical violations, described. */
export async function accessibilityFaults(page: Page): Promise<string[]> {
  if (!(await page.evaluate('typeof axe !== "undefined"'))) await page.evaluate(AXE_SOURCE);
  // A string: it runs in the page, where axe and document exist (the tests compile without DOM types).
  const options = { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] };
  const violations = await page.evaluate(`axe.run(document, ${JSON.stringify(options)}).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) })))`) as AxeViolation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: the test machine runs as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}

export interface WatchedPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Console errors and page errors seen so far (the test asserts there are none). */
  readonly faults: string[];
  screenshot(name: string): Promise<void>;
}

/** A new context (its own cookies) and page; the service's development CA is not trusted, so TLS errors are ignored. */
export async function openPage(browser: Browser, baseURL: string, options: { viewport?: { width: number; height: number } } = {}): Promise<WatchedPage> {
  const context = await browser.newContext({ baseURL, ignoreHTTPSErrors: true, acceptDownloads: true, ...(options.viewport ? { viewport: options.viewport } : {}) });
  const page = await context.newPage();
  const faults: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !HANDLED_HTTP_ERROR.test(m.text())) faults.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => faults.push(`page error: ${e.message}`));
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    page,
    context,
    faults,
    screenshot: async (name) => {
      await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
      for (const fault of await accessibilityFaults(page)) faults.push(`accessibility (${name}): ${fault}`);
    },
  };
}
