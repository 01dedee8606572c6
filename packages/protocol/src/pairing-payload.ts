/**
 * The signed provisioning payload of the pairing-code workflow (seed 003, DOC-PROC-011;
 * docs/formats.md "Pairing payload"): exactly the seed's fields, all strings —
 *
 *   deviceId, pairingCode (masked: "ABCD-****"), serverUrl, clientCertificate (PEM),
 *   clientPrivateKey (PKCS#8 PEM, only when the key was generated centrally), caCertificate
 *   (PEM, the issuing CA), issuedAt, expiresAt (RFC 3339), signature.
 *
 * What is signed: the payload object without `signature`, in the JSON Canonicalization Scheme
 * (RFC 8785) — members sorted by name, no whitespace; every value is a string, so that is
 * `JSON.stringify` of each name and value in sorted order. `signature` is a JWS with a
 * detached payload (RFC 7515 Appendix F): `<protected>..<signature>`, the signing input being
 * `<protected>.<base64url(canonical payload)>` as for any JWS. Two forms:
 *
 *   - asymmetric (the default): the profile signer signs (ES256/ES384/RS256, its algorithm from
 *     its key); the header carries `x5c` = [profile signer, issuing CA]. A device verifies with
 *     the root it holds and needs no secret, so nothing it holds can forge another device's
 *     payload.
 *   - HMAC (`alg` HS256), for devices that can only do HMAC: keyed by
 *     HKDF-SHA256(ikm = the normalized pairing code, salt = "provisio pairing payload v1",
 *     info = the device id, 32 bytes), a key only this device and the service can make. Its
 *     strength is the code's (40 bits): a recorded payload lets someone find the code offline,
 *     which is spent by then (single use); it authenticates the answer to the device, not to
 *     anyone else.
 *
 * The device verifies the signature, the window (issuedAt ≤ now < expiresAt, with 5 minutes
 * of clock skew allowed on issuedAt) and the identity (deviceId, and the certificate's CN)
 * BEFORE it writes anything (docs/device.md).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { OID, type ParsedCertificate, PkiError, nameAttribute, parseCertificate, toDer, type Signer, verifyChain } from '@provisio/pki';
import { ProtocolError } from './errors.js';
import { base64url, fromBase64url, signJws, verifyJwsSignature } from './jws.js';
import { parseStrictJson } from './strict-json.js';

export const PAIRING_PAYLOAD_TYPE = 'provisio-pairing+jws';
export const MAX_PAIRING_PAYLOAD_BYTES = 64 * 1024;
const SKEW_MS = 5 * 60_000;
const HKDF_SALT = 'provisio pairing payload v1';

/** The seed's fields, in the seed's order; `clientPrivateKey` only with central key generation. */
export const PAIRING_PAYLOAD_FIELDS = ['deviceId', 'pairingCode', 'serverUrl', 'clientCertificate', 'clientPrivateKey', 'caCertificate', 'issuedAt', 'expiresAt', 'signature'] as const;

export interface PairingPayloadFields {
  readonly deviceId: string;
  /** The code as echoed: its first group and the rest masked. */
  readonly pairingCode: string;
  readonly serverUrl: string;
  readonly clientCertificate: string;
  readonly clientPrivateKey?: string;
  readonly caCertificate: string;
  readonly issuedAt: string;
  readonly expiresAt: string;
}

export interface PairingPayload extends PairingPayloadFields {
  readonly signature: string;
}

export interface ParsedPairingPayload {
  readonly payload: PairingPayload;
  /** What the signature covers: the canonical form of the payload without `signature`. */
  readonly signedBytes: Buffer;
  readonly header: Readonly<Record<string, unknown>>;
  readonly certificate: ParsedCertificate;
  readonly caCertificate: ParsedCertificate;
}

/** A pairing code as typed: upper case, without the dash and spaces. */
export function normalizePairingCode(code: string): string {
  return code.toUpperCase().replace(/[\s-]/g, '');
}

/** "ABCD-1234" → "ABCD-****": enough for a person to tell which code was used, not the code. */
export function maskPairingCode(code: string): string {
  const n = normalizePairingCode(code);
  return `${n.slice(0, 4)}-${'*'.repeat(Math.max(0, n.length - 4))}`;
}

