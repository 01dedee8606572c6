import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createTestPki, openssl, seededRandom, type TestPki, tempDir } from '@provisio/testkit';
import { type ParsedCertificate, parseCertificate } from './certificate.js';
import { PkiError } from './errors.js';
import { exportPrivateKeyPem } from './keys.js';
import { OID } from './oids.js';
import { encodePem } from './pem.js';
import { verifyChain } from './verify-chain.js';

// Certificates crafted by openssl below are valid from the moment openssl runs, so checks use the
// real current time (under load that can be seconds after this module loaded).
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const isCode = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

describe('verify chain', () => {
  let pki: TestPki;
  let dir: string;
  let leaf: ParsedCertificate;

  before(async () => {
    pki = await createTestPki({ now, random: seededRandom('chain') });
    dir = tempDir();
    leaf = (await pki.issueDevice('DEV-100')).certificate;
    writeFileSync(join(dir, 'int.pem'), encodePem('CERTIFICATE', pki.intermediate.certificate.der));
    writeFileSync(join(dir, 'int.key'), exportPrivateKeyPem(pki.intermediate.key.privateKey), { mode: 0o600 });
  });

  /** Has openssl sign a certificate for a fresh key with `caFile`/`caKey` and extensions `ext`. */
  function opensslIssue(
    name: string,
    caFile: string,
    caKey: string,
    ext: string,
  ): { cert: ParsedCertificate; certFile: string; keyFile: string } {
    const keyFile = join(dir, `${name}.key`);
    const csrFile = join(dir, `${name}.csr`);
    const certFile = join(dir, `${name}.pem`);
    const extFile = join(dir, `${name}.ext`);
    writeFileSync(extFile, ext);
    let r = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-subj',
      `/CN=${name}`,
      '-out',
      csrFile,
    ]);
    assert.equal(r.status, 0, r.output);
    r = openssl([
      'x509',
      '-req',
      '-in',
      csrFile,
      '-CA',
      caFile,
      '-CAkey',
      caKey,
      '-set_serial',
      '0x1234567890abcdef1234',
      '-days',
      '2',
      '-extfile',
      extFile,
      '-out',
      certFile,
    ]);
    assert.equal(r.status, 0, r.output);
    return { cert: parseCertificate(readFileSync(certFile, 'utf8')), certFile, keyFile };
  }

  const chain = (l: ParsedCertificate, extra: ParsedCertificate[] = [], at = new Date()) =>
    verifyChain({
      leaf: l,
      intermediates: [pki.intermediate.certificate, ...extra],
      roots: [pki.root.certificate],
      at,
    });

  it('ok/device/leaf-intermediate-root', () => {
    const path = verifyChain({
      leaf,
      intermediates: [pki.intermediate.certificate],
      roots: [pki.root.certificate],
      at: now,
      requiredExtKeyUsage: OID.kpClientAuth,
    });
    assert.deepEqual(
      path.map((c) => c.serial),
      [leaf.serial, pki.intermediate.certificate.serial, pki.root.certificate.serial],
    );
  });

  it('fail/tampered/signature-byte', () => {
    const der = Buffer.from(leaf.der);
    der[der.length - 3] = (der[der.length - 3] as number) ^ 0x01;
    assert.throws(() => chain(parseCertificate(der)), isCode('chain_signature_invalid'));
  });

  it('fail/tampered/subject', () => {
    // Attacker rewrites the deviceId inside a genuine certificate.
    const der = Buffer.from(leaf.der);
    der.write('DEV-666', der.indexOf(Buffer.from('DEV-100')), 'latin1');
    assert.throws(() => chain(parseCertificate(der)), isCode('chain_signature_invalid'));
  });

  it('fail/untrusted/attacker-root-with-same-names', async () => {
    // An attacker builds a PKI with identical names; their leaf must not chain to our root.
    const attacker = await createTestPki({ now, random: seededRandom('attacker') });
    const rogue = (await attacker.issueDevice('DEV-100')).certificate;
    assert.throws(() => chain(rogue), isCode('chain_untrusted'));
    // Even when the attacker also supplies their intermediate.
    assert.throws(
      () => chain(rogue, [attacker.intermediate.certificate]),
      (e: unknown) => e instanceof PkiError && e.category === 'unauthorized',
    );
  });

  it('fail/time/expired-and-not-yet-valid', () => {
    assert.throws(() => chain(leaf, [], new Date(leaf.notAfter.getTime() + 1000)), isCode('certificate_expired'));
    assert.throws(
      () => chain(leaf, [], new Date(leaf.notBefore.getTime() - 1000)),
      isCode('certificate_not_yet_valid'),
    );
  });

  it('fail/issuer/leaf-used-as-ca', async () => {
    // A device (CA:FALSE) signs a certificate for another key: openssl lets it, we must not.
    const device = await pki.issueDevice('DEV-101');
    writeFileSync(join(dir, 'dev101.pem'), encodePem('CERTIFICATE', device.certificate.der));
    writeFileSync(join(dir, 'dev101.key'), exportPrivateKeyPem(device.key.privateKey), { mode: 0o600 });
    const forged = opensslIssue(
      'forged',
      join(dir, 'dev101.pem'),
      join(dir, 'dev101.key'),
      'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n',
    );
    assert.throws(() => chain(forged.cert, [device.certificate]), isCode('chain_issuer_not_ca'));
  });

  it('fail/issuer/path-length-exceeded', () => {
    // The issuing CA has pathLenConstraint 0, yet its key signs a sub-CA that issues a leaf.
    const sub = opensslIssue(
      'subca',
      join(dir, 'int.pem'),
      join(dir, 'int.key'),
      'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n',
    );
    const deep = opensslIssue(
      'deep',
      sub.certFile,
      sub.keyFile,
      'basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n',
    );
    assert.throws(() => chain(deep.cert, [sub.cert]), isCode('chain_path_length_exceeded'));
  });

  it('fail/extension/unknown-critical', () => {
    const odd = opensslIssue(
      'odd',
      join(dir, 'int.pem'),
      join(dir, 'int.key'),
      'basicConstraints=critical,CA:FALSE\n1.2.3.4.5=critical,ASN1:NULL\n',
    );
    assert.throws(() => chain(odd.cert), isCode('chain_unknown_critical_extension'));
  });

  it('fail/purpose/device-cert-as-server', () => {
    assert.throws(
      () =>
        verifyChain({
          leaf,
          intermediates: [pki.intermediate.certificate],
          roots: [pki.root.certificate],
          at: now,
          requiredExtKeyUsage: OID.kpServerAuth,
        }),
      isCode('chain_purpose_invalid'),
    );
  });

  it('fail/untrusted/no-intermediate-supplied', () => {
    assert.throws(() => verifyChain({ leaf, roots: [pki.root.certificate], at: now }), isCode('chain_untrusted'));
  });

  it('ok/openssl-agrees', () => {
    writeFileSync(join(dir, 'root.pem'), encodePem('CERTIFICATE', pki.root.certificate.der));
    writeFileSync(join(dir, 'leaf.pem'), encodePem('CERTIFICATE', leaf.der));
    const r = openssl([
      'verify',
      '-x509_strict',
      '-CAfile',
      join(dir, 'root.pem'),
      '-untrusted',
      join(dir, 'int.pem'),
      join(dir, 'leaf.pem'),
    ]);
    assert.match(r.output, /leaf\.pem: OK/);
  });
});
