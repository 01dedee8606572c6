/**
 * Strict input through the real HTTPS API (docs/decisions.md D29): duplicate member names in a
 * signed request, its headers or envelope, a bundle and an API body; each refusal leaves the
 * database as it was (row counts and the audit head).
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { MAX_BUNDLE_BYTES, base64url, ecdsaDerToJose, openPackage, parsePackage } from '@provisio/protocol';
import {
  OID,
  Tag,
  type Signer,
  bitString,
  createCsr,
  createKeySigner,
  deviceSubjectAltName,
  encodeGeneralName,
  encodeName,
  encodePem,
  extension,
  generateKey,
  oid,
  seq,
  setOf,
  smallInteger,
  tlv,
  utf8String,
} from '@provisio/pki';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const decode = (b64url: string) => Buffer.from(b64url, 'base64url').toString('utf8');

/** `text` (a JSON object) with `"name":value` put first, before the genuine member of that name. */
function withDuplicate(text: string, name: string, value: string): string {
  const open = text.indexOf('{');
  return `${text.slice(0, open + 1)}${JSON.stringify(name)}:${value},${text.slice(open + 1)}`;
}

/** The header texts a device and its package sign a request with. */
function requestHeaders(packageText: string, device: Signer): [string, string] {
  const opened = openPackage(parsePackage(packageText), new Date());
  return [
    JSON.stringify({ alg: 'ES256', typ: 'provisio-request+jws', kid: 'device', jwk: device.publicKey.jwk }),
    JSON.stringify({ alg: 'ES256', kid: 'bootstrap', x5c: opened.bootstrapChain.map((c) => c.der.toString('base64')) }),
  ];
}

/**
 * The request re-signed, as the device and its package would, over `payload` with these header
 * texts (written by hand: signJws never writes a name twice). P-256 keys only.
 */
