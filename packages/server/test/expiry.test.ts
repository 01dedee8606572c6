/**
 * Expiry health against the real service on a fixed clock and a real SQLite file: certificates
 * expiring within a window, devices overdue for renewal (past two thirds of their lifetime), and
 * the expiry job's `certificate.expiring` audit entries, written once per certificate however
 * often the service restarts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DAY, fixedClock, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

describe('expiry health', () => {
  // Starts at the real time: the harness's HTTPS client checks the service's TLS certificate
  // against the real clock.
  const clock = fixedClock(new Date());
  const dataDir = tempDir('provisio-expiry-');
  let t: TestService;
  const serials: Record<string, string> = {};

  async function provision(packageText: string, deviceId: string, component: string): Promise<void> {
    const now = clock.now();
    const { text } = await makeRequest(packageText, deviceId, { component, createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) });
    let r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    r = await t.call('POST', `/api/v1/requests/${r.json().request.id}/approve`);
    assert.equal(r.status, 200, r.body.toString());
    serials[deviceId] = r.json().certificate.serial as string;
  }

  /** The serials of device certificates noted as expiring (the package's bootstrap certificate may be too). */
  async function expiringNotices(): Promise<string[]> {
    const r = await t.call('GET', '/api/v1/audit?action=certificate.expiring&limit=500');
    assert.equal(r.status, 200, r.body.toString());
    const all = r.json().items as { targetId: string; details: { kind: string } }[];
    assert.equal(new Set(all.map((e) => e.targetId)).size, all.length, 'one notice per certificate');
    return all.filter((e) => e.details.kind === 'device').map((e) => e.targetId).sort();
  }

  async function restart(serve: { expiryWindowMs?: number } = {}): Promise<void> {
    await t.close();
    t = await startTestService({ dataDir, clock, serve });
  }

  before(async () => {
    t = await startTestService({ dataDir, clock });
    const { packageText } = await setUpSystem(t, 'Infusion', 'pump');
    assert.equal((await t.call('POST', '/api/v1/systems/Infusion/components', { json: { name: 'probe', validityDays: 20 } })).status, 201);
    await provision(packageText, 'EXP-SHORT', 'probe');
    await provision(packageText, 'EXP-LONG', 'pump');
  });
  after(() => t?.close());

  it('ok/expiring-within-a-window', async () => {
    let r = await t.call('GET', '/api/v1/certificates/expiring?within=30d&kind=device');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().withinDays, 30);
    assert.deepEqual((r.json().items as { deviceId: string }[]).map((c) => c.deviceId), ['EXP-SHORT']);
    const item = r.json().items[0];
    assert.equal(item.serial, serials['EXP-SHORT']);
    assert.equal(Date.parse(item.notAfter) - Date.parse(item.notBefore) > 19 * DAY, true);
    r = await t.call('GET', '/api/v1/certificates/expiring?within=400d&kind=device');
    assert.deepEqual((r.json().items as { deviceId: string }[]).map((c) => c.deviceId), ['EXP-SHORT', 'EXP-LONG'], 'soonest first');
    r = await t.call('GET', '/api/v1/certificates/expiring?within=5d&kind=device');
    assert.deepEqual(r.json().items, []);
    for (const bad of ['30x', '0d', '-1d', '99999d', 'thirty']) {
      r = await t.call('GET', `/api/v1/certificates/expiring?within=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.json().error.code, 'validation_failed');
    }
    r = await t.call('GET', '/api/v1/certificates/expiring?within=30d', { token: null });
    assert.equal(r.status, 401);
  });

  it('ok/renewal-overdue-after-two-thirds-of-the-lifetime', async () => {
    let r = await t.call('GET', '/api/v1/certificates/renewal-overdue');
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(r.json().items, []);
    // 20 days: due after 13.3 days.
    clock.advance(13 * DAY);
    r = await t.call('GET', '/api/v1/certificates/renewal-overdue');
    assert.deepEqual(r.json().items, []);
    clock.advance(DAY);
    r = await t.call('GET', '/api/v1/certificates/renewal-overdue');
    assert.deepEqual((r.json().items as { deviceId: string }[]).map((c) => c.deviceId), ['EXP-SHORT']);
    const due = Date.parse(r.json().items[0].renewalDueAt);
    assert.ok(due <= clock.now().getTime() && due > clock.now().getTime() - DAY, r.json().items[0].renewalDueAt);
    clock.advance(-14 * DAY);
  });

  it('ok/expiry-job-notes-each-certificate-once-across-restarts', async () => {
    // The job ran at start, before the devices existed; a restart runs it again.
    await restart();
    assert.deepEqual(await expiringNotices(), [serials['EXP-SHORT']]);
    await restart();
    assert.deepEqual(await expiringNotices(), [serials['EXP-SHORT']], 'no duplicate after a restart');
    // A wider window takes in the long certificate, once, and the short one is not noted again.
    await restart({ expiryWindowMs: 400 * DAY });
    const notes = await expiringNotices();
    assert.ok(notes.includes(serials['EXP-LONG'] as string));
    assert.equal(notes.filter((s) => s === serials['EXP-SHORT']).length, 1);
    const entry = (await t.call('GET', `/api/v1/audit?action=certificate.expiring&target=${serials['EXP-LONG']}`)).json().items[0];
    assert.equal(entry.actor, 'system');
    assert.equal(entry.details.deviceId, 'EXP-LONG');
    assert.equal(entry.details.windowDays, 400);
    const verify = await t.call('GET', '/api/v1/audit/verify');
    assert.equal(verify.json().ok, true, verify.body.toString());
  });
});
