/**
 * The certified profile (CP, docs/formats.md): what a device installs after its request is
 * approved. A General JWS with one signature by the service's profile signer (header `x5c`)
 * over the device's certificate chain, the root of trust, and its service configuration, bound
 * to the device key by `publicKeySha256`.
 *
 * The device verifies a CP against the root from its provisioning PACKAGE (`options.root`),
 * never against anything inside the profile: a profile cannot vouch for itself.
 */
import { createHash } from 'node:crypto';
import {
  describePublicKey,
  formatName,
  MAX_CERTIFICATE_BYTES,
  nameAttribute,
  OID,
  type ParsedCertificate,
  parseCertificate,
  parseDeviceId,
  PkiError,
  publicKeyFingerprint,
  type PublicKeyInfo,
  type Signer,
  verifyChain,
} from '@provisio/pki';
import { isProtocolError, ProtocolError } from './errors.js';
import { Fields, fileBytes, parseJson } from './fields.js';
import { readGeneralJws, readProtectedHeader } from './read-jws.js';
import { fromBase64url, type GeneralJws, signJws, verifyJwsSignature } from './jws.js';
import { MAX_CHAIN_CERTIFICATES } from './request.js';

export const PROFILE_MEDIA_TYPE = 'application/vnd.provisio.profile+json';
export const PROFILE_FILE_EXTENSION = '.pcp';
export const PROFILE_JWS_TYPE = 'provisio-profile+jws';
export const PROFILE_VERSION = 1;
/** 64 KiB: a P-256 profile is ~4 KiB; an RSA chain with long URLs stays far below. */
export const MAX_PROFILE_BYTES = 64 * 1024;

export interface RenewalPolicy {
  /** Renew when this fraction of the certificate's lifetime has passed (2/3 by default). */
  readonly atFractionOfLifetime: number;
  /** Spread renewals of a fleet: ± this fraction of the lifetime, chosen at random per device. */
  readonly jitterFraction: number;
}

export interface ProfileConfig {
  readonly serviceUrl: string;
  readonly ocspUrl: string | null;
  readonly crlUrl: string | null;
  readonly renewal: RenewalPolicy;
}

export interface CertifiedProfilePayload {
  readonly v: 1;
  readonly type: 'provisio.profile';
  readonly requestId: string;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly system: string;
  readonly component: string;
  /** SHA-256 (hex) of the device's SubjectPublicKeyInfo: the binding to the device key. */
  readonly publicKeySha256: string;
  /** base64 DER: the device certificate, then the issuing CA (and any further intermediates). */
  readonly certificateChain: readonly string[];
  /** base64 DER of the root; informational only (trust comes from the package). */
  readonly rootOfTrust: string;
  readonly config: ProfileConfig;
  /** RFC 3339. */
  readonly issuedAt: string;
  readonly mock: boolean;
}

export interface ParsedCertifiedProfile {
  /** The file exactly as received. */
  readonly raw: Buffer;
  /** SHA-256 (hex) of `raw`. */
  readonly contentHash: string;
  readonly payload: CertifiedProfilePayload;
  /** The device certificate (certificateChain[0]). */
  readonly certificate: ParsedCertificate;
  /** certificateChain, parsed: the device certificate first. */
  readonly chain: readonly ParsedCertificate[];
  /** The header `x5c`, parsed: the profile signer's certificate first. */
  readonly signerChain: readonly ParsedCertificate[];
  readonly issuedAt: Date;
  readonly jws: GeneralJws;
}

const PAYLOAD_KEYS = [
  'v',
  'type',
  'requestId',
  'deviceId',
  'deviceLabel',
  'system',
  'component',
  'publicKeySha256',
  'certificateChain',
  'rootOfTrust',
  'config',
  'issuedAt',
  'mock',
] as const;
const HEADER = ['alg', 'typ', 'x5c'] as const;
const SHA256_HEX = /^[0-9a-f]{64}$/;

const fields = new Fields('cp_malformed');

function parseCertificates(value: unknown, what: string): ParsedCertificate[] {
  return fields.array(value, what, 1, MAX_CHAIN_CERTIFICATES).map((entry, i) => {
    const der = fields.base64Der(entry, `${what}[${i}]`, MAX_CERTIFICATE_BYTES);
    return fields.pki(`${what}[${i}]`, () => parseCertificate(der));
  });
}

interface CheckedPayload {
  readonly payload: CertifiedProfilePayload;
  readonly chain: ParsedCertificate[];
  readonly issuedAt: Date;
}