async function resign(packageText: string, device: Signer, payload: string, headers = requestHeaders(packageText, device)): Promise<string> {
  const opened = openPackage(parsePackage(packageText), new Date());
  const encodedPayload = base64url(Buffer.from(payload, 'utf8'));
  const signatures = [];
  for (const [i, signer] of [device, opened.bootstrapSigner].entries()) {
    const encodedHeader = base64url(Buffer.from(headers[i] as string, 'utf8'));
    const der = await signer.sign(Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'));
    signatures.push({ protected: encodedHeader, signature: base64url(ecdsaDerToJose(der, 32)) });
  }
  return JSON.stringify({ payload: encodedPayload, signatures });
}

describe('strict input (SQLite)', () => {
  let t: TestService;
  let packageText: string;

  before(async () => {
    t = await startTestService();
    ({ packageText } = await setUpSystem(t));
  });
  after(async () => t.close());

  /** What a refusal must leave unchanged: row counts and the newest audit entry. */
  const snapshot = async () => {
    const audit = (await t.call('GET', '/api/v1/audit?limit=1')).json();
    return {
      requests: (await t.call('GET', '/api/v1/requests?limit=1')).json().total as number,
      devices: (await t.call('GET', '/api/v1/devices?limit=1')).json().total as number,
      systems: ((await t.call('GET', '/api/v1/systems')).json().items as unknown[]).length,
      audit: audit.total as number,
      auditHead: audit.items[0]?.hash as string,
    };
  };
  async function refused(call: () => Promise<{ status: number; body: Buffer; json(): Record<string, any> }>, status: number, code: string) { // eslint-disable-line @typescript-eslint/no-explicit-any -- replies are read loosely
    const before = await snapshot();
    const r = await call();
    assert.equal(r.status, status, r.body.toString());
    assert.equal(r.json().error.code, code, r.body.toString());
    assert.deepEqual(await snapshot(), before, 'a refused call changed state');
    return r;
  }
  const upload = (text: string | Buffer, contentType = REQUEST_MEDIA) => () => t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType });

  it('refuse/api-body-with-a-duplicate-member', async () => {
    const body = (text: string) => () => t.call('POST', '/api/v1/systems', { raw: Buffer.from(text), contentType: 'application/json' });
    await refused(body('{"name":"Harmless","name":"Other"}'), 400, 'json_duplicate_key');
    await refused(body('{"name":"Harmless","\\u006eame":"Other"}'), 400, 'json_duplicate_key');
    await refused(body('{"name":"Harmless","description":{"a":1,"a":2}}'), 400, 'json_duplicate_key');
    // Fastify's own refusals stay: prototype poisoning and text that is not JSON.
    await refused(body('{"name":"Harmless","__proto__":{"x":1}}'), 400, 'validation_failed');
    await refused(body('{"name":'), 400, 'validation_failed');
    // The same body without the duplicate is accepted.
    const r = await t.call('POST', '/api/v1/systems', { raw: Buffer.from('{"name":"Harmless"}'), contentType: 'application/json' });
    assert.equal(r.status, 201, r.body.toString());
  });

  it('refuse/request-with-a-duplicate-in-its-signed-payload-or-envelope', async () => {
    const { text, deviceKey } = await makeRequest(packageText, 'DEV-DUP');
    const jws = JSON.parse(text) as { payload: string };
    const payload = decode(jws.payload);
    // Signed by the device and the package: only the duplicate can be refused.
    await refused(upload(await resign(packageText, deviceKey, withDuplicate(payload, 'deviceId', '"DEV-OTHER"'))), 400, 'json_duplicate_key');
    await refused(upload(await resign(packageText, deviceKey, withDuplicate(payload, 'mock', 'true'))), 400, 'json_duplicate_key');
    const [deviceHeader, bootstrapHeader] = requestHeaders(packageText, deviceKey);
    await refused(upload(await resign(packageText, deviceKey, payload, [withDuplicate(deviceHeader, 'kid', '"bootstrap"'), bootstrapHeader])), 400, 'json_duplicate_key');
    await refused(upload(await resign(packageText, deviceKey, payload, [deviceHeader, withDuplicate(bootstrapHeader, 'x5c', '[]')])), 400, 'json_duplicate_key');
    await refused(upload(withDuplicate(text, 'payload', '"e30"')), 400, 'json_duplicate_key');
    await refused(upload(withDuplicate(text, 'signatures', '[]')), 400, 'json_duplicate_key');
    // The genuine request is accepted afterwards.
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(await resign(packageText, deviceKey, payload)), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
  });

  it('refuse/invisible-characters-in-names-and-labels', async () => {
    const { text, deviceKey } = await makeRequest(packageText, 'DEV-BIDI');
    const payload = JSON.parse(decode((JSON.parse(text) as { payload: string }).payload)) as Record<string, unknown>;
    for (const label of ['Bed 12\u202E21 deB', 'Bed\u200B12', '\u2067Bed 12\u2069']) {
      await refused(upload(await resign(packageText, deviceKey, JSON.stringify({ ...payload, deviceLabel: label }))), 400, 'text_invalid');
    }
    await refused(() => t.call('POST', '/api/v1/systems', { json: { name: 'ZMon\u200Ditor' } }), 400, 'text_invalid');
    await refused(() => t.call('POST', '/api/v1/systems/ZMonitor/components', { json: { name: 'bedside\u202Emonitor', keyTypes: ['p256'] } }), 400, 'text_invalid');
  });

  it('refuse/csr-asking-for-a-name-the-certificate-would-not-carry', async () => {
    const { text, deviceKey } = await makeRequest(packageText, 'DEV-SAN');
    const payload = JSON.parse(decode((JSON.parse(text) as { payload: string }).payload)) as Record<string, unknown>;
    const withCsr = async (csr: Buffer) => resign(packageText, deviceKey, JSON.stringify({ ...payload, csr: csr.toString('base64') }));
    const subject = [{ type: 'CN' as const, value: 'DEV-SAN' }];
    for (const subjectAltName of [
      [{ type: 'dns' as const, value: 'evil.example' }],
      [{ type: 'ip' as const, value: '10.0.0.1' }],
      deviceSubjectAltName({ deviceId: 'DEV-OTHER', deviceLabel: payload.deviceLabel as string }),
    ]) {
      const r = await refused(upload(await withCsr(await createCsr(deviceKey, { subject, subjectAltName }))), 400, 'csr_san_not_allowed');
      assert.match(r.json().error.message, /would not carry/);
    }
    // Asking for exactly the name the profile writes is fine.
    const same = await withCsr(await createCsr(deviceKey, { subject, subjectAltName: deviceSubjectAltName({ deviceId: 'DEV-SAN', deviceLabel: payload.deviceLabel as string }) }));
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(same), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());

    // A gateway's CSR may ask only for the hosts the administrator names.
    const gatewayKey = createKeySigner((await generateKey('p256')).privateKey);
    const gatewayCsr = (dns: string) => createCsr(gatewayKey, { subject: [{ type: 'CN', value: 'ward-9' }], subjectAltName: [{ type: 'dns', value: dns }] });
    const gateway = async (dns: string) => ({ name: 'ward-9', hosts: ['gw9.example', '127.0.0.1'], csr: encodePem('CERTIFICATE REQUEST', await gatewayCsr(dns)) });
    const body = await gateway('bank.example');
    await refused(() => t.call('POST', '/api/v1/gateways', { json: body }), 400, 'csr_san_not_allowed');
    const ok = await t.call('POST', '/api/v1/gateways', { json: await gateway('gw9.example') });
    assert.equal(ok.status, 201, ok.body.toString());
  });

  it('refuse/csr-with-two-extension-requests-or-challenge-passwords', async () => {
    const { text, deviceKey } = await makeRequest(packageText, 'DEV-ATTR');
    const payload = JSON.parse(decode((JSON.parse(text) as { payload: string }).payload)) as Record<string, unknown>;
    /** A CSR signed by the device key over exactly these attributes (createCsr writes one of each). */
    const csrWith = async (attributes: Buffer[]) => {
      const info = seq(smallInteger(0), encodeName([{ type: 'CN', value: 'DEV-ATTR' }]), deviceKey.publicKey.spki, tlv(0xa0, ...attributes));
      return seq(info, deviceKey.algorithm.der, bitString(await deviceKey.sign(info)));
    };
    const extensionRequest = () => seq(oid(OID.extensionRequest), tlv(Tag.SET, seq(extension(OID.subjectAltName, false, seq(...deviceSubjectAltName({ deviceId: 'DEV-ATTR', deviceLabel: payload.deviceLabel as string }).map(encodeGeneralName))))));
    const challengePassword = (value: string) => seq(oid(OID.challengePassword), setOf(utf8String(value)));
    for (const attributes of [[extensionRequest(), extensionRequest()], [challengePassword('a'), challengePassword('b')]]) {
      const csr = await csrWith(attributes);
      const r = await refused(upload(await resign(packageText, deviceKey, JSON.stringify({ ...payload, csr: csr.toString('base64') }))), 400, 'pr_malformed');
      assert.match(r.json().error.message, /(extensionRequest|challengePassword) attribute twice/);
    }
    const single = await csrWith([challengePassword('a'), extensionRequest()]);
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(await resign(packageText, deviceKey, JSON.stringify({ ...payload, csr: single.toString('base64') }))), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
  });

  it('refuse/request-living-longer-than-its-package-allows', async () => {
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'ZMonitor', requestLifetimeSeconds: 600 } });
    assert.equal(pkg.status, 201, pkg.body.toString());
    const shortLived = pkg.body.toString('utf8');
    const createdAt = new Date();
    for (const seconds of [601, 3600, 7 * 86_400]) {
      const { text } = await makeRequest(shortLived, `DEV-LONG-${seconds}`, { createdAt, expiresAt: new Date(createdAt.getTime() + seconds * 1000) });
      const r = await refused(upload(text), 400, 'request_lifetime_exceeded');
      assert.match(r.json().error.message, /600 s/);
    }
    // Exactly the package's lifetime, as a device makes it, is accepted.
    const { text } = await makeRequest(shortLived, 'DEV-LONG-600', { createdAt, expiresAt: new Date(createdAt.getTime() + 600_000) });
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
  });

  /**
   * Streams a chunked body (no Content-Length) of up to `max` bytes in 16 KiB chunks, each written
   * once the last one was taken, and stops as soon as an answer arrives: `sent` is how much the
   * client had handed over by then.
   */
  function streamChunked(path: string, contentType: string, max: number): Promise<{ status: number; body: Buffer; sent: number }> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(`${t.service.url}${path}`, {
        method: 'POST',
        ca: t.rootPem,
        agent: false,
        headers: { 'authorization': `Bearer ${t.adminToken}`, 'content-type': contentType, 'transfer-encoding': 'chunked' },
      });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      let sent = 0;
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), sent });
          req.destroy();
        });
      });
      // Once answered, the server may close the connection under the writes still under way.
      req.on('error', (e) => answered || reject(e));
      const pump = (): void => {
        while (!answered && sent < max) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end();
      };
      pump();
    });
  }

  it('refuse/chunked-body-over-the-route-limit-before-it-is-buffered', async () => {
    // The request route takes bundles of up to 64 MiB, so its Fastify bodyLimit is 64 MiB; a
    // request file is at most 64 KiB. A chunked request file larger than that must be cut off
    // near 64 KiB, not read to 64 MiB first.
    const before = await snapshot();
    const max = MAX_BUNDLE_BYTES + 1024 * 1024;
    for (const type of [REQUEST_MEDIA, 'application/octet-stream']) {
      const r = await streamChunked('/api/v1/requests', type, max);
      assert.equal(r.status, 413, r.body.toString());
      assert.equal((JSON.parse(r.body.toString('utf8')) as { error: { code: string } }).error.code, 'body_too_large');
      // What the client handed over is the limit plus what the sockets buffer, far below 64 MiB.
      assert.ok(r.sent < 16 * 1024 * 1024, `${r.sent} bytes were sent before the answer`);
    }
    // A JSON route is held to its own limit (64 KiB) the same way.
    const json = await streamChunked('/api/v1/systems', 'application/json', max);
    assert.equal(json.status, 413, json.body.toString());
    assert.ok(json.sent < 16 * 1024 * 1024, `${json.sent} bytes were sent before the answer`);
    assert.deepEqual(await snapshot(), before);
    // The service still answers afterwards.
    assert.equal((await t.call('GET', '/api/v1/systems')).status, 200);
  });
});
