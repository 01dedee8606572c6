/**
 * Keys: generation, PKCS#8 PEM in and out (plain or passphrase-encrypted), and the public key
 * policy every CSR and certificate key is held to.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import {
  children,
  decodeBitString,
  decodeOid,
  decodeUnsignedInteger,
  expectTag,
  readTlv,
  Tag,
  type Tlv,
  whole,
} from './der.js';
import { encryptPrivateKeyInfo } from './encrypt-private-key.js';
import { PkiError } from './errors.js';
import { OID } from './oids.js';
import { decodePem } from './pem.js';

/** Key types Provisio generates. P-256 is the default (design.md); RSA-3072 where RSA is required. */
export type KeyType = 'p256' | 'p384' | 'rsa3072';
export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa3072'];

/** Smallest RSA modulus accepted from a device: NIST SP 800-131A disallows < 2048. */
export const MIN_RSA_BITS = 2048;
/** Largest RSA modulus accepted: bigger keys only cost verification time. */
export const MAX_RSA_BITS = 8192;

export interface KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const generate = promisify(generateKeyPair);

export async function generateKey(type: KeyType = 'p256'): Promise<KeyPair> {
  switch (type) {
    case 'p256':
      return generate('ec', { namedCurve: 'P-256' });
    case 'p384':
      return generate('ec', { namedCurve: 'P-384' });
    case 'rsa3072':
      return generate('rsa', { modulusLength: 3072, publicExponent: 65537 });
  }
}

/**
 * PKCS#8 PEM. With a passphrase: PBES2 (PBKDF2-HMAC-SHA256, 600,000 iterations + AES-256-CBC),
 * the form `openssl pkey -passin` reads (encrypt-private-key.ts).
 */
