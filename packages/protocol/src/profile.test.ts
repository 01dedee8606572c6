import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { encodePem, isProvisioError, type ParsedCertificate } from '@provisio/pki';
import { DAY, openssl, seededRandom, tempDir } from '@provisio/testkit';
import {
  createDevice,
  createFixture,
  type Credential,
  type Device,
  editHeader,
  editJson,
  editPayload,
  type Fixture,
  flipChar,
  issueDeviceProfile,
  NOW,
} from '../test/fixtures.js';
import { base64url } from './jws.js';
import {
  type CertifiedProfilePayload,
  createCertifiedProfile,
  MAX_PROFILE_BYTES,
  parseCertifiedProfile,
  verifyCertifiedProfile,
} from './profile.js';

const isCode = (code: string) => (e: unknown) => isProvisioError(e) && e.code === code;

describe('certified profile', () => {
  let fx: Fixture;
  let device: Device;
  let payload: Omit<CertifiedProfilePayload, 'v' | 'type'>;
  let certificate: ParsedCertificate;
  let file: string;
  let root: ParsedCertificate;

  const sign = (p: Omit<CertifiedProfilePayload, 'v' | 'type'>, signer: Credential = fx.profileSigner, issuing = fx.pki.intermediate.certificate) =>
    createCertifiedProfile({ payload: p, signer: signer.signer, signerChain: [signer.certificate.der, issuing.der] });
  const verify = (text: string, options: { at?: Date; deviceId?: string; device?: Device; root?: ParsedCertificate } = {}) =>
    verifyCertifiedProfile(parseCertifiedProfile(text), {
      root: options.root ?? root,
      deviceId: options.deviceId ?? 'DEV-001',
      devicePublicKey: (options.device ?? device).signer.publicKey,
      at: options.at ?? NOW,
    });

  before(async () => {
    fx = await createFixture('profile');
    root = fx.pki.root.certificate;
    device = await createDevice();
    ({ payload, certificate } = await issueDeviceProfile(fx.pki.intermediate, root, device));
    file = await sign(payload);
  });

  it('ok/cp/round-trip', () => {
    const cp = parseCertifiedProfile(file);
    verifyCertifiedProfile(cp, { root, deviceId: 'DEV-001', devicePublicKey: device.signer.publicKey, at: NOW });
    assert.deepEqual(cp.payload, { v: 1, type: 'provisio.profile', ...payload });
    assert.ok(cp.certificate.der.equals(certificate.der));
    assert.equal(cp.chain.length, 2);
    assert.ok(cp.signerChain[0]?.der.equals(fx.profileSigner.certificate.der));
    assert.equal(cp.issuedAt.toISOString(), NOW.toISOString());
    assert.equal(cp.raw.toString('utf8'), file);
  });

  it('ok/cp/p384-and-rsa-devices', async () => {
    for (const type of ['p384', 'rsa3072'] as const) {
      const d = await createDevice(type);
      const made = await issueDeviceProfile(fx.pki.intermediate, root, d);
      verify(await sign(made.payload), { device: d });
    }
  });

  it('ok/cp/certificate-verified-by-openssl', () => {
    // Interop: the device certificate inside the profile chains to the root for openssl too.
    const cp = parseCertifiedProfile(file);
    const dir = tempDir();
    writeFileSync(join(dir, 'root.pem'), encodePem('CERTIFICATE', root.der));
    writeFileSync(join(dir, 'intermediate.pem'), encodePem('CERTIFICATE', cp.chain[1]?.der as Buffer));
    writeFileSync(join(dir, 'device.pem'), encodePem('CERTIFICATE', cp.certificate.der));
    const r = openssl([
      'verify',
      '-x509_strict',
      '-attime',
      String(Math.floor(NOW.getTime() / 1000) + 3600),
      '-purpose',
      'sslclient',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'intermediate.pem'),
      join(dir, 'device.pem'),
    ]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.stdout, /device\.pem: OK/);
  });

  it('fail/cp/tampered-payload', () => {
    // Someone points the device at their own service.
    const text = editPayload(file, (p) => {
      (p.config as Record<string, unknown>).serviceUrl = 'https://attacker.example';
    });
    assert.throws(() => verify(text), isCode('cp_signature_invalid'));
  });

  it('fail/cp/tampered-signature', () => {
    const text = editJson(file, (jws) => {
      const s = (jws.signatures as Array<{ signature: string }>)[0] as { signature: string };
      s.signature = flipChar(s.signature);
    });
    assert.throws(() => verify(text), isCode('cp_signature_invalid'));
  });

  it('fail/cp/signer-of-another-root', async () => {
    // An attacker with their own PKI signs a profile (and a device certificate) for our device.
    const made = await issueDeviceProfile(fx.other.pki.intermediate, fx.other.pki.root.certificate, device);
    const text = await sign(made.payload, fx.other.profileSigner, fx.other.pki.intermediate.certificate);
    // It is internally consistent: against its own root it would pass...
    verify(text, { root: fx.other.pki.root.certificate });
    // ...but the root comes from the package, never from the profile.
    assert.throws(() => verify(text), isCode('cp_untrusted'));
  });

  it('fail/cp/device-certificate-of-another-root', async () => {
    // A genuine profile signer, but the certificate inside chains elsewhere.
    const made = await issueDeviceProfile(fx.other.pki.intermediate, fx.other.pki.root.certificate, device);
    const text = await sign(made.payload);
    assert.throws(
      () => verify(text),
      (e: unknown) => isCode('cp_untrusted')(e) && /device certificate/.test((e as Error).message),
    );
  });

  it('fail/cp/signed-by-a-bootstrap-credential', async () => {
    // A package's bootstrap key (on every device!) must not be able to sign profiles.
    const text = await sign(payload, fx.bootstrap);
    assert.throws(
      () => verify(text),
      (e: unknown) => isCode('cp_untrusted')(e) && /chain_purpose_invalid/.test((e as Error).message),
    );
  });

  it('fail/cp/for-another-device', async () => {
    assert.throws(() => verify(file, { deviceId: 'DEV-002' }), isCode('cp_wrong_device'));
    // A profile whose payload names this device but whose certificate names another.
    const other = await issueDeviceProfile(fx.pki.intermediate, root, device, { deviceId: 'DEV-002' });
    const text = editPayload(await sign(other.payload), (p) => {
      p.deviceId = 'DEV-001';
    });
    assert.throws(() => verify(text), isCode('cp_signature_invalid'));
    await assert.rejects(sign({ ...other.payload, deviceId: 'DEV-001' }), isCode('cp_malformed'));
  });

  it('fail/cp/for-another-key', async () => {
    const otherKey = await createDevice();
    assert.throws(() => verify(file, { device: otherKey }), isCode('cp_wrong_key'));
    // The certificate for another key under a publicKeySha256 that claims ours: refused on creation.
    const made = await issueDeviceProfile(fx.pki.intermediate, root, otherKey);
    await assert.rejects(sign({ ...made.payload, publicKeySha256: payload.publicKeySha256 }), isCode('cp_malformed'));
  });

  it('fail/cp/expired', () => {
    verify(file, { at: new Date(certificate.notAfter.getTime() - 1000) });
    assert.throws(
      () => verify(file, { at: new Date(certificate.notAfter.getTime() + 1000) }),
      (e: unknown) => isCode('cp_expired')(e) && /expired/.test((e as Error).message),
    );
    assert.throws(() => verify(file, { at: new Date(certificate.notBefore.getTime() - 1000) }), isCode('cp_expired'));
  });

  it('fail/cp/signer-certificate-expired', async () => {
    // The profile signer's own certificate is checked at the time of installation.
    const longDevice = await issueDeviceProfile(fx.pki.intermediate, root, device, { days: 800 });
    const text = await sign(longDevice.payload);
    assert.throws(
      () => verify(text, { at: new Date(fx.profileSigner.certificate.notAfter.getTime() + DAY) }),
      isCode('cp_untrusted'),
    );
  });

  it('fail/alg/confusion', async () => {
    const text = editHeader(file, 0, (h) => {
      h.alg = 'RS256';
    });
    assert.throws(() => verify(text), isCode('jws_algorithm_unsupported'));
    assert.throws(() => verify(editHeader(file, 0, (h) => (h.alg = 'none'))), isCode('jws_algorithm_unsupported'));
  });

  describe('malformed', () => {
    const refused = (text: string | Uint8Array, code = 'cp_malformed') => {
      assert.throws(() => verify(text as string), (e: unknown) => {
        assert.ok(isProvisioError(e), `not a ProvisioError: ${String(e)}`);
        assert.equal(e.code, code, e.message);
        return true;
      });
    };

    it('fail/cp/not-json-or-too-large', () => {
      for (const text of ['', 'garbage', '{}', '[]', file.slice(0, 100)]) refused(text);
      refused('x'.repeat(MAX_PROFILE_BYTES + 1));
      refused(editJson(file, (j) => (j.signatures = [...(j.signatures as unknown[]), ...(j.signatures as unknown[])])));
    });

    it('fail/cp/headers', () => {
      refused(editHeader(file, 0, (h) => (h.typ = 'provisio-request+jws')));
      refused(editHeader(file, 0, (h) => (h.kid = 'extra')));
      refused(editHeader(file, 0, (h) => (h.x5c = [])));
      refused(editHeader(file, 0, (h) => (h.jwk = fx.profileSigner.signer.publicKey.jwk)));
    });

    it('fail/cp/payload-fields', () => {
      const edits: Array<[string, (p: Record<string, unknown>) => void]> = [
        ['extra', (p) => (p.extra = 1)],
        ['missing', (p) => delete p.rootOfTrust],
        ['type', (p) => (p.type = 'provisio.request')],
        ['requestId', (p) => (p.requestId = 'req 1')],
        ['deviceId', (p) => (p.deviceId = '')],
        ['publicKeySha256 upper', (p) => (p.publicKeySha256 = (p.publicKeySha256 as string).toUpperCase())],
        ['publicKeySha256 short', (p) => (p.publicKeySha256 = 'abcd')],
        ['chain empty', (p) => (p.certificateChain = [])],
        ['chain entry', (p) => (p.certificateChain = ['AAAA'])],
        ['chain type', (p) => (p.certificateChain = 'AAAA')],
        ['root', (p) => (p.rootOfTrust = 5)],
        ['config extra', (p) => ((p.config as Record<string, unknown>).mqttUrl = 'x')],
        ['serviceUrl', (p) => ((p.config as Record<string, unknown>).serviceUrl = 'javascript:alert(1)')],
        ['serviceUrl creds', (p) => ((p.config as Record<string, unknown>).serviceUrl = 'https://u:p@host/')],
        ['ocspUrl', (p) => ((p.config as Record<string, unknown>).ocspUrl = 'not a url')],
        ['renewal 1', (p) => (((p.config as Record<string, unknown>).renewal as Record<string, unknown>).atFractionOfLifetime = 1)],
        ['renewal text', (p) => (((p.config as Record<string, unknown>).renewal as Record<string, unknown>).jitterFraction = '0.1')],
        ['renewal nan', (p) => (((p.config as Record<string, unknown>).renewal as Record<string, unknown>).jitterFraction = null)],
        ['issuedAt', (p) => (p.issuedAt = '2026-06-01')],
        ['mock', (p) => (p.mock = 0)],
      ];
      for (const [what, edit] of edits) {
        assert.throws(() => verify(editPayload(file, edit)), isCode('cp_malformed'), what);
      }
    });

    it('fail/cp/unknown-version', () => {
      refused(editPayload(file, (p) => (p.v = 2)), 'cp_version_unsupported');
    });

    it('fail/cp/fuzz-never-crashes', () => {
      const random = seededRandom('cp-fuzz');
      const bytes = Buffer.from(file, 'utf8');
      for (let round = 0; round < 300; round++) {
        const copy = Buffer.from(bytes);
        const r = random.bytes(4);
        copy[((r[0] as number) * 256 + (r[1] as number)) % copy.length] = r[2] as number;
        try {
          verify(copy as unknown as string);
        } catch (e) {
          assert.ok(isProvisioError(e), `round ${round}: ${String(e)}`);
        }
      }
    });

    it('fail/cp/payload-not-an-object', () => {
      refused(editJson(file, (j) => (j.payload = base64url(Buffer.from('"profile"')))));
    });
  });
});
