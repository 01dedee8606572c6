/**
 * Test fixtures for the wire formats: a test PKI (root → issuing CA) made at run time, with a
 * bootstrap credential and a profile signer issued by the issuing CA, and a second, unrelated PKI
 * playing the attacker. Time is fixed.
 */
import {
  type CertificateProfile,
  createKeySigner,
  createCsr,
  type DeviceId,
  deviceCertificateRequest,
  generateKey,
  type KeyPair,
  type KeyType,
  type ParsedCertificate,
  parseCertificate,
  type Random,
  publicKeyFingerprint,
  randomSerial,
  type Signer,
} from '@provisio/pki';
import { createTestPki, DAY, seededRandom, type TestCa, type TestPki } from '@provisio/testkit';
import {
  base64url,
  type CertifiedProfilePayload,
  type GeneralJws,
  type ProvisioningRequestPayload,
  signJws,
} from '../src/index.js';

export const NOW = new Date('2026-06-01T12:00:00Z');

/** Serials for certificates made by tests: fresh per certificate, deterministic per run. */
const serials: Random = seededRandom('protocol-serials');

export interface Credential {
  readonly key: KeyPair;
  readonly signer: Signer;
  readonly certificate: ParsedCertificate;
}

export interface Fixture {
  readonly pki: TestPki;
  readonly bootstrap: Credential;
  readonly profileSigner: Credential;
  /** An unrelated PKI with its own bootstrap credential and profile signer (the attacker's). */
  readonly other: { readonly pki: TestPki; readonly bootstrap: Credential; readonly profileSigner: Credential };
}

export async function issueCredential(
  ca: TestCa,
  profile: CertificateProfile,
  cn: string,
  options: { keyType?: KeyType; notBefore?: Date; days?: number } = {},
): Promise<Credential> {
  const key = await generateKey(options.keyType ?? 'p256');
  const signer = createKeySigner(key.privateKey);
  const notBefore = options.notBefore ?? new Date(NOW.getTime() - DAY);
  const issued = await ca.issuer.issue({
    profile,
    serial: randomSerial(serials),
    subject: [{ type: 'CN', value: cn }],
    publicKey: signer.publicKey,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.days ?? 365) * DAY),
  });
  return { key, signer, certificate: parseCertificate(issued.der) };
}

export async function createFixture(seed = 'protocol'): Promise<Fixture> {
  const pki = await createTestPki({ now: NOW, random: seededRandom(seed) });
  const other = await createTestPki({ now: NOW, random: seededRandom(`${seed}-other`) });
  return {
    pki,
    bootstrap: await issueCredential(pki.intermediate, { kind: 'bootstrap' }, 'Provisio bootstrap pkg_1'),
    profileSigner: await issueCredential(pki.intermediate, { kind: 'profile-signer' }, 'Provisio profile signer'),
    other: {
      pki: other,
      bootstrap: await issueCredential(other.intermediate, { kind: 'bootstrap' }, 'Provisio bootstrap pkg_1'),
      profileSigner: await issueCredential(other.intermediate, { kind: 'profile-signer' }, 'Provisio profile signer'),
    },
  };
}

export interface Device {
  readonly key: KeyPair;
  readonly signer: Signer;
  readonly csr: Buffer;
}

export async function createDevice(keyType: KeyType = 'p256', deviceId = 'DEV-001'): Promise<Device> {
  const key = await generateKey(keyType);
  const signer = createKeySigner(key.privateKey);
  const csr = await createCsr(signer, { subject: [{ type: 'CN', value: deviceId }] });
  return { key, signer, csr };
}

export function requestPayload(
  device: Device,
  overrides: Partial<Omit<ProvisioningRequestPayload, 'v' | 'type'>> = {},
): Omit<ProvisioningRequestPayload, 'v' | 'type'> {
  return {
    packageId: 'pkg_0123456789abcdef0123456789abcdef',
    system: 'ZMonitor',
    component: 'bedside monitor',
    deviceId: 'DEV-001',
    deviceLabel: 'Bedside monitor, ward 3, bed 12',
    hardwareSerial: 'SN-0042',
    firmwareVersion: '4.2.1',
    nonce: base64url(Buffer.alloc(16, 7)),
    createdAt: NOW.toISOString(),
    expiresAt: new Date(NOW.getTime() + 7 * DAY).toISOString(),
    csr: device.csr.toString('base64'),
    mock: false,
    ...overrides,
  };
}

