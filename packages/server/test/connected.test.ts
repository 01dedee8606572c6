/**
 * Connected delivery against the real service (HTTPS on a loopback port, a real SQLite file): the
 * device SDK submits its own request, waits while an approver decides, and installs the profile;
 * a rejection ends the wait with its code; the public device endpoints refuse bad input and store
 * nothing. The device then proves its install with a mutual-TLS call using its new certificate,
 * on which the service marks it Provisioned (seed 000 step 9); that call refuses a caller without
 * a certificate or with one from another root.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ProvisionProgress, httpsTransport, initDevice, provisionConnected, readKeystoreFile, showDevice } from '@provisio/device';
import { encodePem, systemClock } from '@provisio/pki';
import { createTestPki, openssl, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const random = { bytes: (n: number) => randomBytes(n) };
const deps = { clock: systemClock, random };

describe('connected delivery (SQLite)', () => {
  let t: TestService;
  let packageText: string;

  before(async () => {
    t = await startTestService();
    ({ packageText } = await setUpSystem(t));
  });
  after(async () => t.close());

  async function newDevice(deviceId: string): Promise<string> {
    const dir = join(tempDir('provisio-dev-'), 'keystore');
    await initDevice(deps, { packageText, component: 'bedside monitor', deviceId, deviceLabel: `Bed ${deviceId}`, dir });
    return dir;
  }

  async function waitForPending(deviceId: string): Promise<string> {
    for (let i = 0; i < 200; i++) {
      const r = await t.call('GET', `/api/v1/requests?state=pending&q=${encodeURIComponent(deviceId)}`);
      const item = (r.json().items as { id: string; deviceId: string; transport?: string }[]).find((x) => x.deviceId === deviceId);
      if (item) return item.id;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no pending request for ${deviceId}`);
  }

  const counts = async () => ({
    requests: (await t.call('GET', '/api/v1/requests?limit=1')).json().total as number,
    audit: (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number,
  });

  it('ok/zero-touch/automatic-policy-and-connected-delivery-need-no-human', async () => {
    // Zero-touch = an enrollment method + automatic approval + connected delivery (issue 4).
    await setUpSystem(t, 'ZeroTouch', 'sensor', ['p256']);
    const policy = await t.call('POST', '/api/v1/systems/ZeroTouch/policy', { json: { mode: 'automatic', rules: { transports: ['connected'], deviceIdPattern: '^ZT-[0-9]{3}$' } } });
    assert.equal(policy.status, 200, policy.body.toString());
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'ZeroTouch' } });
    const dir = join(tempDir('provisio-zt-'), 'keystore');
    await initDevice(deps, { packageText: pkg.body.toString(), component: 'sensor', deviceId: 'ZT-001', deviceLabel: 'Zero-touch sensor', dir });
    const result = await provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
    assert.equal(result.identity.state, 'installed');
    const request = (await t.call('GET', `/api/v1/requests/${result.requestId}`)).json();
    assert.equal(request.state, 'approved');
    assert.equal(request.transport, 'connected');
    assert.equal(request.policyDecision, 'approve');
    // The same request uploaded by a technician would not match (transports: connected only).
    const upload = await makeRequest(pkg.body.toString(), 'ZT-002');
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(upload.text), contentType: REQUEST_MEDIA });
    assert.equal(r.json().request.state, 'pending', r.body.toString());
  });

  it('ok/approver-approves-while-the-device-polls', async () => {
    const dir = await newDevice('CON-001');
    const events: ProvisionProgress[] = [];
    const running = provisionConnected(deps, {
      dir,
      serviceUrl: t.service.url,
      maxWaitMs: 60_000,
      maxPollIntervalMs: 100,
      // Plain polling (the fallback against a service without long-poll; long-poll.test.ts has the other).
      longPollSeconds: 0,
      onProgress: (e) => events.push(e),
    });
    const requestId = await waitForPending('CON-001');
    let r = await t.call('GET', `/api/v1/requests/${requestId}`);
    assert.equal(r.json().state, 'pending');
    // The device is told to wait while nobody has decided.
    r = await t.call('GET', `/api/v1/device/requests/${requestId}/profile`, { token: null });
    assert.equal(r.status, 202);
    assert.equal(r.headers['retry-after'], '5');
    assert.deepEqual(r.json(), { state: 'pending' });

    r = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
    assert.equal(r.status, 200, r.body.toString());
    const serial = r.json().certificate.serial as string;

    const result = await running;
    assert.equal(result.requestId, requestId);
    assert.equal(result.install.serial, serial);
    assert.equal(result.identity.state, 'installed');
    assert.ok(events.some((e) => e.step === 'submitted' && e.requestId === requestId && e.created));
    assert.ok(events.some((e) => e.step === 'waiting'));
    assert.equal(showDevice(deps, { dir }).state, 'installed');
    assert.equal(result.confirmed, true);
    assert.equal(result.serviceState, 'provisioned');
    assert.ok(result.install.confirmedAt, 'install.json records the confirmation');
    assert.ok(events.some((e) => e.step === 'confirmed' && e.deviceId === 'CON-001' && e.state === 'provisioned'));

    // The first mutual-TLS call with the new certificate marked the device provisioned.
    const shown = (await t.call('GET', '/api/v1/devices/CON-001')).json();
    assert.equal(shown.state, 'provisioned');
    r = await t.call('GET', '/api/v1/audit?target=CON-001&action=device.confirm');
    const confirm = r.json().items as { actor: string; details: { serial: string; transport: string } }[];
    assert.equal(confirm.length, 1);
    assert.equal(confirm[0]?.actor, 'device:CON-001');
    assert.equal(confirm[0]?.details.serial, serial);
    assert.equal(confirm[0]?.details.transport, 'connected');

    // Confirming again is idempotent: same answer, no second audit entry.
    const mtls = httpsTransport(readKeystoreFile(dir, 'root'), { clientKey: readKeystoreFile(dir, 'key'), clientCertificate: readKeystoreFile(dir, 'certificate') });
    try {
      const again = await mtls.request('POST', `${t.service.url}/api/v1/device/confirm`, { bytes: Buffer.from('{}'), contentType: 'application/json' });
      assert.equal(again.status, 200, again.body.toString());
      assert.deepEqual(JSON.parse(again.body.toString()), { deviceId: 'CON-001', state: 'provisioned' });
    } finally {
      mtls.close();
    }
    r = await t.call('GET', '/api/v1/audit?target=CON-001&action=device.confirm');
    assert.equal(r.json().total, 1);

    // The installed certificate chains to the service's root, checked by openssl.
    const rootPath = join(dir, 'root.crt');
    const chain = readKeystoreFile(dir, 'certificate').toString('utf8');
    const certs = chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    assert.equal(certs.length, 2);
    const work = tempDir();
    writeFileSync(join(work, 'dev.pem'), certs[0] as string);
    writeFileSync(join(work, 'int.pem'), certs[1] as string);
    const v = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', rootPath, '-untrusted', join(work, 'int.pem'), join(work, 'dev.pem')]);
    assert.match(v.output, /dev\.pem: OK/, v.output);

    // The service recorded the connected transport and the device as the submitter.
    r = await t.call('GET', `/api/v1/audit?target=${requestId}&action=request.submit`);
    const entry = r.json().items[0] as { actor: string; details: { transport: string } };
    assert.equal(entry.actor, 'device:CON-001');
    assert.equal(entry.details.transport, 'connected');

    // Running again (a restart after install) sends nothing and changes nothing.
    const again = await provisionConnected({ ...deps, transport: { request: () => Promise.reject(new Error('must not be called')) } }, { dir, serviceUrl: t.service.url, maxWaitMs: 1000 });
    assert.equal(again.changed, false);
    assert.equal(again.install.serial, serial);
  });

  it('ok/installed-but-unconfirmed-keystore-confirms-on-the-next-run', async () => {
    const dir = await newDevice('CON-008');
    const r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: readKeystoreFile(dir, 'request'), contentType: REQUEST_MEDIA });
    await t.call('POST', `/api/v1/requests/${r.json().request.id as string}/approve`);
    // The confirmation cannot reach the service (network errors, retried until the wait ends).
    const down = { request: () => Promise.reject(new Error('connection refused')) };
    await assert.rejects(
      provisionConnected({ ...deps, confirmTransport: down }, { dir, serviceUrl: t.service.url, maxWaitMs: 400, maxPollIntervalMs: 100 }),
      (e: { code?: string; message?: string }) => e.code === 'provision_timeout' && /installed, but the service did not confirm/.test(e.message ?? ''),
    );
    assert.equal(showDevice(deps, { dir }).state, 'installed');
    assert.equal((await t.call('GET', '/api/v1/devices/CON-008')).json().state, 'approved');

    // Run again: nothing is fetched again, only the confirmation is sent.
    const noFetch = { request: () => Promise.reject(new Error('must not be called')) };
    const events: ProvisionProgress[] = [];
    const result = await provisionConnected({ ...deps, transport: noFetch }, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, onProgress: (e) => events.push(e) });
    assert.equal(result.changed, false);
    assert.equal(result.serviceState, 'provisioned');
    assert.ok(events.some((e) => e.step === 'confirmed'));
    assert.equal((await t.call('GET', '/api/v1/devices/CON-008')).json().state, 'provisioned');

    // And once confirmed, a run sends nothing at all.
    const third = await provisionConnected({ ...deps, transport: noFetch, confirmTransport: noFetch }, { dir, serviceUrl: t.service.url, maxWaitMs: 1000 });
    assert.equal(third.confirmed, true);
    assert.equal(third.serviceState, null);
  });

  it('err/confirm-needs-a-client-certificate-under-the-root', async () => {
    const before = await counts();
    // No client certificate: 401 with its code, token or not.
    let r = await t.call('POST', '/api/v1/device/confirm', { token: null, json: {} });
    assert.equal(r.status, 401, r.body.toString());
    assert.equal(r.json().error.code, 'client_certificate_required');
    r = await t.call('POST', '/api/v1/device/confirm', { token: null });
    assert.equal(r.status, 401, r.body.toString());

    // A device certificate from another PKI (same device id): TLS lets it through (certificates are
    // requested, not required), the route's chain check refuses it.
    const other = await createTestPki({ now: new Date(), random });
    const foreign = await other.issueDevice('CON-001');
    const chain = encodePem('CERTIFICATE', foreign.certificate.der) + encodePem('CERTIFICATE', other.intermediate.certificate.der);
    const mtls = httpsTransport(t.rootPem, { clientKey: foreign.key.privateKey.export({ type: 'pkcs8', format: 'pem' }), clientCertificate: chain });
    try {
      const reply = await mtls.request('POST', `${t.service.url}/api/v1/device/confirm`, { bytes: Buffer.from('{}'), contentType: 'application/json' });
      const body = JSON.parse(reply.body.toString()) as { error: { code: string } };
      assert.ok(reply.status === 400 || reply.status === 401, reply.body.toString());
      assert.match(body.error.code, /^chain_/, reply.body.toString());
    } finally {
      mtls.close();
    }
    assert.deepEqual(await counts(), before, 'a refused confirmation changed state');
  });

  it('ok/resubmission-is-idempotent', async () => {
    const dir = await newDevice('CON-002');
    const raw = readKeystoreFile(dir, 'request');
    let r = await t.call('POST', '/api/v1/device/requests', { token: null, raw, contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    const first = r.json().request as { id: string; state: string };
    assert.equal(first.state, 'pending');
    assert.match(first.id, /^req_[0-9a-f]{32}$/);
    r = await t.call('POST', '/api/v1/device/requests', { token: null, raw, contentType: REQUEST_MEDIA });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json().request, first);

    // The SDK, restarted, resubmits the same bytes and waits on the same request.
    await t.call('POST', `/api/v1/requests/${first.id}/approve`);
    const result = await provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
    assert.equal(result.requestId, first.id);
  });

  it('err/rejected-request-ends-with-provision_rejected', async () => {
    const dir = await newDevice('CON-003');
    const running = provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, maxPollIntervalMs: 100 });
    const settled = running.then(() => null, (e: unknown) => e);
    const requestId = await waitForPending('CON-003');
    const r = await t.call('POST', `/api/v1/requests/${requestId}/reject`, { json: { reason: 'unknown serial number' } });
    assert.equal(r.status, 200, r.body.toString());
    const e = (await settled) as { code?: string; message?: string } | null;
    assert.equal(e?.code, 'provision_rejected');
    assert.match(e?.message ?? '', /unknown serial number/);
    assert.equal(showDevice(deps, { dir }).state, 'requested');

    const p = await t.call('GET', `/api/v1/device/requests/${requestId}/profile`, { token: null });
    assert.equal(p.status, 409);
    assert.equal(p.json().error.code, 'request_rejected');
  });

  it('err/pending-past-the-wait-is-provision_timeout', async () => {
    const dir = await newDevice('CON-004');
    await assert.rejects(
      provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 300, maxPollIntervalMs: 100 }),
      (e: { code?: string }) => e.code === 'provision_timeout',
    );
  });

  it('err/service-not-under-the-root-is-not-trusted', async () => {
    // HTTPS trusting another service's root cannot complete TLS with this one: network errors
    // (retried with backoff) until the wait ends.
    const dir = await newDevice('CON-005');
    const other = await startTestService();
    const transport = httpsTransport(other.rootPem, { timeoutMs: 2000 });
    try {
      await assert.rejects(
        provisionConnected({ ...deps, transport }, { dir, serviceUrl: t.service.url, maxWaitMs: 1500, maxPollIntervalMs: 100 }),
        (e: { code?: string; message?: string }) => e.code === 'provision_timeout' && /network/.test(e.message ?? ''),
      );
    } finally {
      transport.close();
      await other.close();
    }
  });

  it('err/profile-for-another-device-is-refused', async () => {
    // An approved profile of device CON-006 fetched by device CON-007's SDK (a wrong or malicious
    // service answer): installProfile refuses it and writes nothing.
    const a = await newDevice('CON-006');
    const b = await newDevice('CON-007');
    let r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: readKeystoreFile(a, 'request'), contentType: REQUEST_MEDIA });
    const idA = r.json().request.id as string;
    await t.call('POST', `/api/v1/requests/${idA}/approve`);
    r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: readKeystoreFile(b, 'request'), contentType: REQUEST_MEDIA });
    const idB = r.json().request.id as string;
    const realTransport = httpsTransport(readKeystoreFile(b, 'root'));
    try {
      const swapped = {
        request: (method: 'GET' | 'POST', url: string, body?: { bytes: Uint8Array; contentType: string }) =>
          realTransport.request(method, url.replace(idB, idA), body),
      };
      await assert.rejects(
        provisionConnected({ ...deps, transport: swapped }, { dir: b, serviceUrl: t.service.url, maxWaitMs: 10_000, maxPollIntervalMs: 100 }),
        (e: { code?: string }) => e.code === 'cp_wrong_device',
      );
    } finally {
      realTransport.close();
    }
    assert.equal(showDevice(deps, { dir: b }).state, 'requested');
  });

  it('err/public-endpoints-refuse-bad-input-and-store-nothing', async () => {
    const before = await counts();
    const post = (raw: Buffer, contentType = REQUEST_MEDIA) => t.call('POST', '/api/v1/device/requests', { token: null, raw, contentType });

    let r = await post(Buffer.from('{"not":"a request"}'));
    assert.equal(r.status, 400, r.body.toString());
    r = await post(Buffer.from('x'), 'text/plain');
    assert.equal(r.status, 400, r.body.toString());
    assert.equal(r.json().error.code, 'validation_failed');
    r = await post(Buffer.alloc(65 * 1024, 0x20));
    assert.equal(r.status, 413);
    assert.equal(r.json().error.code, 'body_too_large');

    // A genuine request with one byte of its payload changed: the signatures no longer hold.
    const { text } = await makeRequest(packageText, 'CON-BAD');
    const jws = JSON.parse(text) as { payload: string };
    const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as { deviceId: string };
    payload.deviceId = 'CON-EVIL';
    jws.payload = Buffer.from(JSON.stringify(payload)).toString('base64url');
    r = await post(Buffer.from(JSON.stringify(jws)));
    assert.ok(r.status === 400 || r.status === 401, r.body.toString());

    r = await t.call('GET', '/api/v1/device/requests/req_00000000000000000000000000000000/profile', { token: null });
    assert.equal(r.status, 404);
    assert.equal(r.json().error.code, 'request_not_found');
    r = await t.call('GET', '/api/v1/device/requests/..%2F..%2Fusers/profile', { token: null });
    assert.ok(r.status === 400 || r.status === 404, r.body.toString());

    assert.deepEqual(await counts(), before, 'a refused device call changed state');
  });
});
