import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { createCsr, createKeySigner, deviceSubjectAltName, type GeneralName, isProvisioError, type KeyType, type ParsedCertificate, PkiError, type Signer } from '@provisio/pki';
import { DAY, seededRandom } from '@provisio/testkit';
import {
  craftJws,
  craftRequest,
  createDevice,
  createFixture,
  type Device,
  editHeader,
  editJson,
  editPayload,
  type Fixture,
  flipChar,
  issueCredential,
  NOW,
  requestPayload,
} from '../test/fixtures.js';
import { ProtocolError } from './errors.js';
import { base64url, verifyJwsSignature } from './jws.js';
import {
  createProvisioningRequest,
  MAX_REQUEST_BYTES,
  parseProvisioningRequest,
  type ProvisioningRequestPayload,
  verifyProvisioningRequest,
} from './request.js';

const isCode = (code: string) => (e: unknown) => isProvisioError(e) && e.code === code;

describe('provisioning request', () => {
  let fx: Fixture;
  let device: Device;
  let file: string;
  let roots: ParsedCertificate[];

  const make = (overrides: Partial<Omit<ProvisioningRequestPayload, 'v' | 'type'>> = {}, d: Device = device) =>
    createProvisioningRequest({
      payload: requestPayload(d, overrides),
      device: d.signer,
      bootstrap: fx.bootstrap.signer,
      bootstrapChain: [fx.bootstrap.certificate.der, fx.pki.intermediate.certificate.der],
    });
  const verify = (text: string, at = NOW) => verifyProvisioningRequest(parseProvisioningRequest(text), { at, roots });
  /** The payload as `createProvisioningRequest` signs it, for crafting variants by hand. */
  const fullPayload = (overrides: Record<string, unknown> = {}) => ({
    v: 1,
    type: 'provisio.request',
    ...requestPayload(device),
    ...overrides,
  });

  /** A certificate from the right CA, of a kind that must not sign requests. */
  async function credentialOfKind(kind: 'device' | 'profile-signer' | 'tls-server'): Promise<{ signer: Signer; certificate: ParsedCertificate }> {
    if (kind === 'profile-signer') return fx.profileSigner;
    if (kind === 'tls-server') return issueCredential(fx.pki.intermediate, { kind: 'tls-server' }, 'provisio.example');
    const issued = await fx.pki.issueDevice('DEV-999');
    return { signer: createKeySigner(issued.key.privateKey), certificate: issued.certificate };
  }

  before(async () => {
    fx = await createFixture('request');
    device = await createDevice();
    roots = [fx.pki.root.certificate];
    file = await make();
  });

  describe('round trip', () => {
    for (const type of ['p256', 'p384', 'rsa3072'] as const satisfies readonly KeyType[]) {
      it(`ok/pr/round-trip/${type}`, async () => {
        const d = type === 'p256' ? device : await createDevice(type);
        const text = type === 'p256' ? file : await make({}, d);
        const pr = parseProvisioningRequest(text);
        verifyProvisioningRequest(pr, { at: NOW, roots });
        assert.deepEqual(pr.payload, { v: 1, type: 'provisio.request', ...requestPayload(d) });
        assert.ok(pr.devicePublicKey.spki.equals(d.signer.publicKey.spki));
        assert.ok(pr.csr.der.equals(d.csr));
        assert.equal(pr.bootstrapChain.length, 2);
        assert.ok(pr.bootstrapChain[0]?.der.equals(fx.bootstrap.certificate.der));
        assert.equal(pr.createdAt.toISOString(), NOW.toISOString());
        assert.equal(pr.expiresAt.getTime(), NOW.getTime() + 7 * DAY);
        assert.equal(pr.jws.signatures.length, 2);
      });
    }

    it('ok/pr/parse-keeps-the-bytes', () => {
      const pr = parseProvisioningRequest(Buffer.from(file, 'utf8'));
      assert.equal(pr.raw.toString('utf8'), file);
      assert.equal(pr.contentHash, createHash('sha256').update(file).digest('hex'));
      assert.deepEqual(JSON.parse(pr.payloadBytes.toString('utf8')), pr.payload);
      assert.equal(base64url(pr.payloadBytes), pr.jws.payload);
    });

    it('ok/pr/headers', () => {
      const pr = parseProvisioningRequest(file);
      const device0 = verifyJwsSignature(pr.jws, 0, pr.devicePublicKey);
      assert.deepEqual(Object.keys(device0), ['alg', 'typ', 'kid', 'jwk']);
      assert.equal(device0.typ, 'provisio-request+jws');
      const bootstrap1 = verifyJwsSignature(pr.jws, 1, fx.bootstrap.certificate.publicKey);
      assert.deepEqual(Object.keys(bootstrap1), ['alg', 'kid', 'x5c']);
    });

    it('ok/pr/bootstrap-intermediate-given-by-the-verifier', async () => {
      // x5c may carry the bootstrap certificate alone when the verifier knows the issuing CA.
      const text = await createProvisioningRequest({
        payload: requestPayload(device),
        device: device.signer,
        bootstrap: fx.bootstrap.signer,
        bootstrapChain: [fx.bootstrap.certificate.der],
      });
      const pr = parseProvisioningRequest(text);
      assert.throws(() => verifyProvisioningRequest(pr, { at: NOW, roots }), isCode('pr_bootstrap_untrusted'));
      verifyProvisioningRequest(pr, { at: NOW, roots, intermediates: [fx.pki.intermediate.certificate] });
    });

    it('ok/pr/optional-fields-null-and-mock', async () => {
      const text = await make({ hardwareSerial: null, firmwareVersion: null, mock: true });
      const pr = parseProvisioningRequest(text);
      verifyProvisioningRequest(pr, { at: NOW, roots });
      assert.equal(pr.payload.hardwareSerial, null);
      assert.equal(pr.payload.mock, true);
    });
  });

  describe('signatures', () => {
    it('fail/pr/tampered-payload', () => {
      // A technician edits the label after the device signed: both signatures break.
      const text = editPayload(file, (p) => {
        p.deviceLabel = 'Somebody else';
      });
      assert.throws(() => verify(text), isCode('pr_device_signature_invalid'));
      const pr = parseProvisioningRequest(text);
      assert.throws(() => verifyJwsSignature(pr.jws, 1, fx.bootstrap.certificate.publicKey), isCode('jws_signature_invalid'));
    });

    it('fail/pr/tampered-payload-char', () => {
      // One character flipped in the encoded payload: refused at parse (bad JSON) or at verify.
      for (let i = 10; i < 400; i += 37) {
        const text = editJson(file, (jws) => {
          jws.payload = flipChar(jws.payload as string, i);
        });
        assert.throws(() => verify(text), (e: unknown) => isCode('pr_malformed')(e) || isCode('pr_device_signature_invalid')(e));
      }
    });

    it('fail/pr/tampered-device-signature', () => {
      const text = editJson(file, (jws) => {
        const s = (jws.signatures as Array<{ signature: string }>)[0] as { signature: string };
        s.signature = flipChar(s.signature);
      });
      assert.throws(() => verify(text), isCode('pr_device_signature_invalid'));
    });

    it('fail/pr/tampered-bootstrap-signature', () => {
      const text = editJson(file, (jws) => {
        const s = (jws.signatures as Array<{ signature: string }>)[1] as { signature: string };
        s.signature = flipChar(s.signature);
      });
      assert.throws(() => verify(text), isCode('pr_bootstrap_signature_invalid'));
    });

    it('fail/pr/signatures-swapped', () => {
      const text = editJson(file, (jws) => {
        (jws.signatures as unknown[]).reverse();
      });
      assert.throws(() => parseProvisioningRequest(text), isCode('pr_malformed'));
    });

    it('fail/pr/header-jwk-is-not-the-csr-key', async () => {
      // An attacker signs with their own key but submits a victim's CSR.
      const attacker = await createDevice();
      const text = await craftRequest({
        payload: fullPayload(),
        device: attacker.signer,
        bootstrap: fx.bootstrap.signer,
        x5c: [fx.bootstrap.certificate, fx.pki.intermediate.certificate],
      });
      assert.throws(() => verify(text), isCode('pr_key_mismatch'));
      // And the API refuses to make one.
      await assert.rejects(
        createProvisioningRequest({
          payload: requestPayload(device),
          device: attacker.signer,
          bootstrap: fx.bootstrap.signer,
          bootstrapChain: [fx.bootstrap.certificate.der],
        }),
        isCode('pr_key_mismatch'),
      );
    });

    it('fail/pr/header-jwk-replaced', () => {
      // The jwk swapped for another key: the device signature no longer verifies with it.
      const text = editHeader(file, 0, (h) => {
        h.jwk = fx.bootstrap.signer.publicKey.jwk;
      });
      assert.throws(() => verify(text), isCode('pr_device_signature_invalid'));
    });

    it('fail/pr/csr-signature-bad', async () => {
      // The CSR is not signed by its own key: no proof of possession.
      const csr = Buffer.from(device.csr);
      csr.writeUInt8((csr.at(-1) as number) ^ 0x01, csr.length - 1);
      const text = await make({ csr: csr.toString('base64') });
      assert.throws(
        () => verify(text),
        (e: unknown) => e instanceof PkiError && e.code === 'csr_signature_invalid',
      );
    });

    it('fail/pr/bootstrap-from-another-root', async () => {
      // A bootstrap credential from an attacker's own PKI.
      const text = await createProvisioningRequest({
        payload: requestPayload(device),
        device: device.signer,
        bootstrap: fx.other.bootstrap.signer,
        bootstrapChain: [fx.other.bootstrap.certificate.der, fx.other.pki.intermediate.certificate.der],
      });
      assert.throws(() => verify(text), isCode('pr_bootstrap_untrusted'));
    });

    it('fail/pr/bootstrap-x5c-swapped-for-another-cert', async () => {
      // x5c names a trusted bootstrap certificate, but the signature is by another key.
      const text = await craftRequest({
        payload: fullPayload(),
        device: device.signer,
        bootstrap: fx.other.bootstrap.signer,
        x5c: [fx.bootstrap.certificate, fx.pki.intermediate.certificate],
      });
      assert.throws(() => verify(text), isCode('pr_bootstrap_signature_invalid'));
    });

    for (const [name, kind] of [
      ['device-certificate', 'device'],
      ['profile-signer', 'profile-signer'],
      ['tls-server', 'tls-server'],
    ] as const) {
      it(`fail/pr/bootstrap-wrong-profile/${name}`, async () => {
        // A certificate from the right CA but without the request-signing purpose.
        const cred = await credentialOfKind(kind);
        const text = await createProvisioningRequest({
          payload: requestPayload(device),
          device: device.signer,
          bootstrap: cred.signer,
          bootstrapChain: [cred.certificate.der, fx.pki.intermediate.certificate.der],
        });
        assert.throws(
          () => verify(text),
          (e: unknown) => isCode('pr_bootstrap_untrusted')(e) && /chain_purpose_invalid/.test((e as Error).message),
        );
      });
    }

    it('fail/pr/bootstrap-certificate-expired', async () => {
      const short = await issueCredential(fx.pki.intermediate, { kind: 'bootstrap' }, 'short bootstrap', { days: 3 });
      const text = await createProvisioningRequest({
        payload: requestPayload(device, { expiresAt: new Date(NOW.getTime() + DAY).toISOString() }),
        device: device.signer,
        bootstrap: short.signer,
        bootstrapChain: [short.certificate.der, fx.pki.intermediate.certificate.der],
      });
      verify(text);
      assert.throws(
        () => verify(text, new Date(short.certificate.notAfter.getTime() + 1000)),
        (e: unknown) => isCode('pr_bootstrap_untrusted')(e) && /certificate_expired/.test((e as Error).message),
      );
    });
  });

  describe('time', () => {
    it('fail/pr/expired', () => {
      const expiresAt = new Date(NOW.getTime() + 7 * DAY);
      verify(file, new Date(expiresAt.getTime() - 1));
      assert.throws(
        () => verify(file, expiresAt),
        (e: unknown) =>
          isCode('pr_expired')(e) &&
          (e as Error).message.includes('2026-06-08T12:00:00.000Z') &&
          (e as Error).message.includes('provisio device init'),
      );
    });

    it('fail/pr/not-yet-valid', () => {
      // Five minutes of skew are allowed; more is a device clock in the future.
      verify(file, new Date(NOW.getTime() - 5 * 60_000));
      assert.throws(() => verify(file, new Date(NOW.getTime() - 5 * 60_000 - 1)), isCode('pr_not_yet_valid'));
      verifyProvisioningRequest(parseProvisioningRequest(file), {
        at: new Date(NOW.getTime() - 30 * 60_000),
        roots,
        clockSkewMs: 60 * 60_000,
      });
    });

    it('fail/pr/outlives-its-bootstrap-certificate', async () => {
      const expiresAt = new Date(fx.bootstrap.certificate.notAfter.getTime() + 1000).toISOString();
      await assert.rejects(make({ expiresAt }), isCode('pr_malformed'));
      const text = await craftRequest({
        payload: fullPayload({ expiresAt }),
        device: device.signer,
        bootstrap: fx.bootstrap.signer,
        x5c: [fx.bootstrap.certificate, fx.pki.intermediate.certificate],
      });
      assert.throws(() => verify(text), isCode('pr_malformed'));
    });

    it('fail/pr/expires-before-created', async () => {
      const expiresAt = new Date(NOW.getTime() - 1000).toISOString();
      await assert.rejects(make({ expiresAt }), isCode('pr_malformed'));
      // Created after it expires, checked at a time that passes the skew and expiry checks.
      for (const expiresAt of [new Date(NOW.getTime() - 60_000), NOW]) {
        const text = await craftRequest({
          payload: fullPayload({ createdAt: NOW.toISOString(), expiresAt: expiresAt.toISOString() }),
          device: device.signer,
          bootstrap: fx.bootstrap.signer,
          x5c: [fx.bootstrap.certificate, fx.pki.intermediate.certificate],
        });
        assert.throws(() => verify(text, new Date(NOW.getTime() - 2 * 60_000)), isCode('pr_malformed'));
      }
    });
  });

  describe('algorithms', () => {
    it('fail/alg/rs256-header-with-ec-device-key', async () => {
      const payload = Buffer.from(JSON.stringify(fullPayload()));
      const jwk = JSON.stringify(device.signer.publicKey.jwk);
      const x5c = JSON.stringify([fx.bootstrap.certificate.der.toString('base64'), fx.pki.intermediate.certificate.der.toString('base64')]);
      const jws = await craftJws(payload, [
        { signer: device.signer, headerJson: `{"alg":"RS256","typ":"provisio-request+jws","kid":"device","jwk":${jwk}}` },
        { signer: fx.bootstrap.signer, headerJson: `{"alg":"ES256","kid":"bootstrap","x5c":${x5c}}` },
      ]);
      assert.throws(() => verify(JSON.stringify(jws)), isCode('jws_algorithm_unsupported'));
    });

    it('fail/alg/none', async () => {
      const text = editHeader(file, 0, (h) => {
        h.alg = 'none';
      });
      assert.throws(() => verify(text), isCode('jws_algorithm_unsupported'));
      const stripped = editJson(text, (jws) => {
        ((jws.signatures as Array<{ signature: string }>)[0] as { signature: string }).signature = '';
      });
      assert.throws(() => verify(stripped), (e: unknown) => isCode('pr_malformed')(e) || isCode('jws_algorithm_unsupported')(e));
    });

    it('fail/alg/missing', () => {
      const text = editHeader(file, 1, (h) => {
        delete h.alg;
      });
      assert.throws(() => verify(text), isCode('pr_malformed'));
    });

    it('fail/jws/crit-header', () => {
      const text = editHeader(file, 0, (h) => {
        h.crit = ['exp'];
        h.exp = 1;
      });
      assert.throws(() => verify(text), isCode('pr_malformed'));
    });

    it('fail/jws/unprotected-header', () => {
      const text = editJson(file, (jws) => {
        ((jws.signatures as Array<Record<string, unknown>>)[1] as Record<string, unknown>).header = { kid: 'bootstrap' };
      });
      assert.throws(() => verify(text), isCode('pr_malformed'));
    });
  });

  describe('malformed', () => {
    /** Every refusal is a catalog error, never a TypeError or RangeError. */
    const refused = (text: string | Uint8Array, code = 'pr_malformed') => {
      assert.throws(() => verify(text as string), (e: unknown) => {
        assert.ok(isProvisioError(e), `not a ProvisioError: ${String(e)}`);
        assert.equal(e.code, code, e.message);
        return true;
      });
    };

    it('fail/pr/not-json', () => {
      for (const text of ['', 'hello', '{', '[]', 'null', '42', '"text"', '{"payload":']) refused(text);
      refused(file.slice(0, Math.floor(file.length / 2)));
      refused(Buffer.from([0xff, 0xfe, 0x00]));
      refused(`\uFEFF${file}`);
    });

    it('fail/pr/too-large', () => {
      refused('x'.repeat(MAX_REQUEST_BYTES + 1), 'pr_too_large');
      refused(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20), 'pr_too_large');
      // Multi-byte characters count as bytes, not characters.
      refused('é'.repeat(MAX_REQUEST_BYTES / 2 + 1), 'pr_too_large');
    });

    it('fail/pr/deep-nesting', () => {
      refused(`{"payload":${'['.repeat(30_000)}${']'.repeat(30_000)},"signatures":[]}`);
    });

    it('fail/pr/jws-shape', () => {
      const edits: Array<(jws: Record<string, unknown>) => void> = [
        (j) => (j.extra = 1),
        (j) => delete j.payload,
        (j) => (j.payload = 5),
        (j) => (j.payload = `${j.payload as string}=`),
        (j) => (j.signatures = {}),
        (j) => (j.signatures = (j.signatures as unknown[]).slice(0, 1)),
        (j) => (j.signatures = [...(j.signatures as unknown[]), (j.signatures as unknown[])[0]]),
        (j) => ((j.signatures as unknown[])[0] = 'sig'),
        (j) => ((j.signatures as Array<Record<string, unknown>>)[0] as Record<string, unknown>).protected = 7,
        (j) => ((j.signatures as Array<Record<string, unknown>>)[0] as Record<string, unknown>).signature = 'a+b/',
      ];
      for (const edit of edits) refused(editJson(file, edit));
      refused(file.replace('"payload"', '"__proto__":{},"payload"'));
    });

    it('fail/pr/headers', () => {
      const edits: Array<[number, (h: Record<string, unknown>) => void]> = [
        [0, (h) => (h.typ = 'JWT')],
        [0, (h) => delete h.typ],
        [0, (h) => (h.kid = 'bootstrap')],
        [0, (h) => (h.x5c = [])],
        [0, (h) => (h.jwk = 'key')],
        [0, (h) => (h.jwk = { ...(h.jwk as object), d: 'secret' })],
        [1, (h) => (h.kid = 'device')],
        [1, (h) => (h.x5c = [])],
        [1, (h) => (h.x5c = ['not base64!'])],
        [1, (h) => (h.x5c = [Buffer.from('not a certificate').toString('base64')])],
        [1, (h) => (h.x5c = Array(6).fill((h.x5c as string[])[0]))],
        [1, (h) => (h.x5u = 'https://attacker.example/chain.pem')],
      ];
      for (const [i, edit] of edits) refused(editHeader(file, i, edit));
    });

    it('fail/pr/payload-fields', async () => {
      const edits: Array<[string, (p: Record<string, unknown>) => void]> = [
        ['extra key', (p) => (p.admin = true)],
        ['missing key', (p) => delete p.nonce],
        ['type', (p) => (p.type = 'provisio.profile')],
        ['v as text', (p) => (p.v = '1')],
        ['packageId', (p) => (p.packageId = '../etc/passwd')],
        ['packageId type', (p) => (p.packageId = 7)],
        ['system slash', (p) => (p.system = 'ZMonitor/evil')],
        ['system empty', (p) => (p.system = '')],
        ['component long', (p) => (p.component = 'c'.repeat(65))],
        ['deviceId', (p) => (p.deviceId = 'DEV 001')],
        ['deviceId number', (p) => (p.deviceId = 1)],
        ['deviceId long', (p) => (p.deviceId = 'D'.repeat(65))],
        ['label empty', (p) => (p.deviceLabel = '')],
        ['label long', (p) => (p.deviceLabel = 'l'.repeat(1025))],
        ['label control', (p) => (p.deviceLabel = 'bed\n12')],
        ['serial non-printable', (p) => (p.hardwareSerial = 'SN\u0000')],
        ['serial unicode', (p) => (p.hardwareSerial = 'SN-é')],
        ['serial long', (p) => (p.hardwareSerial = 'S'.repeat(129))],
        ['serial empty', (p) => (p.hardwareSerial = '')],
        ['firmware number', (p) => (p.firmwareVersion = 4.2)],
        ['nonce short', (p) => (p.nonce = base64url(Buffer.alloc(15)))],
        ['nonce long', (p) => (p.nonce = base64url(Buffer.alloc(17)))],
        ['nonce padded', (p) => (p.nonce = `${p.nonce as string}==`)],
        ['nonce base64', (p) => (p.nonce = Buffer.alloc(16, 0xff).toString('base64'))],
        ['createdAt', (p) => (p.createdAt = '2026-02-30T00:00:00Z')],
        ['createdAt number', (p) => (p.createdAt = NOW.getTime())],
        ['expiresAt', (p) => (p.expiresAt = 'tomorrow')],
        ['csr not base64', (p) => (p.csr = 'not base64')],
        ['csr base64url', (p) => (p.csr = device.csr.toString('base64url'))],
        ['csr garbage', (p) => (p.csr = Buffer.from('garbage').toString('base64'))],
        ['csr truncated', (p) => (p.csr = device.csr.subarray(0, 40).toString('base64'))],
        ['csr pem', (p) => (p.csr = Buffer.from(`-----BEGIN CERTIFICATE REQUEST-----\n${device.csr.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`).toString('base64'))],
        ['mock text', (p) => (p.mock = 'false')],
      ];
      for (const [what, edit] of edits) {
        const text = editPayload(file, edit);
        assert.throws(() => verify(text), isCode('pr_malformed'), what);
      }
      refused(editJson(file, (j) => (j.payload = base64url(Buffer.from('[1,2]')))));
      refused(editJson(file, (j) => (j.payload = base64url(Buffer.from([0xc3, 0x28])))));
    });

    it('fail/pr/unknown-version', () => {
      refused(editPayload(file, (p) => (p.v = 2)), 'pr_version_unsupported');
      refused(editPayload(file, (p) => {
        p.v = 2;
        p.newField = 'x';
      }), 'pr_version_unsupported');
    });

    it('fail/pr/fuzz-never-crashes', () => {
      // Random byte edits of a valid file: every outcome is accepted or a catalog error.
      const random = seededRandom('pr-fuzz');
      const bytes = Buffer.from(file, 'utf8');
      let refusedCount = 0;
      for (let round = 0; round < 400; round++) {
        const copy = Buffer.from(bytes);
        const r = random.bytes(8);
        const edits = 1 + ((r[0] as number) % 3);
        for (let i = 0; i < edits; i++) {
          const pos = ((r[1 + 2 * i] as number) * 256 + (r[2 + 2 * i] as number)) % copy.length;
          copy[pos] = r[7 - i] as number;
        }
        try {
          verify(copy as unknown as string);
        } catch (e) {
          assert.ok(isProvisioError(e), `round ${round}: ${String(e)}`);
          refusedCount++;
        }
      }
      assert.ok(refusedCount > 300);
    });
  });

  it('fail/pr/create-refuses-bad-input', async () => {
    await assert.rejects(make({ deviceId: 'bad id' }), isCode('pr_malformed'));
    await assert.rejects(make({ nonce: 'short' }), isCode('pr_malformed'));
    await assert.rejects(
      createProvisioningRequest({
        payload: requestPayload(device),
        device: device.signer,
        bootstrap: fx.other.bootstrap.signer,
        bootstrapChain: [fx.bootstrap.certificate.der],
      }),
      isCode('pr_malformed'),
    );
  });

  it('fail/pr/csr-asks-for-a-subject-alt-name-the-certificate-would-not-carry', async () => {
    const csr = (subjectAltName: GeneralName[]) => createCsr(device.signer, { subject: [{ type: 'CN', value: 'DEV-001' }], subjectAltName });
    const label = requestPayload(device).deviceLabel;
    await assert.rejects(make({ csr: (await csr([{ type: 'dns', value: 'evil.example' }])).toString('base64') }), isCode('csr_san_not_allowed'));
    await assert.rejects(make({ csr: (await csr(deviceSubjectAltName({ deviceId: 'DEV-001', deviceLabel: 'another label' }))).toString('base64') }), isCode('csr_san_not_allowed'));
    const exact = await make({ csr: (await csr(deviceSubjectAltName({ deviceId: 'DEV-001', deviceLabel: label }))).toString('base64') });
    verify(exact);
  });

  it('ok/pr/errors-are-protocol-errors', () => {
    try {
      verify(editPayload(file, (p) => (p.deviceId = 'bad id')));
      assert.fail('accepted');
    } catch (e) {
      assert.ok(e instanceof ProtocolError);
      assert.equal(e.category, 'invalid');
      assert.match(e.message, /deviceId/);
    }
  });
});
