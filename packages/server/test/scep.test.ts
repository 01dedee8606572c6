/**
 * SCEP (RFC 8894) against the real service's plain-HTTP listener on a loopback port:
 * GetCACaps (AES, SHA-256, POSTPKIOperation, Renewal; no legacy algorithm) and GetCACert (the
 * RA certificate, RSA with digitalSignature and keyEncipherment, chaining to the root), read
 * with openssl.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { type TestService, startTestService } from './service-harness.js';

describe('SCEP (RFC 8894) GetCACaps and GetCACert', () => {
  let t: TestService;
  let work: string;
  let base: string;

  before(async () => {
    t = await startTestService();
    work = tempDir('provisio-scep-');
    assert.ok(t.service.publishUrl, 'the plain-HTTP listener is on');
    base = t.service.publishUrl;
    writeFileSync(join(work, 'root.pem'), t.rootPem);
  });
  after(async () => {
    await t?.close();
  });

  it('ok/getcacaps/aes-sha256-post-renewal', async () => {
    const r = await fetch(`${base}/scep?operation=GetCACaps`);
    assert.equal(r.status, 200);
    const caps = (await r.text()).split('\n');
    for (const cap of ['AES', 'SHA-256', 'POSTPKIOperation', 'Renewal']) assert.ok(caps.includes(cap), cap);
    for (const legacy of ['DES3', 'SHA-1', 'MD5']) assert.ok(!caps.includes(legacy), legacy);
  });

  it('ok/getcacert/ra-certificate-with-key-encipherment-chains-to-the-root', async () => {
    const r = await fetch(`${base}/cgi-bin/pkiclient.exe?operation=GetCACert`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/x-x509-ca-ra-cert');
    const certs = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], { input: Buffer.from(await r.arrayBuffer()) });
    assert.equal(certs.status, 0, certs.output);
    const pems = certs.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const ra = pems.find((p) => /Provisio SCEP RA/.test(openssl(['x509', '-noout', '-subject'], { input: p }).stdout));
    assert.ok(ra, 'the RA certificate is in the answer');
    writeFileSync(join(work, 'ra.pem'), ra);
    writeFileSync(join(work, 'chain.pem'), pems.filter((p) => p !== ra).join('\n'));
    const text = openssl(['x509', '-in', join(work, 'ra.pem'), '-noout', '-text']).stdout;
    assert.match(text, /Digital Signature, Key Encipherment/);
    assert.match(text, /rsaEncryption/);
    const verified = openssl(['verify', '-CAfile', join(work, 'root.pem'), '-untrusted', join(work, 'chain.pem'), join(work, 'ra.pem')]);
    assert.equal(verified.status, 0, verified.output);
  });
});
