/**
 * D29: every signed structure names each member once. Each case below is correctly signed where
 * a signature covers the bytes, so only the duplicate can be the reason for the refusal; the
 * duplicate comes first so that JSON.parse's "last one wins" would have read the genuine value.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createCsr, exportPrivateKeyPem, encodePem, isProvisioError } from '@provisio/pki';
import { DAY } from '@provisio/testkit';
import { craftJws, createDevice, createFixture, type Device, type Fixture, issueDeviceProfile, NOW, requestPayload } from '../test/fixtures.js';
import {
  base64url,
  certificateChainPem,
  createBundle,
  createCertifiedProfile,
  createConfirmProof,
  createProvisioningRequest,
  createRenewalRequest,
  PACKAGE_NOTICE,
  parseBundle,
  parseCertifiedProfile,
  parsePackage,
  parseProvisioningRequest,
  parseRenewalRequest,
  serializePackage,
  verifyConfirmProof,
} from './index.js';

const duplicateKey = (e: unknown) => isProvisioError(e) && e.code === 'json_duplicate_key';

/** `text` (a JSON object) with `"name":value` put first, before the genuine member of that name. */
function withDuplicate(text: string, name: string, value: string): string {
  const open = text.indexOf('{');
  return `${text.slice(0, open + 1)}${JSON.stringify(name).replace(/^"d/, '"\\u0064')}:${value},${text.slice(open + 1)}`;
}

const decode = (b64url: string) => Buffer.from(b64url, 'base64url').toString('utf8');

