/**
 * QR/app onboarding and the System page's pairing codes and tokens, in Debian's Chromium against
 * the real service: an admin creates a pairing code on the System page, sees it once with its
 * QR code (decoded here with jsQR: the setup payload's fields), sees it listed Active, Locked
 * after five wrong codes, Active again after "Reset lock", then Revoked; a token is created and
 * revoked the same way. On a 390 px wide phone an approver opens /onboard directly (a reload or
 * a bookmark), types the setup payload, sees the device record; the real `provisio device
 * pair` asks; the approver confirms and the page shows the device provisioned, without
 * overflowing the screen; the device's page says it enrolled with a pairing code, and its
 * replay plays the QR flow with the approver's confirmation.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { parseCertificate } from '@provisio/pki';
import { parseSetupPayload } from '@provisio/protocol';
import { tempDir } from '@provisio/testkit';
import { setUpSystem, startTestService, type TestService } from '../../server/test/service-harness.js';
import { decodeQrPngBytes } from '../../cli/test/qr-decode.js';
import { provisioAsync, transcript } from '../../cli/test/run-cli.js';
import { launchBrowser, openPage, type WatchedPage } from './browser-harness.js';

const PASSWORD = 'approver password 1';

describe('onboarding in Chromium', () => {
  let t: TestService;
  let browser: Browser;
  let rootSha256: string;
  const opened: WatchedPage[] = [];

  async function open(viewport?: { width: number; height: number }): Promise<WatchedPage> {
    const w = await openPage(browser, t.service.url, viewport ? { viewport } : {});
    opened.push(w);
    return w;
  }

  async function signIn(w: WatchedPage, username: string, password: string): Promise<void> {
    await w.page.goto('/');
    await w.page.getByLabel('Username').fill(username);
    await w.page.getByLabel('Password').fill(password);
    await w.page.getByRole('button', { name: 'Sign in' }).click();
    await w.page.getByTestId('who').waitFor();
  }

  before(async () => {
    t = await startTestService();
    await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256'], { separationOfDuties: true });
    assert.equal((await t.call('POST', '/api/v1/users', { json: { username: 'abe', role: 'approver', password: PASSWORD } })).status, 201);
    rootSha256 = createHash('sha256').update(parseCertificate(t.rootPem).der).digest('hex');
    browser = await launchBrowser();
  });
  after(async () => {
    for (const w of opened) assert.deepEqual(w.faults, [], 'no console or page errors');
    await browser?.close();
    await t?.close();
  });

  it('ok/system-page/create-shows-once-with-qr-list-lock-reset-revoke', async () => {
    const w = await open();
    const { page } = w;
    await signIn(w, 'admin', t.service.adminPassword as string);
    await page.goto('/systems');
    const form = page.getByRole('form', { name: 'New pairing code for ZMonitor' });
    await form.getByLabel('Device id').fill('DEV-301');
    await form.getByLabel('Device label').fill('Bed 31');
    await form.getByRole('button', { name: 'Create pairing code' }).click();
    const shown = page.getByRole('region', { name: 'New pairing code' });
    await shown.waitFor();
    await shown.getByText('Secret, shown once').waitFor();
    const code = (await page.getByTestId('new-secret').textContent()) ?? '';
    assert.match(code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);

    // The QR code on the page decodes to the setup payload.
    const src = (await page.getByTestId('setup-qr').getAttribute('src')) ?? '';
    assert.match(src, /^data:image\/png;base64,/);
    const setup = parseSetupPayload(decodeQrPngBytes(Buffer.from(src.split(',')[1] as string, 'base64')));
    assert.deepEqual(setup, { url: t.service.url, rootSha256, deviceId: 'DEV-301', code });
    await w.screenshot('onboard-01-pairing-created');

    const row = page.locator('tr[data-pairing="DEV-301"]');
    await row.getByText('Active').waitFor();
    await shown.getByRole('button', { name: 'Hide it' }).click();
    assert.equal(await page.getByTestId('new-secret').count(), 0, 'hidden, and never shown again');

    // Five wrong codes from a device lock the pairing; the admin resets the lock, then revokes.
    const wrong = `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;
    for (let i = 0; i < 5; i++) {
      assert.equal((await t.call('POST', '/api/v1/device/pairing/hello', { token: null, json: { deviceId: 'DEV-301', code: wrong } })).status, 401);
    }
    await page.reload();
    await row.getByText('Locked').waitFor();
    await row.getByRole('button', { name: 'Reset lock of DEV-301' }).click();
    await row.getByText('Active').waitFor();
    assert.equal(await row.locator('td').nth(3).textContent(), '0');
    await row.getByRole('button', { name: 'Revoke the pairing code of DEV-301' }).click();
    await row.getByText('Revoked').waitFor();
    const listed = (await t.call('GET', '/api/v1/pairings?system=ZMonitor')).json().items as Array<{ deviceId: string; state: string }>;
    assert.equal(listed.find((p) => p.deviceId === 'DEV-301')?.state, 'revoked');

    // A token: shown once with its QR code, listed, revoked.
    const tokenForm = page.getByRole('form', { name: 'New enrollment token for ZMonitor' });
    await tokenForm.getByLabel('Token for device id').fill('ZM-0042');
    await tokenForm.getByRole('button', { name: 'Create enrollment token' }).click();
    await page.getByRole('region', { name: 'New enrollment token' }).waitFor();
    const token = (await page.getByTestId('new-secret').textContent()) ?? '';
    const tokenSrc = (await page.getByTestId('setup-qr').getAttribute('src')) ?? '';
    assert.deepEqual(parseSetupPayload(decodeQrPngBytes(Buffer.from(tokenSrc.split(',')[1] as string, 'base64'))), { url: t.service.url, rootSha256, deviceId: 'ZM-0042', token });
    const tokenRow = page.locator('tr', { has: page.getByText('ZM-0042', { exact: true }) });
    await tokenRow.getByText('Active').waitFor();
    await tokenRow.getByRole('button', { name: /^Revoke token / }).click();
    await tokenRow.getByText('Revoked').waitFor();
    await w.screenshot('onboard-02-system-secrets');
  });

  it('ok/onboard/phone-types-the-payload-confirms-and-sees-it-provisioned', async () => {
    const created = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: 'DEV-302', deviceLabel: 'Bed 32' } });
    assert.equal(created.status, 201, created.body.toString());
    const { code, setup } = created.json() as { code: string; setup: string };

    const w = await open({ width: 390, height: 844 });
    const { page } = w;
    await signIn(w, 'abe', PASSWORD);
    await page.goto('/onboard');
    await page.getByRole('heading', { name: 'Onboard a device' }).waitFor();
    await page.getByTestId('no-scanner').or(page.getByRole('button', { name: 'Scan the QR code' })).waitFor();
    await page.getByLabel('Setup payload or pairing code').fill(setup);
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByTestId('onboard-label').getByText('Bed 32').waitFor();
    await page.getByTestId('onboard-pairing-state').getByText('Active').waitFor();
    assert.equal(await page.getByTestId('onboard-device-state').textContent(), 'has not asked yet');
    assert.ok(!page.url().includes(code), 'the code is never in the address');
    await w.screenshot('onboard-03-looked-up');

    // The device in front of the technician pairs; its request waits for the confirmation.
    const keystore = join(tempDir('provisio-onboard-dev-'), 'keystore');
    const pairing = provisioAsync(['device', 'pair', '--url', t.service.url, '--ca', t.service.rootPath, '--id', 'DEV-302', '--code', code, '--dir', keystore]);
    const confirm = page.getByRole('button', { name: 'Confirm DEV-302' });
    await confirm.waitFor({ timeout: 30_000 });
    await page.getByTestId('onboard-device-state').getByText('Needs approval').waitFor();
    await confirm.click();
    await page.getByTestId('onboard-done').waitFor({ timeout: 60_000 });
    const paired = await pairing;
    assert.equal(paired.status, 0, transcript(paired));
    await page.getByTestId('onboard-device-state').getByText('Provisioned').waitFor();
    const width = await page.evaluate('document.documentElement.scrollWidth') as number;
    assert.ok(width <= 390, `the page is ${width} px wide on a 390 px screen`);
    await w.screenshot('onboard-04-provisioned');

    const device = await t.call('GET', '/api/v1/devices/DEV-302');
    assert.equal(device.json().state, 'provisioned');

    // The device's page (an approver reads devices) names the method that enrolled it.
    await page.goto('/devices/DEV-302');
    await page.getByTestId('device-enrollment').getByText('pairing code (connected)').waitFor();

    // Its replay is the QR flow: the confirmation on this page was the approval (confirmedInPerson).
    await page.goto('/visualizer/replay/DEV-302');
    await page.getByRole('heading', { name: 'Replay: DEV-302' }).waitFor();
    assert.match(await page.getByRole('link', { name: 'Provisio: QR code / onboarding page' }).first().getAttribute('href') ?? '', /\/visualizer\/qr-app$/);
    assert.match(await page.getByTestId('replay-enrollment').innerText(), /pairing code .*DEV-302, confirmed in person on the Onboard page/);
    await page.getByRole('navigation', { name: 'Steps that happened' }).getByRole('link', { name: 'POST /api/v1/onboard/confirm' }).click();
    const panel = page.getByTestId('step-panel');
    await panel.getByRole('heading', { name: /^Step \d+ of \d+: POST \/api\/v1\/onboard\/confirm$/ }).waitFor();
    assert.equal(await panel.getByTestId('replay-step-actor').innerText(), 'user:abe');
    assert.match(await panel.getByTestId('replay-entry').innerText(), /request\.approve[\s\S]*"confirmedInPerson":true/);
    await page.getByTestId('replay-events').locator('tr[data-action="pairing.use"]').waitFor();
    assert.doesNotMatch(await page.locator('main').innerText(), new RegExp(code));
  });

  it('fail/onboard/a-wrong-code-is-refused-with-the-uniform-answer', async () => {
    const w = await open({ width: 390, height: 844 });
    const { page } = w;
    await signIn(w, 'abe', PASSWORD);
    await page.goto('/onboard');
    await page.getByLabel('Setup payload or pairing code').fill('AAAA-2222');
    await page.getByLabel('Device id').fill('DEV-302');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByRole('alert').getByText('pairing_code_invalid').waitFor();
    assert.equal(await page.getByTestId('onboard-label').count(), 0);
  });
});
