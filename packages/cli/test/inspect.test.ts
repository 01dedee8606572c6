/**
 * `provisio inspect` through the built binary: the summary, the verification line that is always
 * there, --json, --ca, stdin, and refusals. The PKI is generated here at run time on the real
 * clock (the binary reads the real clock too).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  buildCrl,
  buildOcspResponse,
  certIdFor,
  createCsr,
  createKeySigner,
  encodePem,
  exportPrivateKeyPem,
  generateKey,
  type SerialNumber,
} from '@provisio/pki';
import { createTestPki, DAY, type TestPki, tempDir } from '@provisio/testkit';
import { provisio, transcript } from './run-cli.js';

const random = { bytes: (n: number) => randomBytes(n) };

describe('provisio inspect', () => {
  let dir: string;
  let pki: TestPki;
  let other: TestPki;
  const files = {
    root: '',
    intermediate: '',
    device: '',
    deviceDer: '',
    chain: '',
    otherRoot: '',
    csr: '',
    tamperedCsr: '',
    crl: '',
    ocsp: '',
    key: '',
    garbage: '',
  };
  let deviceSerial: SerialNumber;
  let revokedSerial: SerialNumber;

  before(async () => {
    dir = tempDir('provisio-inspect-');
    const now = new Date();
    pki = await createTestPki({
      now,
      random,
      urls: { crl: 'http://ca.example/crl', ocsp: 'http://ca.example/ocsp' },
    });
    other = await createTestPki({ now, random });
    const device = await pki.issueDevice('DEV-001');
    deviceSerial = device.certificate.serial;
    const write = (name: string, data: string | Uint8Array): string => {
      const path = join(dir, name);
      writeFileSync(path, data);
      return path;
    };
    const pem = (der: Uint8Array) => encodePem('CERTIFICATE', der);
    files.root = write('root.crt', pem(pki.root.certificate.der));
    files.intermediate = write('intermediate.crt', pem(pki.intermediate.certificate.der));
    files.device = write('device.crt', pem(device.certificate.der));
    files.deviceDer = write('device.der', device.certificate.der);
    files.chain = write('chain.pem', pem(pki.intermediate.certificate.der) + pem(pki.root.certificate.der));
    files.otherRoot = write('other-root.crt', pem(other.root.certificate.der));

    const signer = createKeySigner((await generateKey('p256')).privateKey);
    const csr = await createCsr(signer, {
      subject: [{ type: 'CN', value: 'DEV-002' }],
      subjectAltName: [{ type: 'dns', value: 'dev-002.example' }],
    });
    files.csr = write('device.csr', encodePem('CERTIFICATE REQUEST', csr));
    const tampered = Buffer.from(csr);
    tampered.write('X', tampered.indexOf(Buffer.from('DEV-002')) + 4, 'latin1');
    files.tamperedCsr = write('tampered.csr', encodePem('CERTIFICATE REQUEST', tampered));

    revokedSerial = (await pki.issueDevice('DEV-003')).certificate.serial;
    const crl = await buildCrl({
      issuer: pki.intermediate.certificate,
      signer: pki.intermediate.signer,
      crlNumber: 42n,
      thisUpdate: new Date(now.getTime() - 60_000),
      nextUpdate: new Date(now.getTime() + 7 * DAY),
      entries: [{ serial: revokedSerial, revokedAt: new Date(now.getTime() - 120_000), reason: 'keyCompromise' }],
    });
    files.crl = write('crl.pem', encodePem('X509 CRL', crl));
    const ocsp = await buildOcspResponse({
      responder: { certificate: pki.intermediate.certificate, signer: pki.intermediate.signer },
      producedAt: now,
      responses: [
        {
          certId: certIdFor(pki.intermediate.certificate, deviceSerial),
          status: { status: 'good' },
          thisUpdate: new Date(now.getTime() - 60_000),
          nextUpdate: new Date(now.getTime() + DAY),
        },
      ],
    });
    files.ocsp = write('ocsp.der', ocsp);
    files.key = write('device.key', exportPrivateKeyPem(device.key.privateKey));
    files.garbage = write('garbage.bin', randomBytes(300));
  });

  it('ok/certificate/text-without-ca-says-not-verified', () => {
    const r = provisio(['inspect', files.device]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^X\.509v3 certificate \(ECDSA P-256\)$/m);
    assert.match(r.stdout, new RegExp(`^  serial +${deviceSerial}$`, 'm'));
    assert.match(r.stdout, /^ {2}subject +CN=DEV-001, OU=ZMonitor, role=bedside monitor$/m);
    assert.match(r.stdout, /^ {2}SANs +DirName:CN=DEV-001, description=Test device DEV-001$/m);
    assert.match(r.stdout, /^ {2}issuer +CN=Provisio Test Issuing CA$/m);
    assert.match(r.stdout, /^ {2}valid to +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(expires in (29|30) d\)$/m);
    assert.match(r.stdout, /^ {2}key usage +digitalSignature$/m);
    assert.match(r.stdout, /^ {2}ext key usage +clientAuth$/m);
    assert.match(r.stdout, /^ {2}CA +no$/m);
    assert.match(r.stdout, /^ {2}CRL +http:\/\/ca\.example\/crl$/m);
    assert.match(r.stdout, /^ {2}OCSP +http:\/\/ca\.example\/ocsp$/m);
    assert.match(r.stdout, /^ {2}SHA-256 +[0-9a-f]{64}$/m);
    assert.match(r.stdout, /^chain: NOT VERIFIED \(pass --ca root\.crt to verify\)$/m);
    assert.equal(r.stderr, '');
  });

  it('ok/certificate/ca-bundle-verifies-the-chain', () => {
    const r = provisio(['inspect', files.device, '--ca', files.chain]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^chain: VERIFIED against CN=Provisio Test Root$/m);
  });

  it('ok/certificate/intermediate-against-root', () => {
    const r = provisio(['inspect', files.intermediate, '--ca', files.root]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^X\.509v3 CA certificate/m);
    assert.match(r.stdout, /^ {2}CA +yes, path length 0$/m);
    assert.match(r.stdout, /^chain: VERIFIED against CN=Provisio Test Root$/m);
  });

  it('fail/certificate/wrong-root', () => {
    // The attacker's root has the same name as ours; only the key differs.
    const r = provisio(['inspect', files.intermediate, '--ca', files.otherRoot]);
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stdout, /^chain: NOT VERIFIED: .* \[chain_(untrusted|signature_invalid)\]$/m);
    assert.match(r.stderr, /^provisio: error: .* \[chain_(untrusted|signature_invalid)\]$/m);
  });

  it('ok/certificate/json', () => {
    const r = provisio(['inspect', files.device, '--ca', files.chain, '--json']);
    assert.equal(r.status, 0, transcript(r));
    const j = JSON.parse(r.stdout);
    assert.equal(j.type, 'certificate');
    assert.equal(j.serial, deviceSerial);
    assert.equal(j.subject, 'CN=DEV-001, OU=ZMonitor, role=bedside monitor');
    assert.equal(j.issuer, 'CN=Provisio Test Issuing CA');
    assert.equal(j.validity, 'valid');
    assert.equal(j.publicKey.algorithm, 'ECDSA P-256');
    assert.deepEqual(j.keyUsage, ['digitalSignature']);
    assert.deepEqual(j.extKeyUsage, ['clientAuth']);
    assert.equal(j.ca, false);
    assert.equal(j.pathLength, null);
    assert.deepEqual(j.crlUrls, ['http://ca.example/crl']);
    assert.deepEqual(j.ocspUrls, ['http://ca.example/ocsp']);
    assert.match(j.notAfter, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(j.verification, {
      status: 'verified',
      against: 'CN=Provisio Test Root',
      path: ['CN=DEV-001, OU=ZMonitor, role=bedside monitor', 'CN=Provisio Test Issuing CA', 'CN=Provisio Test Root'],
      code: null,
      message: 'against CN=Provisio Test Root',
    });
  });

  it('ok/certificate/der-from-stdin', () => {
    const r = provisio(['inspect', '-', '--json'], { input: readFileSync(files.deviceDer) });
    assert.equal(r.status, 0, transcript(r));
    assert.equal(JSON.parse(r.stdout).serial, deviceSerial);
  });

  it('ok/certificate/pem-from-stdin', () => {
    const r = provisio(['inspect', '-', '--ca', files.root], { input: readFileSync(files.intermediate) });
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^chain: VERIFIED against CN=Provisio Test Root$/m);
  });

  it('ok/csr/text-and-json', () => {
    const r = provisio(['inspect', files.csr]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^PKCS#10 certificate request \(ECDSA P-256\)$/m);
    assert.match(r.stdout, /^ {2}subject +CN=DEV-002$/m);
    assert.match(r.stdout, /^ {2}requested SANs +DNS:dev-002\.example$/m);
    assert.match(r.stdout, /never copies them/);
    assert.match(r.stdout, /^signature: VERIFIED \(proof of possession\)$/m);

    const j = JSON.parse(provisio(['inspect', files.csr, '--json']).stdout);
    assert.equal(j.type, 'csr');
    assert.equal(j.subject, 'CN=DEV-002');
    assert.deepEqual(j.requested.subjectAltNames, ['DNS:dev-002.example']);
    assert.equal(j.verification.status, 'verified');
    assert.match(j.publicKey.sha256, /^[0-9a-f]{64}$/);
  });

  it('fail/csr/tampered-signature', () => {
    const r = provisio(['inspect', files.tamperedCsr]);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stdout, /^signature: NOT VERIFIED: .* \[csr_signature_invalid\]$/m);
    assert.match(r.stderr, /\[csr_signature_invalid\]$/m);
  });

  it('ok/crl/text-json-and-ca', () => {
    const r = provisio(['inspect', files.crl]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^X\.509 CRL \(v2\)$/m);
    assert.match(r.stdout, /^ {2}CRL number +42$/m);
    assert.match(r.stdout, /^ {2}revoked +1 certificate$/m);
    assert.match(r.stdout, new RegExp(`${revokedSerial} +\\S+Z +keyCompromise`));
    assert.match(r.stdout, /^signature: NOT VERIFIED \(pass --ca issuer\.crt to verify\)$/m);

    const v = provisio(['inspect', files.crl, '--ca', files.intermediate, '--json']);
    assert.equal(v.status, 0, transcript(v));
    const j = JSON.parse(v.stdout);
    assert.equal(j.type, 'crl');
    assert.equal(j.crlNumber, '42');
    assert.equal(j.freshness, 'current');
    assert.deepEqual(
      j.entries.map((e: { serial: string; reason: string }) => [e.serial, e.reason]),
      [[revokedSerial, 'keyCompromise']],
    );
    assert.equal(j.verification.status, 'verified');
    assert.equal(j.verification.against, 'CN=Provisio Test Issuing CA');

    // The root did not sign this CRL.
    const wrong = provisio(['inspect', files.crl, '--ca', files.root]);
    assert.equal(wrong.status, 4, transcript(wrong));
    assert.match(wrong.stdout, /^signature: NOT VERIFIED: .* \[crl_signature_invalid\]$/m);
  });

  it('ok/ocsp/text-and-ca', () => {
    const r = provisio(['inspect', files.ocsp, '--ca', files.intermediate]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /^OCSP response \(successful\)$/m);
    assert.match(r.stdout, new RegExp(`^  status +${deviceSerial} +good$`, 'm'));
    assert.match(r.stdout, /^signature: VERIFIED by CN=Provisio Test Issuing CA$/m);

    const j = JSON.parse(provisio(['inspect', files.ocsp, '--json']).stdout);
    assert.equal(j.type, 'ocsp-response');
    assert.equal(j.status, 'successful');
    assert.equal(j.responses[0].serial, deviceSerial);
    assert.equal(j.responses[0].status, 'good');
    assert.equal(j.verification.status, 'not_verified');

    const wrong = provisio(['inspect', files.ocsp, '--ca', files.otherRoot]);
    assert.equal(wrong.status, 4, transcript(wrong));
    assert.match(wrong.stderr, /\[ocsp_signature_invalid\]$/m);
  });

  it('fail/input/garbage', () => {
    const r = provisio(['inspect', files.garbage]);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /^provisio: error: .*garbage\.bin is neither PEM nor DER.* \[input_unrecognized\]$/m);
    assert.equal(r.stdout, '');
    const empty = provisio(['inspect', '-'], { input: '' });
    assert.equal(empty.status, 3, transcript(empty));
    assert.match(empty.stderr, /stdin is empty.*\[input_unrecognized\]/);
  });

  it('fail/input/private-key-is-not-inspected', () => {
    const r = provisio(['inspect', files.key]);
    assert.equal(r.status, 3, transcript(r));
    assert.match(r.stderr, /holds a private key.*\[input_unrecognized\]/);
    assert.ok(!r.stdout.includes('PRIVATE'), 'nothing of the key is echoed');
  });

  it('fail/input/missing-file', () => {
    const r = provisio(['inspect', join(dir, 'nope.crt')]);
    assert.equal(r.status, 6, transcript(r));
    assert.match(r.stderr, /nope\.crt does not exist \[file_not_found\]$/m);
  });
});
