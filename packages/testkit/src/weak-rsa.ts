/**
 * A deliberately broken RSA key for refusal tests: modulus n = 3 · p (p a large prime), which
 * parses as an ordinary RSA key of the asked size with exponent 65537. Its private exponent is
 * known (λ(n) = p − 1), so it can sign a CSR and a JWS like any key: only the CA's small-factor
 * check tells it apart. Signing is done here with BigInt arithmetic (RSASSA-PKCS1-v1_5 SHA-256,
 * RFC 8017 §8.2): OpenSSL would refuse to load such a private key.
 */
import { createHash, generatePrime } from 'node:crypto';
import { promisify } from 'node:util';
import { NULL, OID, bitString, oid, parsePublicKeyDer, seq, signatureAlgorithmByOid, type Signer, unsignedInteger } from '@provisio/pki';

const prime = promisify(generatePrime) as unknown as (bits: number, options: { bigint: true }) => Promise<bigint>;

/** RFC 8017 §9.2 note 1: the DER DigestInfo prefix of a SHA-256 hash. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

function toBytes(n: bigint, length?: number): Buffer {
  const hex = n.toString(16);
  const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
  return length === undefined || bytes.length === length ? bytes : Buffer.concat([Buffer.alloc(length - bytes.length), bytes]);
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

function modInverse(a: bigint, m: bigint): bigint | null {
  let [r0, r1, t0, t1] = [m, a % m, 0n, 1n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1, t0, t1] = [r1, r0 - q * r1, t1, t0 - q * t1];
  }
  return r0 === 1n ? ((t0 % m) + m) % m : null;
}

/** A signer whose RSA modulus (exactly `bits` long) is divisible by 3. */
export async function weakRsaSigner(bits = 3072): Promise<Signer> {
  const e = 65537n;
  for (;;) {
    // OpenSSL sets a prime's two top bits: p in [0.75, 1) · 2^(bits-2), so 3p has exactly `bits` bits.
    const p = await prime(bits - 2, { bigint: true });
    const n = 3n * p;
    const d = modInverse(e, p - 1n);
    if (n >> BigInt(bits - 1) !== 1n || d === null) continue;
    const spki = seq(seq(oid(OID.rsaEncryption), NULL), bitString(seq(unsignedInteger(toBytes(n)), unsignedInteger(toBytes(e)))));
    const publicKey = parsePublicKeyDer(spki);
    const k = bits / 8;
    return {
      publicKey,
      algorithm: signatureAlgorithmByOid(OID.sha256WithRsa),
      sign: async (data) => {
        const t = Buffer.concat([SHA256_DIGEST_INFO, createHash('sha256').update(data).digest()]);
        const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - t.length - 3, 0xff), Buffer.from([0]), t]);
        return toBytes(modPow(BigInt(`0x${em.toString('hex')}`), d, n), k);
      },
    };
  }
}
