/**
 * The PKCS#11 signer against SoftHSM2 (a token made in a temp directory for this file): keys of
 * every type Provisio uses are generated in the token, sign a certificate, and openssl verifies
 * the signature. The URI parser refuses what Provisio does not use, the PIN above all.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodePem, isProvisioError, issueSelfSigned, randomSerial, verifySignature } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { Pkcs11Token } from './pkcs11-token.js';
import { formatPkcs11Uri, parsePkcs11Uri } from './pkcs11-uri.js';

const isCode = (code: string) => (e: unknown) => isProvisioError(e) && e.code === code;

describe('PKCS#11 token (SoftHSM2)', () => {
  const dir = tempDir('provisio-pkcs11-');
  let token: Pkcs11Token;

  before(() => {
    mkdirSync(join(dir, 'tokens'));
    writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    // SoftHSM2 reads SOFTHSM2_CONF when the module is initialised, in this process.
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'unit', '--so-pin', '87654321', '--pin', '2468'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    token = Pkcs11Token.open({ token: 'unit', pin: '2468' });
  });
  after(async () => token?.close());

  for (const [keyType, algorithm] of [['p256', 'ecdsa-with-SHA256'], ['p384', 'ecdsa-with-SHA384'], ['rsa3072', 'sha256WithRSAEncryption']] as const) {
    it(`ok/${keyType}/generated-in-token-signs-what-openssl-verifies`, async () => {
      const key = await token.generateKey(`ca-${keyType}`, keyType);
      assert.deepEqual([key.extractable, key.sensitive], [false, true]);
      const now = new Date();
      const cert = await issueSelfSigned(key.signer, { serial: randomSerial({ bytes: (n) => randomBytes(n) }), subject: [{ type: 'CN', value: `HSM ${keyType}` }], notBefore: now, notAfter: new Date(now.getTime() + 86_400_000) });
      const path = join(dir, `${keyType}.crt`);
      writeFileSync(path, encodePem('CERTIFICATE', cert.der));
      const verified = openssl(['verify', '-CAfile', path, path]);
      assert.match(verified.output, /: OK/, verified.output);
      assert.match(openssl(['x509', '-in', path, '-noout', '-text']).output, new RegExp(`Signature Algorithm: ${algorithm}`));
      // Found again by label: the same public key, read from the token.
      assert.ok(token.findKey(`ca-${keyType}`).publicKey.spki.equals(key.publicKey.spki));
      const data = Buffer.from('signed twice');
      assert.ok(verifySignature(key.signer.algorithm, key.publicKey, data, await key.signer.sign(data)));
    });
  }

  it('ok/signatures-in-parallel-are-queued-on-one-session', async () => {
    const key = token.findKey('ca-p256');
    const data = [...Array(20).keys()].map((i) => Buffer.from(`message ${i}`));
    const signatures = await Promise.all(data.map((d) => key.signer.sign(d)));
    signatures.forEach((s, i) => assert.ok(verifySignature(key.signer.algorithm, key.publicKey, data[i] as Buffer, s)));
  });

  it('fail/wrong-pin-missing-key-taken-label-other-token', async () => {
    assert.throws(() => Pkcs11Token.open({ token: 'unit', pin: '1111' }), isCode('pkcs11_login_failed'));
    assert.throws(() => Pkcs11Token.open({ token: 'nope', pin: '2468' }), isCode('pkcs11_token_not_found'));
    assert.throws(() => Pkcs11Token.open({ token: 'unit', pin: '2468', modulePath: join(dir, 'missing.so') }), isCode('pkcs11_module_not_found'));
    assert.throws(() => token.findKey('absent'), isCode('pkcs11_key_not_found'));
    await assert.rejects(token.generateKey('ca-p256', 'p256'), isCode('pkcs11_key_exists'));
    assert.equal(token.keysLabelled('ca-p256').length, 1);
  });
});

describe('PKCS#11 URI (RFC 7512)', () => {
  it('ok/percent-decoding-id-serial-module-path', () => {
    const uri = parsePkcs11Uri('pkcs11:token=Provisio%20CA;object=issuing-ca;id=%01%ff;serial=abc;type=private?module-path=/usr/lib/x.so');
    assert.deepEqual({ ...uri, id: uri.id?.toString('hex') }, { token: 'Provisio CA', object: 'issuing-ca', id: '01ff', serial: 'abc', modulePath: '/usr/lib/x.so' });
    assert.equal(formatPkcs11Uri(uri), 'pkcs11:token=Provisio%20CA;object=issuing-ca');
  });

  it('fail/pin-unknown-missing-malformed', () => {
    for (const text of [
      'pkcs11:token=CA;object=k;pin-value=1234',
      'pkcs11:token=CA;object=k?pin-source=file:/tmp/pin',
      'pkcs11:token=CA;object=k;slot-id=1',
      'pkcs11:token=CA',
      'pkcs11:object=k',
      'pkcs11:token=CA;object=k;type=cert',
      'pkcs11:token=CA;object=k%zz',
      'pkcs11:token=CA;token=CB;object=k',
      'token=CA;object=k',
    ]) {
      assert.throws(() => parsePkcs11Uri(text), isCode('pkcs11_uri_invalid'), text);
    }
    assert.throws(() => parsePkcs11Uri('pkcs11:token=CA;object=k;pin-value=1234'), (e: Error) => !e.message.includes('1234'));
  });
});
