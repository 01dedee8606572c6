/**
 * `npm run bench`: the issuance hot path against the crypto limit, measured in one process in
 * one run so the ratios compare like with like. Prints figures; asserts nothing.
 */
import { randomBytes, sign, verify } from 'node:crypto';
import { arch, cpus, totalmem } from 'node:os';
import {
  createCsr,
  createIssuer,
  createKeySigner,
  type DeviceId,
  deviceCertificateRequest,
  generateKey,
  issueSelfSigned,
  parseAndVerifyCsr,
  parseCertificate,
  randomSerial,
} from '@provisio/pki';
import { benchConnected } from './connected.js';
import { benchHsm } from './hsm.js';
import { benchPeerCfssl } from './peer-cfssl.js';
import { benchService } from './service.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
/** BENCH_ONLY=crypto,hsm,service,connected,peer runs a subset (default: all). */
const only = process.env.BENCH_ONLY?.split(',');
const want = (part: string) => !only || only.includes(part);
const random = { bytes: (n: number) => randomBytes(n) };

async function rate(name: string, fn: () => unknown): Promise<number> {
  const warmUntil = performance.now() + 300;
  while (performance.now() < warmUntil) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) await fn();
    n += 50;
  }
  const perSecond = n / ((performance.now() - start) / 1000);
  console.log(`${name.padEnd(44)} ${perSecond.toFixed(0).padStart(8)} /s`);
  return perSecond;
}

async function benchIssuance(): Promise<void> {
  const now = new Date();
  const later = new Date(now.getTime() + 365 * 86_400_000);

  const rootSigner = createKeySigner((await generateKey('p256')).privateKey);
  const root = parseCertificate(
    (
      await issueSelfSigned(rootSigner, {
        serial: randomSerial(random),
        subject: [{ type: 'CN', value: 'Bench Root' }],
        notBefore: now,
        notAfter: new Date(later.getTime() * 2 - now.getTime()),
      })
    ).der,
  );
  const caKey = await generateKey('p256');
  const caSigner = createKeySigner(caKey.privateKey);
  const caCert = parseCertificate(
    (
      await createIssuer(root, rootSigner).issue({
        profile: { kind: 'intermediate-ca', pathLength: 0 },
        serial: randomSerial(random),
        subject: [{ type: 'CN', value: 'Bench Issuing CA' }],
        publicKey: caSigner.publicKey,
        notBefore: now,
        notAfter: new Date(later.getTime() + 86_400_000),
      })
    ).der,
  );
  const issuer = createIssuer(caCert, caSigner, {
    crl: 'https://ca.example/crl',
    ocsp: 'https://ca.example/ocsp',
    caIssuers: 'https://ca.example/ca.crt',
  });

  const deviceSigner = createKeySigner((await generateKey('p256')).privateKey);
  const csrDer = await createCsr(deviceSigner, { subject: [{ type: 'CN', value: 'DEV-000001' }] });
  const csr = parseAndVerifyCsr(csrDer);
  const identity = {
    deviceId: 'DEV-000001' as DeviceId,
    deviceLabel: 'Bench device',
    system: 'ZMonitor',
    component: 'bedside monitor',
  };

  console.log(`each figure: ${SECONDS} s after 0.3 s warm-up, one core, ECDSA P-256`);

  const tbs = randomBytes(400);
  const signature = sign('sha256', tbs, caKey.privateKey);
  const bareSign = await rate('bare P-256 sign (crypto.sign)', () => sign('sha256', tbs, caKey.privateKey));
  const bareVerify = await rate('bare P-256 verify (crypto.verify)', () =>
    verify('sha256', tbs, caKey.publicKey, signature),
  );
  const issue = await rate('certificates issued from a parsed CSR', () =>
    issuer.issue(
      deviceCertificateRequest(identity, csr.publicKey, randomSerial(random), { notBefore: now, notAfter: later }),
    ),
  );
  const parseVerify = await rate('CSR parse + verify (proof of possession)', () => parseAndVerifyCsr(csrDer));

  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  console.log(`issuance / bare sign:       ${pct(issue / bareSign)} (target ≥ 40%)`);
  console.log(`CSR parse+verify / verify:  ${pct(parseVerify / bareVerify)} (target ≥ 30%)`);
}

console.log(
  `provisio bench — ${new Date().toISOString()} — node ${process.version} — ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length} (${arch()}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
);
if (want('crypto')) await benchIssuance();
if (want('hsm')) await benchHsm(rate);
if (want('service')) await benchService();
const connected = want('connected') ? await benchConnected() : [];
if (want('peer')) await benchPeerCfssl(connected, { install: false });
