import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { before, describe, it } from 'node:test';
import { createTestPki, openssl, seededRandom, type TestPki, tempDir } from '@provisio/testkit';
import { parseCertificate } from './certificate.js';
import type { CertificateProfile } from './certificate-profile.js';
import { PkiError } from './errors.js';
import { exportPrivateKeyPem, generateKey } from './keys.js';
import { LEGACY_OIDS, OID } from './oids.js';
import { encodePem } from './pem.js';
import { randomSerial } from './serial.js';
import { createKeySigner } from './signer.js';
import { verifyChain } from './verify-chain.js';

const now = new Date(Math.floor(Date.now() / 1000) * 1000);

describe('private OIDs', () => {
  let pki: TestPki;
  let dir: string;

  before(async () => {
    pki = await createTestPki({ now, random: seededRandom('oids') });
    dir = tempDir();
  });

  async function issue(profile: CertificateProfile, name: string): Promise<string> {
    const key = await generateKey('p256');
    const issued = await pki.intermediate.issuer.issue({
      profile,
      serial: randomSerial(pki.random),
      subject: [{ type: 'CN', value: name }],
      publicKey: createKeySigner(key.privateKey).publicKey,
      notBefore: now,
      notAfter: new Date(now.getTime() + 86_400_000),
    });
    const file = join(dir, `${name}.pem`);
    writeFileSync(file, encodePem('CERTIFICATE', issued.der));
    return file;
  }

  it('ok/every-arc-below-2^31', () => {
    for (const [name, oid] of Object.entries(OID)) {
      for (const arc of oid.split('.')) assert.ok(BigInt(arc) < 2n ** 31n, `${name} ${oid}: arc ${arc} is 2^31 or more`);
    }
  });

  it('ok/gnutls-parses-the-bootstrap-and-profile-signer-certificates', async () => {
    for (const [kind, oid] of [['bootstrap', OID.kpProvisioRequestSigning], ['profile-signer', OID.kpProvisioProfileSigning]] as const) {
      const file = await issue({ kind }, `oid-${kind}`);
      const r = spawnSync('certtool', ['--certificate-info', '--infile', file], { encoding: 'utf8' });
      assert.equal(r.status, 0, `certtool refused the ${kind} certificate: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`Key Purpose \\(not critical\\):\\s+${oid.replaceAll('.', '\\.')}\\s`), r.stdout);
    }
  });

  it('ok/legacy-2.25-purpose-still-accepted-on-input', () => {
    // A bootstrap credential made before the OIDs moved: openssl writes the old 2.25 EKU.
    const [legacy] = LEGACY_OIDS[OID.kpProvisioRequestSigning] ?? [];
    assert.ok(legacy);
    writeFileSync(join(dir, 'int.pem'), encodePem('CERTIFICATE', pki.intermediate.certificate.der));
    writeFileSync(join(dir, 'int.key'), exportPrivateKeyPem(pki.intermediate.key.privateKey), { mode: 0o600 });
    writeFileSync(join(dir, 'legacy.ext'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${legacy}\n`);
    let r = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'legacy.key'), '-subj', '/CN=legacy', '-out', join(dir, 'legacy.csr')]);
    assert.equal(r.status, 0, r.output);
    r = openssl(['x509', '-req', '-in', join(dir, 'legacy.csr'), '-CA', join(dir, 'int.pem'), '-CAkey', join(dir, 'int.key'), '-set_serial', '0x51', '-days', '2', '-extfile', join(dir, 'legacy.ext'), '-out', join(dir, 'legacy.pem')]);
    assert.equal(r.status, 0, r.output);
    // Why the OIDs moved: GnuTLS cannot parse the 128-bit arc.
    const gnutls = spawnSync('certtool', ['--certificate-info', '--infile', join(dir, 'legacy.pem')], { encoding: 'utf8' });
    assert.match(gnutls.stdout + gnutls.stderr, /key_purposes.*Error in DER parsing/);
    const leaf = parseCertificate(readFileSync(join(dir, 'legacy.pem'), 'utf8'));
    const at = new Date();
    const chain = (purpose: string) => verifyChain({ leaf, intermediates: [pki.intermediate.certificate], roots: [pki.root.certificate], at, requiredExtKeyUsage: purpose });
    assert.equal(chain(OID.kpProvisioRequestSigning).length, 3);
    // The old request-signing OID is not an alias of any other purpose.
    assert.throws(() => chain(OID.kpProvisioProfileSigning), (e: unknown) => e instanceof PkiError && e.code === 'chain_purpose_invalid');
  });
});
