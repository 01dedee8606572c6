/**
 * A test PKI generated at run time: root → intermediate → device leaves, on a fixed clock.
 * Keys are generated fresh per call (nothing pre-generated is trusted by a test by accident).
 */
import {
  type CertificateProfile,
  createIssuer,
  createKeySigner,
  type DeviceId,
  type DistinguishedName,
  deviceCertificateRequest,
  generateKey,
  type Issuer,
  issueSelfSigned,
  type KeyPair,
  type KeyType,
  type ParsedCertificate,
  parseCertificate,
  type Random,
  randomSerial,
  type Signer,
} from '@provisio/pki';
import { DAY } from './clock.js';

export interface TestCa {
  readonly key: KeyPair;
  readonly signer: Signer;
  readonly certificate: ParsedCertificate;
  readonly issuer: Issuer;
}

export interface TestPki {
  readonly root: TestCa;
  readonly intermediate: TestCa;
  readonly random: Random;
  issueDevice(
    deviceId: string,
    options?: { keyType?: KeyType; notBefore?: Date; days?: number },
  ): Promise<{
    key: KeyPair;
    certificate: ParsedCertificate;
  }>;
}

export interface TestPkiOptions {
  readonly now: Date;
  readonly random: Random;
  readonly rootKeyType?: KeyType;
  readonly intermediateKeyType?: KeyType;
  readonly intermediatePathLength?: number;
  readonly urls?: { crl?: string; ocsp?: string; caIssuers?: string };
}

export async function createRootCa(
  now: Date,
  random: Random,
  keyType: KeyType = 'p256',
  subject: DistinguishedName = [{ type: 'CN', value: 'Provisio Test Root' }],
): Promise<TestCa> {
  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  const issued = await issueSelfSigned(signer, {
    serial: randomSerial(random),
    subject,
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + 3650 * DAY),
  });
  const certificate = parseCertificate(issued.der);
  return { key, signer, certificate, issuer: createIssuer(certificate, signer) };
}

export async function createSubordinateCa(
  parent: TestCa,
  now: Date,
  random: Random,
  options: {
    keyType?: KeyType;
    profile?: CertificateProfile;
    subject?: DistinguishedName;
    days?: number;
    urls?: TestPkiOptions['urls'];
  } = {},
): Promise<TestCa> {
  const key = await generateKey(options.keyType ?? 'p256');
  const signer = createKeySigner(key.privateKey);
  const issued = await parent.issuer.issue({
    profile: options.profile ?? { kind: 'intermediate-ca', pathLength: 0 },
    serial: randomSerial(random),
    subject: options.subject ?? [{ type: 'CN', value: 'Provisio Test Issuing CA' }],
    publicKey: signer.publicKey,
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + (options.days ?? 1825) * DAY),
  });
  const certificate = parseCertificate(issued.der);
  return { key, signer, certificate, issuer: createIssuer(certificate, signer, options.urls ?? {}) };
}

export async function createTestPki(options: TestPkiOptions): Promise<TestPki> {
  const { now, random } = options;
  const root = await createRootCa(now, random, options.rootKeyType);
  const intermediate = await createSubordinateCa(root, now, random, {
    keyType: options.intermediateKeyType ?? 'p256',
    profile: { kind: 'intermediate-ca', pathLength: options.intermediatePathLength ?? 0 },
    ...(options.urls ? { urls: options.urls } : {}),
  });
  return {
    root,
    intermediate,
    random,
    async issueDevice(deviceId, opts = {}) {
      const key = await generateKey(opts.keyType ?? 'p256');
      const signer = createKeySigner(key.privateKey);
      const notBefore = opts.notBefore ?? now;
      const issued = await intermediate.issuer.issue(
        deviceCertificateRequest(
          {
            deviceId: deviceId as DeviceId,
            deviceLabel: `Test device ${deviceId}`,
            system: 'ZMonitor',
            component: 'bedside monitor',
          },
          signer.publicKey,
          randomSerial(random),
          { notBefore, notAfter: new Date(notBefore.getTime() + (opts.days ?? 30) * DAY) },
        ),
      );
      return { key, certificate: parseCertificate(issued.der) };
    },
  };
}
