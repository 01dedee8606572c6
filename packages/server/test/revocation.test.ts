/**
 * Revocation against the real service (HTTPS on a loopback port, a real SQLite file), checked with
 * tools nobody here wrote: `openssl ocsp` asks our responder (good → revoked with its reason;
 * unknown for a serial never issued; the nonce echoed), `openssl verify -crl_check` passes with
 * the CRL downloaded before a revocation and fails with the one after. The revoke API's roles,
 * codes and audit entries; the keyCompromise flow (revoke → re-key → new request pending →
 * approve → the new certificate good, the old one revoked); a revoked package's bootstrap
 * credential; the CRL number rising across revocations and a restart.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { httpsTransport } from '@provisio/device';
import { type SerialNumber, buildOcspRequest, createKeySigner, encodePem, generateKey, parseCertificate, parseCrl, parseOcspRequest, parseOcspResponse, verifyOcspResponse } from '@provisio/pki';
import { DAY, createTestPki, fixedClock, openssl, opensslAsync, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const HOUR_MS = 3_600_000;

interface Issued {
  readonly deviceId: string;
  readonly requestId: string;
  readonly serial: string;
  readonly certPath: string;
}

/** Files for openssl: the root, the issuing CA and a scratch directory. */
interface Files {
  readonly dir: string;
  readonly root: string;
  readonly intermediate: string;
}

async function prepareFiles(t: TestService): Promise<Files> {
  const dir = tempDir('provisio-revocation-');
  const root = join(dir, 'root.crt');
  const intermediate = join(dir, 'intermediate.crt');
  writeFileSync(root, t.rootPem);
  writeFileSync(intermediate, (await t.call('GET', '/ca/intermediate.crt', { token: null })).body);
  return { dir, root, intermediate };
}

async function submit(t: TestService, text: string): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any -- test replies are read loosely
  const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
  assert.ok(r.status === 201 || r.status === 200, r.body.toString());
  return r.json().request;
}

async function approve(t: TestService, requestId: string, files: Files, deviceId: string): Promise<Issued> {
  const r = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
  assert.equal(r.status, 200, r.body.toString());
  const certificate = r.json().certificate as { serial: string; pem: string };
  const certPath = join(files.dir, `${deviceId}-${certificate.serial}.crt`);
  writeFileSync(certPath, certificate.pem);
  return { deviceId, requestId, serial: certificate.serial, certPath };
}

async function provision(t: TestService, packageText: string, files: Files, deviceId: string): Promise<Issued> {
  const { text } = await makeRequest(packageText, deviceId);
  const request = await submit(t, text);
  return approve(t, request.id as string, files, deviceId);
}

/** `openssl ocsp` against the responder (asynchronously: the service runs in this process). */
function ocsp(t: TestService, files: Files, target: string[], extra: string[] = []) {
  return opensslAsync(['ocsp', '-issuer', files.intermediate, ...target, '-url', `${t.service.url}/ocsp`, '-CAfile', files.root, ...extra]);
}

async function downloadCrl(t: TestService, files: Files, name: string): Promise<{ pemPath: string; der: Buffer; headers: Record<string, unknown> }> {
  const r = await t.call('GET', '/crl/issuing.crl', { token: null });
  assert.equal(r.status, 200);
  const derPath = join(files.dir, `${name}.crl`);
  const pemPath = join(files.dir, `${name}.pem`);
  writeFileSync(derPath, r.body);
  const converted = openssl(['crl', '-inform', 'DER', '-in', derPath, '-out', pemPath]);
  assert.equal(converted.status, 0, converted.output);
  return { pemPath, der: r.body, headers: r.headers };
}

function crlNumber(der: Buffer): bigint {
  const n = parseCrl(der).crlNumber;
  assert.ok(n !== null);
  return n;
}

async function tokenFor(t: TestService, role: string): Promise<string> {
  const r = await t.call('POST', '/api/v1/users', { json: { username: `${role}-${randomBytes(4).toString('hex')}`, role } });
  assert.equal(r.status, 201, r.body.toString());
  return r.json().token as string;
}

