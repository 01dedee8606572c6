/**
 * The renewal request (docs/lifecycle.md, "Renewal request"): a compact JWS (RFC 7515 §7.1)
 * signed with the device's CURRENT key over {v, aud, deviceId, serial, csr, nonce, iat}. It takes
 * the place of the provisioning request for a device that already holds a certificate: there is
 * no bootstrap signature — the current certificate, presented over mutual TLS, authenticates the
 * device, and this signature binds the new CSR (same key, or a new key with --rekey) to that
 * certificate. The CSR's own signature proves possession of the key it names.
 *
 * `nonce` makes two renewals by hand within the same second different requests; the service
 * treats an identical request (same bytes) as a resubmission and answers it again (idempotent).
 */
import { createHash } from 'node:crypto';
import { MAX_CSR_BYTES, type ParsedCsr, parseCsr, PkiError, type PublicKeyInfo, type Signer, verifyCsr } from '@provisio/pki';
import { ProtocolError } from './errors.js';
import { decodeBase64Strict, decodeBase64urlStrict, Fields, parseJson, quote } from './fields.js';
import { fromBase64url, type GeneralJws, signJws, verifyJwsSignature } from './jws.js';
import { readProtectedHeader } from './read-jws.js';

export const RENEWAL_JWS_TYPE = 'provisio-renewal+jws';
export const RENEWAL_AUDIENCE = 'provisio-renew';
/** The same request asking for a fresh profile through the approval policy (docs/lifecycle.md "Reprovisioning"). */
export const REPROVISION_AUDIENCE = 'provisio-reprovision';
export type RenewalAudience = typeof RENEWAL_AUDIENCE | typeof REPROVISION_AUDIENCE;
/** How far the request's time may be from the service's clock, either way (as the confirmation proof). */
export const RENEWAL_WINDOW_MS = 5 * 60_000;
/** A CSR of at most MAX_CSR_BYTES, base64 inside a base64url payload, plus a header and a signature. */
const MAX_RENEWAL_CHARS = 32 * 1024;
const NONCE_BYTES = 16;

export interface RenewalClaims {
  readonly deviceId: string;
  /** The serial of the certificate being renewed, canonical hex. */
  readonly serial: string;
  readonly at: Date;
}

export interface ParsedRenewalRequest {
  /** The compact JWS exactly as received. */
  readonly raw: string;
  /** SHA-256 (hex) of `raw`: an identical resubmission is the same renewal. */
  readonly contentHash: string;
  /** What is asked for: a renewal, or a fresh profile through the approval policy. */
  readonly aud: RenewalAudience;
  readonly deviceId: string;
  readonly serial: string;
  readonly iat: Date;
  readonly nonce: string;
  readonly csr: ParsedCsr;
  readonly jws: GeneralJws;
}

export async function createRenewalRequest(
  signer: Signer,
  input: { readonly deviceId: string; readonly serial: string; readonly csrDer: Uint8Array; readonly nonce: Uint8Array; readonly at: Date; readonly aud?: RenewalAudience },
): Promise<string> {
  if (input.nonce.length !== NONCE_BYTES) throw new ProtocolError('renewal_malformed', `the nonce must be ${NONCE_BYTES} bytes`);
  const payload = {
    v: 1,
    aud: input.aud ?? RENEWAL_AUDIENCE,
    deviceId: input.deviceId,
    serial: input.serial,
    csr: Buffer.from(input.csrDer).toString('base64'),
    nonce: Buffer.from(input.nonce).toString('base64url'),
    iat: input.at.toISOString(),
  };
  const jws = await signJws(Buffer.from(JSON.stringify(payload), 'utf8'), [{ signer, header: { typ: RENEWAL_JWS_TYPE } }]);
  const [sig] = jws.signatures;
  if (!sig) throw new ProtocolError('renewal_malformed', 'no signature was made');
  return `${sig.protected}.${jws.payload}.${sig.signature}`;
}

