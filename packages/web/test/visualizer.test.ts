/**
 * The flow visualizer in Debian's Chromium against the real service and the built UI: it loads
 * without a session and never calls the API; every method plays to its last step with the
 * keyboard, and so does every lifecycle flow; a deep link opens the right step; secure and insecure channels differ by line style
 * and icon with a legend; reduced motion shows no animation; the replay of a provisioning made
 * with the device SDK shows the serial and fingerprint openssl prints for the installed
 * certificate, and a renewal is replayed as its own request with the renewed certificate. Any console error fails a test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '@provisio/pki';
import { initDevice, provisionConnected, renewConnected, reprovisionConnected } from '@provisio/device';
import { tempDir } from '@provisio/testkit';
import type { Browser } from 'playwright-core';
import { setUpSystem, startTestService, type TestService } from '../../server/test/service-harness.js';
import { findMethod, FLOWS, LIFECYCLE_FLOWS, METHODS } from '../src/visualizer/model/index.js';
import { toMermaid } from '../src/visualizer/model/mermaid.js';
import { provisioAsync, transcript } from '../../cli/test/run-cli.js';
import { launchBrowser, openPage, type WatchedPage } from './browser-harness.js';

// Runs inside the page (Locator.evaluate); the test's own types have no DOM.
declare function getComputedStyle(element: unknown): { strokeDasharray: string; animationName: string };

describe('flow visualizer in Chromium', () => {
  let t: TestService;
  let browser: Browser;
  const apiCalls: string[] = [];

  async function open(): Promise<WatchedPage> {
    const w = await openPage(browser, t.service.url);
    w.page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/api/')) apiCalls.push(r.url());
    });
    return w;
  }

  before(async () => {
    t = await startTestService();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('ok/public/index-and-every-method-plays-to-its-end-with-the-keyboard', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/visualizer');
    await page.getByRole('heading', { name: 'Provisioning flows' }).waitFor();
    assert.equal(await page.getByTestId('method-cards').locator('li').count(), METHODS.length);
    // The lifecycle flows are listed in their own section, not among the methods.
    assert.deepEqual(await page.getByTestId('lifecycle-cards').locator('h3').allInnerTexts(), LIFECYCLE_FLOWS.map((f) => f.name));
    await w.screenshot('v01-visualizer-index');
    await page.getByRole('link', { name: 'Provisio: connected' }).click();
    await page.getByTestId('position').filter({ hasText: 'Step 1 / 8' }).waitFor();

    for (const m of FLOWS) {
      await page.goto(`/visualizer/${m.id}`);
      await page.getByRole('heading', { name: m.name, exact: true }).waitFor();
      await page.locator('main').focus();
      for (let i = 2; i <= m.steps.length; i++) {
        await page.keyboard.press('ArrowRight');
        await page.getByTestId('position').filter({ hasText: `Step ${i} / ${m.steps.length}` }).waitFor();
      }
      const last = m.steps.at(-1);
      assert.ok(last);
      await page.getByRole('heading', { name: `Step ${m.steps.length} of ${m.steps.length}: ${last.title}` }).waitFor();
      assert.ok(await page.getByRole('button', { name: 'Next step' }).isDisabled(), 'no step after the last');
      assert.match(page.url(), new RegExp(`/visualizer/${m.id}\\?step=${m.steps.length}$`));
      // Every step is drawn; those before the current one are no longer faded.
      assert.equal(await page.locator('[data-step]').count(), m.steps.length);
      assert.equal(await page.locator('.arrow-future').count(), 0);
      await w.screenshot(`v02-flow-${m.id}`);
    }

    // Home, End, ←, and space plays (it advances by itself) and pauses.
    await page.goto('/visualizer/provisio-proxy');
    await page.locator('main').focus();
    await page.keyboard.press('End');
    await page.getByTestId('position').filter({ hasText: 'Step 11 / 11' }).waitFor();
    await page.keyboard.press('ArrowLeft');
    await page.getByTestId('position').filter({ hasText: 'Step 10 / 11' }).waitFor();
    await page.keyboard.press('Home');
    await page.getByTestId('position').filter({ hasText: 'Step 1 / 11' }).waitFor();
    await page.getByLabel('Speed').selectOption('2');
    await page.locator('main').focus();
    await page.keyboard.press(' ');
    await page.getByRole('button', { name: 'Pause' }).waitFor();
    await page.getByTestId('position').filter({ hasText: 'Step 2 / 11' }).waitFor();
    await page.locator('main').focus();
    await page.keyboard.press(' ');
    await page.getByRole('button', { name: 'Play' }).waitFor();

    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/deep-link-opens-the-step-with-its-fields-channel-and-legend', async () => {
    const w = await open();
    const { page } = w;
    // Step 2 of the QR code onboarding: the printed label travels to the ward, an insecure channel.
    await page.goto('/visualizer/qr-app?step=2');
    const panel = page.getByTestId('step-panel');
    await panel.getByRole('heading', { name: 'Step 2 of 15: QR label to the ward' }).waitFor();
    assert.match(await panel.getByTestId('channel').innerText(), /printed QR code — insecure/);
    assert.match(await panel.getByTestId('why').innerText(), /travels outside the network/);
    assert.equal(await panel.getByTestId('fields').locator('tbody tr').count(), 1);
    assert.match(await panel.getByTestId('security').innerText(), /Anyone who sees the label/);
    // Insecure: dashed line and the open padlock; secure (step 7, the /onboard page's lookup, after the device asked): solid and closed.
    const insecure = page.locator('[data-step="2"]');
    assert.equal(await insecure.getAttribute('data-secure'), 'no');
    assert.notEqual(await insecure.locator('.arrow-line').evaluate((e) => getComputedStyle(e).strokeDasharray), 'none');
    assert.equal(await insecure.locator('.icon-insecure').count(), 1);
    const secure = page.locator('[data-step="7"]');
    assert.match(await secure.textContent() ?? '', /POST \/api\/v1\/onboard\/lookup/);
    assert.equal(await secure.locator('.arrow-line').evaluate((e) => getComputedStyle(e).strokeDasharray), 'none');
    assert.equal(await secure.locator('.icon-secure').count(), 1);
    // The legend names both, with their line style and icon.
    const legend = page.getByTestId('legend');
    assert.match(await legend.innerText(), /Secure channel: solid line, closed padlock/);
    assert.match(await legend.innerText(), /Insecure channel: dashed line, open padlock/);
    // Out-of-range steps are clamped; a reload keeps the step.
    await page.goto('/visualizer/qr-app?step=99');
    await panel.getByRole('heading', { name: /^Step 15 of 15/ }).waitFor();
    await page.goto('/visualizer/provisio-connected?step=5');
    await page.reload();
    await panel.getByRole('heading', { name: 'Step 5 of 8: Approve' }).waitFor();
    // A trust-boundary crossing: the approval goes from the operator zone into the data centre.
    assert.equal(await page.locator('[data-step="5"] .crossing').count(), 1);
    await w.screenshot('v03-deep-link-approve');
    await page.goto('/visualizer/no-such-method');
    await page.getByRole('heading', { name: 'No such flow' }).waitFor();
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/reduced-motion-shows-no-animation', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/visualizer/provisio-connected?step=3');
    await page.locator('[data-testid="packet"]').waitFor({ state: 'attached' });
    assert.equal(await page.locator('.arrow-current').evaluate((e) => getComputedStyle(e).animationName), 'step-pulse');

    await page.emulateMedia({ reducedMotion: 'reduce' });
    await page.reload();
    await page.getByTestId('position').filter({ hasText: 'Step 3 / 8' }).waitFor();
    await page.locator('main').focus();
    await page.keyboard.press('ArrowRight');
    await page.getByTestId('position').filter({ hasText: 'Step 4 / 8' }).waitFor();
    assert.equal(await page.locator('[data-testid="packet"]').count(), 0, 'no moving message');
    assert.equal(await page.locator('svg animateMotion').count(), 0);
    assert.equal(await page.locator('.arrow-current').evaluate((e) => getComputedStyle(e).animationName), 'none');
    await w.screenshot('v04-reduced-motion');
    assert.deepEqual(w.faults, []);
  });

  it('ok/comparison-steps-both-sides-together-and-timeline-draws-human-waits-as-breaks', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/visualizer/compare?a=jitp&b=provisio-connected');
    const left = page.getByTestId('compare-left-step');
    const right = page.getByTestId('compare-right-step');
    await left.filter({ hasText: 'Step 1 of 4: Register CA + template' }).waitFor();
    await right.filter({ hasText: 'Step 1 of 8: Package (.ppkg) loaded' }).waitFor();
    await page.locator('main').focus();
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await left.filter({ hasText: 'Step 4 of 4: Reconnect' }).waitFor();
    await right.filter({ hasText: 'Step 4 of 8' }).waitFor();
    // The shorter flow finishes while the longer goes on.
    await page.keyboard.press('ArrowRight');
    await left.filter({ hasText: 'Finished (4 steps)' }).waitFor();
    await right.filter({ hasText: 'Step 5 of 8: Approve' }).waitFor();
    assert.match(page.url(), /step=5/);
    await page.keyboard.press('End');
    await right.filter({ hasText: 'Step 8 of 8' }).waitFor();
    await w.screenshot('v05-compare');
    // Choosing another method keeps the other side and starts over.
    await page.getByLabel('Left method').selectOption('zero-touch');
    await left.filter({ hasText: 'Step 1 of 4: IDevID + trust anchor' }).waitFor();
    await right.filter({ hasText: 'Step 1 of 8' }).waitFor();

    await page.goto('/visualizer/provisio-connected');
    await page.getByRole('link', { name: 'Timeline' }).click();
    await page.getByRole('heading', { name: 'Timeline: Provisio: connected' }).waitFor();
    const timeline = page.getByTestId('timeline');
    assert.equal(await timeline.locator('[data-step]').count(), 8);
    // Loading the package and the approval are a person's steps: drawn as breaks.
    assert.deepEqual(await timeline.locator('[data-human="yes"]').evaluateAll((gs) => gs.map((g) => (g as unknown as { dataset: { step: string } }).dataset.step)), ['1', '5']);
    assert.equal(await timeline.locator('.timeline-break').count(), 2);
    assert.equal(await page.getByTestId('machine-time').innerText(), '31 s');
    assert.equal(await page.getByTestId('human-time').innerText(), '1.1 h');
    await w.screenshot('v06-timeline');
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/security-analysis-trust-anchors-and-standards-mapping', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/visualizer/provisio-disconnected');
    await page.getByRole('link', { name: 'Security analysis' }).click();
    await page.getByRole('heading', { name: 'Security analysis: Provisio: disconnected' }).waitFor();
    const surface = page.getByTestId('attack-surface');
    assert.equal(await surface.locator('tbody tr').count(), 9);
    // The package travels from the operator's zone to the field in a file holding a private key.
    const first = await surface.locator('tr[data-step="1"]').innerText();
    assert.match(first, /crosses Operator → Field/);
    assert.match(first, /unsigned file holding a private key \(insecure\)/);
    assert.match(await surface.locator('tr[data-step="9"]').innerText(), /rests on the technician's word/);
    const anchors = await page.getByTestId('trust-anchors').innerText();
    assert.match(anchors, /root\.crt from the package/);
    assert.match(anchors, /step 8: Device checks profile signature/);
    assert.match(await page.getByTestId('standards-table').innerText(), /RFC 7515/);
    await w.screenshot('v07-security');
    await page.getByRole('link', { name: 'Standards across all flows' }).click();
    await page.getByRole('heading', { name: 'Standards mapping' }).waitFor();
    const table = await page.getByTestId('standards-table').innerText();
    assert.match(table, /FDA premarket/);
    assert.match(table, /IEC 62443-4-2/);
    assert.match(table, /Just-in-time provisioning \(JITP\), step 2/);
    assert.match(table, /Provisio: renewal, step 1: CSR \+ renewal JWS made/);
    await w.screenshot('v08-standards');
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/assessment-table-and-decision-guide-with-a-shareable-url', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/visualizer');
    await page.getByRole('link', { name: 'Method comparison' }).click();
    const table = page.getByTestId('assessment');
    assert.equal(await table.locator('tbody tr').count(), METHODS.length);
    const psk = await table.locator('tr[data-method="token-psk"]').innerText();
    assert.match(psk, /3\/5\s+The key stays on the device and the identity is a certificate/);
    await w.screenshot('v09-assessment');

    await page.getByRole('link', { name: 'Which method?' }).click();
    await page.getByRole('heading', { name: 'Which method?' }).waitFor();
    const rec = page.getByTestId('recommendation');
    // The defaults: online, a technician, high assurance, hundreds → Provisio connected.
    await rec.getByRole('heading', { name: 'Recommended: Provisio: connected' }).waitFor();
    // The guide says which Provisio command runs each step of the method it recommends.
    const commands = rec.getByTestId('guide-commands');
    assert.match(await commands.innerText(), /provisio package create --system ZMonitor[\s\S]*provisio device provision --package[\s\S]*provisio request approve/);
    assert.match(await rec.innerText(), /Also consider Provisio: pairing code/);
    await page.getByLabel('Can the device reach the provisioning service when it is installed?').selectOption('site');
    await rec.getByRole('heading', { name: 'Recommended: Provisio: proxy gateway' }).waitFor();
    assert.match(await rec.innerText(), /cannot alter or forge anything/);
    await page.getByLabel('Can the device reach the provisioning service when it is installed?').selectOption('online');
    await page.getByLabel('Who installs it?').selectOption('factory');
    await page.getByLabel('How many devices?').selectOption('thousands');
    await rec.getByRole('heading', { name: 'Recommended: Zero-touch (ZTP)' }).waitFor();
    assert.match(await commands.innerText(), /no Provisio command runs it/);
    assert.match(page.url(), /\/visualizer\/guide\?connectivity=online&installer=factory&security=high&scale=thousands$/);
    assert.equal(await page.getByTestId('share-url').innerText(), page.url());
    await w.screenshot('v10-guide');
    // The shared URL opened fresh gives the same answer.
    const shared = await open();
    await shared.page.goto(page.url());
    await shared.page.getByTestId('recommendation').getByRole('heading', { name: 'Recommended: Zero-touch (ZTP)' }).waitFor();
    assert.equal(await shared.page.getByLabel('Who installs it?').inputValue(), 'factory');
    // A use case fills the answers in.
    await page.getByRole('link', { name: /Smart-home plugs/ }).click();
    await rec.getByRole('heading', { name: 'Recommended: Provisio: QR code / onboarding page' }).waitFor();
    assert.equal(await page.getByLabel('Who installs it?').inputValue(), 'consumer');
    const qrCommands = await commands.innerText();
    assert.match(qrCommands, /provisio pairing create [^\n]*--qr dev-001\.png[\s\S]*provisio device pair --url/);
    assert.match(qrCommands, /provisio device pair --url[\s\S]*provisio device check-in[\s\S]*provisio device audit --dir \/var\/lib\/provisio --verify/);
    // A lab prototype: the one-time token, with its two commands.
    await page.getByRole('link', { name: /A lab prototype/ }).click();
    await rec.getByRole('heading', { name: 'Recommended: Provisio: one-time token (PSK)' }).waitFor();
    assert.match(await commands.innerText(), /provisio token create --system ZMonitor[^\n]*--id DEV-001[\s\S]*provisio device enroll --url[^\n]*--token-file/);
    await w.screenshot('v20-guide-commands');
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual([...w.faults, ...shared.faults], []);
  });

  it('ok/credentials-page-links-to-the-steps', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/visualizer');
    await page.getByRole('link', { name: 'Credentials', exact: true }).click();
    await page.getByRole('heading', { name: 'Credential types and best practices' }).waitFor();
    const psk = page.getByTestId('credential-psk');
    assert.match(await psk.innerText(), /A stolen database/);
    assert.ok(await page.getByTestId('checklist').locator('li').count() >= 5);
    await w.screenshot('v11-credentials');
    await psk.getByRole('link', { name: 'Provisio: one-time token (PSK), step 2: Token file copied' }).click();
    await page.getByRole('heading', { name: 'Step 2 of 8: Token file copied' }).waitFor();
    assert.match(page.url(), /\/visualizer\/token-psk\?step=2$/);
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/mermaid-export-and-print-view', async () => {
    const w = await open();
    const { page, context } = w;
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const method = METHODS.find((m) => m.id === 'provisio-proxy');
    assert.ok(method);
    await page.goto(`/visualizer/${method.id}`);
    await page.getByText('Mermaid sequence diagram').click();
    assert.equal(await page.getByTestId('mermaid').innerText(), toMermaid(method));
    await page.getByRole('button', { name: 'Copy as Mermaid' }).click();
    await page.getByRole('status').filter({ hasText: 'Copied' }).waitFor();
    const copied = await page.evaluate(async () => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
    assert.equal(copied, toMermaid(method));

    await page.getByRole('link', { name: 'Print view' }).click();
    await page.getByRole('heading', { name: method.name, exact: true }).waitFor();
    // Every step expanded, none faded.
    assert.equal(await page.getByTestId('step-panel').count(), method.steps.length);
    assert.equal(await page.locator('.arrow-future').count(), 0);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('header.top').isVisible(), false, 'navigation is not printed');
    await w.screenshot('v12-print');
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  /** A device provisions itself with the SDK (connected delivery) while an approver approves; its installed certificate.pem. */
  async function provisionWithSdk(deviceId: string, system: string): Promise<string> {
    const { packageText } = await setUpSystem(t, system);
    const dir = join(tempDir('provisio-replay-'), 'keystore');
    const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };
    await initDevice(deps, { packageText, component: 'bedside monitor', deviceId, deviceLabel: 'Replay', hardwareSerial: `SN-${deviceId}`, dir });
    const running = provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, maxPollIntervalMs: 100 });
    let requestId: string | undefined;
    for (let i = 0; i < 200 && !requestId; i++) {
      const r = await t.call('GET', `/api/v1/requests?state=pending&q=${deviceId}`);
      requestId = (r.json().items as { id: string }[])[0]?.id;
      if (!requestId) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(requestId, 'the device submitted its request');
    const approved = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
    assert.equal(approved.status, 200, approved.body.toString());
    const result = await running;
    assert.equal(result.serviceState, 'provisioned');
    return join(dir, 'certificate.pem');
  }

  async function signIn(w: WatchedPage, username = 'admin', password = t.service.adminPassword as string): Promise<void> {
    await w.page.goto('/');
    await w.page.getByLabel('Username').fill(username);
    await w.page.getByLabel('Password').fill(password);
    await w.page.getByRole('button', { name: 'Sign in' }).click();
    await w.page.getByTestId('who').waitFor();
  }

  it('ok/replay-of-a-real-provisioning-matches-openssl', async () => {
    const certificate = await provisionWithSdk('DEV-R1', 'ZMonitor');
    const openssl = execFileSync('openssl', ['x509', '-in', certificate, '-noout', '-serial', '-fingerprint', '-sha256'], { encoding: 'utf8' }).trim().split('\n');

    // Signed out, the replay asks for a session (the API answered 401; nothing else is shown).
    const anonymous = await openPage(browser, t.service.url);
    await anonymous.page.goto('/visualizer/replay/DEV-R1');
    await anonymous.page.getByText('Replaying a real provisioning needs a signed-in session').waitFor();
    assert.deepEqual(anonymous.faults, []);

    const w = await openPage(browser, t.service.url);
    const { page } = w;
    await signIn(w);
    await page.goto('/devices/DEV-R1');
    await page.getByRole('link', { name: 'Replay in the flow visualizer' }).click();
    await page.getByRole('heading', { name: 'Replay: DEV-R1' }).waitFor();
    assert.equal(await page.getByTestId('replay-serial').innerText(), openssl[0]);
    assert.equal(await page.getByTestId('replay-fingerprint').innerText(), openssl[1]?.replace(/^SHA256 /i, 'sha256 '));
    const facts = await page.getByTestId('replay-facts').innerText();
    assert.match(facts, /connected/);
    assert.match(facts, /by user:admin|by admin/);
    const events = page.getByTestId('replay-events');
    for (const action of ['request.submit', 'request.approve', 'device.confirm']) await events.locator(`tr[data-action="${action}"]`).waitFor();
    // Each audit entry links to its step of the model and shows its chain hash.
    assert.match(await events.locator('tr[data-action="request.approve"]').innerText(), /step 5: Approve/);
    assert.match(await events.locator('tr[data-action="device.confirm"]').innerText(), /step 8: POST \/api\/v1\/device\/confirm[\s\S]*[0-9a-f]{64}/);
    await w.screenshot('v13-replay');
    assert.deepEqual(w.faults, []);
  });

  it('ok/replay-plays-the-real-steps-and-shows-the-real-certificate-bytes', async () => {
    const certificate = await provisionWithSdk('DEV-R2', 'RMonitor');
    const serial = execFileSync('openssl', ['x509', '-in', certificate, '-noout', '-serial'], { encoding: 'utf8' }).trim();
    // The serial's DER (tag, length, value) where openssl asn1parse finds it: the first INTEGER
    // at depth 2 (tbsCertificate's serialNumber, after the [0] version).
    const der = execFileSync('openssl', ['x509', '-in', certificate, '-outform', 'DER']);
    const parsed = execFileSync('openssl', ['asn1parse', '-inform', 'DER'], { input: der, encoding: 'utf8' });
    const line = /^\s*(\d+):d=2\s+hl=(\d+)\s+l=\s*(\d+)\s+prim:\s+INTEGER\s+:([0-9A-F]+)/m.exec(parsed);
    assert.ok(line, parsed);
    const [offset, header, length] = [Number(line[1]), Number(line[2]), Number(line[3])];
    const serialDerHex = der.subarray(offset, offset + header + length).toString('hex');
    assert.equal(`serial=${line[4]}`, serial);

    const w = await openPage(browser, t.service.url);
    const { page } = w;
    await signIn(w);
    await page.goto('/visualizer/replay/DEV-R2');
    await page.getByRole('heading', { name: 'Replay: DEV-R2' }).waitFor();
    // The steps that happened, in audit order, played with the keyboard on the same player.
    await page.getByTestId('position').filter({ hasText: 'Step 1 / 3' }).waitFor();
    await page.getByRole('heading', { name: 'Step 1 of 3: POST /api/v1/device/requests' }).waitFor();
    // Submit: the signed request as received, decoded, with its CSR in the byte view.
    const panel = page.getByTestId('step-panel');
    await panel.locator('[data-message="request"]').waitFor();
    assert.match(await panel.getByTestId('jws-payload').innerText(), /"deviceId": "DEV-R2"/);
    assert.equal(await panel.getByTestId('jws-header').count(), 2, 'device and bootstrap signatures');
    assert.match(await panel.getByTestId('der-tree').innerText(), /CertificationRequest[\s\S]*subject[\s\S]*commonName = DEV-R2/);
    assert.match(await panel.getByTestId('replay-entry-hash').innerText(), /^[0-9a-f]{64}$/);
    await page.locator('main').focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('heading', { name: 'Step 2 of 3: Approve' }).waitFor();
    assert.match(page.url(), /\/visualizer\/replay\/DEV-R2\?step=2$/);
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'user:admin');
    assert.match(await panel.getByTestId('replay-step-wait').innerText(), /a person acted/);
    await page.keyboard.press('End');
    await page.getByRole('heading', { name: 'Step 3 of 3: POST /api/v1/device/confirm' }).waitFor();
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'device:DEV-R2');
    await page.keyboard.press('Home');
    await page.getByTestId('position').filter({ hasText: 'Step 1 / 3' }).waitFor();
    await w.screenshot('v14-replay-submit');

    // A deep link to the approval: the real certificate, its serial in the tree as openssl prints it.
    await page.goto('/visualizer/replay/DEV-R2?step=2');
    await page.getByRole('heading', { name: 'Step 2 of 3: Approve' }).waitFor();
    const view = panel.getByTestId('byteview').first();
    const serialNode = view.locator('[role="treeitem"][data-name="serialNumber"]');
    assert.equal(`serial=${await serialNode.getByTestId('der-value').first().innerText()}`, serial);
    // Selecting the node marks exactly its DER in the hex dump.
    await serialNode.click();
    assert.equal(await serialNode.getAttribute('aria-selected'), 'true');
    const marked = async () => (await view.getByTestId('hexdump').locator('.hx-mark, .hx-head').allInnerTexts()).join('');
    assert.equal(await marked(), serialDerHex);
    assert.match(await view.getByTestId('selected-path').innerText(), /Certificate › tbsCertificate › serialNumber/);
    // The tree is driven by the keyboard without moving the player: ↓ selects the next field.
    await serialNode.focus();
    await page.keyboard.press('ArrowDown');
    assert.match(await view.getByTestId('selected-path').innerText(), /tbsCertificate › signature$/);
    await page.getByTestId('position').filter({ hasText: 'Step 2 / 3' }).waitFor();
    // Selecting a byte selects the deepest field holding it: the last byte of the serial.
    await view.locator(`[data-offset="${offset + header + length - 1}"]`).click();
    assert.match(await view.getByTestId('selected-path').innerText(), /serialNumber$/);
    assert.equal(await marked(), serialDerHex);
    // The profile as delivered, decoded: its payload names the device and carries the same certificate.
    assert.match(await panel.getByTestId('jws-payload').first().innerText(), /"type": "provisio.profile"[\s\S]*"deviceId": "DEV-R2"/);
    await w.screenshot('v15-replay-certificate-bytes');
    assert.deepEqual(w.faults, []);
  });

  it('ok/flow-steps-show-real-example-bytes-and-generic-ones-say-illustrative', async () => {
    const w = await open();
    const { page } = w;
    const fixture = JSON.parse(readFileSync(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url), 'utf8')) as { certificate: string };
    const serial = execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-serial'], { input: Buffer.from(fixture.certificate, 'base64'), encoding: 'utf8' }).trim();
    const approve = (findMethod('provisio-connected')?.steps.findIndex((s) => s.id === 'approve') ?? -1) + 1;
    await page.goto(`/visualizer/provisio-connected?step=${approve}`);
    const panel = page.getByTestId('step-panel');
    await panel.getByTestId('example-bytes').waitFor();
    const view = panel.getByTestId('byteview').first();
    assert.equal(`serial=${await view.locator('[role="treeitem"][data-name="serialNumber"]').getByTestId('der-value').innerText()}`, serial);
    // The subject's common name is a tree node; selecting it marks its bytes, named in words.
    await view.locator('[role="treeitem"][data-name="subject"]').click();
    assert.match(await view.getByTestId('selected-path').innerText(), /tbsCertificate › subject$/);
    assert.equal((await view.getByTestId('hexdump').locator('.hx-mark, .hx-head').allInnerTexts()).join(''), await view.getByTestId('selected-hex').textContent());
    await w.screenshot('v16-flow-example-certificate');
    // The request step: the real signed request, decoded.
    const submit = (findMethod('provisio-connected')?.steps.findIndex((s) => s.id === 'submit') ?? -1) + 1;
    await page.goto(`/visualizer/provisio-connected?step=${submit}`);
    await panel.getByTestId('jws-view').waitFor();
    assert.match(await panel.getByTestId('jws-payload').innerText(), /"type": "provisio.request"/);
    await w.screenshot('v17-flow-example-request');
    // A generic method has no real bytes, and says its values are illustrative.
    await page.goto('/visualizer/x509-csr?step=1');
    await panel.getByTestId('illustrative').waitFor();
    assert.equal(await panel.getByTestId('example-bytes').count(), 0);
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/pairing-token-and-qr-flows-show-the-real-service-s-bytes-and-their-commands', async () => {
    const w = await open();
    const { page } = w;
    const fixture = JSON.parse(readFileSync(new URL('../src/visualizer/bytes/example-fixture.json', import.meta.url), 'utf8')) as {
      pairing: { certificate: string; pair: { answer: { payload: { pairingCode: string; issuedAt: string } } } };
      token: { certificate: string };
    };
    const serialOf = (b64: string) => execFileSync('openssl', ['x509', '-inform', 'DER', '-noout', '-serial'], { input: Buffer.from(b64, 'base64'), encoding: 'utf8' }).trim();
    const stepOf = (method: string, id: string) => (findMethod(method)?.steps.findIndex((s) => s.id === id) ?? -1) + 1;
    const panel = page.getByTestId('step-panel');
    const treeSerial = async () => `serial=${await panel.getByTestId('byteview').first().locator('[role="treeitem"][data-name="serialNumber"]').getByTestId('der-value').first().innerText()}`;

    // The pairing code flow: each device step names `provisio device pair`; the approval shows the
    // paired certificate with the serial openssl prints; the payload step the seed's signed payload.
    await page.goto(`/visualizer/provisio-pairing?step=${stepOf('provisio-pairing', 'register')}`);
    await panel.getByRole('heading', { name: /^Step 1 of 12: POST \/api\/v1\/pairings$/ }).waitFor();
    assert.match(await panel.getByTestId('command').innerText(), /^provisio pairing create --system ZMonitor --component "bedside monitor" --id DEV-001 --label "Bed 12"/);
    assert.equal(await panel.getByTestId('illustrative').count(), 0, 'Provisio\'s own flow');
    await page.goto(`/visualizer/provisio-pairing?step=${stepOf('provisio-pairing', 'hello')}`);
    assert.match(await panel.getByTestId('command').innerText(), /^provisio device pair --url \S+ --ca root\.crt --id DEV-001 --code/);
    assert.match(await panel.getByTestId('answer-hello').innerText(), /"system": "ZMonitor"/);
    assert.match(await panel.getByTestId('sent-hello').innerText(), /"code": "[A-Z2-9]{4}-\*{4}"/);
    await page.goto(`/visualizer/provisio-pairing?step=${stepOf('provisio-pairing', 'approve')}`);
    assert.equal(await treeSerial(), serialOf(fixture.pairing.certificate));
    await page.goto(`/visualizer/provisio-pairing?step=${stepOf('provisio-pairing', 'payload')}`);
    const payload = await panel.getByTestId('payload-json').innerText();
    assert.match(payload, new RegExp(`"pairingCode": "${fixture.pairing.pair.answer.payload.pairingCode.replace(/\*/g, '\\*')}"`));
    assert.match(payload, /"clientCertificate": "-----BEGIN CERTIFICATE-----/);
    assert.match(await panel.getByTestId('payload-header').innerText(), /"alg": "ES256"[\s\S]*"x5c"/);
    // The payload's clientCertificate in the byte view: the same serial.
    assert.equal(await treeSerial(), serialOf(fixture.pairing.certificate));
    await w.screenshot('v21-pairing-payload');
    await page.goto(`/visualizer/provisio-pairing?step=${stepOf('provisio-pairing', 'audit-log')}`);
    assert.match(await panel.getByTestId('command').innerText(), /^provisio device audit --dir \S+ --verify$/);
    assert.match(await panel.getByTestId('device-audit').innerText(), /"event":"profile\.verified"[\s\S]*"event":"install\.completed"[\s\S]*"event":"install\.confirmed"/);

    // The token flow: `provisio token create`, then `provisio device enroll` with the real CSR and certificate.
    await page.goto('/visualizer/token-psk?step=1');
    assert.match(await panel.getByTestId('command').innerText(), /^provisio token create --system ZMonitor/);
    await page.goto(`/visualizer/token-psk?step=${stepOf('token-psk', 'enroll')}`);
    assert.match(await panel.getByTestId('command').innerText(), /^provisio device enroll --url \S+ --ca root\.crt --token-file/);
    assert.match(await panel.getByTestId('sent-enroll').innerText(), /"token": "pvt_[0-9a-f]{16}_\*{4}"/);
    assert.match(await panel.getByTestId('der-tree').first().innerText(), /CertificationRequest[\s\S]*commonName = DEV-003/);
    await page.goto(`/visualizer/token-psk?step=${stepOf('token-psk', 'approve')}`);
    assert.equal(await treeSerial(), serialOf(fixture.token.certificate));
    await w.screenshot('v22-token-certificate');

    // The QR flow: `pairing create --qr` with the setup payload, the device pairs, then the
    // Onboard page's confirmation is the approval, with the pairing's real certificate.
    await page.goto('/visualizer/qr-app?step=1');
    assert.match(await panel.getByTestId('command').innerText(), /--qr dev-001\.png/);
    assert.match(await panel.getByTestId('fields').innerText(), /provisio-setup:\?v=1&url=https%3A%2F%2F\S+&root=sha256:[0-9a-f]+…&id=DEV-001&code=ABCD-\*{4}/);
    await page.goto(`/visualizer/qr-app?step=${stepOf('qr-app', 'approve')}`);
    await panel.getByRole('heading', { name: `Step ${stepOf('qr-app', 'approve')} of 15: POST /api/v1/onboard/confirm` }).waitFor();
    assert.ok(stepOf('qr-app', 'approve') > stepOf('qr-app', 'pair'), 'the device pairs first, then the technician confirms');
    assert.match(await panel.getByTestId('fields').innerText(), /"confirmedInPerson":true/);
    assert.equal(await treeSerial(), serialOf(fixture.pairing.certificate));
    // None of the three says it is only shown for comparison.
    for (const id of ['provisio-pairing', 'token-psk', 'qr-app']) {
      await page.goto(`/visualizer/${id}`);
      await page.getByTestId('step-panel').waitFor();
      assert.doesNotMatch(await page.locator('main').innerText(), /illustrative|for comparison|does not implement/i, id);
    }
    assert.deepEqual(apiCalls, [], 'the visualizer calls no API');
    assert.deepEqual(w.faults, []);
  });

  it('ok/replay-of-a-real-pairing-made-with-the-cli-plays-its-steps', async () => {
    // An admin's `provisio pairing create`, then on the device `provisio device pair`, both the
    // built CLI against this service; the system takes a valid code as the approval.
    assert.equal((await t.call('POST', '/api/v1/systems', { json: { name: 'PairMonitor', separationOfDuties: false } })).status, 201);
    assert.equal((await t.call('POST', '/api/v1/systems/PairMonitor/components', { json: { name: 'bedside monitor', keyTypes: ['p256'] } })).status, 201);
    assert.equal((await t.call('PATCH', '/api/v1/systems/PairMonitor', { json: { enrollmentSecretApproves: true } })).status, 200);
    const work = tempDir('provisio-replay-pair-');
    const rootFile = join(work, 'root.crt');
    writeFileSync(rootFile, t.rootPem);
    const env = { PROVISIO_URL: t.service.url, PROVISIO_CA_FILE: rootFile, PROVISIO_TOKEN: t.adminToken };
    // In the background: the service answers in this process.
    const created = await provisioAsync(['pairing', 'create', '--system', 'PairMonitor', '--component', 'bedside monitor', '--id', 'DEV-P1', '--label', 'Bed 7'], env);
    assert.equal(created.status, 0, transcript(created));
    const code = created.stdout.trim();
    assert.match(code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    const dir = join(work, 'keystore');
    const paired = await provisioAsync(['device', 'pair', '--url', t.service.url, '--ca', rootFile, '--id', 'DEV-P1', '--code', code, '--dir', dir]);
    assert.equal(paired.status, 0, transcript(paired));
    const serial = execFileSync('openssl', ['x509', '-in', join(dir, 'certificate.pem'), '-noout', '-serial'], { encoding: 'utf8' }).trim();

    const w = await openPage(browser, t.service.url);
    const { page } = w;
    await signIn(w);
    await page.goto('/visualizer/replay/DEV-P1');
    await page.getByRole('heading', { name: 'Replay: DEV-P1' }).waitFor();
    assert.match(await page.getByRole('link', { name: 'Provisio: pairing code' }).first().getAttribute('href') ?? '', /\/visualizer\/provisio-pairing$/);
    assert.match(await page.getByTestId('replay-enrollment').innerText(), /pairing code .*DEV-P1/);
    assert.equal(await page.getByTestId('replay-serial').innerText(), serial);
    // Its real steps, in audit order: registered, code spent, request stored, approved by the code, confirmed.
    await page.getByTestId('position').filter({ hasText: 'Step 1 / 5' }).waitFor();
    const panel = page.getByTestId('step-panel');
    await panel.getByRole('heading', { name: 'Step 1 of 5: POST /api/v1/pairings' }).waitFor();
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'user:admin');
    await panel.locator('[data-message="secret-created"]').waitFor();
    await page.locator('main').focus();
    await page.keyboard.press('ArrowRight');
    await panel.getByRole('heading', { name: 'Step 2 of 5: POST /api/v1/device/pairing/pair' }).waitFor();
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'device:DEV-P1');
    await page.keyboard.press('ArrowRight');
    await panel.getByRole('heading', { name: 'Step 3 of 5: POST /api/v1/device/pairing/pair' }).waitFor();
    // The request as stored is the CSR the device made, decoded.
    await panel.locator('[data-message="csr"]').waitFor();
    assert.match(await panel.getByTestId('der-tree').innerText(), /CertificationRequest[\s\S]*commonName = DEV-P1/);
    await page.keyboard.press('ArrowRight');
    await panel.getByRole('heading', { name: 'Step 4 of 5: Approved and issued' }).waitFor();
    assert.equal(`serial=${await panel.getByTestId('byteview').first().locator('[role="treeitem"][data-name="serialNumber"]').getByTestId('der-value').first().innerText()}`, serial);
    await page.keyboard.press('End');
    await panel.getByRole('heading', { name: 'Step 5 of 5: POST /api/v1/device/confirm' }).waitFor();
    assert.match(page.url(), /\/visualizer\/replay\/DEV-P1\?step=5$/);
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'device:DEV-P1');
    const events = page.getByTestId('replay-events');
    for (const action of ['pairing.create', 'pairing.use', 'request.submit', 'request.approve', 'device.confirm']) await events.locator(`tr[data-action="${action}"]`).waitFor();
    assert.doesNotMatch(await page.locator('main').innerText(), new RegExp(code));
    await w.screenshot('v23-replay-pairing');
    assert.deepEqual(w.faults, []);
  });

  it('ok/replay-for-an-approver-shows-the-entries-about-the-device', async () => {
    const certificate = await provisionWithSdk('DEV-R3', 'AMonitor');
    const serial = execFileSync('openssl', ['x509', '-in', certificate, '-noout', '-serial'], { encoding: 'utf8' }).trim();
    const created = await t.call('POST', '/api/v1/users', { json: { username: 'alma', role: 'approver', password: 'approver password 1' } });
    assert.equal(created.status, 201, created.body.toString());
    const w = await openPage(browser, t.service.url);
    const { page } = w;
    await signIn(w, 'alma', 'approver password 1');
    // An approver may not list the audit log, but sees the entries about this device, as on its history.
    await page.goto('/visualizer/replay/DEV-R3?step=2');
    await page.getByRole('heading', { name: 'Step 2 of 3: Approve' }).waitFor();
    const panel = page.getByTestId('step-panel');
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'user:admin');
    assert.match(await panel.getByTestId('replay-entry-hash').innerText(), /^[0-9a-f]{64}$/);
    assert.equal(await page.locator('[data-testid="replay-events"] tr[data-action="request.approve"]').count(), 1);
    assert.equal(`serial=${await panel.getByTestId('byteview').first().locator('[role="treeitem"][data-name="serialNumber"]').getByTestId('der-value').innerText()}`, serial);
    await page.locator('main').focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('heading', { name: 'Step 3 of 3: POST /api/v1/device/confirm' }).waitFor();
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'device:DEV-R3');
    await w.screenshot('v18-replay-approver');
    assert.deepEqual(w.faults, []);
  });
  it('ok/replay-of-a-renewal-from-the-device-page-shows-the-new-certificate', async () => {
    // Provisioned with the SDK, then renewed with its current certificate (renewConnected).
    const certificate = await provisionWithSdk('DEV-L1', 'LMonitor');
    const serialOf = (file: string) => execFileSync('openssl', ['x509', '-in', file, '-noout', '-serial'], { encoding: 'utf8' }).trim();
    const firstSerial = serialOf(certificate);
    await renewConnected({ clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } }, { dir: dirname(certificate), serviceUrl: t.service.url });
    const renewedSerial = serialOf(certificate);
    assert.notEqual(renewedSerial, firstSerial);
    const requests = (await t.call('GET', '/api/v1/devices/DEV-L1/history')).json().requests as { id: string; kind?: string }[];
    const renewal = requests.find((r) => r.kind === 'renewal');
    const first = requests.find((r) => r.kind === undefined);
    assert.ok(renewal && first);

    const w = await openPage(browser, t.service.url);
    const { page } = w;
    await signIn(w);
    await page.goto('/devices/DEV-L1');
    await page.getByTestId('requests').getByRole('link', { name: `Replay request ${renewal.id}` }).click();
    await page.getByRole('heading', { name: 'Replay: DEV-L1' }).waitFor();
    assert.match(await page.getByTestId('replay-kind').innerText(), /^renewal/);
    assert.match(await page.getByRole('link', { name: 'Provisio: renewal' }).first().getAttribute('href') ?? '', /\/visualizer\/provisio-renewal$/);
    // Step 1: the renewal JWS as received, signed by the current key, carrying its CSR.
    await page.getByRole('heading', { name: 'Step 1 of 2: POST /api/v1/device/renew' }).waitFor();
    const panel = page.getByTestId('step-panel');
    await panel.locator('[data-message="renewal"]').waitFor();
    assert.match(await panel.getByTestId('jws-payload').first().innerText(), /"aud": "provisio-renew"[\s\S]*"deviceId": "DEV-L1"/);
    assert.match(await panel.getByTestId('der-tree').first().innerText(), /CertificationRequest[\s\S]*commonName = DEV-L1/);
    // Played with the keyboard to the last step: the confirmation with the new certificate.
    await page.locator('main').focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('heading', { name: 'Step 2 of 2: POST /api/v1/device/confirm' }).waitFor();
    assert.match(page.url(), new RegExp(`/visualizer/replay/DEV-L1\\?request=${renewal.id}&step=2$`));
    assert.ok(await page.getByRole('button', { name: 'Next step' }).isDisabled(), 'no step after the last');
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'device:DEV-L1');
    const serialNode = panel.getByTestId('byteview').first().locator('[role="treeitem"][data-name="serialNumber"]');
    assert.equal(`serial=${await serialNode.getByTestId('der-value').first().innerText()}`, renewedSerial);
    assert.equal(await page.getByTestId('replay-serial').innerText(), renewedSerial);
    // Only the renewal's own entries.
    const events = page.getByTestId('replay-events');
    assert.deepEqual(await events.locator('tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { action: string } }).dataset.action)), ['certificate.renew', 'certificate.install']);
    await w.screenshot('v19-replay-renewal');

    // The first request's replay still shows the first certificate and its own story.
    await page.goto('/devices/DEV-L1');
    await page.getByTestId('requests').getByRole('link', { name: `Replay request ${first.id}` }).click();
    await page.getByRole('heading', { name: 'Step 1 of 3: POST /api/v1/device/requests' }).waitFor();
    assert.equal(await page.getByTestId('replay-serial').innerText(), firstSerial);
    assert.deepEqual(await events.locator('tbody tr').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { action: string } }).dataset.action)), ['request.submit', 'request.approve', 'device.confirm']);
    await page.locator('main').focus();
    await page.keyboard.press('End');
    await page.getByRole('heading', { name: 'Step 3 of 3: POST /api/v1/device/confirm' }).waitFor();
    assert.equal(`serial=${await serialNode.getByTestId('der-value').first().innerText()}`, firstSerial);
    assert.deepEqual(w.faults, []);
  });
  it('ok/replay-of-a-reprovisioning-follows-its-flow', async () => {
    // Provisioned, then reprovisioned with its current certificate; an approver approves (manual policy).
    const certificate = await provisionWithSdk('DEV-L2', 'PMonitor');
    const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };
    const running = reprovisionConnected(deps, { dir: dirname(certificate), serviceUrl: t.service.url, maxWaitMs: 60_000, longPollSeconds: 1 });
    let requestId: string | undefined;
    for (let i = 0; i < 200 && !requestId; i++) {
      const r = await t.call('GET', '/api/v1/requests?state=pending&q=DEV-L2');
      requestId = (r.json().items as { id: string }[])[0]?.id;
      if (!requestId) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(requestId, 'the device asked to be reprovisioned');
    assert.equal((await t.call('POST', `/api/v1/requests/${requestId}/approve`)).status, 200);
    assert.equal((await running).requestId, requestId);
    const serial = execFileSync('openssl', ['x509', '-in', certificate, '-noout', '-serial'], { encoding: 'utf8' }).trim();

    const w = await openPage(browser, t.service.url);
    const { page } = w;
    await signIn(w);
    await page.goto(`/visualizer/replay/DEV-L2?request=${requestId}`);
    await page.getByRole('heading', { name: 'Step 1 of 3: POST /api/v1/device/reprovision' }).waitFor();
    assert.match(await page.getByTestId('replay-kind').innerText(), /^reprovisioning/);
    assert.match(await page.getByTestId('step-panel').getByTestId('jws-payload').first().innerText(), /"aud": "provisio-reprovision"/);
    await page.locator('main').focus();
    await page.keyboard.press('ArrowRight');
    await page.getByRole('heading', { name: 'Step 2 of 3: Approve' }).waitFor();
    assert.equal(await page.getByTestId('replay-step-actor').innerText(), 'user:admin');
    await page.keyboard.press('End');
    await page.getByRole('heading', { name: 'Step 3 of 3: POST /api/v1/device/confirm' }).waitFor();
    assert.equal(await page.getByTestId('replay-serial').innerText(), serial);
    assert.deepEqual(w.faults, []);
  });
});
