/**
 * CMP (RFC 4210, RFC 9483) against the real service on a loopback port, driven by the unmodified
 * `openssl cmp` client: ir with a one-time token's MAC (-ref/-secret; polling while an approver
 * decides), p10cr with a PKCS#10 CSR and a token's MAC, genm for the CA certificates, kur with a new key signed by the current certificate
 * (then certConf/pkiConf: the new certificate becomes current), a second kur with the new
 * certificate, rr by the device itself — and `openssl ocsp` says revoked at once. Refused as a
 * CMP error message (PKIStatusInfo rejection with failInfo) and writing nothing: CMP switched
 * off, a malformed PKIMessage, a wrong signature, a wrong MAC, a replayed transactionID, a
 * replayed senderNonce under a new transactionID, a replayed certConf, a certificate template
 * for another device, a spent token.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openssl, tempDir } from '@provisio/testkit';
import { type TestService, databaseState, startTestService } from './service-harness.js';
import { provisionDevice, runTool, setProtocol, setUpFleet } from './protocol-clients.js';
import { encodeMessage, parseCmpMessage } from '../src/protocols/cmp-message.js';

/** The length of a DER header (tag and length octets) at the start of `der`. */
function headerLength(der: Buffer): number {
  const first = der[1] ?? 0;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

const SYSTEM = 'CmpFleet';
const COMPONENT = 'monitor';

describe('CMP (RFC 4210 / RFC 9483) with openssl cmp', () => {
  let t: TestService;
  let work: string;
  let keystore: string;
  let rootFile: string;
  let issuingFile: string;

  /** The database and the CMP transactions table: equal before and after a refusal. */
  function state() {
    const db = new Database(join(t.dataDir, 'provisio.db'), { readonly: true });
    try {
      return { ...databaseState(t), cmp: (db.prepare('select count(*) as n from cmp_transactions').get() as { n: number }).n };
    } finally {
      db.close();
    }
  }

  /** openssl cmp against the service over TLS, trusting only its root (for TLS and for CMP signatures). */
  async function cmp(args: readonly string[]) {
    const { port } = t.service;
    const run = await runTool('openssl', [
      'cmp', '-server', `127.0.0.1:${port}`, '-path', '.well-known/cmp', '-tls_used', '-tls_trusted', rootFile, '-tls_host', '127.0.0.1',
      '-trusted', rootFile, '-untrusted', issuingFile, '-recipient', '/CN=Provisio', ...args,
    ]);
    return { status: run.status, output: run.stdout.toString('utf8') + run.stderr };
  }

  /** POSTs raw bytes as application/pkixcmp; the answer's PKIMessage as openssl asn1parse shows it. */
  function post(body: Buffer): Promise<{ status: number; type: string; der: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${t.service.url}/.well-known/cmp`, { method: 'POST', ca: t.rootPem, agent: false, headers: { 'content-type': 'application/pkixcmp', 'content-length': String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), der: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  function asn1(der: Buffer): string {
    const r = openssl(['asn1parse', '-inform', 'DER', '-i'], { input: der });
    assert.equal(r.status, 0, r.output);
    return r.stdout;
  }

  async function ocspStatus(certFile: string): Promise<string> {
    const publish = t.service.publishUrl;
    assert.ok(publish);
    const r = await runTool('openssl', ['ocsp', '-issuer', issuingFile, '-cert', certFile, '-url', `${publish}/ocsp`, '-CAfile', rootFile, '-no_nonce']);
    return r.stdout.toString('utf8') + r.stderr;
  }

  before(async () => {
    t = await startTestService();
    work = tempDir('provisio-cmp-');
    rootFile = join(work, 'root.pem');
    writeFileSync(rootFile, t.rootPem);
    const packageText = await setUpFleet(t, SYSTEM, COMPONENT);
    keystore = await provisionDevice(t, packageText, COMPONENT, 'CMP-001');
    issuingFile = join(work, 'issuing.pem');
    const chain = readFileSync(join(keystore, 'certificate.pem'), 'utf8');
    writeFileSync(issuingFile, chain.slice(chain.indexOf('-----BEGIN CERTIFICATE-----', 10)));
    writeFileSync(join(work, 'device.pem'), chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 26));
  });
  after(async () => {
    await t?.close();
  });

  it('fail/disabled/kur-refused-with-a-cmp-error-nothing-stored', async () => {
    const before = state();
    const r = await cmp(['-cmd', 'kur', '-cert', join(work, 'device.pem'), '-key', join(keystore, 'device.key'), '-newkey', join(keystore, 'device.key'), '-certout', join(work, 'never.pem')]);
    assert.notEqual(r.status, 0);
    assert.match(r.output, /protocol_not_enabled: CMP is not enabled for component "CmpFleet\/monitor"/);
    assert.match(r.output, /notAuthorized/);
    assert.deepEqual(state(), before);
  });

  it('ok/genm/ca-certificates', async () => {
    await setProtocol(t, SYSTEM, 'cmp', true);
    const r = await cmp(['-cmd', 'genm', '-cert', join(work, 'device.pem'), '-key', join(keystore, 'device.key')]);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /genp/i);
  });

  it('ok/kur/new-key-then-certconf-makes-it-current', async () => {
    const newKey = join(work, 'kur1.key');
    assert.equal(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', newKey]).status, 0);
    const out = join(work, 'kur1.pem');
    // -reqout keeps the kur and certConf messages as sent, for the replay below.
    const r = await cmp(['-cmd', 'kur', '-cert', join(work, 'device.pem'), '-key', join(keystore, 'device.key'), '-newkey', newKey, '-certout', out, '-reqout', `${join(work, 'kur1-req.der')},${join(work, 'kur1-conf.der')}`]);
    assert.equal(r.status, 0, r.output);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, '-purpose', 'sslclient', out]);
    assert.equal(verified.status, 0, verified.output);
    assert.equal(openssl(['x509', '-in', out, '-noout', '-pubkey']).stdout, openssl(['pkey', '-in', newKey, '-pubout']).stdout);
    // certConf made it current: the old certificate (another key) was superseded at once.
    assert.match(await ocspStatus(join(work, 'device.pem')), /: revoked/);
    assert.match(await ocspStatus(out), /: good/);
    const audit = (await t.call('GET', '/api/v1/audit?action=certificate.renew&target=CMP-001')).json<{ items: Array<{ details: Record<string, unknown> }> }>();
    assert.equal(audit.items[0]?.details.protocol, 'cmp');
    // The review page checks the stored CertReqMsg's proof of possession again.
    const review = (await t.call('GET', `/api/v1/requests/${String(audit.items[0]?.details.requestId)}/review`)).json<{ signatures: { status: string } }>();
    assert.deepEqual(review.signatures, { status: 'verified' });
  });

  it('ok/kur-again-with-the-new-certificate-then-rr-revokes-and-ocsp-says-so', async () => {
    const key2 = join(work, 'kur2.key');
    assert.equal(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key2]).status, 0);
    const out2 = join(work, 'kur2.pem');
    const kur = await cmp(['-cmd', 'kur', '-cert', join(work, 'kur1.pem'), '-key', join(work, 'kur1.key'), '-newkey', key2, '-certout', out2]);
    assert.equal(kur.status, 0, kur.output);
    assert.match(await ocspStatus(out2), /: good/);
    const rr = await cmp(['-cmd', 'rr', '-cert', out2, '-key', key2, '-oldcert', out2, '-revreason', '1']);
    assert.equal(rr.status, 0, rr.output);
    assert.match(await ocspStatus(out2), /: revoked[\s\S]*Reason: keyCompromise/);
    const device = (await t.call('GET', '/api/v1/devices/CMP-001')).json<{ state: string }>();
    assert.equal(device.state, 'revoked');
  });

  it('fail/bad-input/refused-as-cmp-errors-nothing-stored', async () => {
    // A second device, to have a valid signer again.
    const packageText = (await t.call('POST', '/api/v1/packages', { json: { system: SYSTEM } })).body.toString('utf8');
    const dir = await provisionDevice(t, packageText, COMPONENT, 'CMP-002');
    const chain = readFileSync(join(dir, 'certificate.pem'), 'utf8');
    const cert = join(work, 'device2.pem');
    writeFileSync(cert, chain.slice(0, chain.indexOf('-----END CERTIFICATE-----') + 26));
    const key = join(work, 'device2.key');
    writeFileSync(key, readFileSync(join(dir, 'device.key')), { mode: 0o600 });
    const before = state();

    // Malformed DER, and DER that is no PKIMessage: an error PKIMessage, HTTP 200.
    for (const body of [Buffer.from('not DER at all'), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x02])]) {
      const r = await post(body);
      assert.equal(r.status, 200);
      assert.equal(r.type, 'application/pkixcmp');
      const text = asn1(r.der);
      assert.match(text, /cont \[ 23 \]/, 'an error body');
      assert.match(text, /(der_malformed|cmp_message_invalid)/);
    }

    // The first kur again, byte for byte (a replay), and with its signature broken.
    const replayed = readFileSync(join(work, 'kur1-req.der'));
    const kurAgain = asn1((await post(replayed)).der);
    assert.match(kurAgain, /cmp_transaction_replayed: transactionID [0-9a-f]+ was used by an earlier transaction/);
    // The protection ([0] at depth 1): its last byte flipped.
    const protection = /^\s*(\d+):d=1\s+hl=(\d+)\s+l=\s*(\d+)\s+cons:\s+cont \[ 0 \]/m.exec(asn1(replayed));
    assert.ok(protection, 'the kur is protected');
    const last = Number(protection[1]) + Number(protection[2]) + Number(protection[3]) - 1;
    const tampered = Buffer.from(replayed);
    tampered[last] = (tampered[last] ?? 0) ^ 0x01;
    const broken = asn1((await post(tampered)).der);
    assert.match(broken, /cmp_protection_invalid: the PKIMessage's protection does not verify/);
    // The same message under a new transactionID, signed again by the same device key: its
    // senderNonce is a replay (an attacker who can sign still cannot reuse a nonce).
    const original = parseCmpMessage(replayed);
    const oldTid = original.header.transactionId as Buffer;
    const moved = Buffer.from(replayed);
    randomBytes(oldTid.length).copy(moved, moved.indexOf(oldTid));
    const movedPart = parseCmpMessage(moved);
    // ProtectedPart's content is header and body, as encodeMessage takes them.
    const headerAndBody = movedPart.protectedPart.subarray(headerLength(movedPart.protectedPart));
    const resigned = encodeMessage(headerAndBody, Buffer.alloc(0), sign('sha256', movedPart.protectedPart, readFileSync(join(keystore, 'device.key'))), movedPart.extraCerts);
    const nonceAgain = asn1((await post(resigned)).der);
    assert.match(nonceAgain, /cmp_transaction_replayed: senderNonce [0-9a-f]+ was used by an earlier request/);

    // Its certConf again: the transaction is confirmed already.
    const confAgain = asn1((await post(readFileSync(join(work, 'kur1-conf.der')))).der);
    assert.match(confAgain, /cmp_transaction_unknown/);

    // A template naming another device.
    const other = await cmp(['-cmd', 'kur', '-cert', cert, '-key', key, '-newkey', key, '-subject', '/CN=CMP-999', '-certout', join(work, 'never.pem')]);
    assert.notEqual(other.status, 0);
    assert.match(other.output, /csr_identity_mismatch/);

    // A MAC with an unknown reference and a wrong secret.
    const mac = await cmp(['-cmd', 'kur', '-ref', 'abcdef0123456789', '-secret', 'pass:wrong', '-oldcert', cert, '-newkey', key, '-certout', join(work, 'never.pem')]);
    assert.notEqual(mac.status, 0);
    assert.match(mac.output, /cmp_protection_invalid/);

    // A revoked device's certificate (CMP-001 revoked itself above) renews nothing.
    const revoked = await cmp(['-cmd', 'kur', '-cert', join(work, 'kur1.pem'), '-key', join(work, 'kur1.key'), '-newkey', key, '-certout', join(work, 'never.pem')]);
    assert.notEqual(revoked.status, 0);
    assert.match(revoked.output, /certificate_revoked/);
    assert.deepEqual(state(), before);
  });

  it('ok/kur/implicit-confirmation-makes-it-current-at-once', async () => {
    const deviceBefore = (await t.call('GET', '/api/v1/devices/CMP-002')).json<{ requestId: string }>();
    const key = join(work, 'implicit.key');
    assert.equal(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]).status, 0);
    const keystoreKey = join(work, 'device2.key');
    const out = join(work, 'implicit.pem');
    const r = await cmp(['-cmd', 'kur', '-cert', join(work, 'device2.pem'), '-key', keystoreKey, '-newkey', key, '-implicit_confirm', '-certout', out, '-reqout', join(work, 'implicit-req.der')]);
    assert.equal(r.status, 0, r.output);
    const deviceAfter = (await t.call('GET', '/api/v1/devices/CMP-002')).json<{ requestId: string }>();
    assert.notEqual(deviceAfter.requestId, deviceBefore.requestId, 'current without a certConf');
    assert.match(await ocspStatus(join(work, 'device2.pem')), /: revoked/, 'the old key superseded');
    const sent = asn1(readFileSync(join(work, 'implicit-req.der')));
    assert.doesNotMatch(sent, /cont \[ 24 \]/, 'no certConf was sent');
  });

  /** A one-time token for `deviceId`: openssl cmp's -ref (its id) and -secret (SHA-256 hex of its secret part, D43). */
  async function cmpToken(deviceId: string, component = COMPONENT): Promise<{ ref: string; secret: string }> {
    const r = await t.call('POST', '/api/v1/tokens', { json: { system: SYSTEM, component, deviceId } });
    assert.equal(r.status, 201, r.body.toString());
    const [, ref, secret] = /^pvt_([0-9a-f]{16})_([0-9a-f]{64})$/.exec(r.json<{ token: string }>().token) ?? [];
    assert.ok(ref && secret);
    return { ref, secret: createHash('sha256').update(secret, 'utf8').digest('hex') };
  }

  function ecKey(name: string): string {
    const file = join(work, name);
    assert.equal(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]).status, 0);
    return file;
  }

  it('ok/ir/mac-from-a-one-time-token-then-certconf-confirms-the-install', async () => {
    const { ref, secret } = await cmpToken('CMP-100');
    const key = ecKey('cmp100.key');
    // A wrong secret first: refused as a MAC that does not verify, nothing written, the token unspent.
    const before = state();
    const wrong = await cmp(['-cmd', 'ir', '-ref', ref, '-secret', `pass:${'0'.repeat(64)}`, '-newkey', key, '-subject', '/CN=CMP-100', '-certout', join(work, 'never.pem')]);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.output, /cmp_protection_invalid: the PKIMessage's protection is a MAC that the shared secret does not make/);
    assert.deepEqual(state(), before);

    const out = join(work, 'cmp100.pem');
    const r = await cmp(['-cmd', 'ir', '-ref', ref, '-secret', `pass:${secret}`, '-newkey', key, '-subject', '/CN=CMP-100', '-certout', out]);
    assert.equal(r.status, 0, r.output);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, '-purpose', 'sslclient', out]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(openssl(['x509', '-in', out, '-noout', '-subject']).stdout, /CN ?= ?CMP-100/);
    const device = (await t.call('GET', '/api/v1/devices/CMP-100')).json<{ state: string }>();
    assert.equal(device.state, 'provisioned', 'certConf confirmed the install');

    // The token was single-use.
    const again = await cmp(['-cmd', 'ir', '-ref', ref, '-secret', `pass:${secret}`, '-newkey', ecKey('cmp100b.key'), '-subject', '/CN=CMP-100', '-certout', join(work, 'never.pem')]);
    assert.notEqual(again.status, 0);
    assert.match(again.output, /token_used/);
  });

  it('ok/p10cr/a-pkcs10-csr-with-a-token-mac-then-certconf-and-a-wrong-mac-refused-nothing-stored', async () => {
    const { ref, secret } = await cmpToken('CMP-102');
    const key = ecKey('cmp102.key');
    const csr = join(work, 'cmp102.csr');
    const made = openssl(['req', '-new', '-key', key, '-subj', '/CN=CMP-102', '-out', csr]);
    assert.equal(made.status, 0, made.output);

    const before = state();
    const wrong = await cmp(['-cmd', 'p10cr', '-ref', ref, '-secret', `pass:${'1'.repeat(64)}`, '-csr', csr, '-certout', join(work, 'never.pem')]);
    assert.notEqual(wrong.status, 0);
    assert.match(wrong.output, /cmp_protection_invalid: the PKIMessage's protection is a MAC that the shared secret does not make/);
    assert.deepEqual(state(), before);

    const out = join(work, 'cmp102.pem');
    const r = await cmp(['-cmd', 'p10cr', '-ref', ref, '-secret', `pass:${secret}`, '-csr', csr, '-certout', out]);
    assert.equal(r.status, 0, r.output);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, '-purpose', 'sslclient', out]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(openssl(['x509', '-in', out, '-noout', '-subject']).stdout, /CN ?= ?CMP-102/);
    assert.equal(openssl(['x509', '-in', out, '-noout', '-pubkey']).stdout, openssl(['pkey', '-in', key, '-pubout']).stdout);
    const device = (await t.call('GET', '/api/v1/devices/CMP-102')).json<{ state: string }>();
    assert.equal(device.state, 'provisioned', 'certConf confirmed the install');
  });

  it('ok/ir/pending-approval-polls-then-the-certificate', async () => {
    let r0 = await t.call('POST', `/api/v1/systems/${SYSTEM}/components`, { json: { name: 'ward', keyTypes: ['p256'] } });
    assert.equal(r0.status, 201, r0.body.toString());
    r0 = await t.call('POST', `/api/v1/systems/${SYSTEM}/components/ward/policy`, { json: { mode: 'manual' } });
    assert.equal(r0.status, 200, r0.body.toString());
    const { ref, secret } = await cmpToken('CMP-101', 'ward');
    const out = join(work, 'cmp101.pem');
    const running = cmp(['-cmd', 'ir', '-ref', ref, '-secret', `pass:${secret}`, '-newkey', ecKey('cmp101.key'), '-subject', '/CN=CMP-101', '-certout', out, '-total_timeout', '60']);
    // The approver decides while the client polls.
    let requestId: string | undefined;
    for (let i = 0; i < 100 && !requestId; i++) {
      const list = (await t.call('GET', '/api/v1/requests?state=pending&q=CMP-101')).json<{ items: Array<{ id: string }> }>();
      requestId = list.items[0]?.id;
      if (!requestId) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(requestId, 'the ir made a pending request');
    const approved = await t.call('POST', `/api/v1/requests/${requestId}/approve`, { json: {} });
    assert.equal(approved.status, 200, approved.body.toString());
    const r = await running;
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /poll/i);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', issuingFile, out]);
    assert.equal(verified.status, 0, verified.output);
  });
});
