/**
 * Strict input through the real HTTPS API (docs/decisions.md D29): duplicate member names in a
 * signed request, its headers or envelope, a bundle and an API body; each refusal leaves the
 * database as it was (row counts and the audit head).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, base64url, createBundle, createRenewalRequest, ecdsaDerToJose, openPackage, parsePackage } from '@provisio/protocol';
import { httpsTransport, initDevice, loadDevice, provisionConnected, readKeystoreFile, readPrivateKeyFile } from '@provisio/device';
import { tempDir } from '@provisio/testkit';
import {
  OID,
  Tag,
  type GeneralName,
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

describe('strict input in bundles and renewals (SQLite)', () => {
  let t: TestService;
  let packageText: string;
  const random = { bytes: (n: number) => randomBytes(n) };
  const deps = { clock: { now: () => new Date() }, random };

  before(async () => {
    t = await startTestService();
    ({ packageText } = await setUpSystem(t, 'Infusion', 'pump', ['p256']));
    const r = await t.call('POST', '/api/v1/systems/Infusion/policy', { json: { mode: 'automatic', rules: { transports: ['connected'] } } });
    assert.equal(r.status, 200, r.body.toString());
  });
  after(async () => t.close());

  const snapshot = async () => {
    const audit = (await t.call('GET', '/api/v1/audit?limit=1')).json();
    return {
      requests: (await t.call('GET', '/api/v1/requests?limit=1')).json().total as number,
      devices: (await t.call('GET', '/api/v1/devices?limit=1')).json().total as number,
      audit: audit.total as number,
      auditHead: audit.items[0]?.hash as string,
    };
  };

  /** A request bundle signed with the package's bootstrap credential over exactly this manifest text. */
  async function bundleWith(entries: Array<{ name: string; content: Buffer }>, editManifest = (m: string) => m, editEnvelope = (b: string) => b): Promise<Buffer> {
    const pkg = parsePackage(packageText);
    const opened = openPackage(pkg, new Date());
    const made = JSON.parse(await createBundle({
      type: 'provisio.request-bundle',
      packageId: pkg.packageId,
      createdAt: new Date(),
      entries,
      signer: opened.bootstrapSigner,
      signerChain: opened.bootstrapChain.map((c) => c.der),
    })) as { manifest: { payload: string; signatures: Array<{ protected: string }> }; entries: unknown[] };
    const manifest = editManifest(decode(made.manifest.payload));
    const encodedPayload = base64url(Buffer.from(manifest, 'utf8'));
    const encodedHeader = (made.manifest.signatures[0] as { protected: string }).protected;
    const der = await opened.bootstrapSigner.sign(Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'));
    const signature = base64url(ecdsaDerToJose(der, 32));
    return Buffer.from(editEnvelope(JSON.stringify({ manifest: { payload: encodedPayload, signatures: [{ protected: encodedHeader, signature }] }, entries: made.entries })));
  }
  const uploadBundle = (bytes: Buffer) => t.call('POST', '/api/v1/requests', { raw: bytes, contentType: BUNDLE_MEDIA_TYPE });

  it('refuse/bundle-with-a-duplicate-in-its-envelope-manifest-or-entry', async () => {
    const good = await makeRequest(packageText, 'BDL-DUP-1');
    const bad = await makeRequest(packageText, 'BDL-DUP-2');
    const badJws = JSON.parse(bad.text) as { payload: string };
    const badText = await resign(packageText, bad.deviceKey, withDuplicate(decode(badJws.payload), 'deviceId', '"BDL-OTHER"'));
    const entries = [{ name: 'BDL-DUP-1.ppr', content: Buffer.from(good.text) }];
    const before = await snapshot();
    for (const bytes of [
      await bundleWith(entries, (m) => withDuplicate(m, 'packageId', '"pkg_other"')),
      await bundleWith(entries, (m) => m.replace('"entries":[{', '"entries":[{"name":"other.ppr",')),
      await bundleWith(entries, (m) => m, (b) => withDuplicate(b, 'entries', '[]')),
    ]) {
      const r = await uploadBundle(bytes);
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(r.json().error.code, 'json_duplicate_key', r.body.toString());
    }
    assert.deepEqual(await snapshot(), before, 'a refused bundle changed state');
    // A well-formed bundle whose entry has a duplicate: that entry alone is refused, with the code.
    const r = await uploadBundle(await bundleWith([...entries, { name: 'BDL-DUP-2.ppr', content: Buffer.from(badText) }]));
    assert.equal(r.status, 200, r.body.toString());
    const results = r.json().entries as Array<{ name: string; ok: boolean; error?: { code: string } }>;
    assert.deepEqual(results.map((e) => [e.name, e.ok, e.error?.code]), [['BDL-DUP-1.ppr', true, undefined], ['BDL-DUP-2.ppr', false, 'json_duplicate_key']]);
  });

  it('refuse/renewal-with-a-duplicate-or-a-name-the-certificate-would-not-carry', async () => {
    const dir = join(tempDir('provisio-strict-'), 'keystore');
    await initDevice(deps, { packageText, component: 'pump', deviceId: 'PUMP-1', deviceLabel: 'Pump 1', dir });
    const provisioned = await provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
    assert.equal(provisioned.serviceState, 'provisioned');
    const device = loadDevice(dir);
    const serial = device.install?.serial ?? '';
    const transport = httpsTransport(t.rootPem, { clientKey: readPrivateKeyFile(dir), clientCertificate: readKeystoreFile(dir, 'certificate') });
    const post = (body: string) => transport.request('POST', `${t.service.url}/api/v1/device/renew`, { bytes: Buffer.from(body), contentType: 'application/json' });
    const codeOf = (reply: { body: Buffer }) => (JSON.parse(reply.body.toString('utf8')) as { error: { code: string } }).error.code;
    const renewal = async (csrDer: Buffer) => createRenewalRequest(device.signer, { deviceId: 'PUMP-1', serial, csrDer, nonce: randomBytes(16), at: new Date() });
    const csr = (subjectAltName?: GeneralName[]) => createCsr(device.signer, { subject: [{ type: 'CN', value: 'PUMP-1' }], ...(subjectAltName ? { subjectAltName } : {}) });
    /** The compact renewal JWS re-signed by the device key over exactly these texts. */
    const compact = async (headerText: string, payloadText: string) => {
      const encodedHeader = base64url(Buffer.from(headerText, 'utf8'));
      const encodedPayload = base64url(Buffer.from(payloadText, 'utf8'));
      const der = await device.signer.sign(Buffer.from(`${encodedHeader}.${encodedPayload}`, 'ascii'));
      return `${encodedHeader}.${encodedPayload}.${base64url(ecdsaDerToJose(der, 32))}`;
    };
    try {
      const before = await snapshot();
      const [h, p] = (await renewal(await csr())).split('.') as [string, string, string];
      for (const [body, code] of [
        [JSON.stringify({ renewal: await compact(decode(h), withDuplicate(decode(p), 'deviceId', '"PUMP-2"')) }), 'json_duplicate_key'],
        [JSON.stringify({ renewal: await compact(withDuplicate(decode(h), 'typ', '"JWT"'), decode(p)) }), 'json_duplicate_key'],
        [`{"renewal":"x","renewal":${JSON.stringify(await compact(decode(h), decode(p)))}}`, 'json_duplicate_key'],
        [JSON.stringify({ renewal: await renewal(await csr([{ type: 'dns', value: 'pump-1.example' }])) }), 'csr_san_not_allowed'],
        [JSON.stringify({ renewal: await renewal(await csr(deviceSubjectAltName({ deviceId: 'PUMP-1', deviceLabel: 'Another pump' }))) }), 'csr_san_not_allowed'],
      ] as const) {
        const reply = await post(body);
        assert.equal(reply.status, 400, reply.body.toString());
        assert.equal(codeOf(reply), code, reply.body.toString());
      }
      assert.deepEqual(await snapshot(), before, 'a refused renewal changed state');
      // The same texts without the duplicate, and a CSR asking for exactly the certificate's name, renew.
      const ok = await post(JSON.stringify({ renewal: await renewal(await csr(deviceSubjectAltName({ deviceId: 'PUMP-1', deviceLabel: 'Pump 1' }))) }));
      assert.equal(ok.status, 201, ok.body.toString());
    } finally {
      transport.close();
    }
  });
});
