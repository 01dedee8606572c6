/**
 * The install confirmation proof (docs/proxy.md, "Install confirmation"): a compact JWS (RFC 7515
 * §7.1) signed with the device key over {v, aud, deviceId, serial, iat}. A device confirming its
 * install through a gateway cannot carry its mutual-TLS handshake to the service, so it proves
 * possession of the certified key with this instead; the service checks it against the device's
 * active certificate. The gateway that forwards it cannot make one (it has no device key).
 *
 * Replaying a proof within its window only repeats the device's own statement, and confirming is
 * idempotent; the window keeps an old proof from confirming a later certificate of the same key.
 */
import type { PublicKeyInfo, Signer } from '@provisio/pki';
import { ProtocolError } from './errors.js';
import { Fields, parseJson, quote } from './fields.js';
import { fromBase64url, type GeneralJws, signJws, verifyJwsSignature } from './jws.js';
import { readProtectedHeader } from './read-jws.js';

export const CONFIRM_JWS_TYPE = 'provisio-confirm+jws';
export const CONFIRM_AUDIENCE = 'provisio-confirm';
/** How far the proof's time may be from the verifier's clock, either way. */
export const CONFIRM_WINDOW_MS = 5 * 60_000;
const MAX_PROOF_CHARS = 4096;

export interface ConfirmClaims {
  readonly deviceId: string;
  /** The device certificate's serial, in the canonical hex form. */
  readonly serial: string;
  readonly at: Date;
}

export async function createConfirmProof(signer: Signer, claims: ConfirmClaims): Promise<string> {
  const payload = { v: 1, aud: CONFIRM_AUDIENCE, deviceId: claims.deviceId, serial: claims.serial, iat: claims.at.toISOString() };
  const jws = await signJws(Buffer.from(JSON.stringify(payload), 'utf8'), [{ signer, header: { typ: CONFIRM_JWS_TYPE } }]);
  const [sig] = jws.signatures;
  if (!sig) throw new ProtocolError('confirm_proof_malformed', 'no signature was made');
  return `${sig.protected}.${jws.payload}.${sig.signature}`;
}

/**
 * Verifies `proof` with the certificate's public key and checks it names `expected` device and
 * serial within CONFIRM_WINDOW_MS of `expected.at`.
 */
export function verifyConfirmProof(proof: unknown, key: PublicKeyInfo, expected: ConfirmClaims): void {
  const fields = new Fields('confirm_proof_malformed');
  const text = fields.string(proof, 'the confirmation proof', 1, MAX_PROOF_CHARS);
  const parts = text.split('.');
  if (parts.length !== 3) fields.fail('the confirmation proof must be a compact JWS: three base64url parts joined by "."');
  const [protectedPart, payloadPart, signaturePart] = parts as [string, string, string];
  const jws: GeneralJws = { payload: payloadPart, signatures: [{ protected: protectedPart, signature: signaturePart }] };
  const header = readProtectedHeader(jws, 0, ['alg', 'typ'], fields, 'the confirmation proof header');
  fields.literal(header.typ, 'the confirmation proof typ', CONFIRM_JWS_TYPE);
  try {
    verifyJwsSignature(jws, 0, key);
  } catch (e) {
    if (e instanceof ProtocolError && (e.code === 'jws_signature_invalid' || e.code === 'jws_algorithm_unsupported')) {
      throw new ProtocolError('confirm_proof_invalid', `the confirmation proof is not signed by the key of certificate ${expected.serial}: ${e.message}`);
    }
    throw e;
  }
  const claims = fields.object(parseJson(fromBase64url(payloadPart), 'the confirmation proof payload', fields), 'the confirmation proof payload', ['v', 'aud', 'deviceId', 'serial', 'iat']);
  fields.integer(claims.v, 'the confirmation proof v', 1, 1);
  const iat = fields.timestamp(claims.iat, 'the confirmation proof iat');
  const invalid = (why: string): never => {
    throw new ProtocolError('confirm_proof_invalid', `the confirmation proof ${why}`);
  };
  if (claims.aud !== CONFIRM_AUDIENCE) invalid(`is for audience ${quote(claims.aud)}, not "${CONFIRM_AUDIENCE}"`);
  if (claims.deviceId !== expected.deviceId) invalid(`names device ${quote(claims.deviceId)}, not "${expected.deviceId}"`);
  if (claims.serial !== expected.serial) invalid(`names certificate ${quote(claims.serial)}, not ${expected.serial}`);
  if (Math.abs(iat.getTime() - expected.at.getTime()) > CONFIRM_WINDOW_MS) {
    invalid(`was made at ${iat.toISOString()}, more than ${CONFIRM_WINDOW_MS / 60_000} minutes from ${expected.at.toISOString()}; check the device clock`);
  }
}
