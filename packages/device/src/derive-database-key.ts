/**
 * The device database's key (docs/device.md "The device database"; D37): 32 bytes that only the
 * holder of the device's private key can compute, derived by HKDF-SHA256 (RFC 5869) from a
 * secret that the private key alone produces:
 *
 * - EC keys (P-256, P-384): the ECDH shared secret (SEC 1 §3.3.1, the x-coordinate) of the
 *   device key with a fixed public point of the same curve, whose discrete logarithm nobody
 *   knows: the point is hashed onto the curve ("try and increment" from a public label, below),
 *   so no private key exists for it. Had we generated the point as a key pair, whoever kept its
 *   private half could compute the same secret from the device's public key, which is in every
 *   certificate.
 * - RSA keys: an RSASSA-PKCS1-v1_5 SHA-256 signature (RFC 8017 §8.2) of a fixed label. PKCS#1
 *   v1.5 padding has no randomness, so the signature, and the key, are the same every time.
 *   (ECDSA signatures are randomized in Node, and RSA-PSS too: neither could derive a stable key.)
 *
 * HKDF: salt = the device id (UTF-8), info = "provisio keystore database v1", length 32. Both
 * operations are what a secure element or TPM offers without exporting the key, so the derivation
 * still works when device.key moves into one. The label and the point cannot collide with any
 * other use of the key: the device signs only CSRs (DER) and JWS inputs (base64url text), never
 * a label like this one, and does ECDH with nothing else.
 *
 * Never derived from public data (a fingerprint of the public key, the certificate): anyone with
 * the certificate could then open the database.
 */
import { createHash, createPublicKey, diffieHellman, hkdfSync, type KeyObject, constants, sign } from 'node:crypto';

export const DATABASE_KEY_INFO = 'provisio keystore database v1';
/** Signed with PKCS#1 v1.5 by an RSA device key; the trailing device id binds it to this identity. */
export const DATABASE_KEY_RSA_LABEL = 'provisio keystore database v1 rsa label\n';
/** Hashed with a counter onto each curve to make its fixed point (see `fixedPoint`). */
export const DATABASE_KEY_POINT_LABEL = 'provisio keystore database v1 fixed point';

interface Curve {
  readonly jwk: 'P-256' | 'P-384';
  readonly hash: 'sha256' | 'sha384';
  readonly bytes: number;
  readonly p: bigint;
  readonly b: bigint;
}

/** Both curves have a = -3 and p ≡ 3 (mod 4), so a square root is one exponentiation. */
const CURVES: Readonly<Record<string, Curve>> = {
  // SEC 2 §2.4.2 (secp256r1)
  prime256v1: {
    jwk: 'P-256',
    hash: 'sha256',
    bytes: 32,
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
  },
  // SEC 2 §2.5.1 (secp384r1)
  secp384r1: {
    jwk: 'P-384',
    hash: 'sha384',
    bytes: 48,
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
  },
};

function modPow(base: bigint, exp: bigint, m: bigint): bigint {
  let result = 1n;
  let b = base % m;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return result;
}

function toBytes(n: bigint, length: number): Buffer {
  return Buffer.from(n.toString(16).padStart(length * 2, '0'), 'hex');
}

const points = new Map<string, KeyObject>();

/**
 * The curve's fixed point: for counter = 0, 1, …, x = HASH(label + " " + curve + " " + counter)
 * as a big-endian integer; the first x < p for which x³ − 3x + b is a square gives the point
 * (x, y) with y even. Public and reproducible by anyone; its discrete logarithm is unknown.
 */
export function fixedPoint(namedCurve: string): { x: Buffer; y: Buffer; counter: number } {
  const curve = CURVES[namedCurve];
  if (!curve) throw new TypeError(`no database key derivation for curve ${namedCurve}`);
  const { p, b } = curve;
  for (let counter = 0; counter < 1000; counter++) {
    const digest = createHash(curve.hash).update(`${DATABASE_KEY_POINT_LABEL} ${curve.jwk} ${counter}`, 'utf8').digest();
    const x = BigInt(`0x${digest.toString('hex')}`);
    if (x >= p) continue;
    const rhs = (((x * x * x - 3n * x + b) % p) + p) % p;
    let y = modPow(rhs, (p + 1n) / 4n, p);
    if ((y * y) % p !== rhs) continue;
    if (y & 1n) y = p - y;
    return { x: toBytes(x, curve.bytes), y: toBytes(y, curve.bytes), counter };
  }
  throw new Error('no point found'); // probability 2^-1000
}

function fixedPublicKey(namedCurve: string): KeyObject {
  let key = points.get(namedCurve);
  if (!key) {
    const curve = CURVES[namedCurve] as Curve;
    const { x, y } = fixedPoint(namedCurve);
    // Importing checks that the point is on the curve.
    key = createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x: x.toString('base64url'), y: y.toString('base64url') }, format: 'jwk' });
    points.set(namedCurve, key);
  }
  return key;
}

/** The secret only `privateKey` can produce (before HKDF). */
function keySecret(privateKey: KeyObject, deviceId: string): Buffer {
  if (privateKey.type !== 'private') throw new TypeError('the database key is derived from a private key');
  if (privateKey.asymmetricKeyType === 'ec') {
    const namedCurve = privateKey.asymmetricKeyDetails?.namedCurve ?? '';
    return diffieHellman({ privateKey, publicKey: fixedPublicKey(namedCurve) });
  }
  if (privateKey.asymmetricKeyType === 'rsa') {
    return sign('sha256', Buffer.from(`${DATABASE_KEY_RSA_LABEL}${deviceId}`, 'utf8'), { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
  }
  throw new TypeError(`no database key derivation for ${String(privateKey.asymmetricKeyType)} keys`);
}

/** The 32-byte database key of the device `deviceId` holding `privateKey`. */
export function deriveDatabaseKey(privateKey: KeyObject, deviceId: string): Buffer {
  const secret = keySecret(privateKey, deviceId);
  try {
    return Buffer.from(hkdfSync('sha256', secret, Buffer.from(deviceId, 'utf8'), Buffer.from(DATABASE_KEY_INFO, 'utf8'), 32));
  } finally {
    secret.fill(0);
  }
}
