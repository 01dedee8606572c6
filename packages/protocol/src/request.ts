/**
 * The provisioning request (PR, docs/formats.md): what a device makes from the provisioning
 * package. A General JWS with two signatures over one payload:
 *   [0] the device key (header `jwk`): proves the device holds the key its CSR names, and binds
 *       the CSR to this request's identity, nonce and expiry (a CSR alone is public);
 *   [1] the package's bootstrap credential (header `x5c`): proves the request was made with a
 *       provisioning package the service issued.
 * Parsing is structural and strict; `verifyProvisioningRequest` checks signatures, trust and time.
 * Database checks (package status, nonce replay) belong to the server.
 */
import { createHash } from 'node:crypto';
import {
  checkRequestedSubjectAltNames,
  deviceSubjectAltName,
  formatName,
  MAX_CERTIFICATE_BYTES,
  MAX_CSR_BYTES,
  OID,
  type ParsedCertificate,
  type ParsedCsr,
  parseCertificate,
  parseCsr,
  parseDeviceId,
  PkiError,
  type PublicKeyInfo,
  type Signer,
  verifyChain,
  verifyCsr,
} from '@provisio/pki';
import { isProtocolError, ProtocolError, type ProtocolErrorCode } from './errors.js';
import { Fields, fileBytes, parseJson } from './fields.js';
import { readGeneralJws, readProtectedHeader } from './read-jws.js';
import {
  fromBase64url,
  type GeneralJws,
  publicKeyFromJwk,
  signJws,
  verifyJwsSignature,
} from './jws.js';

export const REQUEST_MEDIA_TYPE = 'application/vnd.provisio.request+json';
export const REQUEST_FILE_EXTENSION = '.ppr';
/** The JWS `typ` of signature [0] (RFC 7515 §4.1.9): tells a request apart from other JWS. */
export const REQUEST_JWS_TYPE = 'provisio-request+jws';
export const REQUEST_VERSION = 1;
/**
 * 64 KiB: a P-256 request is ~2.5 KiB and an RSA-3072 one with a two-certificate chain ~6 KiB;
 * the limit is checked before anything is decoded.
 */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Clocks on devices drift; five minutes is the Kerberos default and what most CAs allow. */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000;
/** Bootstrap certificate plus at most four intermediates (pki MAX_PATH_LENGTH is 6 with the root). */
export const MAX_CHAIN_CERTIFICATES = 5;
/** 16 random bytes: 128 bits, a collision is never expected within one package. */
export const NONCE_BYTES = 16;

export interface ProvisioningRequestPayload {
  readonly v: 1;
  readonly type: 'provisio.request';
  readonly packageId: string;
  readonly system: string;
  readonly component: string;
  readonly deviceId: string;
  readonly deviceLabel: string;
  readonly hardwareSerial: string | null;
  readonly firmwareVersion: string | null;
  /** base64url of 16 random bytes; the server refuses a nonce it has seen for the package. */
  readonly nonce: string;
  /** RFC 3339. */
  readonly createdAt: string;
  /** RFC 3339; not after the bootstrap certificate's notAfter. */
  readonly expiresAt: string;
  /** base64 DER of the PKCS#10 CSR made with the device key. */
  readonly csr: string;
  /** Mock device files (pre-generated keys, not device-locked). */
  readonly mock: boolean;
}

export interface ParsedProvisioningRequest {
  /** The file exactly as received. */
  readonly raw: Buffer;
  /** SHA-256 (hex) of `raw`: an identical resubmission has the same hash. */
  readonly contentHash: string;
  readonly payload: ProvisioningRequestPayload;
  /** The signed payload bytes, exactly as received. */
  readonly payloadBytes: Buffer;
  readonly csr: ParsedCsr;
  /** The device key from signature [0]'s header `jwk`. */
  readonly devicePublicKey: PublicKeyInfo;
  /** Signature [1]'s header `x5c`: the bootstrap certificate first. */
  readonly bootstrapChain: readonly ParsedCertificate[];
  readonly createdAt: Date;
  readonly expiresAt: Date;
  readonly jws: GeneralJws;
}