function checkPayload(value: unknown): CheckedPayload {
  const record = fields.record(value, 'the profile payload');
  if (typeof record.v === 'number' && record.v !== PROFILE_VERSION) {
    throw new ProtocolError(
      'cp_version_unsupported',
      `the certified profile has format version ${record.v}; this software reads version ${PROFILE_VERSION}. Update the device software to install it`,
    );
  }
  const p = fields.object(record, 'the profile payload', PAYLOAD_KEYS);
  if (p.v !== PROFILE_VERSION) fields.fail(`the profile payload "v" must be ${PROFILE_VERSION}`);
  fields.literal(p.type, 'the profile payload "type"', 'provisio.profile');
  const deviceId = fields.string(p.deviceId, 'deviceId', 1, 64);
  fields.pki('deviceId', () => parseDeviceId(deviceId));
  const publicKeySha256 = fields.string(p.publicKeySha256, 'publicKeySha256', 64, 64);
  if (!SHA256_HEX.test(publicKeySha256)) fields.fail('publicKeySha256 must be 64 lowercase hex digits');
  const chain = parseCertificates(p.certificateChain, 'certificateChain');
  const rootDer = fields.base64Der(p.rootOfTrust, 'rootOfTrust', MAX_CERTIFICATE_BYTES);
  fields.pki('rootOfTrust', () => parseCertificate(rootDer));
  const c = fields.object(p.config, 'config', ['serviceUrl', 'ocspUrl', 'crlUrl', 'renewal']);
  const r = fields.object(c.renewal, 'config.renewal', ['atFractionOfLifetime', 'jitterFraction']);
  const renewal: RenewalPolicy = {
    // Renewing at 0 or 1 of the lifetime is either constant churn or too late.
    atFractionOfLifetime: fields.number(r.atFractionOfLifetime, 'config.renewal.atFractionOfLifetime', 0.05, 0.95),
    jitterFraction: fields.number(r.jitterFraction, 'config.renewal.jitterFraction', 0, 0.25),
  };
  const payload: CertifiedProfilePayload = {
    v: PROFILE_VERSION,
    type: 'provisio.profile',
    requestId: fields.identifier(p.requestId, 'requestId'),
    deviceId,
    deviceLabel: fields.label(p.deviceLabel, 'deviceLabel'),
    system: fields.name(p.system, 'system'),
    component: fields.name(p.component, 'component'),
    publicKeySha256,
    certificateChain: [...(p.certificateChain as string[])],
    rootOfTrust: p.rootOfTrust as string,
    config: {
      serviceUrl: fields.url(c.serviceUrl, 'config.serviceUrl'),
      ocspUrl: fields.urlOrNull(c.ocspUrl, 'config.ocspUrl'),
      crlUrl: fields.urlOrNull(c.crlUrl, 'config.crlUrl'),
      renewal,
    },
    issuedAt: p.issuedAt as string,
    mock: fields.boolean(p.mock, 'mock'),
  };
  return { payload, chain, issuedAt: fields.timestamp(p.issuedAt, 'issuedAt') };
}

/**
 * Signs a certified profile with the service's profile signer and returns the file text. The
 * payload is checked as `parseCertifiedProfile` would, and its binding fields (deviceId,
 * publicKeySha256) must agree with the device certificate it carries.
 */
export async function createCertifiedProfile(input: {
  readonly payload: Omit<CertifiedProfilePayload, 'v' | 'type'>;
  readonly signer: Signer;
  /** DER: the profile signer's certificate, then the issuing CA's. */
  readonly signerChain: readonly Buffer[];
}): Promise<string> {
  const p = input.payload;
  const payload: CertifiedProfilePayload = {
    v: PROFILE_VERSION,
    type: 'provisio.profile',
    requestId: p.requestId,
    deviceId: p.deviceId,
    deviceLabel: p.deviceLabel,
    system: p.system,
    component: p.component,
    publicKeySha256: p.publicKeySha256,
    certificateChain: p.certificateChain,
    rootOfTrust: p.rootOfTrust,
    config: {
      serviceUrl: p.config.serviceUrl,
      ocspUrl: p.config.ocspUrl,
      crlUrl: p.config.crlUrl,
      renewal: { atFractionOfLifetime: p.config.renewal.atFractionOfLifetime, jitterFraction: p.config.renewal.jitterFraction },
    },
    issuedAt: p.issuedAt,
    mock: p.mock,
  };
  const checked = checkPayload(payload);
  const device = checked.chain[0] as ParsedCertificate;
  if (nameAttribute(device.subject, 'CN') !== payload.deviceId) {
    fields.fail(`the device certificate names "${nameAttribute(device.subject, 'CN') ?? ''}", not deviceId ${payload.deviceId}`);
  }
  if (publicKeyFingerprint(device.publicKey) !== payload.publicKeySha256) {
    fields.fail('publicKeySha256 is not the SHA-256 of the device certificate\'s key');
  }
  const signerChain = parseCertificates(
    input.signerChain.map((der) => der.toString('base64')),
    'signerChain',
  );
  if (!(signerChain[0] as ParsedCertificate).publicKey.spki.equals(input.signer.publicKey.spki)) {
    fields.fail('the profile signer\'s key is not the key of the first certificate in signerChain');
  }
  const jws = await signJws(Buffer.from(JSON.stringify(payload), 'utf8'), [
    { signer: input.signer, header: { typ: PROFILE_JWS_TYPE, x5c: signerChain.map((c) => c.der.toString('base64')) } },
  ]);
  return `${JSON.stringify(jws, null, 2)}\n`;
}

