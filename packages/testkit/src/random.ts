import { createHash } from 'node:crypto';
import type { Random } from '@provisio/pki';

/**
 * A deterministic byte stream (SHA-256 in counter mode over a seed) so tests that depend on
 * random values (serials) are reproducible. Never used outside tests.
 */
export function seededRandom(seed = 'provisio-test'): Random {
  let counter = 0;
  let pool = Buffer.alloc(0);
  return {
    bytes(n: number): Uint8Array {
      while (pool.length < n) {
        const block = createHash('sha256').update(seed).update(String(counter++)).digest();
        pool = Buffer.concat([pool, block]);
      }
      const out = pool.subarray(0, n);
      pool = pool.subarray(n);
      return Buffer.from(out);
    },
  };
}
