/**
 * JSON Web Signature (RFC 7515) in the General JSON Serialization (§7.2.1), over node:crypto
 * (docs/decisions.md: a JOSE library verified at half the speed of crypto.verify here).
 *
 * Only what Provisio's formats need: ES256 (P-256), ES384 (P-384) and RS256 (RFC 7518 §3.1).
 * The algorithm is a property of the key, never of the message: the signer's key picks `alg`,
 * and on verification the header `alg` must be the one the verifying key implies, so "none"
 * and RS/ES or HS confusions cannot happen. Every header is integrity-protected; unprotected
 * `header` members and unknown `crit` extensions are refused (§4.1.11).
 *
 * Signing goes through pki's `Signer`, so a key can live in an HSM.
 */
import { createPublicKey, verify as cryptoVerify, type JsonWebKey } from 'node:crypto';
import {
  children,
  decodeUnsignedInteger,
  describeKeyObject,
  describePublicKey,
  expectTag,
  isProvisioError,
  type PublicKeyInfo,
  readTlv,
  type Signer,
  Tag,
  toPublicKeyObject,
} from '@provisio/pki';
import { ProtocolError } from './errors.js';
import { decodeBase64urlStrict, Fields, parseJson, quote } from './fields.js';

export type JwsAlgorithm = 'ES256' | 'ES384' | 'RS256';

export interface JwsSignature {
  /** base64url of the UTF-8 JSON protected header. */
  readonly protected: string;
  /** base64url of the signature; for ECDSA the raw r || s of RFC 7518 §3.4. */
  readonly signature: string;
}

export interface GeneralJws {
  /** base64url of the payload bytes. */
  readonly payload: string;
  readonly signatures: readonly JwsSignature[];
}

interface AlgorithmSpec {
  readonly hash: 'sha256' | 'sha384';
  /** ECDSA: bytes of r and of s. */
  readonly size: number | null;
}

const ALGORITHMS: Readonly<Record<JwsAlgorithm, AlgorithmSpec>> = {
  ES256: { hash: 'sha256', size: 32 },
  ES384: { hash: 'sha384', size: 48 },
  RS256: { hash: 'sha256', size: null },
};

/** Header parameters whose meaning this implementation knows; only they may appear in `crit`. */
const UNDERSTOOD_CRITICAL: ReadonlySet<string> = new Set();

const jwsFields = new Fields('jws_malformed');

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** Canonical base64url without padding, or `jws_malformed`. */
export function fromBase64url(text: string): Buffer {
  if (typeof text !== 'string') throw new ProtocolError('jws_malformed', 'expected base64url text');
  const bytes = decodeBase64urlStrict(text);
  if (!bytes) throw new ProtocolError('jws_malformed', `${quote(text)} is not canonical base64url without padding`);
  return bytes;
}

/** The one algorithm a key signs with: ES256 for P-256, ES384 for P-384, RS256 for RSA. */
export function jwsAlgorithmFor(key: PublicKeyInfo): JwsAlgorithm {
  if (key.algorithm === 'rsa') return 'RS256';
  if (key.curve === 'P-384') return 'ES384';
  return 'ES256';
}

export function isJwsAlgorithm(alg: unknown): alg is JwsAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(ALGORITHMS, alg);
}

/**
 * DER Ecdsa-Sig-Value (RFC 3279 §2.2.3), what pki signers return, to the fixed-length r || s
 * JWS uses (RFC 7518 §3.4): each integer left-padded to `size` bytes.
 */
