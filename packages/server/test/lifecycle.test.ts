/**
 * Renewal against the real service (HTTPS on a loopback port, a real SQLite file, a fixed clock
 * the test moves): a device provisioned over connected delivery renews by hand with its current
 * certificate over mutual TLS (same key; then --rekey, after which the old certificate is revoked
 * "superseded" and the CRL — read by `openssl crl` — lists it), the new certificate verifies with
 * `openssl verify`, audit entries name old and new serials; an identical renewal request is
 * answered again without a second certificate. Refused: a revoked certificate, a renewal request
 * signed by another key, a certificate expired longer ago than its component's grace period.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type HttpTransport, type RenewalLoopEvent, httpsTransport, initDevice, loadDevice, provisionConnected, readKeystoreFile, readPrivateKeyFile, renewConnected, renewWhenDue, renewalDue, reprovisionConnected, runAgent } from '@provisio/device';
import { createCsr, createKeySigner, generateKey, parseCertificate, type Signer } from '@provisio/pki';
import { createRenewalRequest } from '@provisio/protocol';
import { DAY, type FixedClock, fixedClock, openssl, tempDir } from '@provisio/testkit';
import { type TestService, databaseState, startTestService } from './service-harness.js';

const random = { bytes: (n: number) => randomBytes(n) };

interface Fleet {
  readonly t: TestService;
  readonly clock: FixedClock;
  readonly deps: { clock: FixedClock; random: typeof random };
  readonly packageText: string;
}

/** A service with a fixed clock, a system whose connected requests are approved automatically. */
async function startFleet(system: string, component: { name: string; validityDays?: number; renewalGraceDays?: number }): Promise<Fleet> {
  // Real time: the service's TLS certificate is made with this clock and checked by Node with the real one.
  const clock = fixedClock(new Date());
  const t = await startTestService({ clock });
  let r = await t.call('POST', '/api/v1/systems', { json: { name: system } });
  assert.equal(r.status, 201, r.body.toString());
  r = await t.call('POST', `/api/v1/systems/${system}/components`, { json: { keyTypes: ['p256'], ...component } });
  assert.equal(r.status, 201, r.body.toString());
  r = await t.call('POST', `/api/v1/systems/${system}/policy`, { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
  assert.equal(r.status, 200, r.body.toString());
  r = await t.call('POST', '/api/v1/packages', { json: { system } });
  assert.equal(r.status, 201, r.body.toString());
  return { t, clock, deps: { clock, random }, packageText: r.body.toString('utf8') };
}

async function provisionDevice(f: Fleet, component: string, deviceId: string): Promise<string> {
  const dir = join(tempDir('provisio-life-'), 'keystore');
  await initDevice(f.deps, { packageText: f.packageText, component, deviceId, deviceLabel: `Device ${deviceId}`, dir });
  const result = await provisionConnected(f.deps, { dir, serviceUrl: f.t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
  assert.equal(result.serviceState, 'provisioned');
  return dir;
}

/** Mutual TLS with the keystore's current key and certificate. */
function deviceTransport(f: Fleet, dir: string): HttpTransport & { close(): void } {
  return httpsTransport(f.t.rootPem, { clientKey: readPrivateKeyFile(dir), clientCertificate: readKeystoreFile(dir, 'certificate') });
}

async function renewalRequest(f: Fleet, dir: string, signer?: Signer, newKey?: Signer): Promise<string> {
  const device = loadDevice(dir);
  const csrDer = await createCsr(newKey ?? device.signer, { subject: [{ type: 'CN', value: device.identity.deviceId }] });
  return createRenewalRequest(signer ?? device.signer, { deviceId: device.identity.deviceId, serial: device.install?.serial ?? '', csrDer, nonce: randomBytes(16), at: f.clock.now() });
}

async function postRenewal(f: Fleet, dir: string, renewal: string) {
  const transport = deviceTransport(f, dir);
  try {
    return await transport.request('POST', `${f.t.service.url}/api/v1/device/renew`, { bytes: Buffer.from(JSON.stringify({ renewal })), contentType: 'application/json' });
  } finally {
    transport.close();
  }
}

const codeOf = (reply: { body: Buffer }) => (JSON.parse(reply.body.toString('utf8')) as { error: { code: string } }).error.code;

async function deviceCertificates(f: Fleet, deviceId: string) {
  const r = await f.t.call('GET', `/api/v1/devices/${deviceId}`);
  assert.equal(r.status, 200, r.body.toString());
  return r.json() as { state: string; certificates: { serial: string; status: string; revocationReason?: string | null }[] };
}

async function auditOf(f: Fleet, action: string, target: string) {
  return (await f.t.call('GET', `/api/v1/audit?action=${action}&target=${target}`)).json().items as { details: Record<string, any> }[]; // eslint-disable-line @typescript-eslint/no-explicit-any -- audit details are read loosely
}

describe('renewal (SQLite)', () => {
  let f: Fleet;
  let files: { root: string; intermediate: string; dir: string };

  before(async () => {
    f = await startFleet('Meters', { name: 'meter' });
    const dir = tempDir('provisio-life-files-');
    files = { dir, root: join(dir, 'root.crt'), intermediate: join(dir, 'intermediate.crt') };
    writeFileSync(files.root, f.t.rootPem);
    writeFileSync(files.intermediate, (await f.t.call('GET', '/ca/intermediate.crt', { token: null })).body);
  });
  after(async () => f.t.close());

  it('ok/renew-by-hand/same-key', async () => {
    const dir = await provisionDevice(f, 'meter', 'MTR-001');
    const before = loadDevice(dir);
    const oldCertificate = readKeystoreFile(dir, 'certificate');
    f.clock.advance(60_000);
    const result = await renewConnected(f.deps, { dir, serviceUrl: f.t.service.url });
    assert.equal(result.rekey, false);
    assert.equal(result.previousSerial, before.install?.serial);
    const after = loadDevice(dir);
    assert.notEqual(after.install?.serial, before.install?.serial);
    assert.equal(after.identity.publicKeySha256, before.identity.publicKeySha256);
    assert.ok(after.install?.confirmedAt, 'the new certificate was confirmed');
    const cert = parseCertificate(readKeystoreFile(dir, 'certificate'));
    assert.ok(cert.notAfter.getTime() > parseCertificate(oldCertificate).notAfter.getTime(), 'a later end of validity');

    // openssl: the new certificate chains to the root through the issuing CA.
    const leaf = join(files.dir, 'mtr-001.pem');
    writeFileSync(leaf, readKeystoreFile(dir, 'certificate'));
    const verified = openssl(['verify', '-attime', String(Math.floor(f.clock.now().getTime() / 1000)), '-CAfile', files.root, '-untrusted', files.intermediate, leaf]);
    assert.equal(verified.status, 0, verified.output);

    const view = await deviceCertificates(f, 'MTR-001');
    assert.equal(view.state, 'provisioned');
    assert.deepEqual(view.certificates.map((c) => [c.serial, c.status]).sort(), [[before.install?.serial, 'active'], [after.install?.serial, 'active']].sort());
    const [renew] = await auditOf(f, 'certificate.renew', 'MTR-001');
    assert.equal(renew?.details.previous.serial, before.install?.serial);
    assert.equal(renew?.details.next.serial, after.install?.serial);
    assert.equal(renew?.details.rekey, false);
    const [install] = await auditOf(f, 'certificate.install', 'MTR-001');
    assert.equal(install?.details.serial, after.install?.serial);
    assert.equal(install?.details.previousRevoked, false);

    // The replaced certificate (same key) is no longer the device's current one: it cannot renew.
    const renewal = await createRenewalRequest(after.signer, {
      deviceId: 'MTR-001', serial: before.install?.serial ?? '', csrDer: await createCsr(after.signer, { subject: [{ type: 'CN', value: 'MTR-001' }] }), nonce: randomBytes(16), at: f.clock.now(),
    });
    const old = httpsTransport(f.t.rootPem, { clientKey: readPrivateKeyFile(dir), clientCertificate: oldCertificate });
    try {
      const stale = await old.request('POST', `${f.t.service.url}/api/v1/device/renew`, { bytes: Buffer.from(JSON.stringify({ renewal })), contentType: 'application/json' });
      assert.equal(stale.status, 401, stale.body.toString());
      assert.equal(codeOf(stale), 'client_certificate_unknown');
    } finally {
      old.close();
    }
  });

  it('ok/rekey/old-certificate-revoked-superseded-once-installed', async () => {
    const dir = await provisionDevice(f, 'meter', 'MTR-002');
    const before = loadDevice(dir);
    const result = await renewConnected(f.deps, { dir, serviceUrl: f.t.service.url, rekey: true });
    assert.equal(result.rekey, true);
    const after = loadDevice(dir);
    assert.notEqual(after.identity.publicKeySha256, before.identity.publicKeySha256, 'a new key');
    assert.notEqual(after.install?.serial, before.install?.serial);
    assert.equal(readKeystoreFile(dir, 'certificate').length > 0, true);
    assert.throws(() => readKeystoreFile(dir, 'renewalKey'), 'renewal.key is gone once installed');

    const view = await deviceCertificates(f, 'MTR-002');
    const old = view.certificates.find((c) => c.serial === before.install?.serial);
    assert.equal(old?.status, 'revoked');
    assert.equal(old?.revocationReason, 'superseded');
    assert.equal(view.certificates.find((c) => c.serial === after.install?.serial)?.status, 'active');

    // The published CRL lists the old serial as superseded (read by openssl).
    const crl = await f.t.call('GET', '/crl/issuing.crl', { token: null });
    const crlPath = join(files.dir, 'after-rekey.crl');
    writeFileSync(crlPath, crl.body);
    const text = openssl(['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text']);
    assert.equal(text.status, 0, text.output);
    assert.match(text.output.replace(/:/g, '').toLowerCase(), new RegExp(`serial number ${before.install?.serial}[\\s\\S]*?superseded`));
  });

  it('ok/idempotent/same-renewal-request-answered-again', async () => {
    const dir = await provisionDevice(f, 'meter', 'MTR-003');
    const renewal = await renewalRequest(f, dir);
    const first = await postRenewal(f, dir, renewal);
    assert.equal(first.status, 201, first.body.toString());
    const again = await postRenewal(f, dir, renewal);
    assert.equal(again.status, 200, again.body.toString());
    assert.equal(again.headers['x-request-id'], first.headers['x-request-id']);
    assert.deepEqual(again.body, first.body);
    assert.equal((await deviceCertificates(f, 'MTR-003')).certificates.length, 2, 'one renewal certificate');
  });

  it('fail/renewal-signed-by-another-key', async () => {
    // An attacker who got hold of the certificate (public) but not the key signs the renewal
    // request with its own key, presenting the device's certificate over TLS is not possible
    // without the key either; here the TLS side is the device's and only the JWS is forged.
    const dir = await provisionDevice(f, 'meter', 'MTR-004');
    const attacker = createKeySigner((await generateKey('p256')).privateKey);
    const reply = await postRenewal(f, dir, await renewalRequest(f, dir, attacker));
    assert.equal(reply.status, 401, reply.body.toString());
    assert.equal(codeOf(reply), 'renewal_signature_invalid');
    assert.equal((await deviceCertificates(f, 'MTR-004')).certificates.length, 1, 'nothing issued');
  });

  it('fail/rekey-to-another-devices-key-then-to-a-blocked-key', async () => {
    // A device re-keys to a key another device holds (one key, one identity), then, once that
    // device was revoked for keyCompromise, to the compromised key: both refused by key policy in
    // the renewal's transaction, which then writes nothing.
    const dir = await provisionDevice(f, 'meter', 'MTR-006');
    const otherDir = await provisionDevice(f, 'meter', 'MTR-007');
    const othersKey = loadDevice(otherDir).signer;
    let state = databaseState(f.t);
    let reply = await postRenewal(f, dir, await renewalRequest(f, dir, undefined, othersKey));
    assert.equal(reply.status, 409, reply.body.toString());
    assert.equal(codeOf(reply), 'key_in_use');
    assert.deepEqual(databaseState(f.t), state, 'the refused renewal wrote nothing');

    assert.equal((await f.t.call('POST', '/api/v1/devices/MTR-007/revoke', { json: { reason: 'keyCompromise' } })).status, 200);
    state = databaseState(f.t);
    reply = await postRenewal(f, dir, await renewalRequest(f, dir, undefined, othersKey));
    assert.equal(codeOf(reply), 'key_blocked', reply.body.toString());
    assert.deepEqual(databaseState(f.t), state, 'the refused renewal wrote nothing');
    assert.equal((await deviceCertificates(f, 'MTR-006')).certificates.length, 1, 'nothing issued');
  });

  it('fail/revoked-certificate-never-renews', async () => {
    const dir = await provisionDevice(f, 'meter', 'MTR-005');
    const revoked = await f.t.call('POST', '/api/v1/devices/MTR-005/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.status, 200, revoked.body.toString());
    const reply = await postRenewal(f, dir, await renewalRequest(f, dir));
    assert.equal(reply.status, 401, reply.body.toString());
    assert.equal(codeOf(reply), 'certificate_revoked');
    await assert.rejects(renewConnected(f.deps, { dir, serviceUrl: f.t.service.url }), (e: Error) => /certificate_revoked/.test(e.message));
  });
});

describe('renewal after expiry (SQLite)', () => {
  let f: Fleet;
  before(async () => {
    f = await startFleet('Tags', { name: 'tag', validityDays: 1, renewalGraceDays: 2 });
  });
  after(async () => f.t.close());

  it('ok-and-fail/grace-period', async () => {
    const within = await provisionDevice(f, 'tag', 'TAG-001');
    const beyond = await provisionDevice(f, 'tag', 'TAG-002');
    // Expired a day ago: within the 2-day grace period.
    f.clock.advance(2 * DAY);
    const renewed = await renewConnected(f.deps, { dir: within, serviceUrl: f.t.service.url });
    assert.ok(renewed.confirmed.install.confirmedAt);
    const [audit] = await auditOf(f, 'certificate.renew', 'TAG-001');
    assert.equal(audit?.details.expired, true);

    // Expired three days ago: refused with a stable code, nothing issued.
    f.clock.advance(2 * DAY);
    const late = await postRenewal(f, beyond, await renewalRequest(f, beyond));
    assert.equal(late.status, 401, late.body.toString());
    assert.equal(codeOf(late), 'renewal_grace_expired');
    assert.equal((await deviceCertificates(f, 'TAG-002')).certificates.length, 1);

    // An admin lengthens the component's grace period: the same device may renew.
    const updated = await f.t.call('POST', '/api/v1/systems/Tags/components/tag', { json: { renewalGraceDays: 7 } });
    assert.equal(updated.status, 200, updated.body.toString());
    assert.equal(updated.json().renewalGraceDays, 7);
    const bad = await f.t.call('POST', '/api/v1/systems/Tags/components/tag', { json: { renewalGraceDays: 91 } });
    assert.equal(bad.status, 400);
    const ok = await postRenewal(f, beyond, await renewalRequest(f, beyond));
    assert.equal(ok.status, 201, ok.body.toString());
  });
});

describe('the agent renews at the window (SQLite)', () => {
  let f: Fleet;
  before(async () => {
    f = await startFleet('Pumps', { name: 'pump', validityDays: 30 });
  });
  after(async () => f.t.close());

  /** Runs the agent with a sleep that moves the fixed clock, until the clock passes `horizonMs`. */
  async function runUntil(dir: string, horizonMs: number, events: RenewalLoopEvent[]): Promise<void> {
    const stop = new AbortController();
    const sleep = async (ms: number) => {
      f.clock.advance(ms);
      if (f.clock.now().getTime() >= horizonMs) stop.abort(new Error('horizon'));
      await new Promise((resolve) => setImmediate(resolve));
    };
    const deps = { ...f.deps, sleep };
    await runAgent(deps, {
      dir,
      serviceUrl: f.t.service.url,
      signal: stop.signal,
      maxPollIntervalMs: 100,
      whileProvisioned: (_p, signal) => renewWhenDue(deps, { dir, serviceUrl: f.t.service.url, signal, maxSleepMs: DAY / 4, onEvent: (e) => events.push(e) }),
    });
  }

  it('ok/renews-once-at-two-thirds-and-not-again-after-a-restart', async () => {
    const dir = join(tempDir('provisio-agent-'), 'keystore');
    await initDevice(f.deps, { packageText: f.packageText, component: 'pump', deviceId: 'PMP-001', deviceLabel: 'Pump 1', dir });
    const start = f.clock.now().getTime();
    const events: RenewalLoopEvent[] = [];
    // 30-day certificates: due at 20 days ± 1.5; the next one would be due 20 days after that.
    await runUntil(dir, start + 30 * DAY, events);
    const renews = await auditOf(f, 'certificate.renew', 'PMP-001');
    assert.equal(renews.length, 1, 'exactly one renewal');
    const first = events.find((e) => e.step === 'renewal-scheduled');
    assert.ok(first && first.step === 'renewal-scheduled');
    const renewed = events.find((e) => e.step === 'renewed');
    assert.ok(renewed && renewed.step === 'renewed');
    assert.equal(renewed.previousSerial, first.serial);
    const entry = (await f.t.call('GET', '/api/v1/audit?action=certificate.renew&target=PMP-001')).json().items[0] as { at: string };
    const renewedAt = Date.parse(entry.at);
    assert.ok(renewedAt >= first.at.getTime(), `renewed at ${entry.at}, not before the window ${first.at.toISOString()}`);
    assert.ok(renewedAt < first.at.getTime() + DAY / 4 + 60_000, 'within one sleep of the window');
    const lifetime = 30 * DAY;
    assert.ok(first.at.getTime() - start > lifetime * (2 / 3 - 0.05) - DAY && first.at.getTime() - start < lifetime * (2 / 3 + 0.05) + DAY);
    const installed = loadDevice(dir).install;
    assert.equal(installed?.serial, renewed.serial);
    assert.ok(installed?.confirmedAt);
    assert.equal((await deviceCertificates(f, 'PMP-001')).state, 'provisioned');

    // A restart computes the same schedule from the keystore: nothing renews before the new window.
    const next = renewalDue({ serial: renewed.serial, notBefore: new Date(installed.notBefore), notAfter: new Date(installed.notAfter) });
    await runUntil(dir, next.getTime() - DAY, []);
    assert.equal((await auditOf(f, 'certificate.renew', 'PMP-001')).length, 1, 'still one renewal after a restart');
  });

  it('ok/a-refused-renewal-is-retried-with-backoff-and-the-agent-keeps-running', async () => {
    const dir = join(tempDir('provisio-agent-'), 'keystore');
    // The clock has moved past the first package's life: a new one, made at the service's time.
    const pkg = await f.t.call('POST', '/api/v1/packages', { json: { system: 'Pumps' } });
    assert.equal(pkg.status, 201, pkg.body.toString());
    await initDevice(f.deps, { packageText: pkg.body.toString('utf8'), component: 'pump', deviceId: 'PMP-002', deviceLabel: 'Pump 2', dir });
    await provisionConnected(f.deps, { dir, serviceUrl: f.t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
    assert.equal((await f.t.call('POST', '/api/v1/devices/PMP-002/revoke', { json: { reason: 'privilegeWithdrawn' } })).status, 200);
    const events: RenewalLoopEvent[] = [];
    // Its window passes while it is revoked: every attempt is refused, the agent waits longer each time.
    await runUntil(dir, f.clock.now().getTime() + 30 * DAY, events);
    const failures = events.filter((e) => e.step === 'renewal-failed');
    assert.ok(failures.length >= 5, `${failures.length} attempts`);
    const reasons = [...new Set(failures.map((e) => (e.step === 'renewal-failed' ? e.reason : '')))];
    // Refused; or, as the fake clock lets the agent retry faster than real time, rate limited by
    // the service's per-client limit (real time) — transient, retried the same way.
    assert.ok(reasons.some((r) => /certificate_revoked/.test(r)), reasons.join('\n'));
    assert.ok(reasons.every((r) => /certificate_revoked|429 rate_limited/.test(r)), reasons.join('\n'));
    const waits = failures.map((e) => (e.step === 'renewal-failed' ? e.retryInMs : 0));
    assert.ok(Math.max(...waits.slice(-3)) > Math.max(...waits.slice(0, 2)), `backoff grows: ${waits.join(', ')}`);
    assert.ok(waits.every((w) => w <= 3_600_000));
    assert.equal((await auditOf(f, 'certificate.renew', 'PMP-002')).length, 0);
  });
});

describe('reprovisioning (SQLite)', () => {
  let f: Fleet;
  before(async () => {
    f = await startFleet('Valves', { name: 'valve' });
  });
  after(async () => f.t.close());

  async function pendingReprovision(deviceId: string): Promise<{ id: string; kind?: string }> {
    for (let i = 0; i < 400; i++) {
      const items = (await f.t.call('GET', `/api/v1/requests?state=pending&q=${deviceId}`)).json().items as { id: string; deviceId: string; kind?: string }[];
      const item = items.find((x) => x.deviceId === deviceId);
      if (item) return item;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`no pending request for ${deviceId}`);
  }

  it('ok/manual-policy-waits-for-an-approver-then-the-device-installs', async () => {
    const dir = await provisionDevice(f, 'valve', 'VLV-001');
    const before = loadDevice(dir);
    // The component's own policy is manual: the system's automatic one no longer applies to it.
    const policy = await f.t.call('POST', '/api/v1/systems/Valves/components/valve/policy', { json: { mode: 'manual' } });
    assert.equal(policy.status, 200, policy.body.toString());

    const running = reprovisionConnected(f.deps, { dir, serviceUrl: f.t.service.url, maxWaitMs: 60_000, longPollSeconds: 1 });
    const pending = await pendingReprovision('VLV-001');
    assert.equal(pending.kind, 'reprovision');
    // While it waits the device keeps its identity: still provisioned, nothing new issued.
    const waiting = await deviceCertificates(f, 'VLV-001');
    assert.equal(waiting.state, 'provisioned');
    assert.equal(waiting.certificates.length, 1);
    assert.equal(loadDevice(dir).install?.serial, before.install?.serial);

    const approved = await f.t.call('POST', `/api/v1/requests/${pending.id}/approve`);
    assert.equal(approved.status, 200, approved.body.toString());
    const result = await running;
    assert.equal(result.requestId, pending.id);
    const after = loadDevice(dir);
    assert.notEqual(after.install?.serial, before.install?.serial);
    assert.ok(after.install?.confirmedAt, 'confirmed with the new certificate');
    assert.equal(after.install?.requestId, pending.id);
    const view = await deviceCertificates(f, 'VLV-001');
    assert.equal(view.state, 'provisioned');
    assert.equal(view.certificates.length, 2);
    const [install] = await auditOf(f, 'certificate.install', 'VLV-001');
    assert.equal(install?.details.serial, after.install?.serial);
  });

  it('ok/automatic-policy-approves-at-once', async () => {
    const policy = await f.t.call('POST', '/api/v1/systems/Valves/components/valve/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
    assert.equal(policy.status, 200, policy.body.toString());
    const dir = await provisionDevice(f, 'valve', 'VLV-002');
    const before = loadDevice(dir).install?.serial;
    const result = await reprovisionConnected(f.deps, { dir, serviceUrl: f.t.service.url, maxWaitMs: 30_000, longPollSeconds: 1 });
    const request = (await f.t.call('GET', `/api/v1/requests/${result.requestId}`)).json();
    assert.equal(request.state, 'approved');
    assert.equal(request.kind, 'reprovision');
    assert.equal(request.policyDecision, 'approve');
    assert.notEqual(loadDevice(dir).install?.serial, before);
  });

  it('fail/revoked-device-cannot-reprovision', async () => {
    await f.t.call('POST', '/api/v1/systems/Valves/components/valve/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
    const dir = await provisionDevice(f, 'valve', 'VLV-003');
    assert.equal((await f.t.call('POST', '/api/v1/devices/VLV-003/revoke', { json: { reason: 'cessationOfOperation' } })).status, 200);
    await assert.rejects(reprovisionConnected(f.deps, { dir, serviceUrl: f.t.service.url, maxWaitMs: 10_000 }), (e: Error) => /certificate_revoked/.test(e.message));
  });
});
