/**
 * Stands in for the provisioning service in device tests (test-only; the real one is
 * packages/server): a test PKI (root → issuing CA), a bootstrap credential and a profile signer
 * issued by the issuing CA, a provisioning package built and serialized with the protocol, and
 * certified profiles issued from a device's provisioning request exactly as the service would:
 * the certificate's key from the request's CSR, every name from the request's (approved) data.
 */
import { randomBytes } from 'node:crypto';
import {
  createKeySigner,
  type DeviceId,
  deviceCertificateRequest,
  encodePem,
  generateKey,
  type KeyType,
  type ParsedCertificate,
  parseCertificate,
  publicKeyFingerprint,
  type Random,
  randomSerial,
  type Signer,
} from '@provisio/pki';
import {
  certificateChainPem,
  createCertifiedProfile,
  parseProvisioningRequest,
  type PackageComponent,
  type ProvisioningPackage,
  serializePackage,
  verifyProvisioningRequest,
} from '@provisio/protocol';
import { createTestPki, DAY, type TestPki } from '@provisio/testkit';

export interface Credential {
  readonly signer: Signer;
  readonly certificate: ParsedCertificate;
  readonly privateKeyPem: string;
}

export interface FakeService {
  readonly pki: TestPki;
  readonly bootstrap: Credential;
  readonly profileSigner: Credential;
  readonly pkg: ProvisioningPackage;
  readonly packageText: string;
  /** Issues a certified profile answering `requestText`, as an approving service would. */
  issueProfile(requestText: string, options?: IssueProfileOptions): Promise<string>;
}

export interface IssueProfileOptions {
  /** Issue for another device id than the request's (an attack or a mix-up). */
  readonly deviceId?: string;
  readonly notBefore?: Date;
  readonly days?: number;
  readonly issuedAt?: Date;
  readonly system?: string;
  readonly component?: string;
  readonly mock?: boolean;
  /**
   * Skip verifying the request against this service's root: an attacker's service signs
   * whatever it likes.
   */
  readonly skipRequestCheck?: boolean;
}

export interface FakeServiceOptions {
  readonly now: Date;
  readonly random: Random;
  readonly components?: readonly PackageComponent[];
  readonly defaultKeyType?: KeyType;
  readonly requestLifetimeSeconds?: number;
  /** Package expiry (default now + 30 days). */
  readonly expiresAt?: Date;
  readonly bootstrapDays?: number;
  readonly system?: string;
}

export const SYSTEM = 'ZMonitor';
export const COMPONENT = 'bedside monitor';

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

async function credential(
  pki: TestPki,
  profile: { kind: 'bootstrap' } | { kind: 'profile-signer' },
  cn: string,
  now: Date,
  days: number,
): Promise<Credential> {
  const key = await generateKey('p256');
  const signer = createKeySigner(key.privateKey);
  const issued = await pki.intermediate.issuer.issue({
    profile,
    serial: randomSerial(pki.random),
    subject: [{ type: 'CN', value: cn }],
    publicKey: signer.publicKey,
    notBefore: new Date(now.getTime() - DAY),
    notAfter: new Date(now.getTime() + days * DAY),
  });
  return {
    signer,
    certificate: parseCertificate(issued.der),
    privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

export async function createFakeService(options: FakeServiceOptions): Promise<FakeService> {
  const { now, random } = options;
  const pki = await createTestPki({ now, random });
  const bootstrap = await credential(pki, { kind: 'bootstrap' }, 'ZMonitor Bootstrap', now, options.bootstrapDays ?? 90);
  const profileSigner = await credential(pki, { kind: 'profile-signer' }, 'Provisio Profile Signer', now, 365);
  const system = options.system ?? SYSTEM;
  const pkg: ProvisioningPackage = {
    format: 'provisio.package',
    v: 1,
    packageId: `pkg_${Buffer.from(random.bytes(8)).toString('hex')}`,
    system,
    components: options.components ?? [
      { name: COMPONENT, keyTypes: ['p256', 'p384'], validityDays: 365 },
      { name: 'gateway', keyTypes: ['rsa3072'], validityDays: 365 },
    ],
    rootOfTrust: encodePem('CERTIFICATE', pki.root.certificate.der),
    serviceUrl: 'https://provisio.example.org',
    requestLifetimeSeconds: options.requestLifetimeSeconds ?? 7 * 86_400,
    keyTemplate: { defaultKeyType: options.defaultKeyType ?? 'p256' },
    bootstrap: {
      certificateChain: certificateChainPem([bootstrap.certificate.der, pki.intermediate.certificate.der]),
      privateKey: bootstrap.privateKeyPem,
    },
    createdAt: rfc3339(new Date(now.getTime() - 60_000)),
    expiresAt: rfc3339(options.expiresAt ?? new Date(now.getTime() + 30 * DAY)),
    notice: 'This file holds a private key that lets devices request certificates for this system. Keep it secret; delete this file from each device after use.',
  };
  const packageText = serializePackage(pkg);

  return {
    pki,
    bootstrap,
    profileSigner,
    pkg,
    packageText,
    async issueProfile(requestText, opts = {}) {
      const pr = parseProvisioningRequest(requestText);
      // The service verifies the request at the time it arrives; tests issue at `now` or later.
      const at = opts.notBefore ?? now;
      if (opts.skipRequestCheck !== true) {
        verifyProvisioningRequest(pr, { at: new Date(Math.max(at.getTime(), pr.createdAt.getTime())), roots: [pki.root.certificate] });
      }
      const p = pr.payload;
      const deviceId = opts.deviceId ?? p.deviceId;
      const identity = {
        deviceId: deviceId as DeviceId,
        deviceLabel: p.deviceLabel,
        system: opts.system ?? p.system,
        component: opts.component ?? p.component,
      };
      const notBefore = opts.notBefore ?? now;
      const issued = await pki.intermediate.issuer.issue(
        deviceCertificateRequest(identity, pr.csr.publicKey, randomSerial(random), {
          notBefore,
          notAfter: new Date(notBefore.getTime() + (opts.days ?? 365) * DAY),
        }),
      );
      return createCertifiedProfile({
        payload: {
          requestId: `req_${randomBytes(8).toString('hex')}`,
          deviceId,
          deviceLabel: p.deviceLabel,
          system: identity.system,
          component: identity.component,
          publicKeySha256: publicKeyFingerprint(pr.csr.publicKey),
          certificateChain: [issued.der, pki.intermediate.certificate.der].map((d) => d.toString('base64')),
          rootOfTrust: pki.root.certificate.der.toString('base64'),
          config: {
            serviceUrl: 'https://provisio.example.org',
            ocspUrl: 'http://provisio.example.org/ocsp',
            crlUrl: 'http://provisio.example.org/crl/issuing.crl',
            renewal: { atFractionOfLifetime: 2 / 3, jitterFraction: 0.05 },
          },
          issuedAt: rfc3339(opts.issuedAt ?? notBefore),
          mock: opts.mock ?? p.mock,
        },
        signer: profileSigner.signer,
        signerChain: [profileSigner.certificate.der, pki.intermediate.certificate.der],
      });
    },
  };
}

/** Re-signs nothing: changes one payload field of a JWS file and keeps the old signature. */
export function tamperPayload(jwsText: string, change: (payload: Record<string, unknown>) => void): string {
  const jws = JSON.parse(jwsText) as { payload: string };
  const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  change(payload);
  jws.payload = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  return `${JSON.stringify(jws, null, 2)}\n`;
}
