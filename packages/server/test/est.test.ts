/**
 * EST (RFC 7030) against the real service on a loopback port, driven by clients nobody here
 * wrote: curl (cacerts, csrattrs, simpleenroll with a one-time token as the HTTP basic
 * password, simplereenroll over mutual TLS) with openssl making the CSRs and reading the
 * answers, and strongSwan's `pki --est` enrolling with a token and re-enrolling with a new key.
 * The certificates verify with `openssl verify`, show in the device list, and a renewal becomes
 * the device's current certificate. Pending approval answers 202 + Retry-After, and the same
 * request again the certificate once approved (RFC 7030 §4.2.3).
 * Refused in EST's own form (an HTTP status and a text line) and writing nothing: EST switched
 * off, a body that is not base64, base64 that is not a CSR, a CSR whose signature fails, a CSR
 * for another device, no client certificate, a label for another component, a spent or unknown
 * token, a token for a component without EST.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { type TestService, databaseState, startTestService } from './service-harness.js';
import { provisionDevice, runTool, setProtocol, setUpFleet } from './protocol-clients.js';

const SYSTEM = 'EstFleet';
const COMPONENT = 'pump';

describe('EST (RFC 7030) with curl, openssl and strongSwan pki', () => {
  let t: TestService;
  let work: string;
  let keystore: string;
  let rootFile: string;

  /** curl with the service's root as its only trust anchor; `client` adds mutual TLS with that key and certificate. */
  async function curl(path: string, options: { body?: string | Buffer; client?: { key: string; cert: string }; basic?: string } = {}) {
    const args = ['-sS', '--cacert', rootFile, '-o', '-', '-D', join(work, 'headers.txt'), '-w', '\n%{http_code}'];
    if (options.client) args.push('--key', options.client.key, '--cert', options.client.cert);
    if (options.basic) args.push('-u', options.basic);
    if (options.body !== undefined) args.push('-H', 'Content-Type: application/pkcs10', '--data-binary', '@-');
    const run = await runTool('curl', [...args, `${t.service.url}${path}`], { ...(options.body !== undefined ? { input: options.body } : {}) });
    assert.equal(run.status, 0, run.stderr);
    const text = run.stdout.toString('latin1');
    const cut = text.lastIndexOf('\n');
    return { status: Number(text.slice(cut + 1)), body: text.slice(0, cut), headers: readFileSync(join(work, 'headers.txt'), 'latin1').toLowerCase() };
  }

  /** A CSR made by openssl with the key in `keyFile`, as base64 (openssl's PEM body, lines of 64 with LF). */
  function csrBase64(keyFile: string, subject: string): string {
    const r = openssl(['req', '-new', '-key', keyFile, '-subj', subject, '-outform', 'PEM']);
    assert.equal(r.status, 0, r.output);
    return r.stdout.replace(/-----[A-Z ]+-----/g, '').trim();
  }

  /** The certificates of a base64 certs-only answer, through openssl pkcs7. */
  function certsOf(base64: string): string {
    const der = Buffer.from(base64, 'base64');
    const r = openssl(['pkcs7', '-inform', 'DER', '-print_certs'], { input: der });
    assert.equal(r.status, 0, r.output);
    return r.stdout;
  }

  /** The device's current request and its newest certificate (what the device list shows). */
  async function currentSerial(deviceId: string): Promise<string> {
    const r = await t.call('GET', `/api/v1/devices/${deviceId}`);
    const view = r.json<{ requestId: string; certificates: Array<{ serial: string }> }>();
    return `${view.requestId} ${view.certificates[0]?.serial}`;
  }

  function serialOf(certFile: string): string {
    return openssl(['x509', '-in', certFile, '-noout', '-serial']).stdout.trim().replace('serial=', '').toLowerCase();
  }

  before(async () => {
    t = await startTestService();
    work = tempDir('provisio-est-');
    rootFile = join(work, 'root.pem');
    writeFileSync(rootFile, t.rootPem);
    const packageText = await setUpFleet(t, SYSTEM, COMPONENT);
    keystore = await provisionDevice(t, packageText, COMPONENT, 'EST-001');
  });
  after(async () => {
    await t?.close();
  });

  it('ok/cacerts/certs-only-base64-in-crlf-lines-of-64', async () => {
    const r = await curl('/.well-known/est/cacerts');
    assert.equal(r.status, 200);
    assert.match(r.headers, /content-type: application\/pkcs7-mime; ?smime-type=certs-only/);
    const lines = r.body.split('\r\n');
    assert.equal(lines.pop(), '', 'every line ends in CRLF');
    assert.ok(lines.length > 2 && lines.slice(0, -1).every((l) => l.length === 64) && (lines.at(-1)?.length ?? 0) <= 64, 'lines of 64 characters');
    const certs = certsOf(lines.join(''));
    assert.match(certs, /subject=.*Root/i);
    assert.equal((certs.match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'the issuing CA and the root');
  });

  it('ok/csrattrs/per-component-label', async () => {
    await setProtocol(t, SYSTEM, 'est', true, COMPONENT);
    const r = await curl(`/.well-known/est/${SYSTEM}%2F${COMPONENT}/csrattrs`);
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers, /content-type: application\/csrattrs/);
    const parsed = openssl(['asn1parse', '-inform', 'DER'], { input: Buffer.from(r.body, 'base64') });
    assert.match(parsed.stdout, /ecdsa-with-SHA256/);
    assert.match(parsed.stdout, /prime256v1/);
    await setProtocol(t, SYSTEM, 'est', false, COMPONENT);
  });

  it('fail/disabled/simplereenroll-refused-403-nothing-stored', async () => {
    const before = databaseState(t);
    const client = { key: join(keystore, 'device.key'), cert: join(keystore, 'certificate.pem') };
    const r = await curl('/.well-known/est/simplereenroll', { body: csrBase64(client.key, '/CN=EST-001'), client });
    assert.equal(r.status, 403, r.body);
    assert.match(r.headers, /content-type: text\/plain/);
    assert.match(r.body, /^protocol_not_enabled: EST is not enabled for component "EstFleet\/pump"/);
    const labelled = await curl(`/.well-known/est/${SYSTEM}/cacerts`);
    assert.equal(labelled.status, 403, 'a disabled label serves nothing');
    assert.deepEqual(databaseState(t), before);
  });

  it('ok/curl/simplereenroll-same-key-then-current', async () => {
    await setProtocol(t, SYSTEM, 'est', true, COMPONENT);
    const client = { key: join(keystore, 'device.key'), cert: join(keystore, 'certificate.pem') };
    const previous = await currentSerial('EST-001');
    const r = await curl(`/.well-known/est/${SYSTEM}%2F${COMPONENT}/simplereenroll`, { body: csrBase64(client.key, '/CN=EST-001'), client });
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers, /content-type: application\/pkcs7-mime; ?smime-type=certs-only/);
    const pem = certsOf(r.body.replace(/\r\n/g, ''));
    const certFile = join(work, 'reenrolled.pem');
    writeFileSync(certFile, pem);
    writeFileSync(join(work, 'issuing.pem'), certsOf((await curl('/.well-known/est/cacerts')).body.replace(/\r\n/g, '')));
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'issuing.pem'), '-purpose', 'sslclient', certFile]);
    assert.equal(verified.status, 0, verified.output);
    const current = await currentSerial('EST-001');
    assert.notEqual(current.split(' ')[0], previous.split(' ')[0], 'the device moved to the renewal');
    assert.equal(current.split(' ')[1]?.replace(/^0+/, ''), serialOf(certFile).replace(/^0+/, ''), 'the EST certificate is the device\'s newest one');

    // The audit entry names the protocol; the device list shows the device provisioned.
    const audit = (await t.call('GET', '/api/v1/audit?action=certificate.renew&target=EST-001')).json<{ items: Array<{ details: Record<string, unknown> }> }>();
    assert.equal(audit.items[0]?.details.protocol, 'est');
    const review = (await t.call('GET', `/api/v1/requests/${String(audit.items[0]?.details.requestId)}/review`)).json<{ signatures: { status: string } }>();
    assert.deepEqual(review.signatures, { status: 'verified' });
    const trace = await t.call('GET', '/api/v1/devices/EST-001/trace');
    assert.equal(trace.status, 200, trace.body.toString());
    const list = (await t.call('GET', '/api/v1/devices?q=EST-001')).json<{ items: Array<{ deviceId: string; state: string }> }>();
    assert.deepEqual(list.items.map((d) => [d.deviceId, d.state]), [['EST-001', 'provisioned']]);
    writeFileSync(join(work, 'current.pem'), pem);
  });

  it('ok/strongswan-pki/reenroll-with-a-new-key-over-mutual-tls', async () => {
    const oldKey = join(keystore, 'device.key');
    const oldCert = join(work, 'current.pem');
    const newKey = join(work, 'new.key');
    const gen = await runTool('pki', ['--gen', '--type', 'ecdsa', '--size', '256', '--outform', 'pem']);
    assert.equal(gen.status, 0, gen.stderr);
    writeFileSync(newKey, gen.stdout, { mode: 0o600 });
    const req = await runTool('pki', ['--req', '--type', 'priv', '--in', newKey, '--dn', 'CN=EST-001', '--outform', 'pem']);
    assert.equal(req.status, 0, req.stderr);
    writeFileSync(join(work, 'new.csr'), req.stdout);
    const previous = await currentSerial('EST-001');
    const est = await runTool('pki', ['--est', '--url', t.service.url, '--cacert', rootFile, '--cert', oldCert, '--key', oldKey, '--in', join(work, 'new.csr'), '--outform', 'pem']);
    assert.equal(est.status, 0, est.stderr);
    const certFile = join(work, 'pki.pem');
    writeFileSync(certFile, est.stdout);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'issuing.pem'), certFile]);
    assert.equal(verified.status, 0, verified.output);
    // The new certificate certifies the new key.
    const certKey = openssl(['x509', '-in', certFile, '-noout', '-pubkey']).stdout;
    const ownKey = openssl(['pkey', '-in', newKey, '-pubout']).stdout;
    assert.equal(certKey, ownKey);
    assert.notEqual(await currentSerial('EST-001'), previous);
    writeFileSync(join(work, 'current.pem'), est.stdout);
    writeFileSync(join(work, 'current.key'), readFileSync(newKey), { mode: 0o600 });
  });

  it('fail/bad-input/refused-in-est-form-nothing-stored', async () => {
    const client = { key: join(work, 'current.key'), cert: join(work, 'current.pem') };
    const good = csrBase64(client.key, '/CN=EST-001');
    const badSignature = (() => {
      const der = Buffer.from(good.replace(/\s/g, ''), 'base64');
      der[der.length - 3] = (der[der.length - 3] ?? 0) ^ 0xff;
      return der.toString('base64');
    })();
    const before = databaseState(t);
    const cases: Array<[string, string, { body: string; client?: typeof client; path?: string }, number, RegExp]> = [
      ['not base64', '', { body: 'this is *not* base64!', client }, 400, /^est_request_invalid: the body is not base64/],
      ['base64 of garbage', '', { body: Buffer.from('not a CSR at all').toString('base64'), client }, 400, /^der_malformed/],
      ['signature broken', '', { body: badSignature, client }, 400, /^(csr_signature_invalid|der_malformed)/],
      ['another device', '', { body: csrBase64(client.key, '/CN=EST-999'), client }, 403, /^csr_identity_mismatch: the CSR names CN "EST-999"/],
      ['no client certificate', '', { body: good }, 401, /^client_certificate_required/],
      ['another component label', '', { body: good, client, path: `/.well-known/est/${SYSTEM}%2Fnope/simplereenroll` }, 400, /^est_request_invalid: EST label/],
    ];
    for (const [name, , c, status, message] of cases) {
      const r = await curl(c.path ?? '/.well-known/est/simplereenroll', { body: c.body, ...(c.client ? { client: c.client } : {}) });
      assert.equal(r.status, status, `${name}: ${r.body}`);
      assert.match(r.headers, /content-type: text\/plain/, name);
      assert.match(r.body, message, name);
    }
    // Without a token a first enrollment is asked for one (HTTP basic), and so is serverkeygen.
    const enroll = await curl('/.well-known/est/simpleenroll', { body: good });
    assert.equal(enroll.status, 401, enroll.body);
    assert.match(enroll.headers, /www-authenticate: basic realm="provisio est"/);
    const keygen = await curl('/.well-known/est/serverkeygen', { body: good, client });
    assert.equal(keygen.status, 401, keygen.body);
    assert.deepEqual(databaseState(t), before);
  });

  async function token(deviceId: string, component = COMPONENT): Promise<string> {
    const r = await t.call('POST', '/api/v1/tokens', { json: { system: SYSTEM, component, deviceId } });
    assert.equal(r.status, 201, r.body.toString());
    return r.json<{ token: string }>().token;
  }

  function newKey(name: string): string {
    const file = join(work, name);
    assert.equal(openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]).status, 0);
    return file;
  }

  it('ok/curl/simpleenroll-with-a-one-time-token-then-the-token-is-spent', async () => {
    const secret = await token('EST-100');
    const key = newKey('est100.key');
    const r = await curl(`/.well-known/est/simpleenroll`, { body: csrBase64(key, '/CN=EST-100'), basic: `EST-100:${secret}` });
    assert.equal(r.status, 200, r.body);
    const certFile = join(work, 'est100.pem');
    writeFileSync(certFile, certsOf(r.body.replace(/\r\n/g, '')));
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'issuing.pem'), '-purpose', 'sslclient', certFile]);
    assert.equal(verified.status, 0, verified.output);
    assert.match(openssl(['x509', '-in', certFile, '-noout', '-subject']).stdout, /CN ?= ?EST-100/);
    const list = (await t.call('GET', '/api/v1/devices?q=EST-100')).json<{ items: Array<{ deviceId: string; state: string }> }>();
    assert.deepEqual(list.items.map((d) => d.deviceId), ['EST-100']);
    // The replay reads the protocol from the trace to draw the EST flow (docs/visualizer.md).
    const trace = (await t.call('GET', '/api/v1/devices/EST-100/trace')).json<{ request: { protocol?: string; enrollment?: { kind: string } }; events: Array<{ action: string }> }>();
    assert.equal(trace.request.protocol, 'est');
    assert.equal(trace.request.enrollment?.kind, 'token');
    assert.deepEqual(trace.events.map((e) => e.action).filter((a) => a.startsWith('token.') || a.startsWith('request.')).slice(0, 3), ['token.create', 'token.use', 'request.submit']);

    // The token was single-use: another CSR with it is refused, and writes nothing.
    const before = databaseState(t);
    const again = await curl(`/.well-known/est/simpleenroll`, { body: csrBase64(newKey('est100b.key'), '/CN=EST-100'), basic: `EST-100:${secret}` });
    assert.equal(again.status, 401, again.body);
    assert.match(again.body, /^token_used/);
    const wrong = await curl(`/.well-known/est/simpleenroll`, { body: csrBase64(key, '/CN=EST-101'), basic: `EST-101:pvt_0000000000000000_${'0'.repeat(64)}` });
    assert.equal(wrong.status, 401, wrong.body);
    assert.match(wrong.body, /^token_invalid/);
    assert.deepEqual(databaseState(t), before);

    // Its first mutual-TLS use confirms the install (EST has no confirmation step), and it re-enrolls.
    const client = { key, cert: certFile };
    const renewed = await curl('/.well-known/est/simplereenroll', { body: csrBase64(key, '/CN=EST-100'), client });
    assert.equal(renewed.status, 200, renewed.body);
    const device = (await t.call('GET', '/api/v1/devices/EST-100')).json<{ state: string }>();
    assert.equal(device.state, 'provisioned');
  });

  it('ok/strongswan-pki/simpleenroll-with-a-token', async () => {
    const secret = await token('EST-102');
    const gen = await runTool('pki', ['--gen', '--type', 'ecdsa', '--size', '256', '--outform', 'pem']);
    assert.equal(gen.status, 0, gen.stderr);
    writeFileSync(join(work, 'est102.key'), gen.stdout, { mode: 0o600 });
    const req = await runTool('pki', ['--req', '--type', 'priv', '--in', join(work, 'est102.key'), '--dn', 'CN=EST-102', '--outform', 'pem']);
    assert.equal(req.status, 0, req.stderr);
    writeFileSync(join(work, 'est102.csr'), req.stdout);
    const est = await runTool('pki', ['--est', '--url', t.service.url, '--cacert', rootFile, '--userpass', `EST-102:${secret}`, '--in', join(work, 'est102.csr'), '--outform', 'pem']);
    assert.equal(est.status, 0, est.stderr);
    writeFileSync(join(work, 'est102.pem'), est.stdout);
    const verified = openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'issuing.pem'), join(work, 'est102.pem')]);
    assert.equal(verified.status, 0, verified.output);
  });

  it('ok/simpleenroll/pending-approval-answers-202-retry-after-then-the-certificate', async () => {
    let r0 = await t.call('POST', `/api/v1/systems/${SYSTEM}/components`, { json: { name: 'ward', keyTypes: ['p256'] } });
    assert.equal(r0.status, 201, r0.body.toString());
    r0 = await t.call('POST', `/api/v1/systems/${SYSTEM}/components/ward/policy`, { json: { mode: 'manual' } });
    assert.equal(r0.status, 200, r0.body.toString());
    const secret = await token('EST-103', 'ward');
    const body = csrBase64(newKey('est103.key'), '/CN=EST-103');
    // EST is off for the ward: refused, nothing written, the token not spent.
    const before = databaseState(t);
    const off = await curl('/.well-known/est/simpleenroll', { body, basic: `EST-103:${secret}` });
    assert.equal(off.status, 403, off.body);
    assert.match(off.body, /^protocol_not_enabled: EST is not enabled for component "EstFleet\/ward"/);
    assert.deepEqual(databaseState(t), before);
    await setProtocol(t, SYSTEM, 'est', true, 'ward');
    const first = await curl(`/.well-known/est/${SYSTEM}%2Fward/simpleenroll`, { body, basic: `EST-103:${secret}` });
    assert.equal(first.status, 202, first.body);
    assert.match(first.headers, /retry-after: 10/);
    const requestId = /request (req_[0-9a-f]+)/.exec(first.body)?.[1];
    assert.ok(requestId, first.body);
    const waiting = await curl(`/.well-known/est/${SYSTEM}%2Fward/simpleenroll`, { body, basic: `EST-103:${secret}` });
    assert.equal(waiting.status, 202, 'the same request again, not yet decided: still 202, the token not spent twice');
    const approved = await t.call('POST', `/api/v1/requests/${requestId}/approve`, { json: {} });
    assert.equal(approved.status, 200, approved.body.toString());
    const issued = await curl(`/.well-known/est/${SYSTEM}%2Fward/simpleenroll`, { body, basic: `EST-103:${secret}` });
    assert.equal(issued.status, 200, issued.body);
    assert.match(certsOf(issued.body.replace(/\r\n/g, '')), /CN ?= ?EST-103/);
    // A token for the ward component sent to the pump's label is refused.
    const other = await token('EST-104', 'ward');
    const outside = await curl(`/.well-known/est/${SYSTEM}%2F${COMPONENT}/simpleenroll`, { body: csrBase64(newKey('est104.key'), '/CN=EST-104'), basic: `EST-104:${other}` });
    assert.equal(outside.status, 400, outside.body);
    assert.match(outside.body, /^est_request_invalid: enrollment token/);
  });

  it('ok/serverkeygen/only-where-the-system-generates-keys', async () => {
    // EstFleet does not generate keys: refused, nothing written, the token unspent.
    const denied = await token('EST-200');
    const before = databaseState(t);
    const refused = await curl('/.well-known/est/serverkeygen', { body: csrBase64(newKey('est200.key'), '/CN=EST-200'), basic: `EST-200:${denied}` });
    assert.equal(refused.status, 403, refused.body);
    assert.match(refused.body, /^central_key_not_allowed/);
    assert.deepEqual(databaseState(t), before);

    await setUpFleet(t, 'KeylessFleet', 'sensor');
    const patched = await t.call('PATCH', '/api/v1/systems/KeylessFleet', { json: { centralKeyGeneration: true, enrollmentSecretApproves: true } });
    assert.equal(patched.status, 200, patched.body.toString());
    await setProtocol(t, 'KeylessFleet', 'est', true);
    const r0 = await t.call('POST', '/api/v1/tokens', { json: { system: 'KeylessFleet', component: 'sensor', deviceId: 'KEYLESS-1' } });
    const secret = r0.json<{ token: string }>().token;
    const placeholder = newKey('placeholder.key');
    const r = await curl('/.well-known/est/serverkeygen', { body: csrBase64(placeholder, '/CN=KEYLESS-1'), basic: `KEYLESS-1:${secret}` });
    assert.equal(r.status, 200, r.body);
    const boundary = /content-type: multipart\/mixed; ?boundary=([^\s;]+)/.exec(r.headers)?.[1];
    assert.ok(boundary, r.headers);
    const parts = r.body.split(`--${boundary}`).slice(1, -1);
    assert.equal(parts.length, 2);
    const payload = (part: string) => part.slice(part.indexOf('\r\n\r\n') + 4).replace(/\s/g, '');
    assert.match(parts[0] ?? '', /Content-Type: application\/pkcs8/);
    assert.match(parts[1] ?? '', /Content-Type: application\/pkcs7-mime; smime-type=certs-only/);
    const keyFile = join(work, 'keyless.key');
    const key = openssl(['pkey', '-inform', 'DER', '-outform', 'PEM'], { input: Buffer.from(payload(parts[0] ?? ''), 'base64') });
    assert.equal(key.status, 0, key.output);
    writeFileSync(keyFile, key.stdout, { mode: 0o600 });
    const certFile = join(work, 'keyless.pem');
    writeFileSync(certFile, certsOf(payload(parts[1] ?? '')));
    assert.equal(openssl(['verify', '-CAfile', rootFile, '-untrusted', join(work, 'issuing.pem'), certFile]).status, 0);
    // The certificate certifies the generated key, not the CSR's.
    assert.equal(openssl(['x509', '-in', certFile, '-noout', '-pubkey']).stdout, openssl(['pkey', '-in', keyFile, '-pubout']).stdout);
    assert.notEqual(openssl(['x509', '-in', certFile, '-noout', '-pubkey']).stdout, openssl(['pkey', '-in', placeholder, '-pubout']).stdout);
    const audit = (await t.call('GET', '/api/v1/audit?action=request.submit')).json<{ items: Array<{ details: Record<string, unknown> }> }>();
    const submitted = audit.items.find((e) => e.details.deviceId === 'KEYLESS-1');
    assert.equal(submitted?.details.centralKeyGeneration, true);
    assert.equal(submitted?.details.protocol, 'est');
  });
});
