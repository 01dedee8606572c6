/**
 * Proxy delivery against the real service and a real gateway, both HTTPS on loopback ports
 * (docs/proxy.md): devices that cannot reach the service submit through the gateway with the
 * same SDK; the gateway queues on disk while the service is down and catches up when it returns;
 * it can neither forge a request nor alter a profile nor confirm an install on its own.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type ForwarderEvent, type RunningGateway, httpsTransport, initDevice, provisionConnected, readKeystoreFile, showDevice, startGateway } from '@provisio/device';
import { createCsr, createKeySigner, encodePem, generateKey, parseCertificate, systemClock } from '@provisio/pki';
import { createConfirmProof } from '@provisio/protocol';
import { createTestPki, tempDir } from '@provisio/testkit';
import { type GatewayFiles, freePort, postAs, registerGateway, until } from './gateway-harness.js';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const random = { bytes: (n: number) => randomBytes(n) };
const deps = { clock: systemClock, random };
/** Short waits so a test does not idle; the gateway's defaults are seconds. */
const FAST = { pollIntervalMs: 100, backoffBaseMs: 100, backoffMaxMs: 400, retryAfterSeconds: 1 } as const;

async function newDevice(packageText: string, component: string, deviceId: string): Promise<string> {
  const dir = join(tempDir('provisio-dev-'), 'keystore');
  await initDevice(deps, { packageText, component, deviceId, deviceLabel: `Bed ${deviceId}`, dir });
  return dir;
}

function gatewayAt(files: GatewayFiles, upstream: string, events: ForwarderEvent[] = []): Promise<RunningGateway> {
  return startGateway({ dir: files.dir, upstream, host: '127.0.0.1', port: 0, clock: systemClock, random, ...FAST, onEvent: (e) => void (e.step !== 'received' && events.push(e)) });
}

describe('proxy delivery: upstream down, then up', () => {
  it('ok/fifty-devices-queue-while-the-service-is-down-and-all-end-provisioned-once', async () => {
    // Set up on a running service, then stop it: the gateway starts with nothing listening upstream.
    const dataDir = tempDir('provisio-svc-');
    let t: TestService = await startTestService({ dataDir });
    const { packageText } = await setUpSystem(t, 'Ward', 'monitor', ['p256']);
    let r = await t.call('POST', '/api/v1/systems/Ward/components/monitor/policy', { json: { mode: 'automatic', rules: { transports: ['proxy'], deviceIdPattern: '^W-[0-9]{3}$' } } });
    assert.equal(r.status, 200, r.body.toString());
    const files = await registerGateway(t, 'ward-1');
    const ids = Array.from({ length: 50 }, (_, i) => `W-${String(i).padStart(3, '0')}`);
    const dirs = await Promise.all(ids.map((id) => newDevice(packageText, 'monitor', id)));
    const { port, url } = t.service;
    await t.close();

    const events: ForwarderEvent[] = [];
    const gw = await gatewayAt(files, url, events);
    let results;
    try {
      const running = dirs.map((dir) => provisionConnected(deps, { dir, serviceUrl: gw.url, maxWaitMs: 120_000, maxPollIntervalMs: 200 }));
      const settled = Promise.allSettled(running);
      // Every request is acknowledged and queued on disk while the service is down.
      await until(() => gw.queue.counts().queued === 50, '50 queued requests');
      await until(() => events.some((e) => e.step === 'upstream-down'), 'the forwarder to notice the service is down');
      assert.equal(readdirSync(gw.queue.dir).filter((f) => f.endsWith('.json')).length, 50);

      t = await startTestService({ dataDir, port });
      results = await settled;
    } finally {
      await gw.close();
    }
    try {
      for (const [i, s] of results.entries()) {
        assert.equal(s.status, 'fulfilled', `${ids[i]}: ${s.status === 'rejected' ? String(s.reason) : ''}`);
        if (s.status === 'fulfilled') assert.equal(s.value.serviceState, 'provisioned');
      }
      assert.ok(events.some((e) => e.step === 'upstream-up'));
      assert.equal(gw.queue.counts().approved, 50);

      // Exactly once on the service: 50 requests, 50 devices provisioned, one confirmation each,
      // every request carried by the gateway and so recorded.
      r = await t.call('GET', '/api/v1/requests?system=Ward&limit=500');
      const requests = r.json().items as { id: string; deviceId: string; transport: string; gateway: string | null; state: string }[];
      assert.equal(r.json().total, 50);
      assert.deepEqual(new Set(requests.map((q) => q.deviceId)), new Set(ids));
      for (const q of requests) {
        assert.equal(q.transport, 'proxy');
        assert.equal(q.gateway, 'ward-1');
        assert.equal(q.state, 'approved');
      }
      r = await t.call('GET', '/api/v1/devices?system=Ward&state=provisioned&limit=500');
      assert.equal(r.json().total, 50);
      r = await t.call('GET', '/api/v1/audit?action=device.confirm&limit=500');
      const confirms = (r.json().items as { targetId: string; details: { transport: string; gateway?: string } }[]).filter((e) => ids.includes(e.targetId));
      assert.equal(confirms.length, 50);
      assert.equal(new Set(confirms.map((c) => c.targetId)).size, 50);
      assert.ok(confirms.every((c) => c.details.transport === 'proxy' && c.details.gateway === 'ward-1'));
      const first = requests[0] as { id: string };
      r = await t.call('GET', `/api/v1/audit?target=${first.id}&action=request.submit`);
      assert.equal(r.json().items[0].details.gateway, 'ward-1', 'the submission audit names the gateway');
      assert.equal(r.json().items[0].details.transport, 'proxy');
      r = await t.call('GET', '/api/v1/audit/verify');
      assert.equal(r.json().ok, true);
    } finally {
      await t.close();
    }
  });
});

