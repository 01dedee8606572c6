/**
 * The admin web UI end to end, in Debian's Chromium against the real service (HTTPS on a loopback
 * port, a temporary SQLite file, the built UI): sign in; a request the device SDK submitted shows
 * "Needs approval"; review and approve it; download its profile on the Provisioning page and
 * install it with the SDK; complete provisioning; the device shows Provisioned; revoke it; a
 * tampered request file is refused with its code and stores nothing; a technician can reach no
 * approval, in the UI nor through the API; a provisioned device's reprovisioning request (made
 * by the device SDK over mutual TLS) shows "Needs approval — reprovisioning" and is approved from
 * the Devices page. Any console error or page error fails a test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { parseCertificate, systemClock } from '@provisio/pki';
import { initDevice, installProfile, loadDevice, provisionConnected, reprovisionConnected } from '@provisio/device';
import { parseBundle, parsePackage, verifyBundle } from '@provisio/protocol';
import { tempDir } from '@provisio/testkit';
import { makeRequest, REQUEST_MEDIA, setUpSystem, startTestService, type TestService } from '../../server/test/service-harness.js';
import { launchBrowser, openPage, type WatchedPage } from './browser-harness.js';

const PASSWORD = 'technician password 1';
const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };

describe('admin web UI in Chromium', () => {
  let t: TestService;
  let browser: Browser;
  let packageText: string;
  let deviceDir: string;
  let requestText: string;
  const opened: WatchedPage[] = [];

  async function open(): Promise<WatchedPage> {
    const w = await openPage(browser, t.service.url);
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
    assert.ok(t.service.adminPassword, 'the first start prints an admin password');
    for (const [username, role] of [['tom', 'technician'], ['ann', 'auditor'], ['abe', 'approver']]) {
      const r = await t.call('POST', '/api/v1/users', { json: { username, role, password: PASSWORD } });
      assert.equal(r.status, 201, r.body.toString());
    }
    ({ packageText } = await setUpSystem(t));
    // The device makes its identity and request with the SDK and submits it itself (connected delivery).
    deviceDir = join(tempDir('provisio-web-dev-'), 'keystore');
    const init = await initDevice(deps, { packageText, component: 'bedside monitor', deviceId: 'DEV-101', deviceLabel: 'Bed 101', hardwareSerial: 'SN-101', dir: deviceDir });
    requestText = init.requestText;
    const submitted = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from(requestText), contentType: REQUEST_MEDIA });
    assert.equal(submitted.status, 201, submitted.body.toString());
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('ok/admin/sign-in-review-approve-download-install-complete-revoke', async () => {
    const w = await open();
    const { page } = w;
    await page.goto('/');
    await page.getByRole('heading', { name: 'Sign in to Provisio' }).waitFor();
    await w.screenshot('01-sign-in');

    // A wrong password: the stable code is shown and the username stays as typed.
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'sign_in_failed' }).waitFor();
    assert.equal(await page.getByLabel('Username').inputValue(), 'admin');

    await page.getByLabel('Password').fill(t.service.adminPassword as string);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    assert.equal(await page.getByTestId('who').innerText(), 'admin (admin)');
    await page.getByTestId('count-needs-approval').filter({ hasText: '1' }).waitFor();
    await page.getByTestId('count-expiring').filter({ hasText: '0' }).waitFor();
    await page.getByRole('cell', { name: 'session.sign_in', exact: true }).waitFor();
    await w.screenshot('02-dashboard');

    // The count links to the filtered list: the device's request, with its badge in words.
    await page.getByRole('link', { name: /Need approval/ }).click();
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
    assert.match(page.url(), /\/devices\?state=needs-approval$/);
    const row = page.locator('tr[data-device="DEV-101"]');
    await row.getByText('Needs approval').waitFor();
    await w.screenshot('03-devices-pending');

    await row.getByRole('button', { name: 'Review DEV-101' }).click();
    const panel = page.getByRole('complementary', { name: 'Review DEV-101' });
    await panel.getByTestId('signatures').filter({ hasText: 'Verified' }).waitFor();
    const facts = await panel.innerText();
    assert.match(facts, /ECDSA P-256/);
    assert.match(facts, /SN-101/);
    assert.match(facts, /connected/);
    assert.match(facts, /provisio request approve req_/);
    assert.match(page.url(), /review=req_/, 'the review panel is in the URL');
    await w.screenshot('04-review-panel');
    await panel.getByRole('button', { name: 'Approve DEV-101' }).click();
    await page.getByRole('status').filter({ hasText: 'Approved DEV-101' }).waitFor();
    // Filters live in the URL and are applied by the server: nothing pending any more.
    await page.getByTestId('device-count').filter({ hasText: '0 devices' }).waitFor();
    await page.getByLabel('State').selectOption('approved');
    await row.getByText('Approved').waitFor();
    assert.match(page.url(), /state=approved/);
    // Column sorting happens on the server and lives in the URL: by device id, then reversed.
    await page.getByLabel('State').selectOption('');
    await page.getByRole('button', { name: 'Device', exact: true }).click();
    await page.locator('[aria-sort="ascending"]').getByRole('button', { name: /^Device/ }).waitFor();
    assert.match(page.url(), /sort=device-id&direction=asc/);
    await page.getByLabel('State').selectOption('pending');
    await page.reload();
    await page.getByTestId('device-count').filter({ hasText: '0 devices' }).waitFor();
    assert.equal(await page.getByLabel('State').inputValue(), 'pending');

    // Provisioning: the technician's request file again (already known: same request), then the profile.
    await page.getByRole('link', { name: 'Provisioning' }).click();
    await page.getByLabel('Request files (.ppr) or bundles (.pbdl)').setInputFiles({ name: 'DEV-101.ppr', mimeType: 'application/json', buffer: Buffer.from(requestText) });
    const line = page.locator('tr[data-file="DEV-101.ppr"]');
    await line.getByText('Accepted (already uploaded)').waitFor();
    const download = page.waitForEvent('download');
    await line.getByRole('button', { name: 'Download profile of DEV-101' }).click();
    const file = await download;
    assert.equal(file.suggestedFilename(), 'DEV-101.pcp');
    const profileText = readFileSync(await file.path(), 'utf8');
    // The same profile in a signed bundle for the USB stick, verified to the service's root.
    const bundleDownload = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download all ready profiles as one bundle' }).click();
    const bundleFile = await bundleDownload;
    assert.equal(bundleFile.suggestedFilename(), 'profiles.pbdl');
    const bundle = parseBundle(readFileSync(await bundleFile.path()));
    verifyBundle(bundle, { roots: [parseCertificate(t.rootPem)], at: new Date(), type: 'provisio.profile-bundle' });
    assert.deepEqual(bundle.entries.map((e) => e.name), ['DEV-101.pcp']);
    assert.equal(bundle.entries[0]?.content.toString('utf8'), profileText);
    await page.getByTestId('bundle-note').filter({ hasText: '1 profile in the bundle.' }).waitFor();
    await w.screenshot('05-provisioning-approved');
    // A reload keeps this tab's uploads (which profiles to fetch), with their next steps.
    await page.reload();
    await line.getByRole('button', { name: 'Complete provisioning of DEV-101' }).waitFor();

    // The device installs the downloaded profile with the SDK.
    const installed = await installProfile(deps, { dir: deviceDir, profileText });
    assert.equal(installed.changed, true);
    assert.equal(loadDevice(deviceDir).identity.deviceId, 'DEV-101');

    await line.getByRole('button', { name: 'Complete provisioning of DEV-101' }).click();
    await line.getByText('Provisioned').waitFor();
    assert.equal((await t.call('GET', '/api/v1/devices/DEV-101')).json().state, 'provisioned');

    // The device page: Provisioned, its certificate, then revoked after typing its id.
    await page.goto('/devices/DEV-101');
    await page.getByTestId('device-state').filter({ hasText: 'Provisioned' }).waitFor();
    await page.getByRole('cell', { name: 'Active' }).waitFor();
    await page.getByRole('button', { name: /^Details of / }).click();
    const details = page.getByTestId('certificate-details');
    await details.getByText('Chain verified to the root now.').waitFor();
    const decoded = await details.innerText();
    assert.match(decoded, /CN=DEV-101/);
    assert.match(decoded, /clientAuth/);
    assert.match(decoded, /Issuing CA/);
    await w.screenshot('06-device-provisioned');
    const revoke = page.getByRole('button', { name: 'Revoke DEV-101', exact: true });
    assert.equal(await revoke.isDisabled(), true, 'revoke waits for the typed device id');
    await page.getByLabel('Reason').selectOption('keyCompromise');
    await page.getByLabel('Type the device id DEV-101 to confirm').fill('DEV-10');
    assert.equal(await revoke.isDisabled(), true);
    assert.match(await page.locator('.danger-zone').innerText(), /provisio device revoke DEV-101 --reason keyCompromise/);
    await page.getByLabel('Type the device id DEV-101 to confirm').fill('DEV-101');
    await revoke.click();
    await page.getByRole('status').filter({ hasText: 'Revoked DEV-101: 1 certificate revoked' }).waitFor();
    await page.getByTestId('device-state').filter({ hasText: 'Revoked' }).waitFor();
    await page.getByRole('cell', { name: /Revoked \(keyCompromise\)/ }).waitFor();
    await page.getByTestId('history').getByText('device.revoke').waitFor();
    const history = (await page.getByTestId('history').locator('code').allInnerTexts()).filter((a) => a.startsWith('request.') || a.startsWith('device.'));
    assert.deepEqual(history, ['request.submit', 'request.approve', 'device.complete', 'device.revoke']);
    await w.screenshot('07-device-revoked');
    assert.equal((await t.call('GET', '/api/v1/devices/DEV-101')).json().state, 'revoked');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Provisio' }).waitFor();
    // Signing out forgets the uploads list: the next person at this browser starts empty.
    await signIn(w, 'admin', t.service.adminPassword as string);
    await page.goto('/provisioning');
    await page.getByLabel('Request files (.ppr) or bundles (.pbdl)').waitFor();
    assert.equal(await page.getByRole('table', { name: 'Uploaded requests' }).count(), 0);
    assert.deepEqual(w.faults, []);
  });

  it('fail/tampered-request-shows-its-code-and-stores-nothing', async () => {
    const w = await open();
    await signIn(w, 'tom', PASSWORD);
    const before = (await t.call('GET', '/api/v1/requests')).json().total;
    // The attack: a changed label in a request file after the device signed it.
    const jws = JSON.parse(requestText) as { payload: string };
    const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    payload.deviceLabel = 'Bed 999';
    jws.payload = Buffer.from(JSON.stringify(payload)).toString('base64url');
    await w.page.getByLabel('Request files (.ppr) or bundles (.pbdl)').setInputFiles({ name: 'tampered.ppr', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(jws)) });
    const verdict = w.page.locator('tr[data-file="tampered.ppr"]').getByTestId('verdict-error');
    await verdict.filter({ hasText: 'pr_device_signature_invalid' }).waitFor();
    assert.match(await verdict.innerText(), /Refused/);
    await w.screenshot('08-provisioning-tampered');
    assert.equal((await t.call('GET', '/api/v1/requests')).json().total, before, 'a refused file stored a request');
    assert.deepEqual(w.faults, []);
  });

  it('fail/technician-cannot-reach-approval-in-the-ui-nor-the-api', async () => {
    const pending = await initDevice(deps, { packageText, component: 'bedside monitor', deviceId: 'DEV-102', deviceLabel: 'Bed 102', dir: join(tempDir('provisio-web-dev-'), 'k') });
    const up = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from(pending.requestText), contentType: REQUEST_MEDIA });
    const requestId = up.json().request.id as string;

    const w = await open();
    const { page } = w;
    // Keyboard only: the username field has focus, Tab to the password, Enter signs in.
    await page.goto('/');
    await page.getByLabel('Username').waitFor();
    await page.locator('#username:focus').waitFor();
    await page.keyboard.type('tom');
    await page.keyboard.press('Tab');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByTestId('who').waitFor();
    // Home is Provisioning, and focus is on the page's main region; the navigation offers nothing else.
    await page.getByRole('heading', { name: 'Provisioning' }).waitFor();
    await page.locator('main#main:focus').waitFor();
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
    assert.deepEqual(nav, ['Provisioning', 'Onboard']);
    await w.screenshot('09-technician-home');
    await page.goto(`/devices?review=${requestId}`);
    await page.getByRole('heading', { name: 'Not available' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Approve/ }).count(), 0);

    // The API refuses the technician's session too, with a valid CSRF token.
    const session = await w.context.request.get('/api/v1/session');
    const csrf = ((await session.json()) as { csrfToken: string }).csrfToken;
    const refused = await w.context.request.post(`/api/v1/requests/${requestId}/approve`, { headers: { 'x-csrf-token': csrf } });
    assert.equal(refused.status(), 403);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'role_forbidden');
    assert.equal((await t.call('GET', `/api/v1/requests/${requestId}`)).json().state, 'pending');
    assert.deepEqual(w.faults, []);
  });

  it('ok/approver/bulk-approval-counts-and-flags-outliers', async () => {
    const made: Record<string, string> = {};
    for (const [device, keyType] of [['DEV-201', 'p256'], ['DEV-202', 'p256'], ['DEV-203', 'rsa3072']] as const) {
      const r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from((await makeRequest(packageText, device, { keyType })).text), contentType: REQUEST_MEDIA });
      made[device] = r.json().request.id;
    }
    const w = await open();
    await signIn(w, 'abe', PASSWORD);
    const { page } = w;
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.getByLabel('Search').fill('DEV-2');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('device-count').filter({ hasText: '3 devices' }).waitFor();

    // A selection: counted, then cancelled — nothing approved.
    await page.getByLabel('Select DEV-201').check();
    await page.getByRole('button', { name: 'Approve selected (1)' }).click();
    await page.getByRole('heading', { name: 'Approve 1 request?' }).waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal((await t.call('GET', `/api/v1/requests/${made['DEV-201']}`)).json().state, 'pending');

    // Everything matching the filter: 3, with the RSA key flagged as an outlier before signing.
    await page.getByRole('button', { name: 'Approve all pending matching these filters' }).click();
    await page.getByRole('heading', { name: 'Approve 3 requests?' }).waitFor();
    const outliers = await page.getByTestId('outliers').innerText();
    assert.match(outliers, /1 outlier/);
    assert.match(outliers, /DEV-203: key RSA/);
    await w.screenshot('10-bulk-approval');
    await page.getByRole('button', { name: 'Confirm: approve 3' }).click();
    await page.getByRole('status').filter({ hasText: 'Approved 3 requests.' }).waitFor();
    for (const id of Object.values(made)) assert.equal((await t.call('GET', `/api/v1/requests/${id}`)).json().state, 'approved');
    // Sorted by a column on the server, both ways; the order survives a reload (it is in the URL).
    const rowIds = () => page.locator('tr[data-device]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device')));
    await page.getByRole('button', { name: 'Device', exact: true }).click();
    await page.locator('[aria-sort="ascending"]').getByRole('button', { name: /^Device/ }).waitFor();
    assert.deepEqual(await rowIds(), ['DEV-201', 'DEV-202', 'DEV-203']);
    await page.getByRole('button', { name: 'Device', exact: true }).click();
    await page.locator('[aria-sort="descending"]').getByRole('button', { name: /^Device/ }).waitFor();
    await page.reload();
    await page.locator('tr[data-device="DEV-203"]').waitFor();
    assert.deepEqual(await rowIds(), ['DEV-203', 'DEV-202', 'DEV-201']);
    // Approvers do not see the audit page; the navigation says so.
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
    assert.deepEqual(nav, ['Dashboard', 'Devices', 'Systems', 'CA', 'Onboard']);

    // The revoked DEV-101 asks again: its page shows both requests and the whole history to an
    // approver, who may not list the audit log itself.
    const again = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from((await makeRequest(packageText, 'DEV-101')).text), contentType: REQUEST_MEDIA });
    assert.equal(again.status, 201, again.body.toString());
    const againId = again.json().request.id as string;
    await page.goto('/devices/DEV-101');
    await page.getByTestId('history').getByText('device.revoke').waitFor();
    const requestRows = page.getByTestId('requests').locator('tbody tr');
    assert.equal(await requestRows.count(), 2);
    assert.match(await requestRows.nth(0).innerText(), new RegExp(`${againId} \\(current\\)[\\s\\S]*Needs approval`));
    assert.match(await requestRows.nth(1).innerText(), /Approved/);
    const history = (await page.getByTestId('history').locator('code').allInnerTexts()).filter((a) => a.startsWith('request.') || a.startsWith('device.'));
    assert.deepEqual(history, ['request.submit', 'request.approve', 'device.complete', 'device.revoke', 'request.submit']);
    await w.screenshot('14-device-history-approver');
    assert.deepEqual(w.faults, []);
  });

  it('ok/admin/systems-components-and-packages', async () => {
    const w = await open();
    await signIn(w, 'admin', t.service.adminPassword as string);
    const { page } = w;
    await page.getByRole('link', { name: 'Systems', exact: true }).click();
    await page.getByRole('heading', { name: 'Systems and packages' }).waitFor();
    // A duplicate name: the code is shown and the form keeps what was typed.
    const newSystem = page.getByRole('form', { name: 'New system' });
    await newSystem.getByLabel('New system').fill('ZMonitor');
    await newSystem.getByRole('button', { name: 'Create system' }).click();
    await newSystem.getByRole('alert').filter({ hasText: 'system_exists' }).waitFor();
    assert.equal(await newSystem.getByLabel('New system').inputValue(), 'ZMonitor');
    await newSystem.getByLabel('New system').fill('Infusion');
    assert.match(await newSystem.getByTestId('cli-command').innerText(), /provisio system create Infusion/);
    await newSystem.getByRole('button', { name: 'Create system' }).click();
    await page.getByRole('heading', { name: 'Infusion' }).waitFor();

    const newComponent = page.getByRole('form', { name: 'New component of Infusion' });
    await newComponent.getByLabel('New component').fill('pump');
    await newComponent.getByLabel('p384').check();
    await newComponent.getByRole('button', { name: 'Create component' }).click();
    await page.getByRole('cell', { name: 'p256, p384' }).waitFor();

    // The component's approval policy: manual until set; a bad rule shows its code and keeps the input.
    await page.getByTestId('policy-pump').filter({ hasText: 'manual' }).waitFor();
    await page.getByText('Change the policy of pump').click();
    const policy = page.getByRole('form', { name: 'Approval policy of pump' });
    await policy.getByLabel('Mode').selectOption('automatic');
    await policy.getByLabel('Device id pattern').fill('INF-');
    await policy.getByRole('button', { name: 'Set policy' }).click();
    await policy.getByRole('alert').filter({ hasText: 'policy_invalid' }).waitFor();
    assert.equal(await policy.getByLabel('Device id pattern').inputValue(), 'INF-');
    await policy.getByLabel('Device id pattern').fill('^INF-[0-9]+$');
    await policy.getByRole('button', { name: 'Set policy' }).click();
    await page.getByTestId('policy-pump').filter({ hasText: 'automatic (component policy)' }).waitFor();
    assert.equal((await t.call('GET', '/api/v1/systems/Infusion/components/pump/policy')).json().effectiveMode, 'automatic');

    // The system's own policy with every rule; the form shows the CLI command that does the same.
    await page.getByText('Change the policy of system Infusion').click();
    const systemPolicy = page.getByRole('form', { name: 'Approval policy of system Infusion' });
    await systemPolicy.getByLabel('Mode').selectOption('automatic');
    await systemPolicy.getByLabel('Device id pattern').fill('^INF-[0-9]+$');
    await systemPolicy.getByLabel('Allowed hardware serials').fill('SN-1, SN-2');
    await systemPolicy.getByLabel('connected').check();
    await systemPolicy.getByLabel('proxy').check();
    await systemPolicy.getByLabel('At most per hour').fill('20');
    assert.match(await systemPolicy.getByTestId('cli-command').innerText(), /--serials 'SN-1,SN-2' --transports connected,proxy --max-per-hour 20/);
    await systemPolicy.getByRole('button', { name: 'Set policy' }).click();
    await page.getByTestId('system-policy-Infusion').filter({ hasText: 'serial in 2 allowed; by connected or proxy; at most 20/hour' }).waitFor();
    const saved = (await t.call('GET', '/api/v1/systems/Infusion/policy')).json().policy;
    assert.deepEqual(saved.rules, { deviceIdPattern: '^INF-[0-9]+$', serialAllowList: ['SN-1', 'SN-2'], transports: ['connected', 'proxy'], maxPerHour: 20 });

    // Mock device files: accepted by a new system, then refused.
    await page.getByTestId('mock-Infusion').filter({ hasText: 'Accepts mock device files.' }).waitFor();
    await page.getByRole('button', { name: 'Refuse mock device files for Infusion' }).click();
    await page.getByTestId('mock-Infusion').filter({ hasText: 'Refuses mock device files.' }).waitFor();
    assert.equal((await t.call('GET', '/api/v1/systems/Infusion')).json().allowMock, false);
    // The switch shows the command that does the same.
    await page.getByTestId('cli-command').filter({ hasText: 'provisio system update Infusion --allow-mock' }).waitFor();

    const newPackage = page.getByRole('form', { name: 'New package for Infusion' });
    await newPackage.getByText('Secret:').waitFor();
    const download = page.waitForEvent('download');
    await newPackage.getByRole('button', { name: 'Create and download package' }).click();
    const file = await download;
    assert.equal(file.suggestedFilename(), 'infusion.ppkg');
    const pkg = parsePackage(readFileSync(await file.path(), 'utf8'));
    assert.equal(pkg.system, 'Infusion');
    assert.deepEqual(pkg.components.map((c) => c.name), ['pump']);
    await w.screenshot('11-systems');

    const revoke = page.getByRole('form', { name: `Revoke package ${pkg.packageId}` });
    await revoke.getByLabel('Reason').selectOption('keyCompromise');
    await revoke.getByLabel('Type the package id to confirm').fill(pkg.packageId);
    await revoke.getByRole('button', { name: 'Revoke' }).click();
    await page.locator(`tr[data-package="${pkg.packageId}"]`).getByText('Revoked').waitFor();
    const listed = (await t.call('GET', '/api/v1/packages?system=Infusion')).json().items;
    assert.equal(listed[0].status, 'revoked');
    assert.deepEqual(w.faults, []);
  });

  it('ok/auditor/reads-everything-decides-nothing', async () => {
    const w = await open();
    await signIn(w, 'ann', PASSWORD);
    const { page } = w;
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    const nav = await page.getByRole('navigation', { name: 'Main' }).getByRole('link').allInnerTexts();
    assert.deepEqual(nav, ['Dashboard', 'Devices', 'Systems', 'CA', 'Audit']);

    // The CA page: the hierarchy and the CRL the revocation published.
    await page.getByRole('link', { name: 'CA', exact: true }).click();
    for (const role of ['root', 'issuing CA', 'profile signer', 'OCSP responder']) await page.getByRole('rowheader', { name: role, exact: true }).waitFor();
    const crlNumber = (await t.call('GET', '/api/v1/ca')).json().crl.number as number;
    assert.ok(crlNumber >= 2, 'the revocation published a CRL');
    await page.getByTestId('crl-number').filter({ hasText: String(crlNumber) }).waitFor();
    await page.getByTestId('ocsp-status').filter({ hasText: /^Answering: a signed answer verified against the issuing CA/ }).waitFor();
    await w.screenshot('13-ca');

    await page.getByRole('link', { name: 'Audit', exact: true }).click();
    const entries = (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number;
    await page.getByTestId('chain-status').filter({ hasText: /Hash chain verified through entry \d+/ }).waitFor();
    assert.ok(Number((/entry (\d+)/.exec(await page.getByTestId('chain-status').innerText()) ?? [])[1]) >= entries - 1);
    await page.getByLabel('Action').fill('device.revoke');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('1 entry', { exact: true }).waitFor();
    await page.getByRole('cell', { name: 'device.revoke', exact: true }).waitFor();
    assert.match(page.url(), /action=device\.revoke/);
    // The export holds everything matching the filter (not only the page shown), as JSON Lines.
    const exported = page.waitForEvent('download');
    await page.getByRole('link', { name: 'Export all matching (JSON Lines)' }).click();
    const exportFile = await exported;
    assert.equal(exportFile.suggestedFilename(), 'audit.jsonl');
    const exportedLines = readFileSync(await exportFile.path(), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { action: string; targetId: string });
    assert.deepEqual(exportedLines.map((e) => `${e.action} ${e.targetId}`), ['device.revoke DEV-101']);
    // A time window that ends before anything happened: nothing.
    await page.getByLabel('Before').fill('2020-01-01T00:00');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('0 entries', { exact: true }).waitFor();
    assert.match(page.url(), /until=2020-01-01T/);
    // The same window in the CLI's commands, ready to copy.
    assert.match(await page.getByTestId('cli-command').nth(1).innerText(), /provisio audit list --action device\.revoke --until 2020-01-01T\S+Z/);
    assert.match(await page.getByTestId('cli-command').nth(2).innerText(), /provisio audit export --action device\.revoke --until 2020-01-01T\S+Z --out audit\.jsonl/);
    await page.getByLabel('Before').fill('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('1 entry', { exact: true }).waitFor();
    assert.match(await page.getByTestId('cli-command').nth(1).innerText(), /provisio audit list --action device\.revoke/);
    await w.screenshot('12-audit');

    // The pending request: the review panel without Approve or Reject.
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.getByLabel('Delivered by').selectOption('upload');
    await page.getByTestId('device-count').filter({ hasText: '0 devices' }).waitFor();
    assert.match(page.url(), /transport=upload/);
    await page.getByTestId('cli-command').filter({ hasText: /^provisio device list --transport upload$/ }).waitFor();
    await page.getByLabel('Delivered by').selectOption('connected');
    await page.getByLabel('Certificate expires').selectOption('365');
    // DEV-201 is listed before and after the filter applies: wait for the pending DEV-102 to go.
    await page.locator('tr[data-device="DEV-102"]').waitFor({ state: 'detached', timeout: 10_000 });
    assert.match(page.url(), /expires=365/);
    await page.locator('tr[data-device="DEV-201"]').waitFor();
    await page.getByLabel('Certificate expires').selectOption('');
    await page.locator('tr[data-device="DEV-102"]').getByRole('button', { name: 'Review DEV-102' }).click();
    await page.getByText('Your role may review but not decide.').waitFor();
    assert.equal(await page.getByRole('button', { name: /Approve|Reject/ }).count(), 0);
    // A provisioned device's page offers no revocation to an auditor.
    await page.goto('/devices/DEV-101');
    await page.getByTestId('device-state').waitFor();
    assert.equal(await page.getByRole('button', { name: /Revoke/ }).count(), 0);
    assert.deepEqual(w.faults, []);
  });
  it('ok/admin/reprovision-a-provisioned-device-technician-and-auditor-get-no-button', async () => {
    // DEV-301 uploaded, approved and completed through the API: a provisioned device.
    const made = await makeRequest(packageText, 'DEV-301');
    const up = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(made.text), contentType: REQUEST_MEDIA });
    assert.equal(up.status, 201, up.body.toString());
    assert.equal((await t.call('POST', `/api/v1/requests/${up.json().request.id as string}/approve`)).status, 200);
    assert.equal((await t.call('POST', '/api/v1/devices/DEV-301/complete')).json().state, 'provisioned');

    const w = await open();
    await signIn(w, 'admin', t.service.adminPassword as string);
    const { page } = w;
    await page.goto('/devices/DEV-301');
    await page.getByTestId('device-state').filter({ hasText: 'Provisioned' }).waitFor();
    const ask = page.getByRole('button', { name: 'Reprovision DEV-301', exact: true });
    assert.equal(await ask.isDisabled(), true, 'a reason is required');
    await page.getByLabel('Why (required)').fill('   ');
    assert.equal(await ask.isDisabled(), true, 'a blank reason is no reason');
    await page.getByLabel('Why (required)').fill('INC-42: the ward\'s new OCSP URL');
    assert.match(await page.getByRole('form', { name: 'Reprovision this device' }).getByTestId('cli-command').innerText(), /^provisio device request-reprovision DEV-301 --reason 'INC-42: the ward'\\''s new OCSP URL'$/);
    await ask.click();
    await page.getByRole('status').filter({ hasText: 'Reprovisioning of DEV-301 asked for' }).waitFor();
    const outstanding = page.getByTestId('reprovision-ask');
    await outstanding.filter({ hasText: 'Asked by admin at' }).waitFor();
    assert.match(await outstanding.innerText(), /INC-42: the ward's new OCSP URL/);
    assert.match(await outstanding.getByTestId('cli-command').innerText(), /^provisio device request-reprovision DEV-301 --cancel$/);
    const view = (await t.call('GET', '/api/v1/devices/DEV-301')).json();
    assert.equal(view.reprovisionRequest.requestedBy, 'admin');
    await page.getByTestId('history').getByText('device.reprovision_requested').waitFor();
    await w.screenshot('15-device-reprovision-asked');
    // Cancelled, the form is back; asked again, it stays outstanding for the others to see.
    await outstanding.getByRole('button', { name: 'Cancel the reprovisioning' }).click();
    await page.getByRole('status').filter({ hasText: 'Reprovisioning of DEV-301 cancelled.' }).waitFor();
    await page.getByLabel('Why (required)').waitFor();
    assert.equal((await t.call('GET', '/api/v1/devices/DEV-301')).json().reprovisionRequest, null);
    await page.getByLabel('Why (required)').fill('INC-43');
    await ask.click();
    await page.getByTestId('reprovision-ask').filter({ hasText: 'INC-43' }).waitFor();
    assert.deepEqual(w.faults, []);

    // The auditor sees the outstanding ask, but neither Reprovision nor Cancel.
    const a = await open();
    await signIn(a, 'ann', PASSWORD);
    await a.page.goto('/devices/DEV-301');
    await a.page.getByTestId('reprovision-ask').filter({ hasText: 'Asked by admin' }).waitFor();
    assert.equal(await a.page.getByRole('button', { name: /Reprovision|Cancel the reprovisioning/ }).count(), 0);
    assert.deepEqual(a.faults, []);

    // The technician reaches no device page, and gets no button on one.
    const tech = await open();
    await signIn(tech, 'tom', PASSWORD);
    await tech.page.goto('/devices/DEV-301');
    await tech.page.getByRole('heading', { name: 'Not available' }).waitFor();
    assert.equal(await tech.page.getByRole('button', { name: /Reprovision/ }).count(), 0);
    assert.deepEqual(tech.faults, []);
  });

  it('fail/admin/own-upload-refused-by-separation-of-duties-with-its-code', async () => {
    // A system with the default setting: the admin uploads a request and may not approve it too.
    assert.equal((await t.call('POST', '/api/v1/systems', { json: { name: 'FourEyes' } })).status, 201);
    assert.equal((await t.call('POST', '/api/v1/systems/FourEyes/components', { json: { name: 'pump' } })).status, 201);
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'FourEyes' } });
    assert.equal(pkg.status, 201, pkg.body.toString());
    const made = await makeRequest(pkg.body.toString('utf8'), 'DEV-401');
    const up = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(made.text), contentType: REQUEST_MEDIA });
    assert.equal(up.status, 201, up.body.toString());
    const requestId = up.json().request.id as string;

    const w = await open();
    await signIn(w, 'admin', t.service.adminPassword as string);
    const { page } = w;
    await page.goto(`/devices?review=${requestId}`);
    const panel = page.getByRole('complementary', { name: 'Review DEV-401' });
    await panel.getByTestId('submitted-by').filter({ hasText: 'admin' }).waitFor();
    await panel.getByRole('button', { name: 'Approve DEV-401' }).click();
    const alert = panel.getByRole('alert');
    await alert.filter({ hasText: 'approver_is_submitter' }).waitFor();
    assert.match(await alert.innerText(), /admin submitted request .* and may not approve it too/);
    assert.equal((await t.call('GET', `/api/v1/requests/${requestId}`)).json().state, 'pending');
    // The Systems page says which systems keep separation of duties, with the command to change it.
    await page.getByRole('link', { name: 'Systems', exact: true }).click();
    await page.getByTestId('duties-FourEyes').filter({ hasText: 'may not approve it' }).waitFor();
    assert.equal(await page.getByTestId('cli-command').filter({ hasText: /^provisio system update FourEyes --separation-of-duties off$/ }).count(), 1);
    // Rejecting issues nothing: the submitter may (and the tests after this one see no new pending request).
    assert.equal((await t.call('POST', `/api/v1/requests/${requestId}/reject`, { json: { reason: 'uploaded by mistake' } })).status, 200);
    assert.deepEqual(w.faults, []);
  });

  it('ok/approver/reprovisioning-request-shows-its-kind-and-is-approved-from-the-devices-page', async () => {
    const pendingId = async (deviceId: string): Promise<string> => {
      for (let i = 0; i < 400; i++) {
        const items = (await t.call('GET', `/api/v1/requests?state=pending&q=${deviceId}`)).json().items as { id: string; deviceId: string }[];
        const found = items.find((r) => r.deviceId === deviceId);
        if (found) return found.id;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`no pending request of ${deviceId}`);
    };
    // A device provisioned with the SDK over the connected endpoint (its first request approved
    // through the API) ...
    const dir = join(tempDir('provisio-web-dev-'), 'keystore');
    await initDevice(deps, { packageText, component: 'bedside monitor', deviceId: 'DEV-302', deviceLabel: 'Bed 302', hardwareSerial: 'SN-302', dir });
    const provisioning = provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, maxPollIntervalMs: 100 });
    assert.equal((await t.call('POST', `/api/v1/requests/${await pendingId('DEV-302')}/approve`)).status, 200);
    assert.equal((await provisioning).serviceState, 'provisioned');
    const serial = loadDevice(dir).install?.serial;
    // ... asks to be reprovisioned (mutual TLS with its certificate); it waits for an approver.
    const reprovisioning = reprovisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 120_000, longPollSeconds: 1 });
    const requestId = await pendingId('DEV-302');

    const w = await open();
    await signIn(w, 'abe', PASSWORD);
    const { page } = w;
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    // Pending first (the default order): still Provisioned, and a badge that names the request.
    const row = page.locator('tr[data-device="DEV-302"]');
    await row.getByText('Needs approval — reprovisioning').waitFor();
    await row.getByText('Provisioned').waitFor();
    await page.getByLabel('State').selectOption('needs-approval');
    assert.match(page.url(), /state=needs-approval/);
    await page.getByTestId('cli-command').filter({ hasText: /^provisio device list --needs-approval$/ }).waitFor();
    // DEV-302 beside the requests still waiting from the tests before (DEV-101 again, DEV-102);
    // DEV-301, asked to reprovision by an admin but silent since, has no request waiting.
    await page.getByTestId('device-count').filter({ hasText: '3 devices' }).waitFor();
    await row.getByText('Needs approval — reprovisioning').waitFor();
    assert.equal(await page.locator('tr[data-device="DEV-201"]').count(), 0, 'approved, nothing pending: not listed');
    await w.screenshot('16-devices-reprovisioning');

    await row.getByRole('button', { name: 'Review DEV-302' }).click();
    assert.match(page.url(), new RegExp(`review=${requestId}`));
    const panel = page.getByRole('complementary', { name: 'Review DEV-302' });
    await panel.getByTestId('request-kind').filter({ hasText: /^Reprovisioning/ }).waitFor();
    await panel.getByTestId('signatures').filter({ hasText: `Verified: signed with the key of the device's certificate ${serial}` }).waitFor();
    assert.match(await panel.innerText(), new RegExp(`provisio request approve ${requestId}`));
    await w.screenshot('17-review-reprovisioning');
    await panel.getByRole('button', { name: 'Approve DEV-302 (reprovisioning)' }).click();
    await page.getByRole('status').filter({ hasText: 'Approved DEV-302' }).waitFor();
    await row.waitFor({ state: 'detached' });

    // The device gets its new profile, installs it and confirms with the new certificate.
    const result = await reprovisioning;
    assert.equal(result.requestId, requestId);
    assert.notEqual(loadDevice(dir).install?.serial, serial);
    const device = (await t.call('GET', '/api/v1/devices/DEV-302')).json();
    assert.deepEqual([device.state, device.pendingRequest], ['provisioned', null]);
    assert.deepEqual(w.faults, []);
  });
});
