/**
 * Reprovisioning asked for by an admin (docs/lifecycle.md), against the real service with its
 * station listener: the API's roles, the codes for a device that cannot be reprovisioned (and
 * that nothing changed), idempotency while an ask is outstanding, cancel, the audit entries. Then
 * the whole round through the device SDK: the device checks in at the station, the answer says a
 * reprovisioning is asked for, the device reprovisions (its component's policy is manual, so only
 * the ask can approve it), its request is approved as the person who asked, the new certificate
 * verifies with `openssl verify`, the confirmation clears the ask and the next check-in says so.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkInAtStation, initDevice, loadDevice, provisionConnected, reprovisionConnected } from '@provisio/device';
import { type FixedClock, fixedClock, openssl, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, startTestService } from './service-harness.js';

const random = { bytes: (n: number) => randomBytes(n) };

describe('reprovisioning asked for by an admin (SQLite, with the station)', () => {
  let t: TestService;
  let clock: FixedClock;
  let packageText: string;
  const tokens: Record<'approver' | 'technician' | 'auditor', string> = { approver: '', technician: '', auditor: '' };
  const work = tempDir('provisio-reprov-ask-');

  before(async () => {
    // Real time: the service's TLS certificate is made with this clock and checked by Node with the real one.
    clock = fixedClock(new Date());
    t = await startTestService({ clock, serve: { stationListen: { host: '127.0.0.1', port: 0 } } });
    let r = await t.call('POST', '/api/v1/systems', { json: { name: 'Pumps' } });
    assert.equal(r.status, 201, r.body.toString());
    r = await t.call('POST', '/api/v1/systems/Pumps/components', { json: { name: 'pump', keyTypes: ['p256'] } });
    assert.equal(r.status, 201, r.body.toString());
    r = await t.call('POST', '/api/v1/packages', { json: { system: 'Pumps' } });
    assert.equal(r.status, 201, r.body.toString());
    packageText = r.body.toString('utf8');
    for (const role of ['approver', 'technician', 'auditor'] as const) {
      r = await t.call('POST', '/api/v1/users', { json: { username: `reprov-${role}`, role } });
      assert.equal(r.status, 201, r.body.toString());
      tokens[role] = r.json().token as string;
    }
  });
  after(async () => t?.close());

  async function provisioned(deviceId: string): Promise<string> {
    // Provisioning without a person: the component's policy is automatic until a test makes it manual.
    const automatic = await t.call('POST', '/api/v1/systems/Pumps/components/pump/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
    assert.equal(automatic.status, 200, automatic.body.toString());
    const dir = join(work, deviceId);
    await initDevice({ clock, random }, { packageText, component: 'pump', deviceId, deviceLabel: `Pump ${deviceId}`, dir });
    const result = await provisionConnected({ clock, random }, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
    assert.equal(result.serviceState, 'provisioned');
    return dir;
  }

  const device = async (id: string) => (await t.call('GET', `/api/v1/devices/${id}`)).json();
  const audit = async (action: string, target: string) => (await t.call('GET', `/api/v1/audit?action=${action}&target=${target}`)).json().items as { actor: string; details: Record<string, any> }[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- audit details are read loosely
  const ask = (id: string, reason: unknown, token?: string) => t.call('POST', `/api/v1/devices/${id}/reprovision`, { json: { reason }, ...(token ? { token } : {}) });
  const cancel = (id: string, token?: string) => t.call('POST', `/api/v1/devices/${id}/reprovision/cancel`, token ? { token } : {});

  it('fail/roles/technician-and-auditor-refused-nothing-changed', async () => {
    await provisioned('PMP-ROLE');
    for (const role of ['technician', 'auditor'] as const) {
      let r = await ask('PMP-ROLE', 'firmware config changed', tokens[role]);
      assert.equal(r.status, 403, `${role}: ${r.body.toString()}`);
      assert.equal(r.json().error.code, 'role_forbidden');
      r = await cancel('PMP-ROLE', tokens[role]);
      assert.equal(r.status, 403);
      assert.equal(r.json().error.code, 'role_forbidden');
    }
    assert.equal((await t.call('POST', '/api/v1/devices/PMP-ROLE/reprovision', { json: { reason: 'x' }, token: null })).status, 401);
    assert.equal((await device('PMP-ROLE')).reprovisionRequest, null);
    assert.deepEqual(await audit('device.reprovision_requested', 'PMP-ROLE'), []);
  });

  it('fail/state-and-input/stable-codes-nothing-changed', async () => {
    // Pending: a request uploaded, not approved. Approved: approved, never installed. Revoked.
    const { text: pendingText } = await makeRequest(packageText, 'PMP-PENDING', { component: 'pump' });
    assert.equal((await t.call('POST', '/api/v1/requests', { raw: Buffer.from(pendingText), contentType: REQUEST_MEDIA })).status, 201);
    const { text: approvedText } = await makeRequest(packageText, 'PMP-APPROVED', { component: 'pump' });
    const submitted = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(approvedText), contentType: REQUEST_MEDIA });
    assert.equal((await t.call('POST', `/api/v1/requests/${submitted.json().request.id as string}/approve`, { token: tokens.approver })).status, 200);
    await provisioned('PMP-REVOKED');
    assert.equal((await t.call('POST', '/api/v1/devices/PMP-REVOKED/revoke', { json: { reason: 'cessationOfOperation' } })).status, 200);

    for (const [id, state] of [['PMP-PENDING', 'pending'], ['PMP-APPROVED', 'approved'], ['PMP-REVOKED', 'revoked']]) {
      const r = await ask(id as string, 'config changed');
      assert.equal(r.status, 409, `${id}: ${r.body.toString()}`);
      assert.equal(r.json().error.code, 'device_not_provisioned');
      assert.match(r.json().error.message, new RegExp(`is ${state}; only a provisioned device`));
      assert.equal((await device(id as string)).reprovisionRequest, null);
    }
    let r = await ask('PMP-NOBODY', 'config changed');
    assert.equal(r.status, 404);
    assert.equal(r.json().error.code, 'device_not_found');
    await provisioned('PMP-INPUT');
    for (const reason of ['', '   ', 'x'.repeat(501), { text: 'x' }]) {
      r = await ask('PMP-INPUT', reason);
      assert.equal(r.status, 400, `reason ${JSON.stringify(reason).slice(0, 20)}: ${r.body.toString()}`);
      assert.equal(r.json().error.code, 'validation_failed');
    }
    r = await t.call('POST', '/api/v1/devices/PMP-INPUT/reprovision', { json: {} });
    assert.equal(r.json().error.code, 'validation_failed');
    assert.equal((await device('PMP-INPUT')).reprovisionRequest, null);
    for (const id of ['PMP-PENDING', 'PMP-APPROVED', 'PMP-REVOKED', 'PMP-INPUT']) {
      assert.deepEqual(await audit('device.reprovision_requested', id), [], id);
    }
  });

  it('ok/idempotent-while-outstanding-then-cancel', async () => {
    await provisioned('PMP-IDEM');
    let r = await ask('PMP-IDEM', '  INC-7: wrong OCSP URL in the profile  ', tokens.approver);
    assert.equal(r.status, 200, r.body.toString());
    const first = r.json();
    assert.equal(first.changed, true);
    assert.equal(first.reprovisionRequest.requestedBy, 'reprov-approver');
    assert.equal(first.reprovisionRequest.reason, 'INC-7: wrong OCSP URL in the profile');
    assert.equal(first.reprovisionRequest.requestedAt, clock.now().toISOString());

    // Asked again (by someone else, for another reason): the first ask stands, nothing written.
    clock.advance(60_000);
    r = await ask('PMP-IDEM', 'another reason');
    assert.equal(r.status, 200);
    assert.equal(r.json().changed, false);
    assert.deepEqual(r.json().reprovisionRequest, first.reprovisionRequest);
    const entries = await audit('device.reprovision_requested', 'PMP-IDEM');
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.actor, 'user:reprov-approver');
    assert.equal(entries[0]?.details.reason, 'INC-7: wrong OCSP URL in the profile');
    // Device list and device view show it.
    const listed = (await t.call('GET', '/api/v1/devices?q=PMP-IDEM')).json().items as { deviceId: string; reprovisionRequest: unknown }[];
    assert.deepEqual(listed.find((d) => d.deviceId === 'PMP-IDEM')?.reprovisionRequest, first.reprovisionRequest);

    r = await cancel('PMP-IDEM');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().changed, true);
    assert.equal(r.json().reprovisionRequest, null);
    const cancelled = await audit('device.reprovision_cancelled', 'PMP-IDEM');
    assert.equal(cancelled.length, 1);
    assert.equal(cancelled[0]?.actor, 'user:admin');
    assert.deepEqual(cancelled[0]?.details, { requestedBy: 'reprov-approver', requestedAt: first.reprovisionRequest.requestedAt, reason: 'INC-7: wrong OCSP URL in the profile' });
    r = await cancel('PMP-IDEM', tokens.approver);
    assert.equal(r.json().changed, false);
    assert.equal((await audit('device.reprovision_cancelled', 'PMP-IDEM')).length, 1);
    // Once cancelled it can be asked again; revoking the device withdraws it (a revoked device never reprovisions).
    assert.equal((await ask('PMP-IDEM', 'again')).json().changed, true);
    r = await t.call('POST', '/api/v1/devices/PMP-IDEM/revoke', { json: { reason: 'cessationOfOperation' } });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().reprovisionRequest, null);
    const [revoked] = await audit('device.revoke', 'PMP-IDEM');
    assert.deepEqual([revoked?.details.reprovisionRequestWithdrawn?.requestedBy, revoked?.details.reprovisionRequestWithdrawn?.reason], ['admin', 'again']);
  });

  it('ok/sdk/check-in-says-asked-device-reprovisions-approved-by-the-person-who-asked', async () => {
    const dir = await provisioned('PMP-ROUND');
    const manual = await t.call('POST', '/api/v1/systems/Pumps/components/pump/policy', { json: { mode: 'manual' } });
    assert.equal(manual.status, 200, manual.body.toString());
    const station = t.service.stationUrl as string;
    const before = loadDevice(dir).install?.serial;

    let checkIn = await checkInAtStation({}, { dir, stationUrl: station });
    assert.equal(checkIn.reprovisionRequestedAt, null);
    const asked = await ask('PMP-ROUND', 'INC-9: new service URL', tokens.approver);
    assert.equal(asked.status, 200, asked.body.toString());
    checkIn = await checkInAtStation({}, { dir, stationUrl: station });
    assert.equal(checkIn.reprovisionRequestedAt, asked.json().reprovisionRequest.requestedAt);

    // The component's policy is manual: only the ask can approve this at once.
    const result = await reprovisionConnected({ clock, random }, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, longPollSeconds: 1 });
    const request = (await t.call('GET', `/api/v1/requests/${result.requestId}`)).json();
    assert.equal(request.kind, 'reprovision');
    assert.equal(request.state, 'approved');
    assert.equal(request.decidedBy, 'reprov-approver');
    assert.equal(request.policyRule, 'reprovisionRequested');
    const [approval] = await audit('request.approve', result.requestId);
    assert.equal(approval?.actor, 'user:reprov-approver');
    assert.deepEqual(approval?.details.reprovisionRequest, { requestedBy: 'reprov-approver', requestedAt: checkIn.reprovisionRequestedAt, reason: 'INC-9: new service URL' });

    // The new certificate is installed, confirmed, and chains to the root for openssl.
    const after = loadDevice(dir);
    assert.notEqual(after.install?.serial, before);
    assert.ok(after.install?.confirmedAt);
    const files = tempDir('provisio-reprov-ask-files-');
    writeFileSync(join(files, 'root.crt'), t.rootPem);
    writeFileSync(join(files, 'intermediate.crt'), (await t.call('GET', '/ca/intermediate.crt', { token: null })).body);
    const verified = openssl(['verify', '-CAfile', join(files, 'root.crt'), '-untrusted', join(files, 'intermediate.crt'), '-purpose', 'sslclient', join(dir, 'certificate.pem')]);
    assert.equal(verified.status, 0, verified.output);
    const serial = openssl(['x509', '-in', join(dir, 'certificate.pem'), '-noout', '-serial']);
    assert.equal(serial.output.trim().split('=')[1]?.toLowerCase().replace(/^0+/, ''), after.install?.serial.replace(/^0+/, ''));

    // The confirmation cleared the ask, and says so in the audit log; the station no longer asks.
    const view = await device('PMP-ROUND');
    assert.equal(view.reprovisionRequest, null);
    assert.equal(view.state, 'provisioned');
    const [install] = await audit('certificate.install', 'PMP-ROUND');
    assert.equal(install?.details.serial, after.install?.serial);
    assert.equal(install?.details.reprovisionRequest.requestedBy, 'reprov-approver');
    checkIn = await checkInAtStation({}, { dir, stationUrl: station });
    assert.equal(checkIn.reprovisionRequestedAt, null);
    assert.equal(checkIn.serial, after.install?.serial);
  });

  it('ok/without-an-ask-the-component-policy-decides', async () => {
    const dir = await provisioned('PMP-SELF');
    assert.equal((await t.call('POST', '/api/v1/systems/Pumps/components/pump/policy', { json: { mode: 'manual' } })).status, 200);
    // Its outcome is taken at once: the rejection below must not be an unhandled one.
    const outcome = reprovisionConnected({ clock, random }, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, longPollSeconds: 1 }).then(() => null, (e: unknown) => e);
    let pending: { id: string; policyRule: string | null; decidedBy: string | null } | undefined;
    for (let i = 0; i < 400 && !pending; i++) {
      pending = ((await t.call('GET', '/api/v1/requests?state=pending&q=PMP-SELF')).json().items as { id: string; deviceId: string; policyRule: string | null; decidedBy: string | null }[]).find((x) => x.deviceId === 'PMP-SELF');
      if (!pending) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(pending, 'the device-initiated reprovisioning waits for an approver');
    assert.notEqual(pending.policyRule, 'reprovisionRequested');
    assert.equal(pending.decidedBy, null);
    assert.equal((await t.call('POST', `/api/v1/requests/${pending.id}/reject`, { json: { reason: 'not now' } })).status, 200);
    const refused = (await outcome) as { code?: string } | null;
    assert.equal(refused?.code, 'provision_rejected');
    assert.equal((await device('PMP-SELF')).state, 'provisioned');
  });
});