const PAYLOAD_KEYS = [
  'v',
  'type',
  'packageId',
  'system',
  'component',
  'deviceId',
  'deviceLabel',
  'hardwareSerial',
  'firmwareVersion',
  'nonce',
  'createdAt',
  'expiresAt',
  'csr',
  'mock',
] as const;

const DEVICE_HEADER = ['alg', 'typ', 'kid', 'jwk'] as const;
const BOOTSTRAP_HEADER = ['alg', 'kid', 'x5c'] as const;

const fields = new Fields('pr_malformed');

interface CheckedPayload {
  readonly payload: ProvisioningRequestPayload;
  readonly csr: ParsedCsr;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

function checkPayload(value: unknown): CheckedPayload {
  const record = fields.record(value, 'the request payload');
  if (typeof record.v === 'number' && record.v !== REQUEST_VERSION) {
    throw new ProtocolError(
      'pr_version_unsupported',
      `the request has format version ${record.v}; this software reads version ${REQUEST_VERSION}. Update Provisio to read it`,
    );
  }
  const p = fields.object(record, 'the request payload', PAYLOAD_KEYS);
  if (p.v !== REQUEST_VERSION) fields.fail(`the request payload "v" must be ${REQUEST_VERSION}`);
  fields.literal(p.type, 'the request payload "type"', 'provisio.request');
  const deviceId = fields.string(p.deviceId, 'deviceId', 1, 64);
  fields.pki('deviceId', () => parseDeviceId(deviceId));
  const nonce = fields.base64url(p.nonce, 'nonce', NONCE_BYTES);
  if (nonce.length !== NONCE_BYTES) fields.fail(`nonce must be ${NONCE_BYTES} bytes; got ${nonce.length}`);
  const csrDer = fields.base64Der(p.csr, 'csr', MAX_CSR_BYTES);
  const csr = fields.pki('csr', () => parseCsr(csrDer));
  const payload: ProvisioningRequestPayload = {
    v: REQUEST_VERSION,
    type: 'provisio.request',
    packageId: fields.identifier(p.packageId, 'packageId'),
    system: fields.name(p.system, 'system'),
    component: fields.name(p.component, 'component'),
    deviceId,
    deviceLabel: fields.label(p.deviceLabel, 'deviceLabel'),
    hardwareSerial: fields.printableOrNull(p.hardwareSerial, 'hardwareSerial'),
    firmwareVersion: fields.printableOrNull(p.firmwareVersion, 'firmwareVersion'),
    nonce: p.nonce as string,
    createdAt: p.createdAt as string,
    expiresAt: p.expiresAt as string,
    csr: p.csr as string,
    mock: fields.boolean(p.mock, 'mock'),
  };
  // Refused when the request is made and again at intake, not dropped at issuance (D29).
  checkRequestedSubjectAltNames(csr, deviceSubjectAltName(payload));
  return {
    payload,
    csr,
    createdAt: fields.timestamp(p.createdAt, 'createdAt'),
    expiresAt: fields.timestamp(p.expiresAt, 'expiresAt'),
  };
}

function parseChain(x5c: unknown): ParsedCertificate[] {
  return fields
    .array(x5c, 'the bootstrap x5c', 1, MAX_CHAIN_CERTIFICATES)
    .map((entry, i) => {
      const der = fields.base64Der(entry, `x5c[${i}]`, MAX_CERTIFICATE_BYTES);
      return fields.pki(`x5c[${i}]`, () => parseCertificate(der));
    });
}

/** The checks on dates that both creating and verifying apply. */
function checkLifetime(deviceId: string, createdAt: Date, expiresAt: Date, bootstrap: ParsedCertificate): void {
  if (!(createdAt < expiresAt)) {
    fields.fail(`request ${deviceId} expires (${expiresAt.toISOString()}) before it was created (${createdAt.toISOString()})`);
  }
  if (expiresAt > bootstrap.notAfter) {
    fields.fail(
      `request ${deviceId} expires at ${expiresAt.toISOString()}, after its bootstrap certificate (${bootstrap.notAfter.toISOString()}); a request cannot outlive the credential that signed it`,
    );
  }
}

/**
 * Signs a request with the device key and the package's bootstrap credential and returns the
 * file text. The payload is checked with the same rules `parseProvisioningRequest` applies, so
 * nothing is emitted that a verifier would refuse as malformed.
 */
export async function createProvisioningRequest(input: {
  readonly payload: Omit<ProvisioningRequestPayload, 'v' | 'type'>;
  readonly device: Signer;
  readonly bootstrap: Signer;
  /** DER, the bootstrap certificate first, then intermediates up to (excluding) the root. */
  readonly bootstrapChain: readonly Buffer[];
}): Promise<string> {
  const p = input.payload;
  // Built field by field in the documented order: nothing but the known fields is signed.
  const payload: ProvisioningRequestPayload = {
    v: REQUEST_VERSION,
    type: 'provisio.request',
    packageId: p.packageId,
    system: p.system,
    component: p.component,
    deviceId: p.deviceId,
    deviceLabel: p.deviceLabel,
    hardwareSerial: p.hardwareSerial,
    firmwareVersion: p.firmwareVersion,
    nonce: p.nonce,
    createdAt: p.createdAt,
    expiresAt: p.expiresAt,
    csr: p.csr,
    mock: p.mock,
  };
  const checked = checkPayload(payload);
  if (!checked.csr.publicKey.spki.equals(input.device.publicKey.spki)) {
    throw new ProtocolError('pr_key_mismatch', 'the CSR was made for another key than the device signer\'s; make the CSR with the device key');
  }
  const chain = parseChain(input.bootstrapChain.map((der) => der.toString('base64')));
  const bootstrapCert = chain[0] as ParsedCertificate;
  if (!bootstrapCert.publicKey.spki.equals(input.bootstrap.publicKey.spki)) {
    fields.fail('the bootstrap signer\'s key is not the key of the first certificate in bootstrapChain');
  }
  checkLifetime(payload.deviceId, checked.createdAt, checked.expiresAt, bootstrapCert);
  const jws = await signJws(Buffer.from(JSON.stringify(payload), 'utf8'), [
    { signer: input.device, header: { typ: REQUEST_JWS_TYPE, kid: 'device', jwk: input.device.publicKey.jwk } },
    { signer: input.bootstrap, header: { kid: 'bootstrap', x5c: chain.map((c) => c.der.toString('base64')) } },
  ]);
  return `${JSON.stringify(jws, null, 2)}\n`;
}

/**
 * Structural parse with strict checks (size first, then JSON shape, exact members and types,
 * limits, CSR and certificate DER). Verifies no signature: see `verifyProvisioningRequest`.
 * Throws `pr_too_large`, `pr_malformed`, `pr_version_unsupported`, `jws_algorithm_unsupported`,
 * or pki's key policy codes (`key_unsupported`, `key_too_weak`, `key_invalid`).
 */
export function parseProvisioningRequest(input: string | Uint8Array): ParsedProvisioningRequest {
  const raw = fileBytes(input, MAX_REQUEST_BYTES, (size) => {
    throw new ProtocolError(
      'pr_too_large',
      `the request is ${size} bytes; at most ${MAX_REQUEST_BYTES} are accepted. Is this a provisioning request (.ppr) file?`,
    );
  });
  const jws = readGeneralJws(parseJson(raw, 'the request', fields), 2, fields, 'the request');

  const deviceHeader = readProtectedHeader(jws, 0, DEVICE_HEADER, fields, 'the device signature header');
  fields.literal(deviceHeader.typ, 'the device signature header "typ"', REQUEST_JWS_TYPE);
  fields.literal(deviceHeader.kid, 'the device signature header "kid"', 'device');
  const devicePublicKey = publicKeyFromJwk(deviceHeader.jwk, fields);

  const bootstrapHeader = readProtectedHeader(jws, 1, BOOTSTRAP_HEADER, fields, 'the bootstrap signature header');
  fields.literal(bootstrapHeader.kid, 'the bootstrap signature header "kid"', 'bootstrap');
  const bootstrapChain = parseChain(bootstrapHeader.x5c);

  const payloadBytes = fromBase64url(jws.payload);
  const checked = checkPayload(parseJson(payloadBytes, 'the request payload', fields));
  return {
    raw,
    contentHash: createHash('sha256').update(raw).digest('hex'),
    payload: checked.payload,
    payloadBytes,
    csr: checked.csr,
    devicePublicKey,
    bootstrapChain,
    createdAt: checked.createdAt,
    expiresAt: checked.expiresAt,
    jws,
  };
}

export interface VerifyProvisioningRequestOptions {
  /** The time to check at (the server's clock when the request arrives). */
  readonly at: Date;
  /** Roots that may vouch for bootstrap credentials. */
  readonly roots: readonly ParsedCertificate[];
  /** Further certificates that may complete the bootstrap certificate's path. */
  readonly intermediates?: readonly ParsedCertificate[];
  /** How far in the future `createdAt` may be; default 5 minutes. */
  readonly clockSkewMs?: number;
}

function verifySignatureAs(
  pr: ParsedProvisioningRequest,
  index: number,
  key: PublicKeyInfo,
  code: ProtocolErrorCode,
  message: string,
): void {
  try {
    verifyJwsSignature(pr.jws, index, key);
  } catch (e) {
    if (isProtocolError(e, 'jws_signature_invalid')) throw new ProtocolError(code, message);
    throw e;
  }
}

/**
 * Verifies a parsed request, in this order (docs/formats.md):
 *  1. signature [0] by the header jwk                      pr_device_signature_invalid
 *  2. header jwk is the CSR's key, byte for byte SPKI      pr_key_mismatch
 *  3. the CSR's own signature (proof of possession)        csr_signature_invalid (pki)
 *  4. signature [1] by the x5c[0] key                      pr_bootstrap_signature_invalid
 *  5. x5c[0] chains to `roots` at `at`, request-signing EKU pr_bootstrap_untrusted
 *  6. createdAt ≤ at + skew                                pr_not_yet_valid
 *  7. at < expiresAt                                       pr_expired
 *  8. createdAt < expiresAt ≤ bootstrap notAfter           pr_malformed
 * A header `alg` that does not fit its key is `jws_algorithm_unsupported` at step 1 or 4.
 */
export function verifyProvisioningRequest(pr: ParsedProvisioningRequest, options: VerifyProvisioningRequestOptions): void {
  const { deviceId } = pr.payload;
  const { at } = options;
  verifySignatureAs(
    pr,
    0,
    pr.devicePublicKey,
    'pr_device_signature_invalid',
    `request ${deviceId}: the device signature does not verify with the key in its header; the file was changed after the device signed it`,
  );
  if (!pr.devicePublicKey.spki.equals(pr.csr.publicKey.spki)) {
    throw new ProtocolError('pr_key_mismatch', `request ${deviceId}: the key that signed the request is not the key in its CSR`);
  }
  verifyCsr(pr.csr);
  const bootstrap = pr.bootstrapChain[0] as ParsedCertificate;
  verifySignatureAs(
    pr,
    1,
    bootstrap.publicKey,
    'pr_bootstrap_signature_invalid',
    `request ${deviceId}: the bootstrap signature does not verify with the bootstrap certificate "${formatName(bootstrap.subject)}"`,
  );
  try {
    verifyChain({
      leaf: bootstrap,
      intermediates: [...pr.bootstrapChain.slice(1), ...(options.intermediates ?? [])],
      roots: options.roots,
      at,
      requiredExtKeyUsage: OID.kpProvisioRequestSigning,
    });
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    throw new ProtocolError(
      'pr_bootstrap_untrusted',
      `request ${deviceId}: the bootstrap certificate "${formatName(bootstrap.subject)}" is not trusted to sign requests (${e.code}: ${e.message})`,
    );
  }
  const skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (pr.createdAt.getTime() > at.getTime() + skew) {
    throw new ProtocolError(
      'pr_not_yet_valid',
      `request ${deviceId} was created at ${pr.createdAt.toISOString()}, later than ${at.toISOString()} by more than the ${Math.round(skew / 1000)} s allowed; check the device clock and generate a new request`,
    );
  }
  if (!(at < pr.expiresAt)) {
    throw new ProtocolError(
      'pr_expired',
      `request ${deviceId} expired at ${pr.expiresAt.toISOString()}; generate a new one with "provisio device init"`,
    );
  }
  checkLifetime(deviceId, pr.createdAt, pr.expiresAt, bootstrap);
}
