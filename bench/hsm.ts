/**
 * Signatures through a PKCS#11 token (SoftHSM2, a token made for the run in a temp directory)
 * against the software signer, both P-256, and certificates issued with each: what moving the
 * issuing CA key into an HSM costs (decision D44). SoftHSM2 is software too, so this measures the
 * PKCS#11 path (the pkcs11js call, one session, hashing here, r||s to DER), not a hardware HSM.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createIssuer, createKeySigner, generateKey, issueSelfSigned, parseCertificate, randomSerial, type Signer } from '@provisio/pki';
import { Pkcs11Token } from '@provisio/server';

type Rate = (name: string, fn: () => unknown) => Promise<number>;

const random = { bytes: (n: number) => randomBytes(n) };

async function issuerFor(signer: Signer) {
  const now = new Date();
  const cert = parseCertificate(
    (await issueSelfSigned(signer, { serial: randomSerial(random), subject: [{ type: 'CN', value: 'Bench CA' }], notBefore: now, notAfter: new Date(now.getTime() + 86_400_000) })).der,
  );
  return createIssuer(cert, signer, { crl: 'https://ca.example/crl', ocsp: 'https://ca.example/ocsp' });
}

export async function benchHsm(rate: Rate): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'provisio-bench-hsm-'));
  try {
    mkdirSync(join(dir, 'tokens'));
    writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    // SoftHSM2 reads SOFTHSM2_CONF when the module initialises, in this process.
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--so-pin', '12345678', '--pin', '1234'], { stdio: 'ignore' });
    const token = Pkcs11Token.open({ token: 'bench', pin: '1234' });
    try {
      const hsm = (await token.generateKey('bench-ca', 'p256')).signer;
      const software = createKeySigner((await generateKey('p256')).privateKey);
      const tbs = randomBytes(400);
      console.log('HSM (SoftHSM2 through pkcs11js), ECDSA P-256, one session:');
      const soft = await rate('  signatures, software signer', () => software.sign(tbs));
      const viaToken = await rate('  signatures, SoftHSM2 (PKCS#11)', () => hsm.sign(tbs));
      const subjectKey = createKeySigner((await generateKey('p256')).privateKey).publicKey;
      const request = () => ({ profile: { kind: 'ocsp-responder' as const }, serial: randomSerial(random), subject: [{ type: 'CN' as const, value: 'bench' }], publicKey: subjectKey, notBefore: new Date(), notAfter: new Date(Date.now() + 3_600_000) });
      const softIssuer = await issuerFor(software);
      const hsmIssuer = await issuerFor(hsm);
      const issuedSoft = await rate('  certificates issued, software signer', () => softIssuer.issue(request()));
      const issuedHsm = await rate('  certificates issued, SoftHSM2', () => hsmIssuer.issue(request()));
      console.log(`  SoftHSM2 / software: signatures ${(100 * viaToken / soft).toFixed(1)}%, certificates ${(100 * issuedHsm / issuedSoft).toFixed(1)}%`);
    } finally {
      await token.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
