import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { createCsr, MAX_CSR_BYTES, parseAndVerifyCsr, parseCsr } from './csr.js';
import { PkiError } from './errors.js';
import { generateKey } from './keys.js';
import { formatName } from './name.js';
import { encodePem } from './pem.js';
import { createKeySigner } from './signer.js';

const isCode = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

/** Every failure must be a PkiError with a catalog code, never a TypeError or RangeError. */
function assertRefused(input: Uint8Array | string): void {
  assert.throws(
    () => parseAndVerifyCsr(input),
    (e: unknown) => e instanceof PkiError,
  );
}

async function makeCsr(type: 'p256' | 'rsa3072' = 'p256'): Promise<Buffer> {
  const signer = createKeySigner((await generateKey(type)).privateKey);
  return createCsr(signer, {
    subject: [{ type: 'CN', value: 'DEV-001' }],
    subjectAltName: [{ type: 'dns', value: 'dev-001.example' }],
  });
}

describe('csr', () => {
  it('ok/ours/verified-by-openssl', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.csr');
    writeFileSync(file, encodePem('CERTIFICATE REQUEST', await makeCsr()));
    const result = openssl(['req', '-in', file, '-verify', '-noout', '-text']);
    // openssl req -verify exits 0 on failure too: assert the text.
    assert.match(result.output, /self-signature verify OK|verify OK/);
    assert.match(result.output, /DNS:dev-001\.example/);
  });

  for (const [name, args] of [
    ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['rsa3072', ['-newkey', 'rsa:3072']],
  ] as const) {
    it(`ok/openssl-made/${name}`, () => {
      const dir = tempDir();
      const made = openssl([
        'req',
        '-new',
        ...args,
        '-nodes',
        '-keyout',
        join(dir, 'k'),
        '-subj',
        '/CN=from openssl/O=Acme',
        '-out',
        join(dir, 'r.csr'),
      ]);
      assert.equal(made.status, 0, made.output);
      const csr = parseAndVerifyCsr(readFileSync(join(dir, 'r.csr'), 'utf8'));
      assert.equal(formatName(csr.subject), 'CN=from openssl, O=Acme');
      assert.equal(csr.publicKey.algorithm, name === 'p256' ? 'ec' : 'rsa');
    });
  }

  it('fail/csr/bad-signature', async () => {
    const der = await makeCsr();
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0xff;
    assert.throws(() => parseAndVerifyCsr(der), isCode('csr_signature_invalid'));
  });

  it('fail/csr/tampered-subject', async () => {
    // The attacker edits the requested name after signing: the signature covers it.
    const der = await makeCsr();
    const at = der.indexOf(Buffer.from('DEV-001'));
    der.write('DEV-666', at, 'latin1');
    assert.throws(() => parseAndVerifyCsr(der), isCode('csr_signature_invalid'));
  });

  it('fail/csr/key-swapped', async () => {
    // A CSR carrying someone else's public key but signed by the attacker's key.
    const victim = createKeySigner((await generateKey('p256')).privateKey);
    const attacker = createKeySigner((await generateKey('p256')).privateKey);
    const forged = await createCsr(
      { ...attacker, publicKey: victim.publicKey },
      { subject: [{ type: 'CN', value: 'x' }] },
    );
    assert.throws(() => parseAndVerifyCsr(forged), isCode('csr_signature_invalid'));
  });

  it('fail/csr/rsa-1024', () => {
    const dir = tempDir();
    const made = openssl([
      'req',
      '-new',
      '-newkey',
      'rsa:1024',
      '-nodes',
      '-keyout',
      join(dir, 'k'),
      '-subj',
      '/CN=weak',
      '-out',
      join(dir, 'r.csr'),
    ]);
    assert.equal(made.status, 0, made.output);
    assert.throws(() => parseAndVerifyCsr(readFileSync(join(dir, 'r.csr'), 'utf8')), isCode('key_too_weak'));
  });

  it('fail/csr/unknown-curve', () => {
    const dir = tempDir();
    const made = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:secp256k1',
      '-nodes',
      '-keyout',
      join(dir, 'k'),
      '-subj',
      '/CN=k1',
      '-out',
      join(dir, 'r.csr'),
    ]);
    assert.equal(made.status, 0, made.output);
    assert.throws(() => parseAndVerifyCsr(readFileSync(join(dir, 'r.csr'), 'utf8')), isCode('key_unsupported'));
  });

  it('fail/csr/truncated-at-every-length', async () => {
    const der = await makeCsr();
    for (let cut = 0; cut < der.length; cut++) assertRefused(der.subarray(0, cut));
  });

  it('fail/csr/garbage-and-bit-flips', async () => {
    const der = await makeCsr();
    assertRefused(Buffer.from('not a csr at all'));
    assertRefused('-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n');
    assertRefused('');
    // Flip each byte of the structure in turn: every variant is refused cleanly.
    for (let i = 0; i < der.length; i++) {
      const copy = Buffer.from(der);
      copy[i] = (copy[i] as number) ^ 0xff;
      assertRefused(copy);
    }
  });

  it('fail/csr/over-size-limit', () => {
    const big = Buffer.concat([Buffer.from([0x30, 0x83, 0x01, 0x00, 0x00]), Buffer.alloc(0x10000)]);
    assert.ok(big.length > MAX_CSR_BYTES);
    assert.throws(() => parseCsr(big), isCode('input_too_large'));
  });

  it('fail/csr/ber-indefinite-length', async () => {
    const der = await makeCsr();
    // Re-encode the outer SEQUENCE with an indefinite length (BER): DER parsers must refuse.
    const headerLength = (der[1] as number) & 0x80 ? 2 + ((der[1] as number) & 0x7f) : 2;
    const ber = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(headerLength), Buffer.from([0, 0])]);
    assert.throws(() => parseCsr(ber), isCode('der_malformed'));
  });
});