/** A JWS with hand-made protected headers: lets a test sign what the real API refuses to make. */
export async function craftJws(
  payload: Uint8Array | string,
  parts: ReadonlyArray<{ signer: Signer; headerJson: string; convertEcdsa?: boolean }>,
): Promise<GeneralJws> {
  const encodedPayload = typeof payload === 'string' ? payload : base64url(payload);
  const signatures = [];
  for (const part of parts) {
    const encodedHeader = base64url(Buffer.from(part.headerJson, 'utf8'));
    let sig = await part.signer.sign(Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'));
    if (part.signer.publicKey.algorithm === 'ec' && part.convertEcdsa !== false) {
      const { ecdsaDerToJose } = await import('../src/jws.js');
      sig = ecdsaDerToJose(sig, part.signer.publicKey.curve === 'P-384' ? 48 : 32);
    }
    signatures.push({ protected: encodedHeader, signature: base64url(sig) });
  }
  return { payload: encodedPayload, signatures };
}

/** A request signed by whatever keys a test chooses, skipping every check `createProvisioningRequest` makes. */
export async function craftRequest(options: {
  payload: Record<string, unknown>;
  device: Signer;
  deviceHeader?: Record<string, unknown>;
  bootstrap: Signer;
  bootstrapHeader?: Record<string, unknown>;
  x5c: readonly ParsedCertificate[];
}): Promise<string> {
  const payload = Buffer.from(JSON.stringify(options.payload), 'utf8');
  const jws = await signJws(payload, [
    {
      signer: options.device,
      header: options.deviceHeader ?? { typ: 'provisio-request+jws', kid: 'device', jwk: options.device.publicKey.jwk },
    },
    {
      signer: options.bootstrap,
      header: options.bootstrapHeader ?? { kid: 'bootstrap', x5c: options.x5c.map((c) => c.der.toString('base64')) },
    },
  ]);
  return JSON.stringify(jws);
}

/** Re-encodes `file` (JSON text of a JWS) after `edit` changed its parsed form. */
export function editJson(file: string, edit: (value: Record<string, unknown>) => void): string {
  const value = JSON.parse(file) as Record<string, unknown>;
  edit(value);
  return JSON.stringify(value);
}

/** Replaces the payload of a JWS file with `edit(payload)`, leaving signatures as they were. */
export function editPayload(file: string, edit: (payload: Record<string, unknown>) => void): string {
  return editJson(file, (jws) => {
    const payload = JSON.parse(Buffer.from(jws.payload as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    edit(payload);
    jws.payload = base64url(Buffer.from(JSON.stringify(payload), 'utf8'));
  });
}

/** Replaces one protected header, leaving the signature as it was. */
export function editHeader(file: string, index: number, edit: (header: Record<string, unknown>) => void): string {
  return editJson(file, (jws) => {
    const sig = (jws.signatures as Array<Record<string, string>>)[index] as Record<string, string>;
    const header = JSON.parse(Buffer.from(sig.protected as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    edit(header);
    sig.protected = base64url(Buffer.from(JSON.stringify(header), 'utf8'));
  });
}

/** Changes one character in the middle of a base64url string to another valid one. */
export function flipChar(text: string, at = Math.floor(text.length / 2)): string {
  const c = text[at] as string;
  return text.slice(0, at) + (c === 'A' ? 'B' : 'A') + text.slice(at + 1);
}

/** A device certificate for `device` issued by `ca`, and the profile payload that carries it. */
export async function issueDeviceProfile(
  ca: TestCa,
  root: ParsedCertificate,
  device: Device,
  options: { deviceId?: string; notBefore?: Date; days?: number } = {},
): Promise<{ certificate: ParsedCertificate; payload: Omit<CertifiedProfilePayload, 'v' | 'type'> }> {
  const deviceId = options.deviceId ?? 'DEV-001';
  const notBefore = options.notBefore ?? NOW;
  const issued = await ca.issuer.issue(
    deviceCertificateRequest(
      { deviceId: deviceId as DeviceId, deviceLabel: 'Bedside monitor, ward 3, bed 12', system: 'ZMonitor', component: 'bedside monitor' },
      device.signer.publicKey,
      randomSerial(serials),
      { notBefore, notAfter: new Date(notBefore.getTime() + (options.days ?? 30) * DAY) },
    ),
  );
  const certificate = parseCertificate(issued.der);
  return {
    certificate,
    payload: {
      requestId: 'req_00112233445566778899aabbccddeeff',
      deviceId,
      deviceLabel: 'Bedside monitor, ward 3, bed 12',
      system: 'ZMonitor',
      component: 'bedside monitor',
      publicKeySha256: publicKeyFingerprint(device.signer.publicKey),
      certificateChain: [issued.der.toString('base64'), ca.certificate.der.toString('base64')],
      rootOfTrust: root.der.toString('base64'),
      config: {
        serviceUrl: 'https://provisio.example:8443',
        ocspUrl: 'http://provisio.example/ocsp',
        crlUrl: 'http://provisio.example/crl/issuing.crl',
        renewal: { atFractionOfLifetime: 2 / 3, jitterFraction: 0.05 },
      },
      issuedAt: NOW.toISOString(),
      mock: false,
    },
  };
}