describe('duplicate member names in signed structures', () => {
  let fx: Fixture;
  let device: Device;
  let request: string;

  before(async () => {
    fx = await createFixture('duplicates');
    device = await createDevice();
    request = await createProvisioningRequest({
      payload: requestPayload(device),
      device: device.signer,
      bootstrap: fx.bootstrap.signer,
      bootstrapChain: [fx.bootstrap.certificate.der, fx.pki.intermediate.certificate.der],
    });
  });

  /** The request re-signed by both real keys over `payload` with these header texts. */
  async function resign(payload: string, headers?: [string, string]): Promise<string> {
    const jws = JSON.parse(request) as { payload: string; signatures: Array<{ protected: string }> };
    const [h0, h1] = headers ?? (jws.signatures.map((s) => decode(s.protected)) as [string, string]);
    return JSON.stringify(await craftJws(Buffer.from(payload, 'utf8'), [
      { signer: device.signer, headerJson: h0 },
      { signer: fx.bootstrap.signer, headerJson: h1 },
    ]));
  }

  it('ok/the-resigned-request-parses-without-a-duplicate', async () => {
    const jws = JSON.parse(request) as { payload: string };
    parseProvisioningRequest(await resign(decode(jws.payload)));
  });

  it('refuse/request-payload', async () => {
    const jws = JSON.parse(request) as { payload: string };
    const payload = decode(jws.payload);
    for (const [name, value] of [['deviceId', '"DEV-666"'], ['deviceLabel', '"other"'], ['mock', 'true']] as const) {
      assert.throws(() => parseProvisioningRequest(request.replace(jws.payload, base64url(Buffer.from(withDuplicate(payload, name, value))))), duplicateKey);
      const signed = await resign(withDuplicate(payload, name, value));
      assert.throws(() => parseProvisioningRequest(signed), duplicateKey, name);
    }
  });

  it('refuse/request-protected-headers', async () => {
    const jws = JSON.parse(request) as { payload: string; signatures: Array<{ protected: string }> };
    const [h0, h1] = jws.signatures.map((s) => decode(s.protected)) as [string, string];
    const payload = decode(jws.payload);
    await assert.rejects(async () => parseProvisioningRequest(await resign(payload, [withDuplicate(h0, 'kid', '"bootstrap"'), h1])), duplicateKey);
    await assert.rejects(async () => parseProvisioningRequest(await resign(payload, [h0, withDuplicate(h1, 'x5c', '[]')])), duplicateKey);
    await assert.rejects(async () => parseProvisioningRequest(await resign(payload, [withDuplicate(h0, 'alg', '"none"'), h1])), duplicateKey);
  });

  it('refuse/request-envelope', () => {
    assert.throws(() => parseProvisioningRequest(withDuplicate(request, 'payload', '"e30"')), duplicateKey);
    assert.throws(() => parseProvisioningRequest(withDuplicate(request, 'signatures', '[]')), duplicateKey);
    const parsed = JSON.parse(request) as { signatures: Array<Record<string, string>> };
    const sig = parsed.signatures[1] as Record<string, string>;
    const doubled = request.replace(`"protected": "${sig.protected}"`, `"protected": "e30", "protected": "${sig.protected}"`);
    assert.notEqual(doubled, request);
    assert.throws(() => parseProvisioningRequest(doubled), duplicateKey);
  });

  it('refuse/certified-profile-payload-header-and-envelope', async () => {
    const { payload } = await issueDeviceProfile(fx.pki.intermediate, fx.pki.root.certificate, device);
    const file = await createCertifiedProfile({ payload, signer: fx.profileSigner.signer, signerChain: [fx.profileSigner.certificate.der, fx.pki.intermediate.certificate.der] });
    parseCertifiedProfile(file);
    const jws = JSON.parse(file) as { payload: string; signatures: Array<{ protected: string }> };
    const header = decode((jws.signatures[0] as { protected: string }).protected);
    const body = decode(jws.payload);
    const signed = async (p: string, h: string) => JSON.stringify(await craftJws(Buffer.from(p), [{ signer: fx.profileSigner.signer, headerJson: h }]));
    parseCertifiedProfile(await signed(body, header));
    assert.throws(() => parseCertifiedProfile(withDuplicate(file, 'payload', '"e30"')), duplicateKey);
    await assert.rejects(async () => parseCertifiedProfile(await signed(withDuplicate(body, 'deviceId', '"DEV-666"'), header)), duplicateKey);
    await assert.rejects(async () => parseCertifiedProfile(await signed(body.replace('"config":{', '"config":{"serviceUrl":"https://attacker.example",'), header)), duplicateKey);
    await assert.rejects(async () => parseCertifiedProfile(await signed(body, withDuplicate(header, 'typ', '"other"'))), duplicateKey);
  });

  it('refuse/package-file', () => {
    const text = serializePackage({
      format: 'provisio.package',
      v: 1,
      packageId: 'pkg_0123456789abcdef0123456789abcdef',
      system: 'ZMonitor',
      components: [{ name: 'bedside monitor', keyTypes: ['p256'], validityDays: 365 }],
      rootOfTrust: encodePem('CERTIFICATE', fx.pki.root.certificate.der),
      serviceUrl: 'https://provisio.example:8443',
      requestLifetimeSeconds: 7 * 86_400,
      keyTemplate: { defaultKeyType: 'p256' },
      bootstrap: {
        certificateChain: certificateChainPem([fx.bootstrap.certificate.der, fx.pki.intermediate.certificate.der]),
        privateKey: exportPrivateKeyPem(fx.bootstrap.key.privateKey),
      },
      createdAt: NOW.toISOString(),
      expiresAt: new Date(NOW.getTime() + 90 * DAY).toISOString(),
      notice: PACKAGE_NOTICE,
    });
    parsePackage(text);
    assert.throws(() => parsePackage(withDuplicate(text, 'serviceUrl', '"https://attacker.example"')), duplicateKey);
    assert.throws(() => parsePackage(text.replace('"keyTemplate": {', '"keyTemplate": {"defaultKeyType":"rsa3072",')), duplicateKey);
  });

  it('refuse/bundle-envelope-manifest-and-header', async () => {
    const text = await createBundle({
      type: 'provisio.request-bundle',
      packageId: 'pkg_1',
      createdAt: NOW,
      entries: [{ name: 'DEV-001.ppr', content: Buffer.from(request) }],
      signer: fx.bootstrap.signer,
      signerChain: [fx.bootstrap.certificate.der, fx.pki.intermediate.certificate.der],
    });
    parseBundle(text);
    const bundle = JSON.parse(text) as { manifest: { payload: string; signatures: Array<{ protected: string }> }; entries: unknown[] };
    const manifest = decode(bundle.manifest.payload);
    const header = decode((bundle.manifest.signatures[0] as { protected: string }).protected);
    const withManifest = async (m: string, h: string) =>
      JSON.stringify({ ...bundle, manifest: await craftJws(Buffer.from(m), [{ signer: fx.bootstrap.signer, headerJson: h }]) });
    parseBundle(await withManifest(manifest, header));
    assert.throws(() => parseBundle(withDuplicate(text, 'entries', '[]')), duplicateKey);
    await assert.rejects(async () => parseBundle(await withManifest(withDuplicate(manifest, 'packageId', '"pkg_2"'), header)), duplicateKey);
    await assert.rejects(async () => parseBundle(await withManifest(manifest, withDuplicate(header, 'typ', '"x"'))), duplicateKey);
  });

  it('refuse/renewal-request-and-confirmation-proof', async () => {
    const serial = '7f3a9c0d11e24b5c8d6e7f8091a2b3c4';
    const csrDer = await createCsr(device.signer, { subject: [{ type: 'CN', value: 'DEV-001' }] });
    const renewal = await createRenewalRequest(device.signer, { deviceId: 'DEV-001', serial, csrDer, nonce: Buffer.alloc(16, 1), at: NOW });
    parseRenewalRequest(renewal);
    const [h, p] = renewal.split('.') as [string, string, string];
    const compact = async (header: string, payload: string) => {
      const jws = await craftJws(Buffer.from(payload), [{ signer: device.signer, headerJson: header }]);
      const sig = jws.signatures[0] as { protected: string; signature: string };
      return `${sig.protected}.${jws.payload}.${sig.signature}`;
    };
    parseRenewalRequest(await compact(decode(h), decode(p)));
    await assert.rejects(async () => parseRenewalRequest(await compact(decode(h), withDuplicate(decode(p), 'deviceId', '"DEV-666"'))), duplicateKey);
    await assert.rejects(async () => parseRenewalRequest(await compact(withDuplicate(decode(h), 'typ', '"x"'), decode(p))), duplicateKey);

    const claims = { deviceId: 'DEV-001', serial, at: NOW };
    const proof = await createConfirmProof(device.signer, claims);
    const [ph, pp] = proof.split('.') as [string, string, string];
    verifyConfirmProof(await compact(decode(ph), decode(pp)), device.signer.publicKey, claims);
    await assert.rejects(async () => verifyConfirmProof(await compact(decode(ph), withDuplicate(decode(pp), 'deviceId', '"DEV-666"')), device.signer.publicKey, claims), duplicateKey);
  });
});
