import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createKeySigner, importPrivateKeyPem, parseCertificate, publicKeyFingerprint } from '@provisio/pki';
import { parseProvisioningRequest, verifyProvisioningRequest } from '@provisio/protocol';
import { DAY, fixedClock, seededRandom, tempDir } from '@provisio/testkit';
import { COMPONENT, createFakeService, type FakeService } from '../test/fake-service.js';
import { auditEvents, mode, pemBody, snapshot, withCode } from '../test/helpers.js';
import { initDevice, type InitDeviceInput } from './init-device.js';
import { parseIdentityRecord } from './records.js';

const NOW = '2026-06-01T12:00:00Z';

describe('initDevice', () => {
  let service: FakeService;
  const random = seededRandom('device-init');

  before(async () => {
    service = await createFakeService({ now: new Date(NOW), random: seededRandom('device-init-service') });
  });

  function input(dir: string, extra: Partial<InitDeviceInput> = {}): InitDeviceInput {
    return {
      packageText: service.packageText,
      component: COMPONENT,
      deviceId: 'DEV-001',
      deviceLabel: 'Bed 12',
      hardwareSerial: 'SN-0042',
      firmwareVersion: '2.4.1',
      dir,
      ...extra,
    };
  }

  it('ok/init/p256-files-modes-and-a-request-that-verifies', async () => {
    const clock = fixedClock(NOW);
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const result = await initDevice({ clock, random }, input(dir));

    assert.equal(mode(dir), 0o700);
    assert.deepEqual(readdirSync(dir).sort(), ['device.key', 'identity.json', 'request.ppr', 'root.crt', 'security_audit_head.json', 'security_audit_log.jsonl']);
    for (const name of readdirSync(dir)) assert.equal(mode(join(dir, name)), 0o600, name);
    assert.deepEqual(auditEvents(dir), ['device.initialized']);

    // The request verifies as the service will verify it, against the package root.
    const pr = parseProvisioningRequest(readFileSync(result.requestPath));
    verifyProvisioningRequest(pr, { at: clock.now(), roots: [service.pki.root.certificate] });
    assert.equal(pr.payload.deviceId, 'DEV-001');
    assert.equal(pr.payload.deviceLabel, 'Bed 12');
    assert.equal(pr.payload.system, 'ZMonitor');
    assert.equal(pr.payload.component, COMPONENT);
    assert.equal(pr.payload.packageId, service.pkg.packageId);
    assert.equal(pr.payload.hardwareSerial, 'SN-0042');
    assert.equal(pr.payload.firmwareVersion, '2.4.1');
    assert.equal(pr.payload.mock, false);
    assert.equal(Buffer.from(pr.payload.nonce, 'base64url').length, 16);
    assert.equal(pr.payload.createdAt, NOW);
    // 7 days (the package's request lifetime), well inside the bootstrap certificate's 90.
    assert.equal(pr.expiresAt.getTime(), new Date(NOW).getTime() + 7 * DAY);
    assert.equal(result.requestText, readFileSync(result.requestPath, 'utf8'));

    // The key in device.key is the key the request is for, and the CSR names only CN=deviceId.
    const keyPem = readFileSync(join(dir, 'device.key'), 'utf8');
    const signer = createKeySigner(importPrivateKeyPem(keyPem));
    assert.ok(signer.publicKey.spki.equals(pr.csr.publicKey.spki));
    assert.equal(signer.publicKey.curve, 'P-256');
    assert.deepEqual(pr.csr.subject.attributes.map((a) => `${a.type}=${a.value}`), ['CN=DEV-001']);

    // root.crt is the package's root, byte for byte.
    assert.ok(parseCertificate(readFileSync(join(dir, 'root.crt'))).der.equals(service.pki.root.certificate.der));

    const identity = parseIdentityRecord(readFileSync(join(dir, 'identity.json'), 'utf8'));
    assert.equal(identity.state, 'requested');
    assert.equal(identity.publicKeySha256, publicKeyFingerprint(signer.publicKey));
    assert.equal(identity.rootSha256, service.pki.root.certificate.fingerprint);
    assert.equal(identity.requestExpiresAt, pr.payload.expiresAt);
    assert.deepEqual(result.identity, identity);
  });

  it('ok/init/no-private-key-leaves-the-keystore-key-file', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    const result = await initDevice({ clock: fixedClock(NOW), random }, input(dir));
    const keyPem = readFileSync(join(dir, 'device.key'), 'utf8');
    const jwk = createPrivateKey(keyPem).export({ format: 'jwk' });
    const d = jwk.d as string;
    // Neither the PKCS#8 body nor the private scalar (base64url, as a JWK would carry it) is in
    // the request, the identity, or anything else in the keystore but device.key.
    for (const name of readdirSync(dir).filter((n) => n !== 'device.key')) {
      const text = readFileSync(join(dir, name), 'utf8');
      assert.ok(!text.includes(pemBody(keyPem).slice(0, 40)), name);
      assert.ok(!text.includes(d), name);
    }
    assert.ok(!result.requestText.includes(d));
    assert.ok(!JSON.stringify(result.identity).includes(d));
    // The package's bootstrap private key is used in memory and never written to the keystore.
    const bootstrapBody = pemBody(service.bootstrap.privateKeyPem);
    for (const name of readdirSync(dir)) {
      assert.ok(!pemBody(readFileSync(join(dir, name), 'utf8')).includes(bootstrapBody.slice(20, 80)), name);
    }
  });

  it('ok/init/request-expiry-clipped-to-the-bootstrap-certificate', async () => {
    // A bootstrap certificate that ends in 2 days (notBefore is a day back, so 1 day from now):
    // a request signed with it must not outlive it.
    const short = await createFakeService({ now: new Date(NOW), random: seededRandom('short'), bootstrapDays: 2 });
    const dir = join(tempDir('provisio-device-'), 'ks');
    const result = await initDevice({ clock: fixedClock(NOW), random }, { ...input(dir), packageText: short.packageText });
    assert.equal(result.requestExpiresAt.getTime(), short.bootstrap.certificate.notAfter.getTime());
    const pr = parseProvisioningRequest(result.requestText);
    verifyProvisioningRequest(pr, { at: new Date(NOW), roots: [short.pki.root.certificate] });
  });

  it('ok/init/key-type-p384-allowed-by-the-template', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    const result = await initDevice({ clock: fixedClock(NOW), random }, input(dir, { keyType: 'p384' }));
    assert.equal(result.identity.keyType, 'p384');
    assert.equal(parseProvisioningRequest(result.requestText).csr.publicKey.curve, 'P-384');
  });

  it('ok/init/component-default-is-its-first-key-type-when-the-package-default-is-not-allowed', async () => {
    // "gateway" allows rsa3072 only; the package default (p256) does not apply to it.
    const dir = join(tempDir('provisio-device-'), 'ks');
    const result = await initDevice({ clock: fixedClock(NOW), random }, input(dir, { component: 'gateway' }));
    assert.equal(result.identity.keyType, 'rsa3072');
    assert.equal(parseProvisioningRequest(result.requestText).csr.publicKey.bits, 3072);
  });

  it('fail/init/package-expired-writes-nothing', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    const clock = fixedClock(new Date(new Date(NOW).getTime() + 31 * DAY));
    await assert.rejects(initDevice({ clock, random }, input(dir)), withCode('package_expired'));
    assert.ok(!existsSync(dir));
  });

  it('fail/init/package-bootstrap-not-from-its-root', async () => {
    // A package whose bootstrap chain belongs to another PKI than its rootOfTrust.
    const other = await createFakeService({ now: new Date(NOW), random: seededRandom('other') });
    const mixed = JSON.parse(service.packageText) as Record<string, unknown>;
    mixed.rootOfTrust = other.pkg.rootOfTrust;
    const dir = join(tempDir('provisio-device-'), 'ks');
    await assert.rejects(
      initDevice({ clock: fixedClock(NOW), random }, { ...input(dir), packageText: JSON.stringify(mixed) }),
      withCode('package_untrusted'),
    );
    assert.ok(!existsSync(dir));
  });

  it('fail/init/unknown-component', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    await assert.rejects(
      initDevice({ clock: fixedClock(NOW), random }, input(dir, { component: 'infusion pump' })),
      withCode('package_component_unknown'),
    );
    assert.ok(!existsSync(dir));
  });

  it('fail/init/key-type-the-template-forbids', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    await assert.rejects(
      initDevice({ clock: fixedClock(NOW), random }, input(dir, { keyType: 'rsa3072' })),
      withCode('package_key_type_not_allowed'),
    );
    assert.ok(!existsSync(dir));
  });

  it('fail/init/bad-device-id-and-label', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir, { deviceId: '../etc' })), withCode('identity_invalid'));
    await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir, { deviceLabel: 'a\nb' })), withCode('identity_invalid'));
    await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir, { hardwareSerial: 'é' })), withCode('identity_invalid'));
    assert.ok(!existsSync(dir));
  });

  it('fail/init/label-with-bidi-control-or-zero-width-character', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    // "Bed 12" followed by a right-to-left override would display the rest reversed.
    for (const label of ['Bed 12\u202Eraw', 'Bed\u200B12', 'Bed 12\u2066', '\uFEFFBed 12', 'Bed\u061C12', 'Bed\u200F12', 'Bed\u2060 12']) {
      await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir, { deviceLabel: label })), withCode('text_invalid'), label);
    }
    assert.ok(!existsSync(dir));
    // Other scripts and punctuation are fine.
    await initDevice({ clock: fixedClock(NOW), random }, input(dir, { deviceLabel: 'Lit 12 – salle Ω, 病床' }));
  });

  it('fail/init/package-file-with-a-duplicate-member', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    // A second serviceUrl ahead of the genuine one: JSON.parse would keep the genuine, another reader the first.
    const doubled = service.packageText.replace('{', '{"serviceUrl": "https://attacker.example",');
    assert.notEqual(doubled, service.packageText);
    await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir, { packageText: doubled })), withCode('json_duplicate_key'));
    assert.ok(!existsSync(dir));
  });

  it('fail/init/existing-identity-is-never-replaced', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    await initDevice({ clock: fixedClock(NOW), random }, input(dir));
    const before = snapshot(dir);
    await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir, { deviceId: 'DEV-002' })), withCode('keystore_exists'));
    assert.deepEqual(snapshot(dir), before);
    assert.deepEqual(auditEvents(dir), ['device.initialized']);
  });

  it('ok/init/reset-destroys-the-old-identity', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    const first = await initDevice({ clock: fixedClock(NOW), random }, input(dir));
    const second = await initDevice({ clock: fixedClock(NOW), random }, input(dir, { deviceId: 'DEV-002', reset: true }));
    assert.equal(second.replaced, true);
    assert.notEqual(second.identity.publicKeySha256, first.identity.publicKeySha256);
    assert.equal(parseIdentityRecord(readFileSync(join(dir, 'identity.json'), 'utf8')).deviceId, 'DEV-002');
    assert.deepEqual(readdirSync(dir).sort(), ['device.key', 'identity.json', 'request.ppr', 'root.crt', 'security_audit_head.json', 'security_audit_log.jsonl']);
    // The log outlives the reset: it says both identities were made here.
    assert.deepEqual(auditEvents(dir), ['device.initialized', 'device.initialized']);
  });

  it('fail/init/keystore-directory-readable-by-others', async () => {
    const dir = join(tempDir('provisio-device-'), 'ks');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    await assert.rejects(initDevice({ clock: fixedClock(NOW), random }, input(dir)), withCode('keystore_insecure'));
    assert.deepEqual(readdirSync(dir), []);
  });
});