/** The per-device HMAC key: HKDF-SHA256 over the normalized code, bound to the device id. */
export function derivePairingHmacKey(code: string, deviceId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(normalizePairingCode(code), 'utf8'), Buffer.from(HKDF_SALT, 'utf8'), Buffer.from(deviceId, 'utf8'), 32));
}

/** RFC 8785 for an object whose values are all strings: members sorted by UTF-16 code units. */
export function canonicalPairingPayload(fields: PairingPayloadFields): Buffer {
  const entries = Object.entries(fields).filter(([name, value]) => name !== 'signature' && value !== undefined) as Array<[string, string]>;
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`, 'utf8');
}

/** The payload signed by the profile signer (`signerChain`: its certificate, then the issuing CA's; DER). */
export async function signPairingPayload(fields: PairingPayloadFields, signer: { readonly signer: Signer; readonly signerChain: readonly Buffer[] }): Promise<PairingPayload> {
  const jws = await signJws(canonicalPairingPayload(fields), [
    { signer: signer.signer, header: { typ: PAIRING_PAYLOAD_TYPE, x5c: signer.signerChain.map((d) => d.toString('base64')) } },
  ]);
  const sig = jws.signatures[0] as { protected: string; signature: string };
  return { ...fields, signature: `${sig.protected}..${sig.signature}` };
}

/** The payload signed with HMAC-SHA256 (HS256) under the device's key (derivePairingHmacKey). */
export function signPairingPayloadHmac(fields: PairingPayloadFields, key: Buffer): PairingPayload {
  const header = base64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: PAIRING_PAYLOAD_TYPE }), 'utf8'));
  const mac = createHmac('sha256', key).update(`${header}.${base64url(canonicalPairingPayload(fields))}`, 'ascii').digest();
  return { ...fields, signature: `${header}..${base64url(mac)}` };
}

const malformed = (message: string) => new ProtocolError('pp_malformed', message);

function certificateFromPem(text: string, what: string): ParsedCertificate {
  try {
    return parseCertificate(toDer(text, 'CERTIFICATE'));
  } catch (e) {
    throw malformed(`${what} is not a PEM certificate: ${(e as Error).message}`);
  }
}

/** Parses strictly (one name, one member; only the seed's fields, all strings) without verifying. */
export function parsePairingPayload(input: string | Uint8Array | object): ParsedPairingPayload {
  let value: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input).toString('utf8');
    if (Buffer.byteLength(text) > MAX_PAIRING_PAYLOAD_BYTES) throw malformed(`the pairing payload is larger than ${MAX_PAIRING_PAYLOAD_BYTES} bytes`);
    value = parseStrictJson(text, 'the pairing payload');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('the pairing payload is not a JSON object');
  const o = value as Record<string, unknown>;
  for (const [name, v] of Object.entries(o)) {
    if (!(PAIRING_PAYLOAD_FIELDS as readonly string[]).includes(name)) throw malformed(`the pairing payload has an unknown member "${name.slice(0, 40)}"`);
    if (typeof v !== 'string' || v.length === 0) throw malformed(`the pairing payload member "${name}" is not a non-empty string`);
  }
  for (const name of PAIRING_PAYLOAD_FIELDS) {
    if (name !== 'clientPrivateKey' && o[name] === undefined) throw malformed(`the pairing payload lacks "${name}"`);
  }
  const payload = o as unknown as PairingPayload;
  for (const name of ['issuedAt', 'expiresAt'] as const) {
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(payload[name]) || Number.isNaN(Date.parse(payload[name]))) throw malformed(`"${name}" is not an RFC 3339 UTC time`);
  }
  const parts = payload.signature.split('.');
  if (parts.length !== 3 || parts[1] !== '') throw malformed('"signature" is not a JWS with a detached payload (<protected>..<signature>)');
  let header: Record<string, unknown>;
  try {
    header = parseStrictJson(fromBase64url(parts[0] as string).toString('utf8'), 'the pairing signature header') as Record<string, unknown>;
  } catch (e) {
    if (e instanceof ProtocolError && e.code === 'json_duplicate_key') throw e;
    throw malformed('the pairing signature header is not base64url JSON');
  }
  if (typeof header !== 'object' || header === null || header.typ !== PAIRING_PAYLOAD_TYPE) throw malformed(`the pairing signature header typ is not ${PAIRING_PAYLOAD_TYPE}`);
  return {
    payload,
    signedBytes: canonicalPairingPayload(payload),
    header,
    certificate: certificateFromPem(payload.clientCertificate, '"clientCertificate"'),
    caCertificate: certificateFromPem(payload.caCertificate, '"caCertificate"'),
  };
}

export interface VerifyPairingPayloadOptions {
  /** The root the device trusts (given to it, never taken from the payload). */
  readonly root: ParsedCertificate;
  readonly deviceId: string;
  readonly at: Date;
  /** For the HMAC form: the device's key (derivePairingHmacKey). Without it, only the asymmetric form verifies. */
  readonly hmacKey?: Buffer;
}

/**
 * Verifies, in this order, and throws at the first failure:
 *   1. the signature (the profile signer's, chained to `root` with the profile-signing EKU; or
 *      HS256 under `hmacKey`)                                                     pp_signature_invalid
 *   2. issuedAt ≤ at + 5 min and at < expiresAt                                   pp_expired
 *   3. deviceId and the certificate's CN are the device's, and the certificate
 *      chains to `root` through caCertificate for clientAuth at `at`             pp_wrong_device
 */
export function verifyPairingPayload(parsed: ParsedPairingPayload, options: VerifyPairingPayloadOptions): void {
  const { payload, header } = parsed;
  const [protectedHeader, , signature] = payload.signature.split('.') as [string, string, string];
  const encodedPayload = base64url(parsed.signedBytes);
  if (header.alg === 'HS256') {
    if (!options.hmacKey) throw new ProtocolError('pp_signature_invalid', 'the pairing payload is signed with HMAC, and this device verifies the profile signer\'s signature only');
    const expected = createHmac('sha256', options.hmacKey).update(`${protectedHeader}.${encodedPayload}`, 'ascii').digest();
    const got = fromBase64url(signature);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new ProtocolError('pp_signature_invalid', 'the pairing payload HMAC does not verify: it was changed, or made for another device or code');
  } else {
    const x5c = header.x5c;
    if (!Array.isArray(x5c) || x5c.length === 0 || x5c.some((c) => typeof c !== 'string')) throw malformed('the pairing signature header has no x5c chain');
    const chain = (x5c as string[]).map((c) => parseCertificate(Buffer.from(c, 'base64')));
    const signer = chain[0] as ParsedCertificate;
    try {
      verifyJwsSignature({ payload: encodedPayload, signatures: [{ protected: protectedHeader, signature }] }, 0, signer.publicKey);
    } catch (e) {
      if (e instanceof ProtocolError && e.code === 'jws_signature_invalid') throw new ProtocolError('pp_signature_invalid', 'the pairing payload signature does not verify: it was changed after it was signed');
      throw e;
    }
    try {
      verifyChain({ leaf: signer, intermediates: chain.slice(1), roots: [options.root], at: options.at, requiredExtKeyUsage: OID.kpProvisioProfileSigning });
    } catch (e) {
      if (!(e instanceof PkiError)) throw e;
      throw new ProtocolError('pp_signature_invalid', `the pairing payload signer does not chain to the root this device trusts (${e.code}: ${e.message})`);
    }
  }
  const issued = Date.parse(payload.issuedAt);
  const expires = Date.parse(payload.expiresAt);
  const now = options.at.getTime();
  if (issued > now + SKEW_MS || now >= expires) {
    throw new ProtocolError('pp_expired', `the pairing payload is valid from ${payload.issuedAt} to ${payload.expiresAt}, not at ${options.at.toISOString()}; check the device clock, or pair again`);
  }
  const cn = nameAttribute(parsed.certificate.subject, 'CN');
  if (payload.deviceId !== options.deviceId || cn !== options.deviceId) {
    throw new ProtocolError('pp_wrong_device', `the pairing payload is for device ${payload.deviceId} (certificate CN "${cn ?? ''}"), not ${options.deviceId}`);
  }
  try {
    verifyChain({ leaf: parsed.certificate, intermediates: [parsed.caCertificate], roots: [options.root], at: options.at, requiredExtKeyUsage: OID.kpClientAuth });
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    throw new ProtocolError('pp_wrong_device', `the pairing payload's certificate does not chain to the root this device trusts (${e.code}: ${e.message})`);
  }
}
