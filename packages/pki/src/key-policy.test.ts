import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { weakRsaSigner } from '@provisio/testkit';
import { createCsr, parseAndVerifyCsr } from './csr.js';
import { PkiError } from './errors.js';
import { assertKeyNotWeak, smallPrimeFactor } from './key-policy.js';
import { describeKeyObject, generateKey } from './keys.js';
import { encodePem } from './pem.js';

const isCode = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

describe('key policy', () => {
  it('ok/small-factors/table', () => {
    assert.equal(smallPrimeFactor(3n * 1_000_003n), 3n);
    assert.equal(smallPrimeFactor(997n * 1_000_003n), 997n, 'the largest prime below 1000');
    assert.equal(smallPrimeFactor(1009n * 1_000_003n), null, '1009 is above the limit');
    assert.equal(smallPrimeFactor(1_000_003n * 1_000_033n), null);
  });

  for (const type of ['p256', 'p384', 'rsa3072'] as const) {
    it(`ok/generated/${type}`, async () => {
      assertKeyNotWeak(describeKeyObject((await generateKey(type)).publicKey));
    });
  }

  it('fail/rsa/modulus-divisible-by-3', async () => {
    // A key that parses as RSA 2048 with e = 65537 and even signs its own CSR, but n = 3 · p.
    const weak = await weakRsaSigner(2048);
    assert.equal(weak.publicKey.bits, 2048);
    const csr = parseAndVerifyCsr(encodePem('CERTIFICATE REQUEST', await createCsr(weak, { subject: [{ type: 'CN', value: 'weak' }] })));
    assert.throws(() => assertKeyNotWeak(csr.publicKey), (e: unknown) => isCode('key_too_weak')(e) && /divisible by 3/.test((e as Error).message));
  });
});
