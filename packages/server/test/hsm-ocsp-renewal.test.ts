/**
 * With the CA keys in a PKCS#11 token (SoftHSM2, a token made here), the OCSP responder renewed
 * while the service runs gets a new key in the token; the replaced key is destroyed and only the
 * new one stays under the responder's label (decision D44).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type SerialNumber, buildOcspRequest, createIssuer, createKeySigner, encodePem, generateKey, issueSelfSigned, parseCertificate, parseOcspResponse, randomSerial, verifyChain, verifyOcspResponse } from '@provisio/pki';
import { DAY, fixedClock, tempDir } from '@provisio/testkit';
import { Pkcs11Token } from '../src/ca/pkcs11/pkcs11-token.js';
import { REQUEST_MEDIA, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const PIN = '13579';
const random = { bytes: (n: number) => randomBytes(n) };

describe('CA keys in a token: the OCSP responder renewed while running', () => {
  it('ok/new-responder-key-in-token-old-one-destroyed', async () => {
    const dir = tempDir('provisio-hsm-ocsp-');
    mkdirSync(join(dir, 'tokens'));
    writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    // SoftHSM2 reads SOFTHSM2_CONF when the module is initialised, in this process.
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    const init = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', 'CA', '--so-pin', '24681357', '--pin', PIN], { encoding: 'utf8' });
    assert.equal(init.status, 0, init.stdout + init.stderr);

    // The ceremony in miniature: the intermediate key made in the token, certified by a root.
    const clock = fixedClock(new Date());
    const token = Pkcs11Token.open({ token: 'CA', pin: PIN });
    const caKey = await token.generateKey('issuing-ca', 'p256');
    const rootSigner = createKeySigner((await generateKey('p256')).privateKey);
    const now = clock.now();
    const root = parseCertificate((await issueSelfSigned(rootSigner, { serial: randomSerial(random), subject: [{ type: 'CN', value: 'HSM test root' }], notBefore: new Date(now.getTime() - 3600_000), notAfter: new Date(now.getTime() + 3650 * DAY) })).der);
    const intermediate = await createIssuer(root, rootSigner).issue({
      profile: { kind: 'intermediate-ca', pathLength: 0 },
      serial: randomSerial(random),
      subject: [{ type: 'CN', value: 'HSM test issuing CA' }],
      publicKey: caKey.publicKey,
      notBefore: new Date(now.getTime() - 3600_000),
      notAfter: new Date(now.getTime() + 1825 * DAY),
    });
    const caDir = join(dir, 'ca');
    mkdirSync(caDir);
    writeFileSync(join(caDir, 'root.crt'), encodePem('CERTIFICATE', root.der));
    writeFileSync(join(caDir, 'intermediate.crt'), encodePem('CERTIFICATE', intermediate.der));

    const t = await startTestService({ clock, caDir, serve: { caPkcs11: { uri: { token: 'CA', object: 'issuing-ca' }, pin: PIN } } });
    try {
      const { packageText } = await setUpSystem(t);
      const { text } = await makeRequest(packageText, 'HSM-OCSP-1');
      const submitted = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
      const approved = await t.call('POST', `/api/v1/requests/${submitted.json().request.id}/approve`);
      assert.equal(approved.status, 200, approved.body.toString());
      const device = parseCertificate(approved.json().certificate.pem as string);
      const issuer = parseCertificate(intermediate.der);
      // Signed by the key in the token: the chain verifies to the root.
      verifyChain({ leaf: device, intermediates: [issuer], roots: [root], at: clock.now() });

      const label = 'issuing-ca.ocsp-responder';
      const [before] = token.keysLabelled(label);
      assert.ok(before && before.publicKey.spki.equals(t.service.deps.authority.ocspResponder.certificate.publicKey.spki));
      // 61 days later the 90-day responder certificate has 29 days left: the next answer renews it.
      clock.advance(61 * DAY);
      const r = await t.call('POST', '/ocsp', { token: null, raw: await buildOcspRequest({ issuer, serial: device.serial as SerialNumber }), contentType: 'application/ocsp-request' });
      const signer = verifyOcspResponse(parseOcspResponse(r.body), issuer, clock.now());
      const after = token.keysLabelled(label);
      assert.equal(after.length, 1, 'the replaced responder key is destroyed');
      assert.ok(after[0]?.publicKey.spki.equals(signer.publicKey.spki), 'the new responder certificate is for the new key in the token');
      assert.ok(!after[0]?.publicKey.spki.equals(before.publicKey.spki));
      assert.deepEqual([after[0]?.extractable, after[0]?.sensitive], [false, true]);
    } finally {
      await t.close();
      await token.close();
    }
  });
});