/**
 * Structural parse (size limit, exact shape, limits, certificate DER); verifies nothing.
 * Throws `cp_malformed`, `cp_version_unsupported` or `jws_algorithm_unsupported`.
 */
export function parseCertifiedProfile(input: string | Uint8Array): ParsedCertifiedProfile {
  const raw = fileBytes(input, MAX_PROFILE_BYTES, (size) =>
    fields.fail(`the certified profile is ${size} bytes; at most ${MAX_PROFILE_BYTES} are accepted. Is this a certified profile (.pcp) file?`),
  );
  const jws = readGeneralJws(parseJson(raw, 'the certified profile', fields), 1, fields, 'the certified profile');
  const header = readProtectedHeader(jws, 0, HEADER, fields, 'the profile signature header');
  fields.literal(header.typ, 'the profile signature header "typ"', PROFILE_JWS_TYPE);
  const signerChain = parseCertificates(header.x5c, 'x5c');
  const checked = checkPayload(parseJson(fromBase64url(jws.payload), 'the profile payload', fields));
  return {
    raw,
    contentHash: createHash('sha256').update(raw).digest('hex'),
    payload: checked.payload,
    certificate: checked.chain[0] as ParsedCertificate,
    chain: checked.chain,
    signerChain,
    issuedAt: checked.issuedAt,
    jws,
  };
}

export interface VerifyCertifiedProfileOptions {
  /** The root of trust from the device's provisioning PACKAGE, never from the profile. */
  readonly root: ParsedCertificate;
  /** The deviceId this device asked for. */
  readonly deviceId: string;
  /** The device's own public key (from its key store). */
  readonly devicePublicKey: PublicKeyInfo;
  readonly at: Date;
}

function untrusted(what: string, cert: ParsedCertificate, e: unknown): never {
  if (!(e instanceof PkiError)) throw e;
  throw new ProtocolError(
    'cp_untrusted',
    `the certified profile's ${what} "${formatName(cert.subject)}" does not chain to the package root (${e.code}: ${e.message})`,
  );
}

/**
 * Verifies a parsed profile for this device, in this order (docs/formats.md):
 *  1. the signature by x5c[0]                                           cp_signature_invalid
 *  2. x5c[0] chains to `root` at `at` with the profile-signing EKU      cp_untrusted
 *  3. payload deviceId and the certificate CN are `deviceId`             cp_wrong_device
 *  4. publicKeySha256 and the certificate key are `devicePublicKey`     cp_wrong_key
 *  5. the device certificate is valid at `at`                           cp_expired
 *  6. the device certificate chains to `root` with clientAuth           cp_untrusted
 * A header `alg` that does not fit the signer key is `jws_algorithm_unsupported`.
 */
export function verifyCertifiedProfile(cp: ParsedCertifiedProfile, options: VerifyCertifiedProfileOptions): void {
  const { root, at, deviceId, devicePublicKey } = options;
  const signer = cp.signerChain[0] as ParsedCertificate;
  try {
    verifyJwsSignature(cp.jws, 0, signer.publicKey);
  } catch (e) {
    if (isProtocolError(e, 'jws_signature_invalid')) {
      throw new ProtocolError(
        'cp_signature_invalid',
        `the certified profile signature does not verify with its signer certificate "${formatName(signer.subject)}"; the file was changed after it was signed`,
      );
    }
    throw e;
  }
  try {
    verifyChain({
      leaf: signer,
      intermediates: cp.signerChain.slice(1),
      roots: [root],
      at,
      requiredExtKeyUsage: OID.kpProvisioProfileSigning,
    });
  } catch (e) {
    untrusted('signer', signer, e);
  }

  const cert = cp.certificate;
  const cn = nameAttribute(cert.subject, 'CN');
  if (cp.payload.deviceId !== deviceId || cn !== deviceId) {
    throw new ProtocolError(
      'cp_wrong_device',
      `the certified profile is for device ${cp.payload.deviceId} (certificate CN "${cn ?? ''}"), not ${deviceId}; install the profile made for this device`,
    );
  }
  const fingerprint = publicKeyFingerprint(devicePublicKey);
  if (cp.payload.publicKeySha256 !== fingerprint || !cert.publicKey.spki.equals(devicePublicKey.spki)) {
    throw new ProtocolError(
      'cp_wrong_key',
      `the certified profile is bound to key ${cp.payload.publicKeySha256.slice(0, 16)}…, not this device's ${describePublicKey(devicePublicKey)} key ${fingerprint.slice(0, 16)}…; it was made for another request of this device`,
    );
  }
  if (at < cert.notBefore || at > cert.notAfter) {
    throw new ProtocolError(
      'cp_expired',
      at < cert.notBefore
        ? `the device certificate is not valid until ${cert.notBefore.toISOString()}; check the device clock`
        : `the device certificate expired at ${cert.notAfter.toISOString()}; request a new profile`,
    );
  }
  try {
    verifyChain({ leaf: cert, intermediates: cp.chain.slice(1), roots: [root], at, requiredExtKeyUsage: OID.kpClientAuth });
  } catch (e) {
    untrusted('device certificate', cert, e);
  }
}