describe('revocation: CRL and OCSP (SQLite)', () => {
  let t: TestService;
  let files: Files;
  let packageText: string;
  let packageId: string;

  before(async () => {
    t = await startTestService({ crlIntervalMs: HOUR_MS });
    files = await prepareFiles(t);
    ({ packageText, packageId } = await setUpSystem(t));
  });
  after(async () => t.close());

  it('ok/openssl/ocsp-good-then-revoked-with-reason-and-crl-verify-fails-after', async () => {
    const device = await provision(t, packageText, files, 'REV-001');
    const good = await ocsp(t, files, ['-cert', device.certPath]);
    assert.match(good.output, /Response verify OK/, good.output);
    assert.match(good.output, new RegExp(`${device.certPath}: good`), good.output);
    // openssl sends a nonce by default and warns when the answer lacks it.
    assert.doesNotMatch(good.output, /WARNING: no nonce/i, good.output);

    const before = await downloadCrl(t, files, 'before');
    const verifyBefore = openssl(['verify', '-crl_check', '-CAfile', files.root, '-untrusted', files.intermediate, '-CRLfile', before.pemPath, device.certPath]);
    assert.match(verifyBefore.output, /: OK/, verifyBefore.output);

    const r = await t.call('POST', '/api/v1/devices/REV-001/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().state, 'revoked');
    assert.equal(r.json().changed, true);
    assert.deepEqual(r.json().revoked.map((c: { serial: string }) => c.serial), [device.serial]);

    const revoked = await ocsp(t, files, ['-cert', device.certPath]);
    assert.match(revoked.output, /Response verify OK/, revoked.output);
    assert.match(revoked.output, new RegExp(`${device.certPath}: revoked`), revoked.output);
    assert.match(revoked.output, /Reason: keyCompromise/, revoked.output);
    assert.match(revoked.output, /Revocation Time: /, revoked.output);

    const afterCrl = await downloadCrl(t, files, 'after');
    const verifyAfter = openssl(['verify', '-crl_check', '-CAfile', files.root, '-untrusted', files.intermediate, '-CRLfile', afterCrl.pemPath, device.certPath]);
    assert.match(verifyAfter.output, /certificate revoked/, verifyAfter.output);
    assert.notEqual(verifyAfter.status, 0);
    assert.ok(crlNumber(afterCrl.der) > crlNumber(before.der), 'the CRL number rose with the revocation');
    const text = openssl(['crl', '-in', afterCrl.pemPath, '-noout', '-text']);
    assert.match(text.output, new RegExp(`Serial Number: ${device.serial.toUpperCase()}`), text.output);
    assert.match(text.output, /Key Compromise/, text.output);
  });

  it('ok/openssl/ocsp-unknown-for-a-serial-never-issued', async () => {
    const made = `0x${randomBytes(16).toString('hex')}`;
    const r = await ocsp(t, files, ['-serial', made]);
    assert.match(r.output, /Response verify OK/, r.output);
    assert.match(r.output, new RegExp(`${made}: unknown`), r.output);
  });

  it('ok/ocsp/nonce-echoed-and-answers-without-one-are-cached-for-get', async () => {
    const device = await provision(t, packageText, files, 'REV-002');
    const reqPath = join(files.dir, 'get.req');
    const made = openssl(['ocsp', '-issuer', files.intermediate, '-cert', device.certPath, '-no_nonce', '-reqout', reqPath]);
    assert.equal(made.status, 0, made.output);
    const der = readFileSync(reqPath);
    // RFC 5019 §5: the URL-escaped base64 of the DER request after the responder's URL.
    const path = `/ocsp/${encodeURIComponent(der.toString('base64'))}`;
    const r = await t.call('GET', path, { token: null });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/ocsp-response');
    const maxAge = Number(/max-age=(\d+)/.exec(String(r.headers['cache-control']))?.[1]);
    assert.ok(maxAge > 0 && maxAge <= 300, String(r.headers['cache-control']));
    assert.ok(r.headers.etag && r.headers['last-modified'] && r.headers.expires);
    const respPath = join(files.dir, 'get.resp');
    writeFileSync(respPath, r.body);
    const read = openssl(['ocsp', '-respin', respPath, '-issuer', files.intermediate, '-cert', device.certPath, '-CAfile', files.root, '-no_nonce']);
    assert.match(read.output, /Response verify OK/, read.output);
    assert.match(read.output, new RegExp(`${device.certPath}: good`), read.output);
    const parsed = parseOcspResponse(r.body).basic;
    assert.ok(parsed?.responses[0]?.nextUpdate, 'nextUpdate is always set (RFC 5019 §2.2.4)');
    // The same question again: the pre-signed answer, byte for byte; a conditional GET: 304.
    const again = await t.call('GET', path, { token: null });
    assert.ok(again.body.equals(r.body), 'the cached answer is served');
    const conditional = await t.call('GET', path, { token: null, headers: { 'if-none-match': String(r.headers.etag) } });
    assert.equal(conditional.status, 304);
    // base64url in the path is accepted as well.
    const url = await t.call('GET', `/ocsp/${der.toString('base64url')}`, { token: null });
    assert.equal(parseOcspResponse(url.body).status, 'successful');

    // Revocation invalidates the cached answer at once.
    assert.equal((await t.call('POST', '/api/v1/devices/REV-002/revoke', { json: { reason: 'superseded' } })).status, 200);
    const afterRevoke = await t.call('GET', path, { token: null });
    const status = parseOcspResponse(afterRevoke.body).basic?.responses[0]?.status;
    assert.equal(status?.status, 'revoked');
    assert.equal(status?.status === 'revoked' ? status.reason : null, 'superseded');

    // With a nonce: echoed, and the answer is not cacheable.
    const nonce = randomBytes(16);
    const withNonce = await t.call('POST', '/ocsp', {
      token: null,
      raw: await buildOcspRequest({ issuer: parseCertificate(readFileSync(files.intermediate, 'utf8')), serial: device.serial as SerialNumber, nonce }),
      contentType: 'application/ocsp-request',
    });
    assert.equal(withNonce.headers['cache-control'], 'no-store');
    assert.ok(parseOcspResponse(withNonce.body).basic?.nonce?.equals(nonce));
    // The GET form with a nonce (a longer path): echoed too, and not cacheable.
    const nonced = await buildOcspRequest({ issuer: parseCertificate(readFileSync(files.intermediate, 'utf8')), serial: device.serial as SerialNumber, nonce: randomBytes(32) });
    const getNonce = await t.call('GET', `/ocsp/${encodeURIComponent(nonced.toString('base64'))}`, { token: null });
    assert.equal(getNonce.headers['cache-control'], 'no-store');
    assert.ok(parseOcspResponse(getNonce.body).basic?.nonce?.equals(parseOcspRequest(nonced).nonce as Buffer));
  });

  it('fail/ocsp/malformed-requests-get-malformedRequest-not-an-error-page', async () => {
    const cases: Array<[string, () => Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }>]> = [
      ['garbage POST', () => t.call('POST', '/ocsp', { token: null, raw: Buffer.from('not an ocsp request'), contentType: 'application/ocsp-request' })],
      ['JSON POST', () => t.call('POST', '/ocsp', { token: null, json: { serial: '01' } })],
      ['oversized POST', () => t.call('POST', '/ocsp', { token: null, raw: randomBytes(64 * 1024), contentType: 'application/ocsp-request' })],
      ['truncated DER', () => t.call('POST', '/ocsp', { token: null, raw: Buffer.from([0x30, 0x82, 0x01]), contentType: 'application/ocsp-request' })],
      ['GET not base64', () => t.call('GET', '/ocsp/%%%not-base64!!', { token: null })],
      ['GET empty', () => t.call('GET', '/ocsp/', { token: null })],
    ];
    for (const [what, send] of cases) {
      const r = await send();
      assert.equal(r.status, 200, what);
      assert.equal(r.headers['content-type'], 'application/ocsp-response', what);
      assert.equal(parseOcspResponse(r.body).status, 'malformedRequest', what);
    }
    const respPath = join(files.dir, 'malformed.resp');
    writeFileSync(respPath, (await cases[0]![1]()).body);
    const read = openssl(['ocsp', '-respin', respPath, '-resp_text', '-noverify']);
    assert.match(read.output, /Responder Error: malformedrequest \(1\)/i, read.output);
  });

  it('fail/ocsp/another-issuer-is-unauthorized', async () => {
    // A certificate of a CA this responder does not speak for (RFC 5019 §2.2.3).
    const other = await createTestPki({ now: new Date(), random: { bytes: (n: number) => randomBytes(n) } });
    const leaf = await other.issueDevice('OTHER-1');
    const otherIssuer = join(files.dir, 'other-intermediate.crt');
    const otherLeaf = join(files.dir, 'other-leaf.crt');
    writeFileSync(otherIssuer, encodePem('CERTIFICATE', other.intermediate.certificate.der));
    writeFileSync(otherLeaf, encodePem('CERTIFICATE', leaf.certificate.der));
    const r = await opensslAsync(['ocsp', '-issuer', otherIssuer, '-cert', otherLeaf, '-url', `${t.service.url}/ocsp`, '-CAfile', files.root]);
    assert.match(r.output, /Responder Error: unauthorized \(6\)/, r.output);
  });

  it('ok/crl/headers-next-update-and-number-growth', async () => {
    const first = await downloadCrl(t, files, 'h1');
    assert.equal(first.headers['content-type'], 'application/pkix-crl');
    assert.ok(first.headers.etag && first.headers['last-modified']);
    const maxAge = Number(/max-age=(\d+)/.exec(String(first.headers['cache-control']))?.[1]);
    assert.ok(maxAge > 0 && maxAge <= 300);
    const parsed = parseCrl(first.der);
    assert.ok(parsed.nextUpdate);
    const ahead = parsed.nextUpdate.getTime() - Date.now();
    // nextUpdate = thisUpdate + interval + a grace of a quarter interval at most.
    assert.ok(ahead > HOUR_MS - 60_000 && ahead <= HOUR_MS * 1.25 + 1000, `nextUpdate is ${ahead} ms ahead`);
    const conditional = await t.call('GET', '/crl/issuing.crl', { token: null, headers: { 'if-none-match': String(first.headers.etag) } });
    assert.equal(conditional.status, 304);
    const pem = await t.call('GET', '/crl/issuing.crl.pem', { token: null });
    assert.match(pem.body.toString(), /-----BEGIN X509 CRL-----/);

    const numbers = [crlNumber(first.der)];
    for (const id of ['REV-010', 'REV-011']) {
      await provision(t, packageText, files, id);
      assert.equal((await t.call('POST', `/api/v1/devices/${id}/revoke`, { json: { reason: 'cessationOfOperation' } })).status, 200);
      numbers.push(crlNumber((await downloadCrl(t, files, id)).der));
    }
    assert.ok(numbers[0]! < numbers[1]! && numbers[1]! < numbers[2]!, `numbers ${numbers.join(', ')} rise`);
  });

  it('fail/revoke-api/roles-reasons-unknown-pending-twice-and-audit', async () => {
    const device = await provision(t, packageText, files, 'REV-020');
    for (const role of ['technician', 'auditor']) {
      const r = await t.call('POST', `/api/v1/devices/${device.deviceId}/revoke`, { token: await tokenFor(t, role), json: { reason: 'superseded' } });
      assert.equal(r.status, 403, role);
      assert.equal(r.json().error.code, 'role_forbidden');
    }
    const anonymous = await t.call('POST', `/api/v1/devices/${device.deviceId}/revoke`, { token: null, json: { reason: 'superseded' } });
    assert.equal(anonymous.status, 401);
    for (const reason of ['stolen', 'cACompromise', 'certificateHold', 'removeFromCRL', 'aACompromise']) {
      const r = await t.call('POST', `/api/v1/devices/${device.deviceId}/revoke`, { json: { reason } });
      assert.equal(r.status, 400, reason);
      assert.equal(r.json().error.code, 'revocation_reason_invalid', reason);
    }
    const missing = await t.call('POST', `/api/v1/devices/${device.deviceId}/revoke`, { json: {} });
    assert.equal(missing.json().error.code, 'validation_failed');
    assert.equal((await t.call('GET', `/api/v1/devices/${device.deviceId}`)).json().state, 'approved', 'refusals changed nothing');

    const unknown = await t.call('POST', '/api/v1/devices/NO-SUCH-DEVICE/revoke', { json: { reason: 'superseded' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'device_not_found');

    const { text } = await makeRequest(packageText, 'REV-021');
    await submit(t, text);
    const pending = await t.call('POST', '/api/v1/devices/REV-021/revoke', { json: { reason: 'superseded' } });
    assert.equal(pending.status, 409);
    assert.equal(pending.json().error.code, 'device_not_revocable');

    const approver = await tokenFor(t, 'approver');
    const first = await t.call('POST', `/api/v1/devices/${device.deviceId}/revoke`, { token: approver, json: { reason: 'affiliationChanged' } });
    assert.equal(first.status, 200, first.body.toString());
    const auditBefore = (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number;
    const twice = await t.call('POST', `/api/v1/devices/${device.deviceId}/revoke`, { json: { reason: 'keyCompromise' } });
    assert.equal(twice.status, 200);
    assert.equal(twice.json().changed, false);
    assert.equal((await t.call('GET', '/api/v1/audit?limit=1')).json().total, auditBefore, 'revoking twice writes nothing');

    const shown = (await t.call('GET', `/api/v1/devices/${device.deviceId}`)).json();
    assert.equal(shown.state, 'revoked');
    assert.equal(shown.certificates[0].status, 'revoked');
    assert.equal(shown.certificates[0].revocationReason, 'affiliationChanged', 'the first reason stays');
    const certAudit = (await t.call('GET', `/api/v1/audit?action=certificate.revoke&target=${device.serial}`)).json().items;
    assert.equal(certAudit.length, 1);
    assert.equal(certAudit[0].details.reason, 'affiliationChanged');
    assert.match(certAudit[0].details.sha256, /^[0-9a-f]{64}$/);
    assert.doesNotMatch(JSON.stringify(certAudit[0]), /BEGIN/, 'fingerprints only, no certificate bodies');
    const deviceAudit = (await t.call('GET', `/api/v1/audit?action=device.revoke&target=${device.deviceId}`)).json().items;
    assert.equal(deviceAudit.length, 1);
    assert.match(deviceAudit[0].actor, /^user:approver-/);
    assert.deepEqual(deviceAudit[0].details.serials, [device.serial]);
    const verified = (await t.call('GET', '/api/v1/audit/verify')).json();
    assert.equal(verified.ok, true);
  });

  it('ok/key-compromise/re-key-re-enters-approval-new-certificate-good-old-revoked', async () => {
    // Even an automatic policy does not take a revoked device back: an approver decides.
    assert.equal((await t.call('POST', '/api/v1/systems/ZMonitor/policy', { json: { mode: 'automatic', rules: { deviceIdPattern: '^REV-03[0-9]$' } } })).status, 200);
    const firstKey = createKeySigner((await generateKey('p256')).privateKey);
    const { text } = await makeRequest(packageText, 'REV-030', { deviceKey: firstKey });
    const auto = await submit(t, text);
    assert.equal(auto.state, 'approved', 'the policy approved the first request');
    const firstCert = (await t.call('GET', '/api/v1/devices/REV-030')).json().certificates[0];
    const oldPath = join(files.dir, 'REV-030-old.crt');
    writeFileSync(oldPath, firstCert.pem);

    assert.equal((await t.call('POST', '/api/v1/devices/REV-030/revoke', { json: { reason: 'keyCompromise' } })).status, 200);

    // The same (compromised) key cannot come back.
    const sameKey = await makeRequest(packageText, 'REV-030', { deviceKey: firstKey });
    const refused = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(sameKey.text), contentType: REQUEST_MEDIA });
    assert.equal(refused.status, 409);
    assert.equal(refused.json().error.code, 'device_key_revoked');
    assert.equal((await t.call('GET', '/api/v1/devices/REV-030')).json().state, 'revoked', 'the refusal changed nothing');

    // A new key: the request waits for an approver, whatever the policy says.
    const rekeyed = await makeRequest(packageText, 'REV-030');
    const pending = await submit(t, rekeyed.text);
    assert.equal(pending.state, 'pending');
    assert.equal(pending.policyRule, 'reentry', JSON.stringify(pending));
    assert.equal((await t.call('GET', '/api/v1/devices/REV-030')).json().state, 'pending');
    const submitAudit = (await t.call('GET', `/api/v1/audit?action=request.submit&target=${pending.id}`)).json().items[0];
    assert.equal(submitAudit.details.reentry.revocationReason, 'keyCompromise');

    // Rejected, the device keeps its history: the compromised key is still refused and the next
    // request still waits for an approver.
    const rejected = await t.call('POST', `/api/v1/requests/${pending.id}/reject`, { json: { reason: 'not our technician' } });
    assert.equal(rejected.status, 200, rejected.body.toString());
    const oldKeyAgain = await makeRequest(packageText, 'REV-030', { deviceKey: firstKey });
    const refusedAgain = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(oldKeyAgain.text), contentType: REQUEST_MEDIA });
    assert.equal(refusedAgain.json().error?.code, 'device_key_revoked', refusedAgain.body.toString());
    const third = await submit(t, (await makeRequest(packageText, 'REV-030')).text);
    assert.equal(third.state, 'pending', 'not approved automatically after a rejection either');
    assert.equal(third.policyRule, 'reentry');

    const renewed = await approve(t, third.id as string, files, 'REV-030');
    assert.notEqual(renewed.serial, firstCert.serial);
    const newStatus = await ocsp(t, files, ['-cert', renewed.certPath]);
    assert.match(newStatus.output, new RegExp(`${renewed.certPath}: good`), newStatus.output);
    const oldStatus = await ocsp(t, files, ['-cert', oldPath]);
    assert.match(oldStatus.output, new RegExp(`${oldPath}: revoked`), oldStatus.output);
    assert.match(oldStatus.output, /Reason: keyCompromise/, oldStatus.output);
    const device = (await t.call('GET', '/api/v1/devices/REV-030')).json();
    assert.equal(device.state, 'approved');
    assert.deepEqual(device.certificates.map((c: { status: string }) => c.status), ['active', 'revoked']);
    assert.equal((await t.call('POST', '/api/v1/systems/ZMonitor/policy', { json: { mode: 'manual', rules: {} } })).status, 200);
  });

  it('fail/mutual-tls/a-revoked-certificate-no-longer-authenticates-the-device', async () => {
    const key = await generateKey('p256');
    const { text } = await makeRequest(packageText, 'REV-050', { deviceKey: createKeySigner(key.privateKey) });
    const request = await submit(t, text);
    const issued = await approve(t, request.id as string, files, 'REV-050');
    const chain = readFileSync(issued.certPath, 'utf8') + readFileSync(files.intermediate, 'utf8');
    const confirm = async () => {
      const mtls = httpsTransport(t.rootPem, { clientKey: key.privateKey.export({ type: 'pkcs8', format: 'pem' }), clientCertificate: chain });
      try {
        return await mtls.request('POST', `${t.service.url}/api/v1/device/confirm`, { bytes: Buffer.from('{}'), contentType: 'application/json' });
      } finally {
        mtls.close();
      }
    };
    const first = await confirm();
    assert.equal(first.status, 200, first.body.toString());
    const revoked = await t.call('POST', '/api/v1/devices/REV-050/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.json().state, 'revoked', revoked.body.toString());
    // The attacker holding the compromised key and certificate: refused, and nothing changes.
    const audit = (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number;
    const again = await confirm();
    assert.equal(again.status, 401, again.body.toString());
    assert.equal(JSON.parse(again.body.toString()).error.code, 'client_certificate_unknown');
    assert.equal((await t.call('GET', '/api/v1/audit?limit=1')).json().total, audit);
    assert.equal((await t.call('GET', '/api/v1/devices/REV-050')).json().state, 'revoked');
  });

  it('ok/package-revoke/bootstrap-credential-revoked-in-ocsp-and-crl-and-refused', async () => {
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'ZMonitor' } });
    const text = pkg.body.toString();
    const id = String(pkg.headers['x-package-id']);
    const chain = JSON.parse(text).bootstrap.certificateChain as string;
    const bootstrapPath = join(files.dir, 'bootstrap.crt');
    writeFileSync(bootstrapPath, chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 25));
    assert.match((await ocsp(t, files, ['-cert', bootstrapPath])).output, /: good/);
    const early = await makeRequest(text, 'REV-040');

    const r = await t.call('POST', `/api/v1/packages/${id}/revoke`, { json: { reason: 'keyCompromise' } });
    assert.equal(r.status, 200, r.body.toString());
    const status = await ocsp(t, files, ['-cert', bootstrapPath]);
    assert.match(status.output, /: revoked/, status.output);
    assert.match(status.output, /Reason: keyCompromise/, status.output);
    const crl = await downloadCrl(t, files, 'package');
    const verify = openssl(['verify', '-crl_check', '-CAfile', files.root, '-untrusted', files.intermediate, '-CRLfile', crl.pemPath, bootstrapPath]);
    assert.match(verify.output, /certificate revoked/, verify.output);
    // A request made with it before the revocation is refused now, and nothing is stored.
    const refused = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(early.text), contentType: REQUEST_MEDIA });
    assert.equal(refused.status, 401);
    assert.equal(refused.json().error.code, 'package_revoked');
    assert.equal((await t.call('GET', '/api/v1/devices/REV-040')).status, 404);
    const audit = (await t.call('GET', `/api/v1/audit?action=package.revoke&target=${id}`)).json().items[0];
    assert.equal(audit.details.reason, 'keyCompromise');
    const bad = await t.call('POST', `/api/v1/packages/${packageId}/revoke`, { json: { reason: 'certificateHold' } });
    assert.equal(bad.json().error.code, 'revocation_reason_invalid');
  });
});

