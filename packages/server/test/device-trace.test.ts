/**
 * The trace a replay reads (docs/visualizer.md "Replay"): the real request, CSR, certificate and
 * profile bytes of a device's provisioning with its times, decider and audit entries — and no
 * secret: neither the package's bootstrap key nor the device key appears anywhere in it.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { enrollWithToken, initDevice, pairDevice, provisionConnected, readKeystoreFile, renewConnected, reprovisionConnected } from '@provisio/device';
import { createKeySigner, decodePem, generateKey } from '@provisio/pki';
import { parseCertifiedProfile, parsePackage } from '@provisio/protocol';
import { openssl, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

describe('device trace', () => {
  let t: TestService;
  let packageText: string;
  let requestText: string;
  let requestId: string;
  let devicePrivateKey: { der: Buffer; d: string };
  let approver: string;
  let auditor: string;

  before(async () => {
    t = await startTestService({ webRoot: null });
    ({ packageText } = await setUpSystem(t));
    const key = await generateKey('p256');
    devicePrivateKey = {
      der: key.privateKey.export({ type: 'pkcs8', format: 'der' }),
      d: String(key.privateKey.export({ format: 'jwk' }).d),
    };
    requestText = (await makeRequest(packageText, 'DEV-T', { deviceKey: createKeySigner(key.privateKey) })).text;
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(requestText), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    requestId = r.json().request.id as string;
    approver = (await t.call('POST', '/api/v1/users', { json: { username: 'alma', role: 'approver' } })).json().token as string;
    auditor = (await t.call('POST', '/api/v1/users', { json: { username: 'aude', role: 'auditor' } })).json().token as string;
    assert.equal((await t.call('POST', `/api/v1/requests/${requestId}/approve`, { token: approver })).status, 200);
    assert.equal((await t.call('POST', '/api/v1/devices/DEV-T/complete')).status, 200);
  });
  after(() => t.close());

  it('ok/trace/real-bytes-times-decider-and-chain', async () => {
    const r = await t.call('GET', '/api/v1/devices/DEV-T/trace', { token: auditor });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['cache-control'], 'no-store');
    const trace = r.json();
    assert.equal(trace.request.id, requestId);
    assert.equal(trace.request.file, requestText, 'the request file byte for byte');
    assert.equal(trace.request.contentSha256, createHash('sha256').update(requestText).digest('hex'));
    assert.equal(trace.request.decidedBy, 'user:alma');
    assert.equal(trace.request.transport, 'upload');
    assert.equal(trace.device.state, 'provisioned');

    // The CSR is the one inside the request, and openssl checks its signature.
    const payload = JSON.parse(Buffer.from(JSON.parse(requestText).payload, 'base64url').toString('utf8')) as { csr: string };
    assert.equal(trace.csr, payload.csr);
    const dir = tempDir('provisio-trace-');
    writeFileSync(join(dir, 'csr.der'), Buffer.from(trace.csr, 'base64'));
    assert.match(openssl(['req', '-inform', 'DER', '-in', join(dir, 'csr.der'), '-noout', '-verify']).output, /verify OK|Certificate request self-signature verify OK/);

    // The certificate is the one in the profile, and chains to the service's root.
    assert.equal(trace.certificates.length, 1);
    const der = Buffer.from(trace.certificates[0].der, 'base64');
    assert.deepEqual(der, decodePem(trace.certificates[0].pem, 'CERTIFICATE').der);
    const profile = parseCertifiedProfile(trace.profile.file);
    assert.equal(profile.payload.requestId, requestId);
    assert.equal(profile.payload.certificateChain[0], trace.certificates[0].der);
    writeFileSync(join(dir, 'leaf.der'), der);
    writeFileSync(join(dir, 'root.pem'), t.rootPem);
    writeFileSync(join(dir, 'issuing.der'), Buffer.from(profile.payload.certificateChain[1] as string, 'base64'));
    assert.equal(openssl(['x509', '-inform', 'DER', '-in', join(dir, 'issuing.der'), '-out', join(dir, 'issuing.pem')]).status, 0);
    assert.equal(openssl(['x509', '-inform', 'DER', '-in', join(dir, 'leaf.der'), '-out', join(dir, 'leaf.pem')]).status, 0);
    assert.match(openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), join(dir, 'leaf.pem')]).output, /leaf\.pem: OK/);
    const serial = openssl(['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-serial']).stdout.trim();
    assert.equal(serial, `serial=${trace.certificates[0].serial.replace(/:/g, '').toUpperCase()}`);

    // The audit entries of this provisioning in chain order, each with its hash linking to the one before.
    const events = trace.events as { seq: number; action: string; actor: string; hash: string; prevHash: string; at: string }[];
    assert.deepEqual(events.map((e) => e.action), ['request.submit', 'request.approve', 'device.complete']);
    assert.ok(events.some((e) => e.action === 'request.approve' && e.actor === 'user:alma'));
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i]!.seq > events[i - 1]!.seq);
      if (events[i]!.seq === events[i - 1]!.seq + 1) assert.equal(events[i]!.prevHash, events[i - 1]!.hash);
    }
    assert.ok(events.every((e) => /^[0-9a-f]{64}$/.test(e.hash)));
    assert.ok(Date.parse(trace.request.decidedAt) >= Date.parse(trace.request.createdAt));
  });

  it('ok/trace/no-secret-in-it', async () => {
    // The package holds the bootstrap private key; the device holds its own. Neither may leak
    // into a trace in any spelling (PEM body, base64 DER, hex DER, the JWK private scalar).
    const body = (await t.call('GET', '/api/v1/devices/DEV-T/trace')).body.toString('utf8');
    const bootstrapKeyDer = decodePem(parsePackage(packageText).bootstrap.privateKey, 'PRIVATE KEY').der;
    for (const secret of [bootstrapKeyDer, devicePrivateKey.der]) {
      assert.ok(!body.includes(secret.toString('base64').slice(0, 40)), 'private key (base64) in the trace');
      assert.ok(!body.includes(secret.toString('hex').slice(-64)), 'private key (hex) in the trace');
    }
    assert.ok(!body.includes(devicePrivateKey.d), 'device key scalar in the trace');
    assert.doesNotMatch(body, /PRIVATE KEY|"privateKey"|pvs_/);
  });

  it('ok/trace/approver-sees-the-entries-the-device-history-shows', async () => {
    // An approver may not list the whole audit log, but sees the entries about this device (as on
    // its history): the trace carries the same.
    const r = await t.call('GET', '/api/v1/devices/DEV-T/trace', { token: approver });
    assert.equal(r.status, 200);
    const history = await t.call('GET', '/api/v1/devices/DEV-T/history', { token: approver });
    const seqs = (x: { events: { seq: number }[] }) => x.events.map((e) => e.seq);
    assert.ok(seqs(r.json()).length >= 3);
    assert.ok(seqs(r.json()).every((n) => seqs(history.json()).includes(n)), 'no entry beyond what the history shows');
    assert.equal((await t.call('GET', '/api/v1/audit', { token: approver })).status, 403);
    assert.equal(r.json().request.decidedBy, 'user:alma');
    assert.ok(r.json().certificates[0].der);
  });

  it('fail/trace/unknown-device-technician-and-anonymous', async () => {
    const unknown = await t.call('GET', '/api/v1/devices/DEV-NOPE/trace');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'device_not_found');
    const tech = (await t.call('POST', '/api/v1/users', { json: { username: 'tom', role: 'technician' } })).json().token as string;
    const refused = await t.call('GET', '/api/v1/devices/DEV-T/trace', { token: tech });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'role_forbidden');
    assert.equal((await t.call('GET', '/api/v1/devices/DEV-T/trace', { token: null })).status, 401);
  });

  it('ok/trace/pending-request-has-no-certificate-or-profile', async () => {
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest(packageText, 'DEV-P')).text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201);
    const trace = (await t.call('GET', '/api/v1/devices/DEV-P/trace')).json();
    assert.deepEqual(trace.certificates, []);
    assert.equal(trace.profile, null);
    assert.equal(trace.request.decidedBy, null);
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['request.submit']);
  });
});

describe('device trace of an earlier request', () => {
  // A device provisioned over connected delivery, then renewed with its current certificate: two
  // requests, each replayed with its own bytes and its own story.
  let t: TestService;
  let dir: string;
  let first: { id: string; file: string };
  let renewal: { id: string };
  const deps = { clock: { now: () => new Date() }, random: { bytes: (n: number) => randomBytes(n) } };
  const serialOf = (pem: string | Buffer) => {
    const d = tempDir('provisio-trace-serial-');
    writeFileSync(join(d, 'c.pem'), pem);
    return openssl(['x509', '-in', join(d, 'c.pem'), '-noout', '-serial']).stdout.trim();
  };

  before(async () => {
    t = await startTestService({ webRoot: null });
    assert.equal((await t.call('POST', '/api/v1/systems', { json: { name: 'Meters' } })).status, 201);
    assert.equal((await t.call('POST', '/api/v1/systems/Meters/components', { json: { name: 'meter', keyTypes: ['p256'] } })).status, 201);
    assert.equal((await t.call('POST', '/api/v1/systems/Meters/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } })).status, 200);
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'Meters' } });
    assert.equal(pkg.status, 201, pkg.body.toString());
    dir = join(tempDir('provisio-trace-life-'), 'keystore');
    await initDevice(deps, { packageText: pkg.body.toString('utf8'), component: 'meter', deviceId: 'MTR-1', deviceLabel: 'Meter 1', dir });
    assert.equal((await provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 })).serviceState, 'provisioned');
    const firstTrace = (await t.call('GET', '/api/v1/devices/MTR-1/trace')).json();
    first = { id: firstTrace.request.id, file: firstTrace.request.file };
    await renewConnected(deps, { dir, serviceUrl: t.service.url });
    const history = (await t.call('GET', '/api/v1/devices/MTR-1/history')).json() as { requests: { id: string; kind?: string }[] };
    assert.equal(history.requests.length, 2);
    const renewed = history.requests.find((r) => r.kind === 'renewal');
    assert.ok(renewed);
    renewal = { id: renewed.id };
  });
  after(() => t.close());

  it('ok/trace/earlier-request-has-its-own-bytes-and-events-only', async () => {
    const r = await t.call('GET', `/api/v1/devices/MTR-1/trace?request=${first.id}`);
    assert.equal(r.status, 200, r.body.toString());
    const trace = r.json();
    assert.equal(trace.request.id, first.id);
    assert.equal(trace.request.file, first.file, 'the first request file byte for byte');
    assert.equal(trace.request.transport, 'connected');
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['request.submit', 'request.auto_approve', 'device.confirm']);
    assert.equal(trace.certificates.length, 1);
    assert.equal(parseCertifiedProfile(trace.profile.file).payload.requestId, first.id);
    // Its certificate is the first one, not the one the keystore holds now.
    assert.notEqual(serialOf(trace.certificates[0].pem), serialOf(readKeystoreFile(dir, 'certificate')));
  });

  it('ok/trace/renewal-is-the-current-request-with-its-own-story', async () => {
    const byDefault = (await t.call('GET', '/api/v1/devices/MTR-1/trace')).json();
    const r = await t.call('GET', `/api/v1/devices/MTR-1/trace?request=${renewal.id}`);
    assert.equal(r.status, 200, r.body.toString());
    const trace = r.json();
    assert.deepEqual(byDefault, trace, 'the current request is the default');
    assert.equal(trace.request.kind, 'renewal');
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['certificate.renew', 'certificate.install']);
    assert.ok(trace.events.every((e: { details: { requestId?: string } }) => e.details.requestId === renewal.id));
    // The renewal JWS as received, with the CSR it carries; the certificate the keystore installed.
    const payload = JSON.parse(Buffer.from(String(trace.request.file).split('.')[1] as string, 'base64url').toString('utf8')) as { csr: string; aud: string };
    assert.equal(payload.aud, 'provisio-renew');
    assert.equal(trace.csr, payload.csr);
    assert.equal(trace.certificates.length, 1);
    assert.equal(`serial=${trace.certificates[0].serial.replace(/:/g, '').toUpperCase()}`, serialOf(readKeystoreFile(dir, 'certificate')));
    assert.equal(parseCertifiedProfile(trace.profile.file).payload.requestId, renewal.id);
  });

  it('ok/trace/reprovisioning-after-the-renewal-has-its-own-story-and-ends-the-renewal-s', async () => {
    // Reprovisioned through the system's automatic policy: a third request.
    const done = await reprovisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, longPollSeconds: 1 });
    const trace = (await t.call('GET', `/api/v1/devices/MTR-1/trace?request=${done.requestId}`)).json();
    assert.equal(trace.request.kind, 'reprovision');
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['request.submit', 'request.auto_approve', 'certificate.install']);
    assert.equal(trace.request.decidedBy, 'system');
    assert.equal(`serial=${trace.certificates[0].serial.replace(/:/g, '').toUpperCase()}`, serialOf(readKeystoreFile(dir, 'certificate')));
    // The renewal's story now ends where the reprovisioning's begins.
    const renewed = (await t.call('GET', `/api/v1/devices/MTR-1/trace?request=${renewal.id}`)).json();
    assert.deepEqual(renewed.events.map((e: { action: string }) => e.action), ['certificate.renew', 'certificate.install']);
    assert.ok(renewed.events.every((e: { seq: number }) => e.seq < trace.events[0].seq));
  });

  it('fail/trace/foreign-or-unknown-request-is-404', async () => {
    // Another device's request: the answer does not say whose it is or that it exists.
    const other = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest((await setUpSystem(t, 'Other')).packageText, 'DEV-O')).text), contentType: REQUEST_MEDIA });
    assert.equal(other.status, 201, other.body.toString());
    const otherId = other.json().request.id as string;
    const foreign = await t.call('GET', `/api/v1/devices/MTR-1/trace?request=${otherId}`);
    const unknown = await t.call('GET', '/api/v1/devices/MTR-1/trace?request=req_doesnotexist');
    for (const answer of [foreign, unknown]) {
      assert.equal(answer.status, 404);
      assert.equal(answer.json().error.code, 'request_not_found');
      assert.doesNotMatch(answer.body.toString(), /DEV-O|Other|pending/);
    }
    assert.equal((await t.call('GET', '/api/v1/devices/MTR-1/trace?request=a%20b')).status, 400);
  });
});

describe('device trace of an enrollment with a pairing code or a token', () => {
  // Devices enrolled by the device SDK with a one-time secret (no package): the trace's request
  // is the CSR itself, and its story starts where the secret was made and spent.
  let t: TestService;
  const deps = { clock: { now: () => new Date() }, random: { bytes: (n: number) => randomBytes(n) } };
  const work = tempDir('provisio-trace-secret-');
  const serialOf = (pem: string | Buffer) => {
    writeFileSync(join(work, 'c.pem'), pem);
    return openssl(['x509', '-in', join(work, 'c.pem'), '-noout', '-serial']).stdout.trim();
  };

  before(async () => {
    t = await startTestService({ webRoot: null });
    await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256']);
  });
  after(() => t.close());

  it('ok/trace/pairing-enrollment-has-the-csr-and-the-pairing-story', async () => {
    const created = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: 'ZM-P1', deviceLabel: 'Bed 12' } });
    assert.equal(created.status, 201, created.body.toString());
    const code = created.json().code as string;
    const dir = join(work, 'pair-keystore');
    // The system's policy has no automatic rule: an approver decides while the device asks again.
    const running = pairDevice({ ...deps, sleep: () => new Promise((resolve) => setTimeout(resolve, 100)) }, { dir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: 'ZM-P1', code, maxWaitMs: 60_000 });
    let requestId: string | undefined;
    for (let i = 0; i < 400 && !requestId; i++) {
      requestId = ((await t.call('GET', '/api/v1/requests?state=pending&q=ZM-P1')).json().items as { id: string }[])[0]?.id;
      if (!requestId) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(requestId, 'the device asked');
    const approver = (await t.call('POST', '/api/v1/users', { json: { username: 'paula', role: 'approver' } })).json().token as string;
    assert.equal((await t.call('POST', `/api/v1/requests/${requestId}/approve`, { token: approver })).status, 200);
    await running;

    const r = await t.call('GET', '/api/v1/devices/ZM-P1/trace');
    assert.equal(r.status, 200, r.body.toString());
    const trace = r.json();
    assert.deepEqual(trace.request.enrollment, { kind: 'pairing-code', id: 'ZM-P1' });
    assert.equal(trace.request.file, trace.csr, 'the stored request is the CSR itself');
    const csrPath = join(work, 'pair.csr');
    writeFileSync(csrPath, Buffer.from(trace.csr as string, 'base64'));
    assert.equal(openssl(['req', '-inform', 'DER', '-in', csrPath, '-noout', '-verify']).status, 0);
    assert.equal(createHash('sha256').update(Buffer.from(trace.csr as string, 'base64')).digest('hex'), trace.request.contentSha256);
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['pairing.create', 'pairing.use', 'request.submit', 'request.approve', 'device.confirm']);
    assert.equal(trace.request.decidedBy, 'user:paula');
    assert.equal(`serial=${trace.certificates[0].serial.replace(/:/g, '').toUpperCase()}`, serialOf(readKeystoreFile(dir, 'certificate')));
    assert.doesNotMatch(r.body.toString(), new RegExp(code.replace('-', '-?'), 'i'), 'the pairing code is in no entry');
  });

  it('ok/trace/pairing-confirmed-on-the-onboard-page-says-so-in-its-approval', async () => {
    // The QR flow (D46): the device pairs and waits; a person confirms it with its code on the
    // Onboard route. The approval entry is how a replay tells this from a typed pairing.
    const created = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: 'ZM-Q1', deviceLabel: 'Bed 13' } });
    assert.equal(created.status, 201, created.body.toString());
    const code = created.json().code as string;
    const dir = join(work, 'qr-keystore');
    const running = pairDevice({ ...deps, sleep: () => new Promise((resolve) => setTimeout(resolve, 100)) }, { dir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: 'ZM-Q1', code, maxWaitMs: 60_000 });
    const approver = (await t.call('POST', '/api/v1/users', { json: { username: 'quinn', role: 'approver' } })).json().token as string;
    let confirmed: Awaited<ReturnType<typeof t.call>> | undefined;
    for (let i = 0; i < 400; i++) {
      confirmed = await t.call('POST', '/api/v1/onboard/confirm', { token: approver, json: { deviceId: 'ZM-Q1', code } });
      if (confirmed.status !== 409 || confirmed.json().error.code !== 'pairing_not_asked') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(confirmed?.status, 200, confirmed?.body.toString());
    await running;

    const r = await t.call('GET', '/api/v1/devices/ZM-Q1/trace');
    assert.equal(r.status, 200, r.body.toString());
    const trace = r.json();
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['pairing.create', 'pairing.use', 'request.submit', 'request.approve', 'device.confirm']);
    const approval = trace.events[3] as { actor: string; targetId: string; details: Record<string, unknown> };
    assert.equal(approval.actor, 'user:quinn');
    assert.equal(approval.targetId, trace.request.id);
    assert.equal(approval.details.confirmedInPerson, true);
    assert.equal(approval.details.pairing, 'ZM-Q1');
    assert.equal(trace.request.decidedBy, 'user:quinn');
    assert.equal(`serial=${trace.certificates[0].serial.replace(/:/g, '').toUpperCase()}`, serialOf(readKeystoreFile(dir, 'certificate')));
    assert.doesNotMatch(r.body.toString(), new RegExp(code.replace('-', '-?'), 'i'), 'the pairing code is in no entry');
    // A pairing approved elsewhere (ZM-P1, on the requests route) carries no such mark.
    const typed = (await t.call('GET', '/api/v1/devices/ZM-P1/trace')).json();
    assert.ok(typed.events.every((e: { details: { confirmedInPerson?: unknown } | null }) => e.details?.confirmedInPerson === undefined));
  });

  it('ok/trace/token-enrollment-has-the-csr-and-the-token-story', async () => {
    assert.equal((await t.call('POST', '/api/v1/systems/ZMonitor/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } })).status, 200);
    const created = await t.call('POST', '/api/v1/tokens', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: 'ZM-T1' } });
    assert.equal(created.status, 201, created.body.toString());
    const token = created.json().token as string;
    const tokenId = created.json().record.id as string;
    // Another token made later, for another device: not this device's story.
    assert.equal((await t.call('POST', '/api/v1/tokens', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: 'ZM-T2' } })).status, 201);
    const dir = join(work, 'token-keystore');
    await enrollWithToken(deps, { dir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: 'ZM-T1', token, maxWaitMs: 30_000 });

    const r = await t.call('GET', '/api/v1/devices/ZM-T1/trace');
    assert.equal(r.status, 200, r.body.toString());
    const trace = r.json();
    assert.deepEqual(trace.request.enrollment, { kind: 'token', id: tokenId });
    assert.equal(trace.request.file, trace.csr);
    assert.deepEqual(trace.events.map((e: { action: string }) => e.action), ['token.create', 'token.use', 'request.submit', 'request.auto_approve', 'device.confirm']);
    assert.ok(trace.events.slice(0, 2).every((e: { targetId: string }) => e.targetId === tokenId));
    assert.equal(`serial=${trace.certificates[0].serial.replace(/:/g, '').toUpperCase()}`, serialOf(readKeystoreFile(dir, 'certificate')));
    assert.ok(!r.body.toString().includes(token.split('_')[2] as string), 'the token\'s secret is in no entry');
  });

  it('ok/trace/a-revoked-device-s-return-with-a-pairing-code-has-its-own-story', async () => {
    // ZM-T1, enrolled with a token above, is revoked and comes back with a pairing code and a new key.
    const first = (await t.call('GET', '/api/v1/devices/ZM-T1/trace')).json().request.id as string;
    assert.equal((await t.call('POST', '/api/v1/devices/ZM-T1/revoke', { json: { reason: 'keyCompromise' } })).status, 200);
    const created = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId: 'ZM-T1', deviceLabel: 'Bed 14' } });
    assert.equal(created.status, 201, created.body.toString());
    const dir = join(work, 'return-keystore');
    // A revoked device's return needs an approver, whatever the policy.
    const running = pairDevice({ ...deps, sleep: () => new Promise((resolve) => setTimeout(resolve, 100)) }, { dir, serviceUrl: t.service.url, rootPem: t.rootPem, deviceId: 'ZM-T1', code: created.json().code as string, maxWaitMs: 60_000 });
    let requestId: string | undefined;
    for (let i = 0; i < 400 && !requestId; i++) {
      requestId = ((await t.call('GET', '/api/v1/requests?state=pending&q=ZM-T1')).json().items as { id: string }[])[0]?.id;
      if (!requestId) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(requestId, 'the device asked again');
    assert.equal((await t.call('POST', `/api/v1/requests/${requestId}/approve`)).status, 200);
    await running;

    const returned = (await t.call('GET', '/api/v1/devices/ZM-T1/trace')).json();
    assert.equal(returned.request.id, requestId);
    assert.deepEqual(returned.events.map((e: { action: string }) => e.action), ['pairing.create', 'pairing.use', 'request.submit', 'request.approve', 'device.confirm']);
    const earlier = (await t.call('GET', `/api/v1/devices/ZM-T1/trace?request=${first}`)).json();
    const actions = earlier.events.map((e: { action: string }) => e.action) as string[];
    assert.deepEqual(actions.slice(0, 5), ['token.create', 'token.use', 'request.submit', 'request.auto_approve', 'device.confirm']);
    assert.ok(actions.includes('device.revoke'), actions.join());
    assert.ok(!actions.some((a) => a.startsWith('pairing.')), 'the return\'s pairing is not the token request\'s story');
    assert.ok(earlier.events.every((e: { seq: number }) => e.seq < returned.events[0].seq));
  });
});
