import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { encodePem, parseCertificate } from '@provisio/pki';
import { base64url, ecdsaDerToJose, parseCertifiedProfile } from '@provisio/protocol';
import { DAY, fixedClock, openssl, seededRandom, tempDir } from '@provisio/testkit';
import { COMPONENT, createFakeService, type FakeService, tamperPayload } from '../test/fake-service.js';
import { auditEvents, mode, snapshot, withCode } from '../test/helpers.js';
import { verifyDeviceAudit } from './device-audit-log.js';
import { initDevice, type InitDeviceResult } from './init-device.js';
import { installProfile } from './install-profile.js';
import { parseIdentityRecord, parseInstallRecord } from './records.js';

const NOW = '2026-06-01T12:00:00Z';
const LATER = new Date(new Date(NOW).getTime() + DAY);

describe('installProfile', () => {
  let service: FakeService;
  /** An attacker's service: its own root, bootstrap and profile signer. */
  let attacker: FakeService;
  const random = seededRandom('device-install');

  before(async () => {
    service = await createFakeService({ now: new Date(NOW), random: seededRandom('install-service') });
    attacker = await createFakeService({ now: new Date(NOW), random: seededRandom('install-attacker') });
  });

  async function device(deviceId = 'DEV-001'): Promise<{ dir: string; init: InitDeviceResult }> {
    const dir = join(tempDir('provisio-device-'), 'keystore');
    const init = await initDevice(
      { clock: fixedClock(NOW), random },
      { packageText: service.packageText, component: COMPONENT, deviceId, deviceLabel: 'Bed 12', dir },
    );
    return { dir, init };
  }

  /** Installing `profileText` must fail with `code` and leave the keystore exactly as it was. */
  async function assertRefused(dir: string, profileText: string, code: string, at = NOW): Promise<void> {
    const before = snapshot(dir);
    const logged = auditEvents(dir);
    await assert.rejects(installProfile({ clock: fixedClock(at) }, { dir, profileText }), withCode(code));
    assert.deepEqual(snapshot(dir), before, 'a refused profile must not change the keystore');
    // ... but the device's own security log records the refusal, with its code.
    const added = auditEvents(dir).slice(logged.length);
    const verification = code === 'profile_outdated' ? 'profile.verified' : `profile.refused ${code}`;
    assert.deepEqual(added, [verification, `install.refused ${code}`]);
    assert.equal(verifyDeviceAudit(dir).ok, true);
  }

  it('ok/install/files-modes-state-and-openssl-verify', async () => {
    const { dir, init } = await device();
    const profileText = await service.issueProfile(init.requestText);
    const result = await installProfile({ clock: fixedClock(NOW) }, { dir, profileText });

    assert.equal(result.changed, true);
    assert.equal(result.replaced, false);
    assert.deepEqual(readdirSync(dir).sort(), [
      'certificate.pem',
      'device.db',
      'device.key',
      'identity.json',
      'install.json',
      'profile.pcp',
      'request.ppr',
      'root.crt',
      'security_audit_head.json',
      'security_audit_log.jsonl',
    ]);
    assert.deepEqual(auditEvents(dir), ['device.initialized', 'profile.verified', 'install.completed', 'database.created']);
    for (const name of readdirSync(dir)) assert.equal(mode(join(dir, name)), 0o600, name);
    assert.equal(mode(dir), 0o700);
    assert.equal(readFileSync(join(dir, 'profile.pcp'), 'utf8'), profileText);
    assert.equal(parseIdentityRecord(readFileSync(join(dir, 'identity.json'), 'utf8')).state, 'installed');

    const cp = parseCertifiedProfile(profileText);
    const record = parseInstallRecord(readFileSync(join(dir, 'install.json'), 'utf8'));
    assert.equal(record.requestId, cp.payload.requestId);
    assert.equal(record.serial, cp.certificate.serial);
    assert.equal(record.profileSha256, cp.contentHash);
    assert.equal(record.installedAt, NOW);

    // certificate.pem: device certificate then issuing CA; openssl (a tool nobody here wrote)
    // verifies the device certificate against the package root.
    const work = tempDir('provisio-openssl-');
    const rootPem = join(work, 'root.pem');
    const intermediatePem = join(work, 'intermediate.pem');
    writeFileSync(rootPem, encodePem('CERTIFICATE', service.pki.root.certificate.der));
    writeFileSync(intermediatePem, encodePem('CERTIFICATE', service.pki.intermediate.certificate.der));
    const certPath = join(dir, 'certificate.pem');
    const verified = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', rootPem, '-untrusted', intermediatePem, certPath]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(verified.stdout, /: OK$/m);
    const pem = readFileSync(certPath, 'utf8');
    assert.equal((pem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
    assert.ok(parseCertificate(pem).der.equals(cp.certificate.der));
  });

  it('ok/install/same-profile-twice-changes-nothing', async () => {
    const { dir, init } = await device();
    const profileText = await service.issueProfile(init.requestText);
    await installProfile({ clock: fixedClock(NOW) }, { dir, profileText });
    const before = snapshot(dir);
    const logged = auditEvents(dir);
    const again = await installProfile({ clock: fixedClock(LATER) }, { dir, profileText });
    assert.equal(again.changed, false);
    assert.deepEqual(snapshot(dir), before);
    assert.deepEqual(auditEvents(dir), logged, 'nothing happened, nothing is logged');
    assert.equal(again.install.installedAt, NOW);
  });

  it('ok/install/newer-profile-for-the-same-key-replaces-the-installed-one', async () => {
    const { dir, init } = await device();
    const first = await service.issueProfile(init.requestText);
    await installProfile({ clock: fixedClock(NOW) }, { dir, profileText: first });
    const second = await service.issueProfile(init.requestText, { notBefore: LATER });
    const result = await installProfile({ clock: fixedClock(LATER) }, { dir, profileText: second });
    assert.equal(result.changed, true);
    assert.equal(result.replaced, true);
    assert.equal(readFileSync(join(dir, 'profile.pcp'), 'utf8'), second);
    assert.equal(parseInstallRecord(readFileSync(join(dir, 'install.json'), 'utf8')).serial, parseCertifiedProfile(second).certificate.serial);

    // The older one never comes back over the newer one (it may have been revoked since).
    await assertRefused(dir, first, 'profile_outdated', LATER.toISOString());
  });

  it('fail/install/tampered-profile', async () => {
    const { dir, init } = await device();
    const profileText = await service.issueProfile(init.requestText);
    // The label is edited after signing; the signature no longer covers the payload.
    const tampered = tamperPayload(profileText, (p) => {
      p.deviceLabel = 'Bed 13';
    });
    await assertRefused(dir, tampered, 'cp_signature_invalid');
  });

  it('fail/install/profile-signed-under-another-root-that-it-embeds', async () => {
    const { dir, init } = await device();
    // An attacker's service signs a profile for this very device id and key, with its own
    // signer, issuing CA and root, and puts its root in rootOfTrust. Only root.crt counts.
    const forged = await attacker.issueProfile(init.requestText, { skipRequestCheck: true });
    assert.ok(parseCertifiedProfile(forged).payload.rootOfTrust === attacker.pki.root.certificate.der.toString('base64'));
    await assertRefused(dir, forged, 'cp_untrusted');
  });

  it('fail/install/profile-for-another-device-id', async () => {
    const { dir, init } = await device();
    const other = await service.issueProfile(init.requestText, { deviceId: 'DEV-999' });
    await assertRefused(dir, other, 'cp_wrong_device');
  });

  it('fail/install/profile-for-another-key', async () => {
    // Same device id, another request (another key): e.g. the profile of an earlier, abandoned
    // init of this device, or of a clone that claims its id.
    const { dir } = await device('DEV-001');
    const { init: otherInit } = await device('DEV-001');
    const other = await service.issueProfile(otherInit.requestText);
    await assertRefused(dir, other, 'cp_wrong_key');
  });

  it('fail/install/expired-certificate', async () => {
    const { dir, init } = await device();
    const profileText = await service.issueProfile(init.requestText, { days: 1 });
    await assertRefused(dir, profileText, 'cp_expired', new Date(new Date(NOW).getTime() + 2 * DAY).toISOString());
  });

  it('fail/install/profile-for-another-component', async () => {
    const { dir, init } = await device();
    const other = await service.issueProfile(init.requestText, { component: 'gateway' });
    await assertRefused(dir, other, 'profile_request_mismatch');
  });

  it('fail/install/malformed-profile', async () => {
    const { dir } = await device();
    await assertRefused(dir, '{"not":"a profile"}', 'cp_malformed');
  });

  it('fail/install/profile-with-a-duplicate-member-signed-by-the-genuine-signer', async () => {
    const { dir, init } = await device();
    const profileText = await service.issueProfile(init.requestText);
    const jws = JSON.parse(profileText) as { payload: string; signatures: Array<{ protected: string }> };
    const payload = Buffer.from(jws.payload, 'base64url').toString('utf8');
    const header = Buffer.from((jws.signatures[0] as { protected: string }).protected, 'base64url').toString('utf8');
    /** Signed by the service's own profile signer over exactly these texts. */
    const signed = async (payloadText: string, headerText: string) => {
      const signer = service.profileSigner.signer;
      const encodedPayload = base64url(Buffer.from(payloadText, 'utf8'));
      const encodedHeader = base64url(Buffer.from(headerText, 'utf8'));
      const der = await signer.sign(Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'));
      const signature = signer.publicKey.algorithm === 'rsa' ? der : ecdsaDerToJose(der, signer.publicKey.curve === 'P-384' ? 48 : 32);
      return JSON.stringify({ payload: encodedPayload, signatures: [{ protected: encodedHeader, signature: base64url(signature) }] });
    };
    // The genuine texts re-signed install: only the duplicate can be the reason below.
    const genuine = await signed(payload, header);
    // A second serviceUrl ahead of the genuine one: JSON.parse would keep the genuine, another reader the first.
    const config = payload.replace('"config":{', '"config":{"serviceUrl":"https://attacker.example",');
    assert.notEqual(config, payload);
    await assertRefused(dir, await signed(config, header), 'json_duplicate_key');
    await assertRefused(dir, await signed(payload.replace('{', '{"deviceId":"DEV-666",'), header), 'json_duplicate_key');
    await assertRefused(dir, await signed(payload, header.replace('{', '{"typ":"JWT",')), 'json_duplicate_key');
    await assertRefused(dir, genuine.replace('{', '{"payload":"e30",'), 'json_duplicate_key');
    await installProfile({ clock: fixedClock(NOW) }, { dir, profileText: genuine });
  });

  it('fail/install/not-initialized', async () => {
    const dir = tempDir('provisio-device-');
    const profileText = '{}';
    await assert.rejects(installProfile({ clock: fixedClock(NOW) }, { dir, profileText }), withCode('keystore_not_found'));
    await assert.rejects(
      installProfile({ clock: fixedClock(NOW) }, { dir: join(dir, 'missing'), profileText }),
      withCode('keystore_not_found'),
    );
  });

  it('fail/install/root-crt-swapped-in-the-keystore', async () => {
    // Someone with write access to the keystore replaces root.crt by their own root to make a
    // forged profile pass: identity.json still names the package root, so the keystore is
    // refused as damaged before any profile is looked at.
    const { dir, init } = await device();
    writeFileSync(join(dir, 'root.crt'), encodePem('CERTIFICATE', attacker.pki.root.certificate.der), { mode: 0o600 });
    const forged = await attacker.issueProfile(init.requestText, { skipRequestCheck: true });
    await assertRefused(dir, forged, 'keystore_damaged');
  });
});
