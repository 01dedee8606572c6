import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createTestPki, DAY, openssl, seededRandom, type TestPki, tempDir } from '@provisio/testkit';
import { parseCertificate } from './certificate.js';
import { createCsr, parseAndVerifyCsr } from './csr.js';
import { type DeviceId, deviceCertificateRequest } from './device-identity.js';
import { PkiError } from './errors.js';
import { gatewayCertificateRequest } from './gateway-identity.js';
import { generateKey } from './keys.js';
import { OID } from './oids.js';
import { encodePem } from './pem.js';
import { checkNameAttribute } from './name.js';
import { randomSerial } from './serial.js';
import { createKeySigner } from './signer.js';

const now = new Date('2026-06-01T12:00:00Z');
const isCode = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;
const identity = {
  deviceId: 'DEV-001' as DeviceId,
  deviceLabel: 'Bed 12 — bedside monitor',
  system: 'ZMonitor',
  component: 'bedside monitor',
};

describe('issue certificate', () => {
  let pki: TestPki;
  let dir: string;
  const urls = {
    crl: 'http://127.0.0.1:8443/crl/issuing.crl',
    ocsp: 'http://127.0.0.1:8443/ocsp',
    caIssuers: 'http://127.0.0.1:8443/ca/issuing.crt',
  };
  before(async () => {
    pki = await createTestPki({ now, random: seededRandom('issue'), urls });
    dir = tempDir();
    writeFileSync(join(dir, 'root.pem'), encodePem('CERTIFICATE', pki.root.certificate.der));
    writeFileSync(join(dir, 'int.pem'), encodePem('CERTIFICATE', pki.intermediate.certificate.der));
  });

  function write(name: string, der: Uint8Array): string {
    const file = join(dir, name);
    writeFileSync(file, encodePem('CERTIFICATE', der));
    return file;
  }

  /** openssl verify at the test clock's time (-attime), strict X.509 checks. */
  function verify(leafFile: string, purpose = 'sslclient') {
    return openssl([
      'verify',
      '-x509_strict',
      '-attime',
      String(now.getTime() / 1000),
      '-purpose',
      purpose,
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'int.pem'),
      leafFile,
    ]);
  }

  for (const keyType of ['p256', 'rsa3072'] as const) {
    it(`ok/device/${keyType}/from-csr-verified-by-openssl`, async () => {
      const signer = createKeySigner((await generateKey(keyType)).privateKey);
      // The CSR asks for names and a CA flag; none of it may reach the certificate.
      const csr = parseAndVerifyCsr(
        await createCsr(signer, {
          subject: [{ type: 'CN', value: 'evil' }],
          subjectAltName: [{ type: 'dns', value: 'bank.example' }],
        }),
      );
      const serial = randomSerial(pki.random);
      const issued = await pki.intermediate.issuer.issue(
        deviceCertificateRequest(identity, csr.publicKey, serial, {
          notBefore: now,
          notAfter: new Date(now.getTime() + 90 * DAY),
        }),
      );
      const file = write(`dev-${keyType}.pem`, issued.der);
      const result = verify(file);
      assert.match(result.output, /: OK/, result.output);

      const text = openssl(['x509', '-in', file, '-noout', '-text', '-serial', '-nameopt', 'RFC2253']).output;
      assert.match(text, /Subject: role=bedside monitor,OU=ZMonitor,CN=DEV-001/);
      assert.match(text, /DirName:\/CN=DEV-001\/description=Bed 12/);
      assert.doesNotMatch(text, /bank\.example|evil/);
      assert.match(text, /CA:FALSE/);
      assert.match(text, /TLS Web Client Authentication/);
      assert.match(text, /URI:http:\/\/127\.0\.0\.1:8443\/crl\/issuing\.crl/);
      assert.match(text, /OCSP - URI:http:\/\/127\.0\.0\.1:8443\/ocsp/);
      assert.match(text, /CA Issuers - URI:http:\/\/127\.0\.0\.1:8443\/ca\/issuing\.crt/);
      assert.match(text, new RegExp(`serial=${serial.toUpperCase()}`));
      const usage = /Key Usage: critical\n\s+(.*)\n/.exec(text)?.[1];
      assert.equal(usage, keyType === 'p256' ? 'Digital Signature' : 'Digital Signature, Key Encipherment');

      const parsed = parseCertificate(issued.der);
      assert.equal(parsed.serial, serial);
      assert.deepEqual(parsed.decoded.authorityKeyId, pki.intermediate.certificate.decoded.subjectKeyId);
      assert.equal(parsed.notAfter.getTime(), now.getTime() + 90 * DAY);
    });
  }

  it('ok/serial/128-bit-positive-unique', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const serials = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const issued = await pki.intermediate.issuer.issue(
        deviceCertificateRequest(identity, publicKey, randomSerial(pki.random), {
          notBefore: now,
          notAfter: new Date(now.getTime() + DAY),
        }),
      );
      const parsed = parseCertificate(issued.der);
      assert.ok(parsed.serial.length <= 32 && parsed.serial.length >= 30, parsed.serial);
      serials.add(parsed.serial);
    }
    assert.equal(serials.size, 200);
  });

  it('ok/validity/clipped-to-issuer', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const issued = await pki.intermediate.issuer.issue(
      deviceCertificateRequest(identity, publicKey, randomSerial(pki.random), {
        notBefore: now,
        notAfter: new Date(now.getTime() + 20 * 365 * DAY),
      }),
    );
    assert.equal(parseCertificate(issued.der).notAfter.getTime(), pki.intermediate.certificate.notAfter.getTime());
  });

  it('ok/ocsp-responder/eku-and-nocheck', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const issued = await pki.intermediate.issuer.issue({
      profile: { kind: 'ocsp-responder' },
      serial: randomSerial(pki.random),
      subject: [{ type: 'CN', value: 'Provisio OCSP responder' }],
      publicKey,
      notBefore: now,
      notAfter: new Date(now.getTime() + 7 * DAY),
    });
    const text = openssl(['x509', '-noout', '-text'], { input: encodePem('CERTIFICATE', issued.der) }).output;
    assert.match(text, /OCSP Signing/);
    assert.match(text, /OCSP No Check/);
    assert.equal(parseCertificate(issued.der).decoded.extKeyUsage?.[0], OID.kpOcspSigning);
  });

  it('ok/gateway/server-and-client-auth-verified-by-openssl', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const issued = await pki.intermediate.issuer.issue(
      gatewayCertificateRequest('ward-3', ['gw.example.org', '127.0.0.1'], publicKey, randomSerial(pki.random), { notBefore: now, notAfter: new Date(now.getTime() + 30 * DAY) }),
    );
    const file = write('gateway.pem', issued.der);
    // One certificate for both directions: TLS server to devices, TLS client to the service.
    assert.match(verify(file, 'sslserver').output, /gateway\.pem: OK/);
    assert.match(verify(file, 'sslclient').output, /gateway\.pem: OK/);
    const text = openssl(['x509', '-noout', '-text'], { input: encodePem('CERTIFICATE', issued.der) }).output;
    assert.match(text, /DNS:gw\.example\.org, IP Address:127\.0\.0\.1/);
    assert.deepEqual(parseCertificate(issued.der).decoded.extKeyUsage, [OID.kpServerAuth, OID.kpClientAuth]);
  });

  it('fail/gateway/bad-name-or-hosts', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const validity = { notBefore: now, notAfter: new Date(now.getTime() + DAY) };
    assert.throws(() => gatewayCertificateRequest('Ward 3', ['gw.example.org'], publicKey, randomSerial(pki.random), validity), isCode('identity_invalid'));
    assert.throws(() => gatewayCertificateRequest('ward-3', [], publicKey, randomSerial(pki.random), validity), isCode('identity_invalid'));
    assert.throws(() => gatewayCertificateRequest('ward-3', ['bad host/x'], publicKey, randomSerial(pki.random), validity), isCode('identity_invalid'));
    // Lint refuses a gateway plan without a DNS or IP name, whoever built it.
    await assert.rejects(
      pki.intermediate.issuer.issue({ profile: { kind: 'gateway' }, serial: randomSerial(pki.random), subject: [{ type: 'CN', value: 'ward-3' }], publicKey, ...validity }),
      isCode('profile_violation'),
    );
  });

  it('fail/lint/empty-validity', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    await assert.rejects(
      pki.intermediate.issuer.issue(
        deviceCertificateRequest(identity, publicKey, randomSerial(pki.random), { notBefore: now, notAfter: now }),
      ),
      isCode('profile_violation'),
    );
  });

  it('fail/lint/ca-under-pathlen-0', async () => {
    // The issuing CA has pathLenConstraint 0: it must refuse to mint another CA.
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    await assert.rejects(
      pki.intermediate.issuer.issue({
        profile: { kind: 'intermediate-ca', pathLength: 0 },
        serial: randomSerial(pki.random),
        subject: [{ type: 'CN', value: 'Rogue CA' }],
        publicKey,
        notBefore: now,
        notAfter: new Date(now.getTime() + DAY),
      }),
      isCode('profile_violation'),
    );
  });

  it('fail/lint/short-serial', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    await assert.rejects(
      pki.intermediate.issuer.issue(
        deviceCertificateRequest(identity, publicKey, '01' as never, {
          notBefore: now,
          notAfter: new Date(now.getTime() + DAY),
        }),
      ),
      isCode('profile_violation'),
    );
  });

  it('fail/identity/invalid-device-id-and-label', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const validity = { notBefore: now, notAfter: new Date(now.getTime() + DAY) };
    for (const deviceId of ['', 'a b', '../etc', 'x'.repeat(65), 'DEV\n1']) {
      assert.throws(
        () =>
          deviceCertificateRequest(
            { ...identity, deviceId: deviceId as DeviceId },
            publicKey,
            randomSerial(pki.random),
            validity,
          ),
        isCode('identity_invalid'),
      );
    }
    await assert.rejects(
      pki.intermediate.issuer.issue(
        deviceCertificateRequest(
          { ...identity, deviceLabel: 'bad\u0000label' },
          publicKey,
          randomSerial(pki.random),
          validity,
        ),
      ),
      isCode('identity_invalid'),
    );
  });

  it('fail/identity/bidi-and-zero-width-characters-in-any-name', async () => {
    const { publicKey } = createKeySigner((await generateKey('p256')).privateKey);
    const validity = { notBefore: now, notAfter: new Date(now.getTime() + DAY) };
    const invisible = ['\u061C', '\u200B', '\u200C', '\u200D', '\u200E', '\u200F', '\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2060', '\u2066', '\u2067', '\u2068', '\u2069', '\uFEFF'];
    for (const c of invisible) {
      for (const change of [{ deviceLabel: `Bed${c}12` }, { system: `ZMon${c}itor` }, { component: `${c}monitor` }]) {
        await assert.rejects(pki.intermediate.issuer.issue(deviceCertificateRequest({ ...identity, ...change }, publicKey, randomSerial(pki.random), validity)), isCode('text_invalid'), JSON.stringify(change));
      }
      assert.throws(() => checkNameAttribute({ type: 'CN', value: `Provisio Issuing CA${c}` }), isCode('text_invalid'));
    }
    // Letters of any script, combining marks and typographic punctuation stay allowed.
    await pki.intermediate.issuer.issue(deviceCertificateRequest({ ...identity, deviceLabel: 'Lit 12 – salle Ω, 病床, שלום' }, publicKey, randomSerial(pki.random), validity));
  });
});
