/**
 * The provisioning service through its real HTTPS API on a loopback port with a real SQLite file:
 * the disconnected flow, every refusal the intake must make (each leaving nothing behind), the
 * approval race, and every route walked with every role.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MOCK_DEVICE_MARK, createKeySigner, generateKey, parseCertificate, randomSerial } from '@provisio/pki';
import { parseCertifiedProfile, verifyCertifiedProfile } from '@provisio/protocol';
import { createTestPki, openssl, seededRandom, tempDir } from '@provisio/testkit';
import { signCheckpoint } from '../src/audit/checkpoint.js';
import { ROUTES } from '../src/http/routes.js';
import { ROLES } from '../src/domain/model.js';
import { REQUEST_MEDIA, type TestService, makeRequest, pem, resignWithDeviceKey, setUpSystem, startTestService } from './service-harness.js';

describe('service API (SQLite)', () => {
  let t: TestService;
  let packageText: string;
  let packageId: string;

  before(async () => {
    t = await startTestService();
    ({ packageText, packageId } = await setUpSystem(t));
  });
  after(async () => t.close());

  const upload = (text: string | Buffer, contentType = REQUEST_MEDIA) => t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType });
  const counts = async () => ({
    requests: (await t.call('GET', '/api/v1/requests?limit=1')).json().total as number,
    audit: (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number,
  });
  /** Asserts the upload is refused with `code` and that nothing was stored or audited. */
  async function refused(body: string | Buffer, status: number, code: string, contentType?: string) {
    const before = await counts();
    const r = await upload(body, contentType);
    assert.equal(r.status, status, r.body.toString());
    assert.equal(r.json().error.code, code, r.body.toString());
    assert.deepEqual(await counts(), before, 'a refused request changed state');
  }

  it('ok/flow/upload-approve-profile-complete', async () => {
    const { text, deviceKey } = await makeRequest(packageText, 'DEV-001');
    let r = await upload(text);
    assert.equal(r.status, 201, r.body.toString());
    const requestId = r.json().request.id as string;
    assert.equal(r.json().request.state, 'pending');

    r = await t.call('GET', '/api/v1/requests?state=pending');
    assert.ok(r.json().items.some((x: { id: string }) => x.id === requestId));

    r = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
    assert.equal(r.status, 200, r.body.toString());
    const serial = r.json().certificate.serial as string;

    r = await t.call('GET', `/api/v1/requests/${requestId}/profile`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /application\/vnd\.provisio\.profile\+json/);
    const cp = parseCertifiedProfile(r.body);
    const root = parseCertificate(t.rootPem);
    verifyCertifiedProfile(cp, { root, deviceId: 'DEV-001', devicePublicKey: deviceKey.publicKey, at: new Date() });
    assert.equal(cp.certificate.serial, serial);

    const dir = tempDir();
    writeFileSync(join(dir, 'root.pem'), t.rootPem);
    writeFileSync(join(dir, 'int.pem'), pem(cp.chain[1]?.der ?? Buffer.alloc(0)));
    writeFileSync(join(dir, 'dev.pem'), pem(cp.certificate.der));
    const v = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'int.pem'), join(dir, 'dev.pem')]);
    assert.match(v.output, /dev\.pem: OK/, v.output);

    r = await t.call('POST', '/api/v1/devices/DEV-001/complete');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().state, 'provisioned');
    r = await t.call('GET', '/api/v1/devices/DEV-001');
    assert.equal(r.json().state, 'provisioned');
    assert.equal(r.json().certificates[0].serial, serial);

    r = await t.call('GET', '/api/v1/audit/verify');
    assert.equal(r.json().ok, true, r.body.toString());
  });

  it('ok/idempotent/identical-resubmission', async () => {
    const { text } = await makeRequest(packageText, 'DEV-IDEM');
    const first = await upload(text);
    const second = await upload(text);
    assert.equal(first.status, 201);
    assert.equal(second.status, 200);
    assert.equal(second.json().request.id, first.json().request.id);
    assert.equal(second.json().created, false);
  });

  it('fail/intake/tampered-payload-and-each-signature', async () => {
    const { text } = await makeRequest(packageText, 'DEV-TAMPER');
    const jws = JSON.parse(text);
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString());
    const edited = Buffer.from(JSON.stringify({ ...payload, deviceLabel: 'Bed 13' })).toString('base64url');
    await refused(JSON.stringify({ ...jws, payload: edited }), 401, 'pr_device_signature_invalid');
    const deviceSig = { ...jws, signatures: [{ ...jws.signatures[0], signature: flip(jws.signatures[0].signature, 10) }, jws.signatures[1]] };
    await refused(JSON.stringify(deviceSig), 401, 'pr_device_signature_invalid');
    const bootSig = { ...jws, signatures: [jws.signatures[0], { ...jws.signatures[1], signature: flip(jws.signatures[1].signature, 10) }] };
    await refused(JSON.stringify(bootSig), 401, 'pr_bootstrap_signature_invalid');
  });

  it('fail/intake/csr-key-differs-from-request-key', async () => {
    // The attacker signs the request with their own key but presents a CSR of the victim's key.
    const { text } = await makeRequest(packageText, 'DEV-KEYSWAP');
    const attacker = createKeySigner((await generateKey('p256')).privateKey);
    await refused(await resignWithDeviceKey(text, packageText, attacker), 401, 'pr_key_mismatch');
  });

  it('fail/intake/expired-request', async () => {
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    const { text } = await makeRequest(packageText, 'DEV-OLD', { createdAt: longAgo, expiresAt: new Date(longAgo.getTime() + 3600_000) });
    await refused(text, 400, 'pr_expired');
  });

  it('fail/intake/replayed-nonce-different-content', async () => {
    const first = await makeRequest(packageText, 'DEV-NONCE-1', { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    assert.equal((await upload(first.text)).status, 201);
    const second = await makeRequest(packageText, 'DEV-NONCE-2', { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    await refused(second.text, 409, 'request_replayed');
  });

  it('fail/intake/unknown-component-and-duplicate-device', async () => {
    const unknown = await makeRequest(packageText, 'DEV-UNKNOWN-COMP', { component: 'toaster' });
    await refused(unknown.text, 404, 'component_not_found');
    const dup = await makeRequest(packageText, 'DEV-001');
    await refused(dup.text, 409, 'device_exists');
  });

  it('fail/intake/package-of-another-system', async () => {
    // Attack: a package issued for system B is used to enrol a device into system A.
    const other = await setUpSystem(t, 'OtherSystem', 'sensor');
    const forged = await makeRequest(other.packageText, 'DEV-CROSS', { system: 'ZMonitor', component: 'bedside monitor' });
    await refused(forged.text, 401, 'package_mismatch');
  });

  it('fail/intake/revoked-package', async () => {
    const extra = await t.call('POST', '/api/v1/packages', { json: { system: 'ZMonitor' } });
    const text = extra.body.toString();
    const req = await makeRequest(text, 'DEV-REVOKED-PKG');
    const r = await t.call('POST', `/api/v1/packages/${extra.headers['x-package-id']}/revoke`);
    assert.equal(r.status, 200, r.body.toString());
    await refused(req.text, 401, 'package_revoked');
  });

  it('fail/intake/garbage-truncated-oversized-wrong-type', async () => {
    const { text } = await makeRequest(packageText, 'DEV-GARBAGE');
    await refused('not json at all', 400, 'pr_malformed');
    await refused(text.slice(0, text.length / 2), 400, 'pr_malformed');
    await refused(Buffer.alloc(70 * 1024, 0x7b), 413, 'body_too_large');
    await refused(text, 400, 'validation_failed', 'text/plain');
  });

  it('ok/csr-names-never-copied', async () => {
    // The CSR asks for another identity; the certificate carries only approved data. (A DNS name
    // it asks for is refused at intake: api-strict-input.test.ts.)
    const { text } = await makeRequest(packageText, 'DEV-SMUGGLE', { csrNames: { cn: 'DEV-001' } });
    const id = (await upload(text)).json().request.id as string;
    const r = await t.call('POST', `/api/v1/requests/${id}/approve`);
    const cert = parseCertificate(r.json().certificate.pem);
    assert.equal(cert.subject.attributes[0]?.value, 'DEV-SMUGGLE');
    assert.equal(cert.subject.attributes.filter((a) => a.value === 'DEV-001').length, 0);
  });

  it('fail/approve/twice-and-after-reject', async () => {
    const a = (await upload((await makeRequest(packageText, 'DEV-TWICE')).text)).json().request.id;
    assert.equal((await t.call('POST', `/api/v1/requests/${a}/approve`)).status, 200);
    const again = await t.call('POST', `/api/v1/requests/${a}/approve`);
    assert.equal(again.status, 409);
    assert.equal(again.json().error.code, 'request_not_pending');
    const b = (await upload((await makeRequest(packageText, 'DEV-REJ')).text)).json().request.id;
    const rej = await t.call('POST', `/api/v1/requests/${b}/reject`, { json: { reason: 'unknown serial' } });
    assert.equal(rej.status, 200, rej.body.toString());
    const late = await t.call('POST', `/api/v1/requests/${b}/approve`);
    assert.equal(late.json().error.code, 'request_not_pending');
    assert.equal((await t.call('GET', `/api/v1/requests/${b}/profile`)).json().error.code, 'profile_not_found');
  });

  it('ok/approve/twenty-concurrent-make-one-certificate', async () => {
    const id = (await upload((await makeRequest(packageText, 'DEV-RACE')).text)).json().request.id;
    const replies = await Promise.all(Array.from({ length: 20 }, () => t.call('POST', `/api/v1/requests/${id}/approve`)));
    assert.equal(replies.filter((r) => r.status === 200).length, 1);
    assert.equal(replies.filter((r) => r.status === 409).length, 19);
    const device = (await t.call('GET', '/api/v1/devices/DEV-RACE')).json();
    assert.equal(device.certificates.length, 1);
  });

  it('ok/mock-devices/marked-in-certificate-and-database', async () => {
    const r = await t.call('POST', '/api/v1/mock-devices', { json: { system: 'ZMonitor', component: 'bedside monitor', count: 2 } });
    assert.equal(r.status, 201, r.body.toString());
    const devices = r.json().devices as Array<{ deviceId: string; certificateChain: string; privateKey: string; profile: string }>;
    assert.equal(devices.length, 2);
    const cert = parseCertificate(devices[0]?.certificateChain ?? '');
    assert.ok(cert.subject.attributes.some((a) => a.value === MOCK_DEVICE_MARK), JSON.stringify(cert.subject.attributes));
    const device = (await t.call('GET', `/api/v1/devices/${devices[0]?.deviceId}`)).json();
    assert.equal(device.mock, true);
    assert.equal(device.state, 'approved');
    assert.match(devices[0]?.privateKey ?? '', /BEGIN PRIVATE KEY/);
  });

  it('fail/mock-devices/refused-by-a-system-without-mock', async () => {
    await t.call('POST', '/api/v1/systems', { json: { name: 'Strict', allowMock: false } });
    await t.call('POST', '/api/v1/systems/Strict/components', { json: { name: 'pump' } });
    const before = await counts();
    const r = await t.call('POST', '/api/v1/mock-devices', { json: { system: 'Strict', component: 'pump', count: 1 } });
    assert.equal(r.status, 403, r.body.toString());
    assert.equal(r.json().error.code, 'mock_not_allowed');
    assert.deepEqual(await counts(), before);
    // A mock request made with a real package of that system is refused at intake too.
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'Strict' } });
    const mock = await makeRequest(pkg.body.toString(), 'DEV-MOCK-STRICT', { mock: true });
    await refused(mock.text, 403, 'mock_not_allowed');
  });

  it('fail/audit/checkpoint-signed-by-another-key', async () => {
    const cp = await t.call('POST', '/api/v1/audit/checkpoints');
    assert.equal(cp.status, 201, cp.body.toString());
    assert.equal((await t.call('GET', '/api/v1/audit/verify')).json().ok, true);
    // An attacker with database access plants a checkpoint signed by a profile signer of their own
    // PKI (a valid signature, an untrusted signer).
    const attacker = await createTestPki({ now: new Date(), random: seededRandom('audit-attacker') });
    const key = await generateKey('p256');
    const signer = createKeySigner(key.privateKey);
    const issued = await attacker.intermediate.issuer.issue({
      profile: { kind: 'profile-signer' },
      serial: randomSerial(attacker.random),
      subject: [{ type: 'CN', value: 'Provisio profile signer' }],
      publicKey: signer.publicKey,
      notBefore: new Date(Date.now() - 3600_000),
      notAfter: new Date(Date.now() + 3600_000),
    });
    assert.equal((await t.call('POST', '/api/v1/audit/checkpoints')).status, 201, 'a second checkpoint at the same head is idempotent');
    await t.call('POST', '/api/v1/systems', { json: { name: 'AfterCheckpoint' } });
    const newest = (await t.service.deps.store.listAudit({ limit: 1, offset: 0 })).items[0];
    assert.ok(newest);
    await t.service.deps.store.insertCheckpoint(await signCheckpoint(newest, signer, issued.der, new Date()));
    const r = (await t.call('GET', '/api/v1/audit/verify')).json();
    assert.equal(r.ok, false, JSON.stringify(r));
    assert.equal(r.problem, 'checkpoint_signature_invalid');
  });

  it('ok/roles/every-route-with-every-role', async () => {
    // Each route declares its roles; every other role gets 403, no token gets 401.
    const tokens: Record<string, string> = { admin: t.adminToken };
    for (const role of ROLES.filter((r) => r !== 'admin')) {
      const r = await t.call('POST', '/api/v1/users', { json: { username: `user-${role}`, role } });
      assert.equal(r.status, 201, r.body.toString());
      tokens[role] = r.json().token;
    }
    for (const route of ROUTES) {
      const path = route.url.replace(/:[A-Za-z]+/g, 'x');
      for (const role of [...ROLES, null]) {
        const r = await t.call(route.method, path, { token: role ? tokens[role] : null, ...(route.method !== 'GET' && !route.rawBody ? { json: {} } : {}) });
        const label = `${route.method} ${route.url} as ${role ?? 'anonymous'}: ${r.status} ${r.body.toString().slice(0, 200)}`;
        // A public route that authenticates with a TLS client certificate (POST /api/v1/device/confirm)
        // takes no token either way, and this client sends no certificate: 401 with its documented
        // code, whatever the token.
        if (route.clientCertificate) {
          assert.equal(r.status, 401, label);
          assert.equal(r.json().error.code, 'client_certificate_required', label);
        } else if (route.roles === 'public') assert.ok(r.status < 500 && r.status !== 401 && r.status !== 403, label);
        else if (role === null) assert.equal(r.status, 401, label);
        else if (route.roles.includes(role)) assert.ok(r.status !== 401 && r.status !== 403 && r.status < 500, label);
        else assert.equal(r.status, 403, label);
      }
    }
  });

  it('ok/openapi/covers-every-route', async () => {
    const doc = (await t.call('GET', '/openapi.json', { token: null })).json();
    for (const route of ROUTES) {
      const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
      assert.ok(doc.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path} missing from openapi.json`);
    }
  });

  it('fail/auth/bad-tokens', async () => {
    for (const token of ['pvs_nope', 'x', 'pvs_' + 'A'.repeat(43), 'pvs_' + 'A'.repeat(500)]) {
      const r = await t.call('GET', '/api/v1/requests', { token });
      assert.equal(r.status, 401);
      assert.equal(r.json().error.code, 'unauthenticated');
    }
  });

  it('ok/files/admin-token-and-keys-are-0600', async () => {
    const { statSync } = await import('node:fs');
    for (const file of ['admin.token', 'ca/intermediate.key', 'ca/profile-signer.key', 'ca/tls.key', 'provisio.db']) {
      assert.equal(statSync(join(t.dataDir, file)).mode & 0o777, 0o600, file);
    }
    assert.ok(packageId.startsWith('pkg_'));
  });
});