export function exportPrivateKeyPem(privateKey: KeyObject, passphrase?: string): string {
  if (passphrase !== undefined) {
    if (passphrase.length === 0) {
      throw new PkiError('key_passphrase_required', 'an empty passphrase does not protect a key; choose a real one');
    }
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    try {
      return encryptPrivateKeyInfo(pkcs8, passphrase);
    } finally {
      pkcs8.fill(0);
    }
  }
  return privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

export function isEncryptedPrivateKeyPem(pem: string): boolean {
  return pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----');
}

export function importPrivateKeyPem(pem: string, passphrase?: string): KeyObject {
  const block = decodePem(pem, 'PRIVATE KEY', 'ENCRYPTED PRIVATE KEY');
  const encrypted = block.label === 'ENCRYPTED PRIVATE KEY';
  if (encrypted && passphrase === undefined) {
    throw new PkiError('key_passphrase_required', 'the private key is encrypted; supply its passphrase');
  }
  if (!encrypted && passphrase !== undefined) {
    throw new PkiError(
      'key_not_encrypted',
      'a passphrase was given but the private key is stored unencrypted; re-encrypt it or omit the passphrase',
    );
  }
  let key: KeyObject;
  try {
    key = encrypted
      ? createPrivateKey({ key: block.der, format: 'der', type: 'pkcs8', passphrase: passphrase as string })
      : createPrivateKey({ key: block.der, format: 'der', type: 'pkcs8' });
  } catch {
    // The cause is never echoed: it could help an attacker tell padding from MAC failures.
    if (encrypted) throw new PkiError('key_passphrase_wrong', 'the passphrase does not decrypt this private key');
    throw new PkiError('der_malformed', 'the private key is not a valid PKCS#8 structure');
  }
  describeKeyObject(key);
  return key;
}

/** What we know about a public key after checking it against policy. */
export interface PublicKeyInfo {
  readonly algorithm: 'ec' | 'rsa';
  /** 'P-256' | 'P-384' for EC; 'RSA' for RSA. */
  readonly curve: 'P-256' | 'P-384' | null;
  readonly bits: number;
  /** The SubjectPublicKeyInfo exactly as it arrived (RFC 5280 §4.1.2.7). */
  readonly spki: Buffer;
  /** The subjectPublicKey BIT STRING payload: the EC point or the RSAPublicKey. */
  readonly keyBits: Buffer;
  /** Decoded JWK coordinates, kept to build a KeyObject cheaply when needed. */
  readonly jwk: JsonWebKey;
}

export function describePublicKey(info: PublicKeyInfo): string {
  return info.algorithm === 'ec' ? `ECDSA ${info.curve}` : `RSA ${info.bits}`;
}

/** RFC 7093 §2 method 1 style key id: SHA-1 over the subjectPublicKey bits (RFC 5280 §4.2.1.2). */
export function keyIdentifier(info: PublicKeyInfo): Buffer {
  return createHash('sha1').update(info.keyBits).digest();
}

/** SHA-256 over the whole SubjectPublicKeyInfo: the fingerprint we show people. */
export function publicKeyFingerprint(info: PublicKeyInfo): string {
  return createHash('sha256').update(info.spki).digest('hex');
}

const CURVE_SIZES = { 'P-256': 32, 'P-384': 48 } as const;

/**
 * Parses and polices a SubjectPublicKeyInfo inside `buf` at `tlv`.
 * Accepts: EC P-256/P-384 uncompressed points; RSA 2048..8192 bits with exponent 65537.
 */
export function parseSubjectPublicKeyInfo(buf: Uint8Array, tlv: Tlv): PublicKeyInfo {
  expectTag(tlv, Tag.SEQUENCE, 'SubjectPublicKeyInfo');
  const [algId, bits, extra] = children(buf, tlv);
  if (extra) throw new PkiError('der_malformed', 'malformed DER: SubjectPublicKeyInfo has extra fields');
  const alg = children(buf, expectTag(algId, Tag.SEQUENCE, 'AlgorithmIdentifier'));
  const algOid = decodeOid(buf, expectTag(alg[0], Tag.OID, 'algorithm'));
  const keyBits = Buffer.from(decodeBitString(buf, expectTag(bits, Tag.BIT_STRING, 'subjectPublicKey')).bytes);
  const spki = Buffer.from(whole(buf, tlv));

  if (algOid === OID.ecPublicKey) {
    const param = alg[1];
    if (!param || param.tag !== Tag.OID || alg.length !== 2) {
      throw new PkiError('key_unsupported', 'EC keys must name their curve (RFC 5480 §2.1.1: namedCurve)');
    }
    const curveOid = decodeOid(buf, param);
    const curve = curveOid === OID.p256 ? 'P-256' : curveOid === OID.p384 ? 'P-384' : null;
    if (!curve) {
      throw new PkiError('key_unsupported', `EC curve ${curveOid} is not supported; use P-256 (or P-384)`);
    }
    const size = CURVE_SIZES[curve];
    if (keyBits.length !== 1 + 2 * size || keyBits[0] !== 0x04) {
      throw new PkiError('key_invalid', `${curve} public key must be an uncompressed point of ${1 + 2 * size} bytes`);
    }
    const jwk: JsonWebKey = {
      kty: 'EC',
      crv: curve,
      x: keyBits.subarray(1, 1 + size).toString('base64url'),
      y: keyBits.subarray(1 + size).toString('base64url'),
    };
    return { algorithm: 'ec', curve, bits: size * 8, spki, keyBits, jwk };
  }

  if (algOid === OID.rsaEncryption) {
    // RFC 3279 §2.3.1: parameters MUST be NULL.
    if (alg.length !== 2 || alg[1]?.tag !== Tag.NULL || alg[1].end !== alg[1].contentStart) {
      throw new PkiError('der_malformed', 'malformed DER: rsaEncryption parameters must be NULL');
    }
    const rsa = readTlv(keyBits, 0, keyBits.length);
    if (rsa.end !== keyBits.length)
      throw new PkiError('der_malformed', 'malformed DER: trailing bytes after RSAPublicKey');
    const [n, e, more] = children(keyBits, expectTag(rsa, Tag.SEQUENCE, 'RSAPublicKey'));
    if (more) throw new PkiError('der_malformed', 'malformed DER: RSAPublicKey has extra fields');
    const modulus = Buffer.from(decodeUnsignedInteger(keyBits, expectTag(n, Tag.INTEGER, 'modulus'), 'modulus'));
    const exponent = Buffer.from(decodeUnsignedInteger(keyBits, expectTag(e, Tag.INTEGER, 'exponent'), 'exponent'));
    const bitLength = modulus.length * 8 - Math.clz32(modulus[0] as number) + 24;
    if (bitLength < MIN_RSA_BITS) {
      throw new PkiError(
        'key_too_weak',
        `RSA key has ${bitLength} bits; at least ${MIN_RSA_BITS} are required (3072 recommended)`,
      );
    }
    if (bitLength > MAX_RSA_BITS) {
      throw new PkiError('key_unsupported', `RSA key has ${bitLength} bits; at most ${MAX_RSA_BITS} are accepted`);
    }
    if (!exponent.equals(Buffer.from([1, 0, 1]))) {
      throw new PkiError('key_too_weak', 'RSA public exponent must be 65537');
    }
    const jwk: JsonWebKey = { kty: 'RSA', n: modulus.toString('base64url'), e: exponent.toString('base64url') };
    return { algorithm: 'rsa', curve: null, bits: bitLength, spki, keyBits, jwk };
  }

  throw new PkiError('key_unsupported', `public key algorithm ${algOid} is not supported; use ECDSA P-256 or RSA`);
}

/** Parses a standalone SubjectPublicKeyInfo DER. */
export function parsePublicKeyDer(der: Uint8Array): PublicKeyInfo {
  const root = readTlv(der, 0, der.length);
  if (root.end !== der.length) throw new PkiError('der_malformed', 'malformed DER: trailing bytes after public key');
  return parseSubjectPublicKeyInfo(der, root);
}

/**
 * KeyObjects already built, per parsed key: the CA certificates a service verifies against are
 * parsed once and checked on every request, and building a key costs as much as a verification
 * (bench/RESULTS.md). Weak: a key parsed from one request is dropped with it.
 */
const keyObjects = new WeakMap<PublicKeyInfo, KeyObject>();

/**
 * A KeyObject for verification. Built from JWK coordinates rather than SPKI DER: OpenSSL's DER
 * decoder path costs ~40% more per key (bench/RESULTS.md), and both validate the point.
 */
export function toPublicKeyObject(info: PublicKeyInfo): KeyObject {
  const known = keyObjects.get(info);
  if (known) return known;
  try {
    const key = createPublicKey({ key: info.jwk, format: 'jwk' });
    keyObjects.set(info, key);
    return key;
  } catch {
    throw new PkiError(
      'key_invalid',
      `the ${describePublicKey(info)} public key is not a valid key (point not on the curve?)`,
    );
  }
}

/** The policy description of a key we hold (a private or public KeyObject). */
export function describeKeyObject(key: KeyObject): PublicKeyInfo {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return parsePublicKeyDer(pub.export({ type: 'spki', format: 'der' }));
}

export function keyTypeOf(info: PublicKeyInfo): KeyType | null {
  if (info.curve === 'P-256') return 'p256';
  if (info.curve === 'P-384') return 'p384';
  if (info.algorithm === 'rsa' && info.bits === 3072) return 'rsa3072';
  return null;
}
