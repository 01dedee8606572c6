/**
 * Weak-key checks a key must pass before the CA certifies it, beyond what parsing already
 * refuses (keys.ts: RSA moduli of 2048 to 8192 bits, exponent exactly 65537; EC points on
 * P-256 or P-384). Run by the issuing pipeline on every key it certifies, not on every parse:
 * a certificate already issued is read whatever its key.
 */
import { PkiError } from './errors.js';
import type { PublicKeyInfo } from './keys.js';

/** Trial division stops here: every prime below it divides nothing of a good modulus. */
export const SMALL_PRIME_LIMIT = 1000;

function primesBelow(limit: number): readonly bigint[] {
  const composite = new Uint8Array(limit);
  const primes: bigint[] = [];
  for (let i = 2; i < limit; i++) {
    if (composite[i]) continue;
    primes.push(BigInt(i));
    for (let j = i * i; j < limit; j += i) composite[j] = 1;
  }
  return primes;
}

/** The 168 primes below 1000: what Boulder's goodkey and ZLint's RSA checks divide by. */
const SMALL_PRIMES = primesBelow(SMALL_PRIME_LIMIT);

/** The smallest prime below SMALL_PRIME_LIMIT that divides `modulus`, or null. */
export function smallPrimeFactor(modulus: bigint): bigint | null {
  for (const p of SMALL_PRIMES) if (modulus % p === 0n) return p;
  return null;
}

/**
 * Refuses (key_too_weak) an RSA key whose modulus has a prime factor below 1000: a modulus of
 * two large primes has none, so such a key was made wrongly or on purpose, and its private key
 * is easy to find. EC keys pass: their point was checked when parsed.
 */
export function assertKeyNotWeak(key: PublicKeyInfo): void {
  if (key.algorithm !== 'rsa' || key.jwk.n === undefined) return;
  const modulus = BigInt(`0x${Buffer.from(key.jwk.n, 'base64url').toString('hex')}`);
  const factor = smallPrimeFactor(modulus);
  if (factor !== null) {
    throw new PkiError('key_too_weak', `the RSA modulus is divisible by ${factor}; it is not the product of two large primes — make a new key`);
  }
}