export function ecdsaDerToJose(signature: Uint8Array, size: number): Buffer {
  try {
    const root = readTlv(signature, 0, signature.length);
    if (root.end !== signature.length) throw new Error('trailing bytes');
    const [r, s, extra] = children(signature, expectTag(root, Tag.SEQUENCE, 'Ecdsa-Sig-Value'));
    if (extra) throw new Error('extra fields');
    const out = Buffer.alloc(2 * size);
    for (const [i, tlv] of [r, s].entries()) {
      const value = decodeUnsignedInteger(signature, expectTag(tlv, Tag.INTEGER, 'r/s'), 'r/s');
      let start = 0;
      while (start < value.length - 1 && value[start] === 0) start++;
      const digits = value.subarray(start);
      if (digits.length > size) throw new Error('integer too long');
      out.set(digits, (i + 1) * size - digits.length);
    }
    return out;
  } catch {
    throw new ProtocolError('jws_malformed', `the signer returned a signature that is not a DER ECDSA signature of ${size}-byte integers`);
  }
}

/**
 * Signs `payload` once per signer (RFC 7515 §5.1). Each protected header is `{ alg, ...header }`
 * with `alg` taken from the signer's key; a header that names another `alg` is refused.
 */
export async function signJws(
  payload: Uint8Array,
  signers: ReadonlyArray<{ readonly signer: Signer; readonly header: Readonly<Record<string, unknown>> }>,
): Promise<GeneralJws> {
  const encodedPayload = base64url(payload);
  const signatures: JwsSignature[] = [];
  for (const { signer, header } of signers) {
    const alg = jwsAlgorithmFor(signer.publicKey);
    const spec = ALGORITHMS[alg];
    if (Object.hasOwn(header, 'crit')) {
      throw new ProtocolError('jws_malformed', 'no critical header extension is supported; a verifier would refuse this JWS (RFC 7515 §4.1.11)');
    }
    if (header.alg !== undefined && header.alg !== alg) {
      throw new ProtocolError('jws_algorithm_unsupported', `a ${describePublicKey(signer.publicKey)} key signs with ${alg}, not ${quote(header.alg)}`);
    }
    if (signer.algorithm.hash !== spec.hash || signer.algorithm.keyAlgorithm !== signer.publicKey.algorithm) {
      throw new ProtocolError('jws_algorithm_unsupported', `${alg} needs a ${spec.hash} signer; this signer uses ${signer.algorithm.name}`);
    }
    // `alg` first for people reading the header; the signer's key decides it.
    const members = Object.entries(header).filter(([name]) => name !== 'alg');
    const encodedHeader = base64url(Buffer.from(JSON.stringify({ alg, ...Object.fromEntries(members) }), 'utf8'));
    const signingInput = Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii');
    const raw = await signer.sign(signingInput);
    const signature = spec.size === null ? raw : ecdsaDerToJose(raw, spec.size);
    signatures.push({ protected: encodedHeader, signature: base64url(signature) });
  }
  return { payload: encodedPayload, signatures };
}

/**
 * The protected header of one signature, decoded but NOT verified: use it only to find the key.
 * Refuses headers that are not a JSON object and any `crit` (§4.1.11: we understand no extension).
 */
export function decodeProtectedHeader(sig: JwsSignature): Record<string, unknown> {
  if (typeof sig !== 'object' || sig === null || typeof sig.protected !== 'string') {
    throw new ProtocolError('jws_malformed', 'a JWS signature must carry a "protected" header string');
  }
  // Any members here: each format checks its own header's members after this.
  const header = jwsFields.record(parseJson(fromBase64url(sig.protected), 'the JWS protected header', jwsFields), 'the JWS protected header');
  if (Object.hasOwn(header, 'crit')) {
    const crit = header.crit;
    const names = Array.isArray(crit) ? crit.map(String) : [String(crit)];
    const unknown = names.filter((n) => !UNDERSTOOD_CRITICAL.has(n));
    throw new ProtocolError(
      'jws_malformed',
      `the JWS header marks ${unknown.map(quote).join(', ') || 'an empty list'} as critical; no critical extension is understood (RFC 7515 §4.1.11)`,
    );
  }
  return header;
}

/**
 * Verifies signature `index` of `jws` with `key` and returns its protected header.
 * Throws `jws_algorithm_unsupported` when the header `alg` is not the key's algorithm,
 * `jws_signature_invalid` when the signature does not verify, `jws_malformed` otherwise.
 */