describe('revocation: the CRL number survives a restart (SQLite)', () => {
  it('ok/crl-number-grows-across-a-restart', async () => {
    const dataDir = tempDir('provisio-crl-restart-');
    let t = await startTestService({ dataDir });
    const files = await prepareFiles(t);
    const { packageText } = await setUpSystem(t);
    await provision(t, packageText, files, 'RST-001');
    await t.call('POST', '/api/v1/devices/RST-001/revoke', { json: { reason: 'superseded' } });
    const before = crlNumber((await downloadCrl(t, files, 'r1')).der);
    await t.close();
    t = await startTestService({ dataDir });
    try {
      const same = crlNumber((await downloadCrl(t, files, 'r2')).der);
      assert.ok(same >= before, 'a restart never goes back');
      await provision(t, packageText, files, 'RST-002');
      await t.call('POST', '/api/v1/devices/RST-002/revoke', { json: { reason: 'superseded' } });
      const afterRestart = await downloadCrl(t, files, 'r3');
      assert.ok(crlNumber(afterRestart.der) > same, 'the next revocation takes a higher number');
      assert.deepEqual(parseCrl(afterRestart.der).entries.map((e) => e.reason).sort(), ['superseded', 'superseded']);
    } finally {
      await t.close();
    }
  });
});