function describeGateway(label: string, open: () => Promise<TestService>, cleanUp: () => Promise<void> = async () => {}) {
  describe(`proxy delivery (${label})`, () => {
    let t: TestService;
    let packageText: string;
    let files: GatewayFiles;

    before(async () => {
      t = await open();
      ({ packageText } = await setUpSystem(t, 'Clinic', 'pump', ['p256']));
      files = await registerGateway(t, 'clinic-gw');
    });
    after(async () => {
      await t.close();
      await cleanUp();
    });

    const counts = async () => ({
      requests: (await t.call('GET', '/api/v1/requests?limit=1')).json().total as number,
      audit: (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number,
    });

    it('ok/gateway-restart-with-queued-requests-loses-nothing', async () => {
      const dirs = await Promise.all(['P-001', 'P-002', 'P-003'].map((id) => newDevice(packageText, 'pump', id)));
      const dead = `https://127.0.0.1:${await freePort()}`;
      let gw = await gatewayAt(files, dead);
      const attempts = dirs.map((dir) => provisionConnected(deps, { dir, serviceUrl: gw.url, maxWaitMs: 1_500, maxPollIntervalMs: 100 }).catch((e: { code?: string }) => e.code));
      await until(() => gw.queue.counts().queued >= 3, '3 queued requests');
      await gw.close();
      assert.deepEqual(await Promise.all(attempts), ['provision_timeout', 'provision_timeout', 'provision_timeout']);
      // Files 0600 in a 0700 directory; the gateway key 0600.
      const queueDir = join(files.dir, 'queue');
      assert.equal(statSync(queueDir).mode & 0o777, 0o700);
      for (const f of readdirSync(queueDir)) assert.equal(statSync(join(queueDir, f)).mode & 0o777, 0o600, f);

      // Restarted, now with the service reachable: what was queued goes through.
      const before = (await t.call('GET', '/api/v1/requests?system=Clinic&limit=1')).json().total as number;
      gw = await gatewayAt(files, t.service.url);
      try {
        assert.ok(gw.queue.counts().queued >= 3, 'the queue came back from disk');
        await until(async () => (await t.call('GET', '/api/v1/requests?system=Clinic&limit=1')).json().total === before + 3, 'the queued requests to reach the service');
        for (const id of ['P-001', 'P-002', 'P-003']) {
          const q = (await t.call('GET', `/api/v1/requests?q=${id}`)).json().items[0];
          assert.equal(q.gateway, 'clinic-gw');
          const a = await t.call('POST', `/api/v1/requests/${q.id as string}/approve`);
          assert.equal(a.status, 200, a.body.toString());
        }
        const done = await Promise.all(dirs.map((dir) => provisionConnected(deps, { dir, serviceUrl: gw.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 })));
        assert.ok(done.every((d) => d.serviceState === 'provisioned'));
      } finally {
        await gw.close();
      }
    });

    it('err/profile-altered-in-the-gateway-queue-is-refused-by-the-device', async () => {
      // A gateway (or whoever can write its disk) edits a profile before handing it back: the
      // signature, made by the service, no longer verifies against the device's package root.
      const dir = await newDevice(packageText, 'pump', 'P-010');
      let gw = await gatewayAt(files, t.service.url);
      let entryId = '';
      try {
        const transport = httpsTransport(readKeystoreFile(dir, 'root'));
        try {
          const s = await transport.request('POST', `${gw.url}/api/v1/device/requests`, { bytes: readKeystoreFile(dir, 'request'), contentType: REQUEST_MEDIA });
          assert.equal(s.status, 201, s.body.toString());
          entryId = JSON.parse(s.body.toString()).request.id as string;
          const again = await transport.request('POST', `${gw.url}/api/v1/device/requests`, { bytes: readKeystoreFile(dir, 'request'), contentType: REQUEST_MEDIA });
          assert.equal(again.status, 200, 'resubmission is idempotent');
          assert.equal(JSON.parse(again.body.toString()).request.id, entryId);
        } finally {
          transport.close();
        }
        await until(() => gw.queue.get(entryId)?.state === 'pending', 'the service to hold the request');
        const upstreamId = gw.queue.get(entryId)?.upstreamId as string;
        assert.equal((await t.call('POST', `/api/v1/requests/${upstreamId}/approve`)).status, 200);
        await until(() => gw.queue.get(entryId)?.state === 'approved', 'the profile to reach the gateway');
      } finally {
        await gw.close();
      }
      const file = join(files.dir, 'queue', `${entryId.slice(3)}.json`);
      const entry = JSON.parse(readFileSync(file, 'utf8')) as { profile: string };
      const profile = JSON.parse(Buffer.from(entry.profile, 'base64').toString('utf8')) as { payload: string };
      const payload = JSON.parse(Buffer.from(profile.payload, 'base64url').toString('utf8')) as { config: { serviceUrl: string } };
      payload.config.serviceUrl = 'https://attacker.example';
      profile.payload = Buffer.from(JSON.stringify(payload)).toString('base64url');
      entry.profile = Buffer.from(JSON.stringify(profile)).toString('base64');
      writeFileSync(file, JSON.stringify(entry));

      gw = await gatewayAt(files, t.service.url);
      try {
        await assert.rejects(
          provisionConnected(deps, { dir, serviceUrl: gw.url, maxWaitMs: 10_000, maxPollIntervalMs: 100 }),
          (e: { code?: string }) => e.code === 'cp_signature_invalid',
        );
      } finally {
        await gw.close();
      }
      assert.equal(showDevice(deps, { dir }).state, 'requested', 'nothing was installed');
      assert.equal((await t.call('GET', '/api/v1/devices/P-010')).json().state, 'approved', 'and the service was not told otherwise');
    });

    it('err/forged-or-tampered-requests-get-their-code-per-item-and-store-nothing', async () => {
      const good = await makeRequest(packageText, 'P-020');
      const { text } = await makeRequest(packageText, 'P-021');
      // The gateway changes the device id inside a signed request: both signatures break.
      const jws = JSON.parse(text) as { payload: string };
      const p = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as { deviceId: string };
      p.deviceId = 'P-EVIL';
      jws.payload = Buffer.from(JSON.stringify(p)).toString('base64url');
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      const before = await counts();
      const r = await postAs(t, files, '/api/v1/gateway/requests', { requests: [b64(JSON.stringify(jws)), 'not base64!', b64('{"not":"a request"}'), b64(good.text)] });
      assert.equal(r.status, 200, r.body.toString());
      const results = r.json().results as { id?: string; state?: string; error?: { code: string } }[];
      assert.match(results[0]?.error?.code ?? '', /^(pr_device_signature_invalid|pr_bootstrap_signature_invalid|jws_signature_invalid)$/);
      assert.equal(results[1]?.error?.code, 'validation_failed');
      assert.equal(results[2]?.error?.code, 'pr_malformed');
      assert.match(results[3]?.id ?? '', /^req_/);
      assert.equal(results[3]?.state, 'pending');
      const after = await counts();
      assert.equal(after.requests, before.requests + 1, 'only the genuine request was stored');
      assert.equal(after.audit, before.audit + 1, 'only its submission was audited');
      const stored = (await t.call('GET', `/api/v1/requests/${results[3]?.id as string}`)).json();
      assert.equal(stored.transport, 'proxy');
      assert.equal(stored.gateway, 'clinic-gw');

      // Asking for a request this gateway did not carry finds nothing.
      const direct = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from((await makeRequest(packageText, 'P-022')).text), contentType: REQUEST_MEDIA });
      const q = await postAs(t, files, '/api/v1/gateway/profiles', { ids: [direct.json().request.id, results[3]?.id] });
      const items = q.json().results as { id: string; state?: string; error?: { code: string } }[];
      assert.equal(items[0]?.error?.code, 'request_not_found');
      assert.equal(items[1]?.state, 'pending');
    });

    it('err/unknown-certificate-or-revoked-gateway-is-refused', async () => {
      const before = await counts();
      const request = Buffer.from((await makeRequest(packageText, 'P-030')).text).toString('base64');
      // No client certificate.
      let r = await postAs(t, null, '/api/v1/gateway/requests', { requests: [request] });
      assert.equal(r.status, 401);
      assert.equal(r.json().error.code, 'client_certificate_required');
      // A device certificate under our root: a device is not a gateway.
      const dir = await newDevice(packageText, 'pump', 'P-031');
      const s = await t.call('POST', '/api/v1/device/requests', { token: null, raw: readKeystoreFile(dir, 'request'), contentType: REQUEST_MEDIA });
      await t.call('POST', `/api/v1/requests/${s.json().request.id as string}/approve`);
      await provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
      const device = { keyPem: readKeystoreFile(dir, 'key'), chainPem: readKeystoreFile(dir, 'certificate') };
      r = await postAs(t, device, '/api/v1/gateway/requests', { requests: [request] });
      assert.equal(r.status, 401, r.body.toString());
      assert.equal(r.json().error.code, 'gateway_unknown');
      // A gateway-shaped certificate from another PKI.
      const other = await createTestPki({ now: new Date(), random });
      const foreign = await other.issueDevice('clinic-gw');
      r = await postAs(t, { keyPem: foreign.key.privateKey.export({ type: 'pkcs8', format: 'pem' }), chainPem: encodePem('CERTIFICATE', foreign.certificate.der) + encodePem('CERTIFICATE', other.intermediate.certificate.der) }, '/api/v1/gateway/requests', { requests: [request] });
      assert.ok(r.status === 400 || r.status === 401, r.body.toString());
      assert.match(r.json().error.code, /^chain_/);

      // A revoked gateway: its certificate opens nothing any more.
      const revoked = await registerGateway(t, 'clinic-old');
      const revoke = await t.call('POST', '/api/v1/gateways/clinic-old/revoke');
      assert.equal(revoke.status, 200, revoke.body.toString());
      assert.equal(revoke.json().status, 'revoked');
      for (const [path, body] of [['/api/v1/gateway/requests', { requests: [request] }], ['/api/v1/gateway/profiles', { ids: ['req_00'] }]] as const) {
        r = await postAs(t, revoked, path, body);
        assert.equal(r.status, 401, r.body.toString());
        assert.equal(r.json().error.code, 'gateway_revoked');
      }
      const list = (await t.call('GET', '/api/v1/gateways')).json().items as { name: string; status: string }[];
      assert.deepEqual(list.map((g) => [g.name, g.status]), [['clinic-gw', 'active'], ['clinic-old', 'revoked']]);
      const audit = (await t.call('GET', '/api/v1/audit?target=clinic-old')).json().items as { action: string; details: Record<string, unknown> }[];
      assert.deepEqual(audit.map((e) => e.action).sort(), ['gateway.create', 'gateway.revoke']);
      assert.ok(!JSON.stringify(audit).includes('PRIVATE KEY'));
      const after = await counts();
      assert.equal(after.requests, before.requests + 1, 'only P-031, submitted directly, was stored');
    });

    it('err/gateway-registration-refuses-bad-input-and-stores-nothing', async () => {
      const key = await generateKey('p256');
      const csr = encodePem('CERTIFICATE REQUEST', await createCsr(createKeySigner(key.privateKey), { subject: [{ type: 'CN', value: 'x' }] }));
      const gateways = async () => (await t.call('GET', '/api/v1/gateways')).json().items.length as number;
      const before = { ...(await counts()), gateways: await gateways() };
      const create = (body: Record<string, unknown>) => t.call('POST', '/api/v1/gateways', { json: { name: 'clinic-new', hosts: ['127.0.0.1'], csr, ...body } });
      let r = await create({ name: 'Clinic GW' });
      assert.equal(r.status, 400, r.body.toString());
      assert.equal(r.json().error.code, 'identity_invalid');
      r = await create({ hosts: ['bad host/x'] });
      assert.equal(r.json().error.code, 'identity_invalid');
      r = await create({ csr: 'not a csr' });
      assert.equal(r.status, 400);
      // A CSR whose signature does not match its key: no proof of possession.
      const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
      der.writeUInt8((der.at(-5) as number) ^ 0x01, der.length - 5);
      r = await create({ csr: encodePem('CERTIFICATE REQUEST', der) });
      assert.equal(r.json().error.code, 'csr_signature_invalid');
      r = await create({ name: 'clinic-gw' });
      assert.equal(r.status, 409);
      assert.equal(r.json().error.code, 'gateway_exists');
      r = await t.call('POST', '/api/v1/gateways/no-such-gw/revoke');
      assert.equal(r.status, 404);
      assert.equal(r.json().error.code, 'gateway_not_found');
      assert.deepEqual({ ...(await counts()), gateways: await gateways() }, before, 'a refused registration changed state');
    });

    it('err/gateway-refuses-bad-device-input-and-queues-nothing', async () => {
      const gw = await gatewayAt(files, t.service.url);
      const transport = httpsTransport(t.rootPem);
      try {
        const before = gw.queue.counts();
        const post = (bytes: Buffer, contentType = REQUEST_MEDIA) => transport.request('POST', `${gw.url}/api/v1/device/requests`, { bytes, contentType });
        const code = (reply: { body: Buffer }) => (JSON.parse(reply.body.toString()) as { error: { code: string } }).error.code;
        let r = await post(Buffer.from('{"not":"a request"}'));
        assert.equal(r.status, 400);
        assert.equal(code(r), 'pr_malformed');
        r = await post(Buffer.from('x'), 'text/plain');
        assert.equal(code(r), 'validation_failed');
        r = await post(Buffer.alloc(65 * 1024, 0x20));
        assert.equal(r.status, 413);
        assert.equal(code(r), 'body_too_large');
        r = await transport.request('GET', `${gw.url}/api/v1/device/requests/gw-${'0'.repeat(64)}/profile`);
        assert.equal(r.status, 404);
        assert.equal(code(r), 'request_not_found');
        r = await transport.request('GET', `${gw.url}/api/v1/device/requests/..%2F..%2Fgateway.key/profile`);
        assert.equal(code(r), 'request_not_found');
        // A confirmation without a client certificate, or with one from another PKI.
        r = await transport.request('POST', `${gw.url}/api/v1/device/confirm`, { bytes: Buffer.from('{}'), contentType: 'application/json' });
        assert.equal(r.status, 401);
        assert.equal(code(r), 'client_certificate_required');
        const other = await createTestPki({ now: new Date(), random });
        const foreign = await other.issueDevice('P-050');
        const mtls = httpsTransport(t.rootPem, { clientKey: foreign.key.privateKey.export({ type: 'pkcs8', format: 'pem' }), clientCertificate: encodePem('CERTIFICATE', foreign.certificate.der) + encodePem('CERTIFICATE', other.intermediate.certificate.der) });
        try {
          r = await mtls.request('POST', `${gw.url}/api/v1/device/confirm`, { bytes: Buffer.from('{"proof":"x.y.z"}'), contentType: 'application/json' });
          assert.match(code(r), /^chain_/);
        } finally {
          mtls.close();
        }
        assert.deepEqual(gw.queue.counts(), before, 'nothing was queued');
        r = await transport.request('GET', `${gw.url}/api/v1/health`);
        assert.equal(JSON.parse(r.body.toString()).role, 'gateway');
      } finally {
        transport.close();
        await gw.close();
      }
    });

    it('err/confirmation-proof-by-another-key-is-refused', async () => {
      const dir = await newDevice(packageText, 'pump', 'P-040');
      const s = await t.call('POST', '/api/v1/device/requests', { token: null, raw: readKeystoreFile(dir, 'request'), contentType: REQUEST_MEDIA });
      const a = await t.call('POST', `/api/v1/requests/${s.json().request.id as string}/approve`);
      const serial = a.json().certificate.serial as string;
      const leaf = parseCertificate(a.json().certificate.pem as string);
      const chain = [leaf.der.toString('base64')];
      // The gateway holds the device's certificate (public) but not its key: its own proof fails.
      const attacker = createKeySigner((await generateKey('p256')).privateKey);
      const forged = await createConfirmProof(attacker, { deviceId: 'P-040', serial, at: new Date() });
      let r = await postAs(t, files, '/api/v1/gateway/confirm', { certificateChain: chain, proof: forged });
      assert.equal(r.status, 401, r.body.toString());
      assert.equal(r.json().error.code, 'confirm_proof_invalid');
      // Nor does a proof by the right key for another certificate.
      const device = (await import('@provisio/device')).loadDevice(dir).signer;
      const wrongSerial = await createConfirmProof(device, { deviceId: 'P-040', serial: '01'.repeat(16), at: new Date() });
      r = await postAs(t, files, '/api/v1/gateway/confirm', { certificateChain: chain, proof: wrongSerial });
      assert.equal(r.json().error.code, 'confirm_proof_invalid');
      assert.equal((await t.call('GET', '/api/v1/devices/P-040')).json().state, 'approved');

      // The device's own proof, carried by the gateway, confirms (once).
      const good = await createConfirmProof(device, { deviceId: 'P-040', serial, at: new Date() });
      r = await postAs(t, files, '/api/v1/gateway/confirm', { certificateChain: chain, proof: good });
      assert.equal(r.status, 200, r.body.toString());
      assert.deepEqual(r.json(), { deviceId: 'P-040', state: 'provisioned' });
    });
  });
}

describeGateway('SQLite', () => startTestService());

const pgUrl = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgSchema = `gw_${randomBytes(6).toString('hex')}`;
describeGateway('PostgreSQL', () => startTestService({ db: pgUrl, dbSchema: pgSchema }), async () => {
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${pgSchema} cascade`);
  } finally {
    await client.end();
  }
});
