import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { PkiError } from './errors.js';
import {
  exportPrivateKeyPem,
  generateKey,
  importPrivateKeyPem,
  keyTypeOf,
  parsePublicKeyDer,
  toPublicKeyObject,
} from './keys.js';
import { createKeySigner, verifySignature } from './signer.js';

const isCode = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

describe('keys', () => {
  for (const type of ['p256', 'p384', 'rsa3072'] as const) {
    it(`ok/generate/${type}`, async () => {
      const pair = await generateKey(type);
      const signer = createKeySigner(pair.privateKey);
      assert.equal(keyTypeOf(signer.publicKey), type);
      const data = Buffer.from('to be signed');
      const signature = await signer.sign(data);
      assert.equal(verifySignature(signer.algorithm, signer.publicKey, data, signature), true);
      assert.equal(verifySignature(signer.algorithm, signer.publicKey, Buffer.from('other'), signature), false);
    });
  }

  it('ok/pkcs8/plain-round-trip', async () => {
    const { privateKey } = await generateKey('p256');
    const pem = exportPrivateKeyPem(privateKey);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----/);
    assert.equal(importPrivateKeyPem(pem).export({ format: 'jwk' }).d, privateKey.export({ format: 'jwk' }).d);
  });

  it('ok/pkcs8/encrypted-read-by-openssl', async () => {
    const dir = tempDir();
    const { privateKey } = await generateKey('p256');
    const pem = exportPrivateKeyPem(privateKey, 'correct horse battery staple');
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const file = join(dir, 'k.pem');
    writeFileSync(file, pem);
    chmodSync(file, 0o600);
    const env = { ...process.env, KEY_PASS: 'correct horse battery staple' };
    const ok = openssl(['pkey', '-in', file, '-passin', 'env:KEY_PASS', '-noout'], { env });
    assert.equal(ok.status, 0, ok.output);
    const text = openssl(['asn1parse', '-in', file]).output;
    assert.match(text, /PBES2/);
    assert.match(text, /aes-256-cbc/);
    assert.match(text, /hmacWithSHA256/);
    // 600,000 = 0x927C0 PBKDF2 iterations.
    assert.match(text, /INTEGER\s+:0927C0/);
    const wrong = openssl(['pkey', '-in', file, '-passin', 'pass:wrong', '-noout']);
    assert.notEqual(wrong.status, 0);
    const none = openssl(['pkey', '-in', file, '-passin', 'pass:', '-noout']);
    assert.notEqual(none.status, 0);
  });

  it('ok/pkcs8/encrypted-by-openssl-read-by-us', () => {
    const dir = tempDir();
    const file = join(dir, 'k.pem');
    const made = openssl([
      'genpkey',
      '-algorithm',
      'EC',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-aes-256-cbc',
      '-pass',
      'pass:s3cret',
      '-out',
      file,
    ]);
    assert.equal(made.status, 0, made.output);
    const key = importPrivateKeyPem(readFileSync(file, 'utf8'), 's3cret');
    assert.equal(key.asymmetricKeyType, 'ec');
  });

  it('fail/pkcs8/passphrase-required-wrong-or-unneeded', async () => {
    const { privateKey } = await generateKey('p256');
    const encrypted = exportPrivateKeyPem(privateKey, 'right');
    assert.throws(() => importPrivateKeyPem(encrypted), isCode('key_passphrase_required'));
    assert.throws(() => importPrivateKeyPem(encrypted, 'wrong'), isCode('key_passphrase_wrong'));
    assert.throws(() => importPrivateKeyPem(exportPrivateKeyPem(privateKey), 'x'), isCode('key_not_encrypted'));
    assert.throws(() => exportPrivateKeyPem(privateKey, ''), isCode('key_passphrase_required'));
  });

  it('fail/policy/rsa-1024-too-weak', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    assert.throws(() => parsePublicKeyDer(publicKey.export({ type: 'spki', format: 'der' })), isCode('key_too_weak'));
  });

  it('fail/policy/rsa-exponent-3', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 });
    assert.throws(() => parsePublicKeyDer(publicKey.export({ type: 'spki', format: 'der' })), isCode('key_too_weak'));
  });

  it('fail/policy/unknown-curve', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    assert.throws(
      () => parsePublicKeyDer(publicKey.export({ type: 'spki', format: 'der' })),
      isCode('key_unsupported'),
    );
    const ed = generateKeyPairSync('ed25519').publicKey;
    assert.throws(() => parsePublicKeyDer(ed.export({ type: 'spki', format: 'der' })), isCode('key_unsupported'));
  });

  it('fail/policy/point-not-on-curve', async () => {
    // An attacker-chosen point off the curve (invalid-curve attacks): refused when used.
    const { publicKey } = await generateKey('p256');
    const spki = Buffer.from(publicKey.export({ type: 'spki', format: 'der' }));
    spki[spki.length - 1] = (spki[spki.length - 1] as number) ^ 0x01;
    const info = parsePublicKeyDer(spki);
    assert.throws(() => toPublicKeyObject(info), isCode('key_invalid'));
  });

  it('fail/policy/compressed-point', async () => {
    const { publicKey } = await generateKey('p256');
    const spki = Buffer.from(publicKey.export({ type: 'spki', format: 'der' }));
    spki[spki.length - 65] = 0x02;
    assert.throws(() => parsePublicKeyDer(spki), isCode('key_invalid'));
  });
});
