/**
 * The plain-HTTP publication listener (docs/service.md "Publication listener") and gateway
 * certificate revocation, checked with openssl: the OCSP and CRL URLs a new certificate names are
 * http URLs of that listener, `openssl ocsp -url` (taken from the certificate's AIA) and `openssl
 * verify -crl_check` (with the CRL from its distribution point) work over plain http, the
 * listener serves nothing else (no API without TLS), and revoking a gateway revokes its
 * certificate with the caller's reason (default cessationOfOperation) and a new CRL.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, opensslAsync, tempDir } from '@provisio/testkit';
import { registerGateway } from './gateway-harness.js';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

function httpGet(url: string): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('publication listener and gateway certificate revocation', () => {
  let t: TestService;
  let dir: string;
  let root: string;
  let intermediate: string;

  before(async () => {
    t = await startTestService();
    dir = tempDir('provisio-publication-');
    root = join(dir, 'root.crt');
    intermediate = join(dir, 'intermediate.crt');
    writeFileSync(root, t.rootPem);
    writeFileSync(intermediate, (await t.call('GET', '/ca/intermediate.crt', { token: null })).body);
  });
  after(() => t?.close());

  function fieldOf(certPath: string, option: string): string {
    const r = openssl(['x509', '-in', certPath, '-noout', option]);
    assert.equal(r.status, 0, r.output);
    return r.stdout.trim();
  }

  it('ok/device-certificate-names-http-urls-that-openssl-uses', async () => {
    const { packageText } = await setUpSystem(t);
    const { text } = await makeRequest(packageText, 'PUB-1');
    let r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    r = await t.call('POST', `/api/v1/requests/${r.json().request.id}/approve`);
    assert.equal(r.status, 200, r.body.toString());
    const leaf = join(dir, 'pub-1.crt');
    writeFileSync(leaf, r.json().certificate.pem);

    const ocspUrl = fieldOf(leaf, '-ocsp_uri');
    assert.equal(ocspUrl, `${t.service.publishUrl}/ocsp`);
    const text509 = openssl(['x509', '-in', leaf, '-noout', '-text']).stdout;
    const crlUrl = /URI:(http:\/\/\S+\.crl)/.exec(text509)?.[1];
    assert.equal(crlUrl, `${t.service.publishUrl}/crl/issuing.crl`);
    assert.match(text509, new RegExp(`CA Issuers - URI:${t.service.publishUrl}/ca/intermediate.cer`));
    // What that URL serves is the issuing CA in DER (RFC 5280 4.2.2.1), which openssl reads as such.
    const issuerDer = await httpGet(`${t.service.publishUrl}/ca/intermediate.cer`);
    assert.equal(issuerDer.type, 'application/pkix-cert');
    writeFileSync(join(dir, 'issuer.cer'), issuerDer.body);
    const asPem = openssl(['x509', '-inform', 'DER', '-in', join(dir, 'issuer.cer'), '-outform', 'PEM']);
    assert.equal(asPem.status, 0, asPem.output);
    assert.equal(asPem.stdout, readFileSync(intermediate, 'utf8'));

    const ocsp = await opensslAsync(['ocsp', '-issuer', intermediate, '-cert', leaf, '-url', ocspUrl, '-CAfile', root]);
    assert.match(ocsp.output, /Response verify OK/);
    assert.match(ocsp.output, /: good/);

    const crl = await httpGet(crlUrl as string);
    assert.equal(crl.status, 200);
    assert.equal(crl.type, 'application/pkix-crl');
    writeFileSync(join(dir, 'issuing.crl'), crl.body);
    const pem = openssl(['crl', '-inform', 'DER', '-in', join(dir, 'issuing.crl'), '-out', join(dir, 'issuing.crl.pem')]);
    assert.equal(pem.status, 0, pem.output);
    const verify = openssl(['verify', '-crl_check', '-CAfile', root, '-untrusted', intermediate, '-CRLfile', join(dir, 'issuing.crl.pem'), leaf]);
    assert.equal(verify.status, 0, verify.output);
    assert.match(verify.output, /: OK/);
  });

  it('ok/development-root-crl-signed-once-for-the-roots-life-then-the-key-is-gone', async () => {
    // The development intermediate names the root CRL's URL; both listeners serve it.
    const crlUrl = /URI:(http:\/\/\S+\.crl)/.exec(openssl(['x509', '-in', intermediate, '-noout', '-text']).stdout)?.[1];
    assert.equal(crlUrl, `${t.service.publishUrl}/crl/root.crl`);
    const fetched = await httpGet(crlUrl as string);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.type, 'application/pkix-crl');
    const viaApi = await t.call('GET', '/crl/root.crl', { token: null });
    assert.equal(viaApi.status, 200);
    assert.deepEqual(viaApi.body, fetched.body);
    const pemAnswer = await t.call('GET', '/crl/root.crl.pem', { token: null });
    assert.match(pemAnswer.body.toString(), /^-----BEGIN X509 CRL-----/);
    const etag = String(pemAnswer.headers.etag);
    assert.equal((await t.call('GET', '/crl/root.crl.pem', { token: null, headers: { 'if-none-match': etag } })).status, 304);
    writeFileSync(join(dir, 'root.crl'), fetched.body);
    const rootCrlPem = join(dir, 'root.crl.pem');
    assert.equal(openssl(['crl', '-inform', 'DER', '-in', join(dir, 'root.crl'), '-out', rootCrlPem]).status, 0);
    assert.match(openssl(['crl', '-in', rootCrlPem, '-CAfile', root, '-noout', '-verify']).output, /verify OK/);
    const text = openssl(['crl', '-in', rootCrlPem, '-noout', '-text']).stdout;
    assert.match(text, /X509v3 CRL Number:\s*\n\s*1\n/);
    assert.match(text, /No Revoked Certificates/);
    // Its next update is the root's end: nothing can sign a later one.
    const rootEnd = fieldOf(root, '-enddate').replace('notAfter=', '');
    assert.equal(/Next Update: (.+)/.exec(text)?.[1]?.trim(), rootEnd);
    // The whole chain checks out with both CRLs (the device certificate of the first test).
    const whole = openssl(['verify', '-crl_check_all', '-CAfile', root, '-untrusted', intermediate, '-CRLfile', rootCrlPem, '-CRLfile', join(dir, 'issuing.crl.pem'), join(dir, 'pub-1.crt')]);
    assert.match(whole.output, /: OK/, whole.output);
    // Without the root's CRL a whole-chain check cannot pass: the root CRL is what it needed.
    const partial = openssl(['verify', '-crl_check_all', '-CAfile', root, '-untrusted', intermediate, '-CRLfile', join(dir, 'issuing.crl.pem'), join(dir, 'pub-1.crt')]);
    assert.notEqual(partial.status, 0);
    assert.match(partial.output, /unable to get certificate CRL/);
    // No root key anywhere in the data directory: only public files, and the marker says why.
    const caDir = join(t.dataDir, 'ca');
    assert.match(readFileSync(join(caDir, 'DEVELOPMENT-ROOT'), 'utf8'), /root key signed the intermediate and root\.crl .*then was discarded/);
    for (const name of readdirSync(caDir).filter((f) => f.endsWith('.key'))) {
      const pub = openssl(['pkey', '-in', join(caDir, name), '-pubout']).stdout;
      assert.notEqual(pub, openssl(['x509', '-in', root, '-noout', '-pubkey']).stdout, `${name} is not the root key`);
    }
  });

  it('ok/listener-serves-only-the-published-objects', async () => {
    const base = t.service.publishUrl as string;
    const rootAnswer = await httpGet(`${base}/ca/root.crt`);
    assert.equal(rootAnswer.status, 200);
    assert.equal(rootAnswer.body.toString(), t.rootPem);
    assert.equal((await httpGet(`${base}/ca/intermediate.crt`)).status, 200);
    for (const path of ['/api/v1/health', '/api/v1/devices', '/openapi.json', '/']) {
      const r = await httpGet(`${base}${path}`);
      assert.equal(r.status, 404, path);
      assert.match(r.body.toString(), /publishes only/);
    }
  });

  it('ok/revoking-a-gateway-revokes-its-certificate', async () => {
    const gw = await registerGateway(t, 'ward-gw');
    const gwCert = join(dir, 'ward-gw.crt');
    writeFileSync(gwCert, gw.chainPem.slice(0, gw.chainPem.indexOf('-----END CERTIFICATE-----') + 26));
    const ask = () => opensslAsync(['ocsp', '-issuer', intermediate, '-cert', gwCert, '-url', fieldOf(gwCert, '-ocsp_uri'), '-CAfile', root]);
    assert.match((await ask()).output, /: good/);

    // A reason that does not apply to an end entity: refused, nothing changes.
    let r = await t.call('POST', '/api/v1/gateways/ward-gw/revoke', { json: { reason: 'cACompromise' } });
    assert.equal(r.status, 400, r.body.toString());
    assert.equal(r.json().error.code, 'revocation_reason_invalid');
    assert.match((await ask()).output, /: good/);

    r = await t.call('POST', '/api/v1/gateways/ward-gw/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().status, 'revoked');
    const answer = (await ask()).output;
    assert.match(answer, /: revoked/);
    assert.match(answer, /Reason: keyCompromise/);
    const audit = (await t.call('GET', '/api/v1/audit?target=ward-gw')).json().items as { action: string; details: Record<string, unknown> }[];
    const entry = audit.find((e) => e.action === 'gateway.revoke');
    assert.equal(entry?.details.certificateRevoked, true);
    assert.equal(entry?.details.reason, 'keyCompromise');

    // Without a body: cessationOfOperation, and the CRL lists the serial.
    await registerGateway(t, 'ward-gw-2');
    r = await t.call('POST', '/api/v1/gateways/ward-gw-2/revoke');
    assert.equal(r.status, 200, r.body.toString());
    const serial = r.json().certificateSerial as string;
    const crl = await httpGet(`${t.service.publishUrl}/crl/issuing.crl`);
    writeFileSync(join(dir, 'after-gw.crl'), crl.body);
    const listed = openssl(['crl', '-inform', 'DER', '-in', join(dir, 'after-gw.crl'), '-noout', '-text']).stdout;
    assert.match(listed, new RegExp(`Serial Number: ${serial.toUpperCase()}[\\s\\S]*?Cessation Of Operation`));
    // Revoking again changes nothing.
    const again = await t.call('POST', '/api/v1/gateways/ward-gw-2/revoke');
    assert.equal(again.json().revokedAt, r.json().revokedAt);
  });
});
