/**
 * SCEP (RFC 8894) against the real service's plain-HTTP listener on a loopback port, driven by
 * strongSwan's `pki --scepca` / `pki --scep`, unmodified: GetCACaps, GetCACert (the RA
 * certificate with digitalSignature and keyEncipherment, and the issuing CA, read with openssl),
 * PKCSReq with a one-time enrollment token as challengePassword, then RenewalReq signed with the
 * current certificate. The certificates verify with openssl and show in the device list.
 * A request an approver must decide answers PENDING; pki polls with GetCertInitial (CertPoll)
 * until the test approves it through the API, then gets the certificate; a rejected one FAILURE.
 * Refused in SCEP's form (a CertRep, pkiStatus FAILURE) and writing nothing: a wrong challenge,
 * malformed PKCS#7, SCEP switched off for the token's component.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { type TestService, databaseState, startTestService } from './service-harness.js';
import { runTool, setProtocol } from './protocol-clients.js';

const SYSTEM = 'ScepFleet';
const COMPONENT = 'meter';

describe('SCEP (RFC 8894) with strongSwan pki', () => {
  let t: TestService;
  let work: string;
  let base: string;
  let rootFile: string;

  async function token(deviceId: string, component = COMPONENT): Promise<string> {
    const r = await t.call('POST', '/api/v1/tokens', { json: { system: SYSTEM, component, deviceId } });
    assert.equal(r.status, 201, r.body.toString());
    return r.json<{ token: string }>().token;
  }

  async function rsaKey(name: string): Promise<string> {
    const file = join(work, name);
    const gen = await runTool('pki', ['--gen', '--type', 'rsa', '--size', '3072', '--outform', 'pem']);
    assert.equal(gen.status, 0, gen.stderr);
    writeFileSync(file, gen.stdout, { mode: 0o600 });
    return file;
  }

  async function scep(args: readonly string[]) {
    return runTool('pki', ['--scep', '--url', `${base}/scep`, '--cacert-enc', join(work, 'ra.pem'), '--cacert-sig', join(work, 'ra.pem'), '--cacert', join(work, 'ca-1.pem'), '--cacert', join(work, 'ca.pem'), '--outform', 'pem', '--interval', '1', '--maxpolltime', '5', '--debug', '2', ...args]);
  }

  async function post(body: Buffer) {
    const r = await fetch(`${base}/scep?operation=PKIOperation`, { method: 'POST', body, headers: { 'content-type': 'application/x-pki-message' } });
    return { status: r.status, type: r.headers.get('content-type'), body: Buffer.from(await r.arrayBuffer()) };
  }

  /** The CertRep's pkiStatus and failInfo (signed attributes), read from openssl's ASN.1 dump. */
  function certRepStatus(der: Buffer): string {
    const r = openssl(['asn1parse', '-inform', 'DER'], { input: der });
    assert.equal(r.status, 0, r.output);
    const value = (arc: string) => new RegExp(`OBJECT +:${arc.replace(/\./g, '\\.')}\\s*\\n.*SET.*\\n.*PRINTABLESTRING +:(\\S*)`).exec(r.stdout)?.[1] ?? '-';
    return `status=${value('2.16.840.1.113733.1.9.3')} failInfo=${value('2.16.840.1.113733.1.9.4')}`;
  }

  before(async () => {
    t = await startTestService();
    work = tempDir('provisio-scep-');
    assert.ok(t.service.publishUrl, 'the plain-HTTP listener is on');
    base = t.service.publishUrl;
    rootFile = join(work, 'root.pem');
    writeFileSync(rootFile, t.rootPem);
    let r = await t.call('POST', '/api/v1/systems', { json: { name: SYSTEM, separationOfDuties: false } });
    assert.equal(r.status, 201, r.body.toString());
    for (const name of [COMPONENT, 'gauge']) {
      r = await t.call('POST', `/api/v1/systems/${SYSTEM}/components`, { json: { name, keyTypes: ['rsa3072'] } });
      assert.equal(r.status, 201, r.body.toString());
    }
    r = await t.call('POST', `/api/v1/systems/${SYSTEM}/policy`, { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
    assert.equal(r.status, 200, r.body.toString());
  });
  after(async () => {
    await t?.close();
  });

  it('ok/getcacaps/aes-sha256-post-renewal', async () => {
    const r = await fetch(`${base}/scep?operation=GetCACaps`);
    assert.equal(r.status, 200);
    const caps = (await r.text()).split('\n');
    for (const cap of ['AES', 'SHA-256', 'SHA-384', 'POSTPKIOperation', 'Renewal']) assert.ok(caps.includes(cap), cap);
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
    writeFileSync(join(work, 'getcacert-ra.pem'), ra);
    writeFileSync(join(work, 'getcacert-chain.pem'), pems.filter((p) => p !== ra).join('\n'));
    const text = openssl(['x509', '-in', join(work, 'getcacert-ra.pem'), '-noout', '-text']).stdout;
    assert.match(text, /Digital Signature, Key Encipherment/);
    assert.match(text, /rsaEncryption/);
    const verified = openssl(['verify', '-CAfile', join(work, 'root.pem'), '-untrusted', join(work, 'getcacert-chain.pem'), join(work, 'getcacert-ra.pem')]);
    assert.equal(verified.status, 0, verified.output);
  });

  it('ok/strongswan-pki/scepca-ra-certificate-with-key-encipherment', async () => {
    const run = await runTool('pki', ['--scepca', '--url', `${base}/scep`, '--caout', join(work, 'ca.pem'), '--raout', join(work, 'ra.pem'), '--outform', 'pem', '--force']);
    assert.equal(run.status, 0, run.stderr);
    const ra = openssl(['x509', '-in', join(work, 'ra.pem'), '-noout', '-text']);
    assert.match(ra.stdout, /Digital Signature, Key Encipherment/);
    assert.match(ra.stdout, /rsaEncryption/);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'ca-1.pem'), join(work, 'ra.pem')]);
    assert.equal(verified.status, 0, verified.output);
  });

  it('fail/disabled/pkcsreq-refused-failure-nothing-stored', async () => {
    const secret = await token('SCEP-000');
    const key = await rsaKey('off.key');
    const before = databaseState(t);
    const run = await scep(['--in', key, '--dn', 'CN=SCEP-000', '--password', secret, '--maxpolltime', '1']);
    assert.notEqual(run.status, 0, 'refused');
    assert.match(run.stderr, /pkiStatus: +FAILURE/);
    assert.match(run.stderr, /failInfo: +badRequest/);
    assert.deepEqual(databaseState(t), before);
  });

  it('ok/strongswan-pki/pkcsreq-with-a-one-time-token', async () => {
    await setProtocol(t, SYSTEM, 'scep', true);
    const secret = await token('SCEP-001');
    const key = await rsaKey('device.key');
    const run = await scep(['--in', key, '--dn', 'CN=SCEP-001', '--password', secret]);
    assert.equal(run.status, 0, run.stderr);
    const certFile = join(work, 'device.pem');
    writeFileSync(certFile, run.stdout);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'ca-1.pem'), '-purpose', 'sslclient', certFile]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(openssl(['x509', '-in', certFile, '-noout', '-subject']).stdout, /CN ?= ?SCEP-001/);
    const device = await t.call('GET', '/api/v1/devices/SCEP-001');
    assert.equal(device.status, 200, device.body.toString());
    assert.equal(device.json<{ state: string }>().state, 'approved');
    const list = (await t.call('GET', `/api/v1/devices?system=${SYSTEM}`)).json<{ items: Array<{ deviceId: string; state: string; requestId: string }> }>();
    const listed = list.items.find((d) => d.deviceId === 'SCEP-001');
    assert.equal(listed?.state, 'approved', JSON.stringify(list));
    const request = (await t.call('GET', `/api/v1/requests/${listed.requestId}`)).json<{ enrollment: { kind: string } }>();
    assert.equal(request.enrollment.kind, 'token');
  });

  it('ok/strongswan-pki/renewalreq-signed-with-the-current-certificate', async () => {
    const newKey = await rsaKey('renewed.key');
    const run = await scep(['--in', newKey, '--dn', 'CN=SCEP-001', '--cert', join(work, 'device.pem'), '--key', join(work, 'device.key')]);
    assert.equal(run.status, 0, run.stderr);
    const certFile = join(work, 'renewed.pem');
    writeFileSync(certFile, run.stdout);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'ca-1.pem'), certFile]);
    assert.equal(verified.status, 0, verified.output);
    assert.equal(openssl(['x509', '-in', certFile, '-noout', '-pubkey']).stdout, openssl(['pkey', '-in', newKey, '-pubout']).stdout);
    const audit = (await t.call('GET', '/api/v1/audit?action=certificate.renew&target=SCEP-001')).json<{ items: Array<{ details: Record<string, unknown> }> }>();
    assert.equal(audit.items[0]?.details.protocol, 'scep');
  });

  it('fail/wrong-challenge/refused-failure-badrequest-nothing-stored', async () => {
    await token('SCEP-002');
    const key = await rsaKey('wrong.key');
    const before = databaseState(t);
    const run = await scep(['--in', key, '--dn', 'CN=SCEP-002', '--password', 'not-a-token', '--maxpolltime', '1']);
    assert.notEqual(run.status, 0, 'refused');
    assert.match(run.stderr, /pkiStatus: +FAILURE/);
    assert.match(run.stderr, /failInfo: +badRequest/);
    assert.deepEqual(databaseState(t), before);
  });

  /** The one pending request of `deviceId`, once the PKCSReq made it (pki is still polling). */
  async function pendingRequest(deviceId: string): Promise<string> {
    for (;;) {
      const list = (await t.call('GET', `/api/v1/requests?state=pending&q=${deviceId}`)).json<{ items: Array<{ id: string; deviceId: string }> }>();
      const found = list.items.find((r) => r.deviceId === deviceId);
      if (found) return found.id;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('ok/strongswan-pki/pending-approval-getcertinitial-polls-until-approved', async () => {
    let r = await t.call('POST', `/api/v1/systems/${SYSTEM}/components`, { json: { name: 'dial', keyTypes: ['rsa3072'] } });
    assert.equal(r.status, 201, r.body.toString());
    r = await t.call('POST', `/api/v1/systems/${SYSTEM}/components/dial/policy`, { json: { mode: 'manual' } });
    assert.equal(r.status, 200, r.body.toString());
    const secret = await token('SCEP-010', 'dial');
    const key = await rsaKey('pending.key');
    const running = scep(['--in', key, '--dn', 'CN=SCEP-010', '--password', secret, '--maxpolltime', '50']);
    const requestId = await pendingRequest('SCEP-010');
    const approved = await t.call('POST', `/api/v1/requests/${requestId}/approve`, { json: {} });
    assert.equal(approved.status, 200, approved.body.toString());
    const run = await running;
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /pkiStatus: +PENDING/, 'the PKCSReq was answered PENDING first');
    const certFile = join(work, 'pending.pem');
    writeFileSync(certFile, run.stdout);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'ca-1.pem'), certFile]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(openssl(['x509', '-in', certFile, '-noout', '-subject']).stdout, /CN ?= ?SCEP-010/);
    assert.equal(openssl(['x509', '-in', certFile, '-noout', '-pubkey']).stdout, openssl(['pkey', '-in', key, '-pubout']).stdout);
  });

  it('fail/pending-rejected/getcertinitial-answers-failure-nothing-stored', async () => {
    const secret = await token('SCEP-011', 'dial');
    const key = await rsaKey('rejected.key');
    const running = scep(['--in', key, '--dn', 'CN=SCEP-011', '--password', secret, '--maxpolltime', '50']);
    const requestId = await pendingRequest('SCEP-011');
    const rejected = await t.call('POST', `/api/v1/requests/${requestId}/reject`, { json: { reason: 'not ours' } });
    assert.equal(rejected.status, 200, rejected.body.toString());
    const before = databaseState(t);
    const run = await running;
    assert.notEqual(run.status, 0, 'refused');
    assert.match(run.stderr, /pkiStatus: +PENDING/);
    assert.match(run.stderr, /pkiStatus: +FAILURE/);
    assert.match(run.stderr, /failInfo: +badRequest/);
    assert.deepEqual(databaseState(t), before, 'the polls after the rejection wrote nothing');
  });

  it('fail/malformed-pkcs7/refused-in-scep-form-nothing-stored', async () => {
    const before = databaseState(t);
    for (const body of [Buffer.from('not pkcs#7'), Buffer.from([0x30, 0x03, 0x06, 0x01, 0x00]), readFileSync(join(work, 'ca-1.pem'))]) {
      const r = await post(body);
      assert.equal(r.status, 200);
      assert.equal(r.type, 'application/x-pki-message');
      assert.equal(certRepStatus(r.body), 'status=2 failInfo=1', 'FAILURE, badMessageCheck');
    }
    assert.deepEqual(databaseState(t), before);
  });
});