describe('revocation: the OCSP responder certificate is renewed while the service runs', () => {
  it('ok/responder-near-expiry-is-replaced-and-recorded', async () => {
    const clock = fixedClock(new Date());
    const t = await startTestService({ clock });
    try {
      const files = await prepareFiles(t);
      const { packageText } = await setUpSystem(t);
      const device = await provision(t, packageText, files, 'RNW-001');
      const before = t.service.deps.authority.ocspResponder.certificate;
      // 61 days later the 90-day responder certificate has 29 days left: the next answer renews it.
      clock.advance(61 * DAY);
      const issuer = parseCertificate(readFileSync(files.intermediate, 'utf8'));
      const r = await t.call('POST', '/ocsp', { token: null, raw: await buildOcspRequest({ issuer, serial: device.serial as SerialNumber }), contentType: 'application/ocsp-request' });
      const response = parseOcspResponse(r.body);
      const signer = verifyOcspResponse(response, issuer, clock.now());
      assert.notEqual(signer.serial, before.serial, 'signed by a new responder certificate');
      assert.ok(signer.notAfter.getTime() - clock.now().getTime() > 89 * DAY);
      assert.equal(response.basic?.responses[0]?.status.status, 'good');
      const recorded = await t.service.deps.store.findCertificate(t.service.deps.authority.issuerFingerprint, signer.serial);
      assert.equal(recorded?.kind, 'ocsp-responder', 'the new responder certificate is recorded');
      assert.equal(parseCertificate(readFileSync(join(t.dataDir, 'ca', 'ocsp-responder.crt'), 'utf8')).serial, signer.serial, 'and kept for the next start');
    } finally {
      await t.close();
    }
  });
});