/** Structural parse; nothing is verified here (`verifyRenewalRequest` does). */
export function parseRenewalRequest(input: unknown): ParsedRenewalRequest {
  const fields: Fields = new Fields('renewal_malformed');
  const raw = fields.string(input, 'the renewal request', 1, MAX_RENEWAL_CHARS);
  const parts = raw.split('.');
  if (parts.length !== 3) fields.fail('the renewal request must be a compact JWS: three base64url parts joined by "."');
  const [protectedPart, payloadPart, signaturePart] = parts as [string, string, string];
  const jws: GeneralJws = { payload: payloadPart, signatures: [{ protected: protectedPart, signature: signaturePart }] };
  const header = readProtectedHeader(jws, 0, ['alg', 'typ'], fields, 'the renewal request header');
  fields.literal(header.typ, 'the renewal request typ', RENEWAL_JWS_TYPE);
  const claims = fields.object(parseJson(fromBase64url(payloadPart), 'the renewal request payload', fields), 'the renewal request payload', ['v', 'aud', 'deviceId', 'serial', 'csr', 'nonce', 'iat']);
  fields.integer(claims.v, 'the renewal request v', 1, 1);
  const aud = claims.aud === REPROVISION_AUDIENCE ? REPROVISION_AUDIENCE : fields.literal(claims.aud, 'the renewal request aud', RENEWAL_AUDIENCE);
  const deviceId = fields.identifier(claims.deviceId, 'the renewal request deviceId');
  const serial = fields.string(claims.serial, 'the renewal request serial', 2, 42);
  if (!/^[0-9a-f]+$/.test(serial)) fields.fail(`the renewal request serial ${quote(serial)} must be lowercase hex`);
  const iat = fields.timestamp(claims.iat, 'the renewal request iat');
  const nonceText = fields.string(claims.nonce, 'the renewal request nonce', 22, 22);
  if (decodeBase64urlStrict(nonceText)?.length !== NONCE_BYTES) fields.fail(`the renewal request nonce must be base64url of ${NONCE_BYTES} bytes`);
  const csrText = fields.string(claims.csr, 'the renewal request csr', 1, Math.ceil(MAX_CSR_BYTES / 3) * 4);
  const csrDer = decodeBase64Strict(csrText);
  if (!csrDer) fields.fail('the renewal request csr must be base64 DER');
  let csr: ParsedCsr;
  try {
    csr = parseCsr(csrDer);
  } catch (e) {
    if (e instanceof PkiError) fields.fail(`the renewal request csr: ${e.message}`);
    throw e;
  }
  return { raw, contentHash: createHash('sha256').update(raw, 'utf8').digest('hex'), aud, deviceId, serial, iat, nonce: nonceText, csr, jws };
}

/**
 * Checks the request is signed by `currentKey` (the key of the certificate presented over mutual
 * TLS), names `expected` device and serial, was made within RENEWAL_WINDOW_MS of `expected.at`,
 * and that its CSR is signed by the key it names (proof of possession of the new key).
 */
export function verifyRenewalRequest(request: ParsedRenewalRequest, currentKey: PublicKeyInfo, expected: RenewalClaims & { readonly aud?: RenewalAudience }): void {
  try {
    verifyJwsSignature(request.jws, 0, currentKey);
  } catch (e) {
    if (e instanceof ProtocolError && (e.code === 'jws_signature_invalid' || e.code === 'jws_algorithm_unsupported')) {
      throw new ProtocolError('renewal_signature_invalid', `the renewal request is not signed by the key of certificate ${expected.serial}: ${e.message}`);
    }
    throw e;
  }
  const invalid = (why: string): never => {
    throw new ProtocolError('renewal_claims_invalid', `the renewal request ${why}`);
  };
  const aud = expected.aud ?? RENEWAL_AUDIENCE;
  // A renewal is never taken for a reprovisioning, nor the reverse.
  if (request.aud !== aud) invalid(`is for audience "${request.aud}", not "${aud}"`);
  if (request.deviceId !== expected.deviceId) invalid(`names device ${quote(request.deviceId)}, not "${expected.deviceId}"`);
  if (request.serial !== expected.serial) invalid(`names certificate ${quote(request.serial)}, not ${expected.serial} (the one presented)`);
  if (Math.abs(request.iat.getTime() - expected.at.getTime()) > RENEWAL_WINDOW_MS) {
    invalid(`was made at ${request.iat.toISOString()}, more than ${RENEWAL_WINDOW_MS / 60_000} minutes from ${expected.at.toISOString()}; check the device clock`);
  }
  verifyCsr(request.csr);
}
