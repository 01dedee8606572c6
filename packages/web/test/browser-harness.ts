/**
 * Browser test harness: Debian's Chromium (/usr/bin/chromium, installed by scripts/debian-tools.mjs)
 * driven by playwright-core — never a downloaded browser — against the real service. Every page
 * is watched: a page error or a console error fails the test; each page can be saved as a
 * screenshot under test-output/screenshots/ for a person to look at.
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

/**
 * The browser's own log line for an HTTP error answer (4xx) to a fetch: the page handles such
 * answers and shows their code, which the tests assert. Anything else on the console is a fault.
 */
const HANDLED_HTTP_ERROR = /^Failed to load resource: the server responded with a status of 4\d\d/;

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
export async function openPage(browser: Browser, baseURL: string): Promise<WatchedPage> {
  const context = await browser.newContext({ baseURL, ignoreHTTPSErrors: true, acceptDownloads: true });
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
    },
  };
}