export function verifyJwsSignature(jws: GeneralJws, index: number, key: PublicKeyInfo): Record<string, unknown> {
  if (typeof jws !== 'object' || jws === null || !Array.isArray(jws.signatures) || typeof jws.payload !== 'string') {
    throw new ProtocolError('jws_malformed', 'a JWS needs a "payload" string and a "signatures" array');
  }
  const sig = jws.signatures[index];
  if (!sig) throw new ProtocolError('jws_malformed', `the JWS has no signature number ${index + 1}`);
  const header = decodeProtectedHeader(sig);
  const expected = jwsAlgorithmFor(key);
  if (!isJwsAlgorithm(header.alg)) {
    throw new ProtocolError(
      'jws_algorithm_unsupported',
      `JWS alg ${header.alg === undefined ? '(missing)' : quote(header.alg)} is not accepted; only ES256, ES384 and RS256 are`,
    );
  }
  if (header.alg !== expected) {
    throw new ProtocolError(
      'jws_algorithm_unsupported',
      `JWS alg ${header.alg} cannot be used with a ${describePublicKey(key)} key; that key signs with ${expected}`,
    );
  }
  fromBase64url(jws.payload);
  const signature = fromBase64url(sig.signature);
  const spec = ALGORITHMS[expected];
  // RFC 7518 §3.4: an ECDSA JWS signature is exactly 2 × the curve size.
  if (spec.size !== null && signature.length !== 2 * spec.size) {
    throw new ProtocolError('jws_signature_invalid', `an ${expected} signature has ${2 * spec.size} bytes; got ${signature.length}`);
  }
  const signingInput = Buffer.from(`${sig.protected}.${jws.payload}`, 'ascii');
  const keyObject = toPublicKeyObject(key);
  let ok: boolean;
  try {
    ok =
      spec.size === null
        ? cryptoVerify(spec.hash, signingInput, keyObject, signature)
        : cryptoVerify(spec.hash, signingInput, { key: keyObject, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new ProtocolError('jws_signature_invalid', `the ${expected} signature does not verify with the ${describePublicKey(key)} key`);
  return header;
}

/**
 * A public key from a JWK (RFC 7517 / RFC 7518 §6) with exactly the members of its kind
 * (EC: kty, crv, x, y; RSA: kty, n, e) in canonical form, held to pki's key policy.
 */
export function publicKeyFromJwk(jwk: unknown, fields: Fields = jwsFields): PublicKeyInfo {
  const kty = typeof jwk === 'object' && jwk !== null ? (jwk as Record<string, unknown>).kty : undefined;
  const members = kty === 'EC' ? ['kty', 'crv', 'x', 'y'] : kty === 'RSA' ? ['kty', 'n', 'e'] : null;
  if (!members) fields.fail(`jwk kty must be "EC" or "RSA"; got ${kty === undefined ? 'none' : quote(kty)}`);
  const record = fields.object(jwk, 'jwk', members);
  if (kty === 'EC' && record.crv !== 'P-256' && record.crv !== 'P-384') {
    fields.fail(`jwk crv must be "P-256" or "P-384"; got ${quote(record.crv)}`);
  }
  for (const m of kty === 'EC' ? ['x', 'y'] : ['n', 'e']) fields.base64url(record[m], `jwk ${m}`, 1024);
  let info: PublicKeyInfo;
  try {
    info = describeKeyObject(createPublicKey({ key: record as JsonWebKey, format: 'jwk' }));
  } catch (e) {
    if (isProvisioError(e)) throw e;
    fields.fail('jwk is not a valid public key (unknown curve, or a point not on the curve)');
  }
  // The key's own canonical JWK must be what arrived: one key, one spelling.
  for (const m of members) {
    if ((info.jwk as Record<string, unknown>)[m] !== record[m]) fields.fail(`jwk ${m} is not in canonical form`);
  }
  return info;
}
