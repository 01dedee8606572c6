/**
 * The central station (docs/station.md) against the real service: its mutual-TLS listener, the
 * plain-HTTP publication listener it asks for revocation status, a real SQLite file, and `curl
 * --cert --key --cacert` as the device. A check-in is accepted and recorded; after revocation the
 * same call is refused once the cut-off has passed (the station clock is moved past it, so the
 * test does not depend on how fast this machine is); the TLS layer refuses a handshake without a
 * client certificate, with one from another PKI, and with an expired one; with the OCSP responder
 * down the CRL decides, and with both down the station refuses (fail closed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Clock } from '@provisio/pki';
import { createKeySigner, generateKey } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { registerGateway } from './gateway-harness.js';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

/**
 * 20 s rather than the default 60 s: each test moves the station clock past the cut-off, and the
 * moves add up; certificates issued later start at that clock, and TLS checks them against real
 * time with only the issuance backdate (5 minutes) as slack.
 */
const CUT_OFF_MS = 20_000;

/** Real time moved by `offsetMs`: TLS checks validity against real time, the station against this. */
function offsetClock(): Clock & { offsetMs: number } {
  const clock = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
  return clock;
}

interface CurlResult {
  /** curl's exit code: 0 when an HTTP answer came, non-zero when TLS or the connection failed. */
  readonly exit: number;
  readonly status: number;
  readonly body: string;
  readonly stderr: string;
}

/** curl, asynchronously: the service runs in this process. */
function curl(args: readonly string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '20', '-w', '\n%{http_code}', ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      const exit = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      const cut = stdout.lastIndexOf('\n');
      resolve({ exit, status: Number(stdout.slice(cut + 1)) || 0, body: stdout.slice(0, cut), stderr });
    });
  });
}

interface DeviceFiles {
  readonly deviceId: string;
  readonly serial: string;
  readonly chain: string;
  readonly key: string;
}

/** A device provisioned through the API, with its key and chain (leaf, issuing CA) as files for curl. */
async function provision(t: TestService, packageText: string, dir: string, deviceId: string, now = new Date()): Promise<DeviceFiles> {
  const key = await generateKey('p256');
  const { text } = await makeRequest(packageText, deviceId, { deviceKey: createKeySigner(key.privateKey), createdAt: now, expiresAt: new Date(now.getTime() + 3_600_000) });
  let r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
  assert.equal(r.status, 201, r.body.toString());
  r = await t.call('POST', `/api/v1/requests/${r.json().request.id}/approve`);
  assert.equal(r.status, 200, r.body.toString());
  const certificate = r.json().certificate as { serial: string; pem: string };
  const intermediate = (await t.call('GET', '/ca/intermediate.crt', { token: null })).body.toString();
  const chain = join(dir, `${deviceId}.chain.pem`);
  const keyPath = join(dir, `${deviceId}.key`);
  writeFileSync(chain, certificate.pem + intermediate);
  writeFileSync(keyPath, key.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { deviceId, serial: certificate.serial, chain, key: keyPath };
}

const TELEMETRY = JSON.stringify({ firmwareVersion: '1.0.0', uptimeSeconds: 3600, status: 'ok' });

function checkIn(t: TestService, rootPath: string, device: { chain: string; key: string } | null, body = TELEMETRY): Promise<CurlResult> {
  return curl([
    ...(device ? ['--cert', device.chain, '--key', device.key] : []),
    '--cacert', rootPath,
    '-H', 'content-type: application/json',
    '--data-binary', body,
    `${t.service.stationUrl}/api/v1/check-in`,
  ]);
}

/**
 * A relay in front of the publication listener that the test can take down, path by path: the
 * station asks through it, so "the OCSP responder is down" is a refused connection, as in life.
 */
function startRelay(): Promise<{ url: string; target: { url: string }; down: Set<'ocsp' | 'crl'>; garbage: Set<'ocsp' | 'crl'>; server: Server }> {
  const target = { url: '' };
  const down = new Set<'ocsp' | 'crl'>();
  // Answers 200 with bytes that are not what was asked for (a captive portal, a broken proxy).
  const garbage = new Set<'ocsp' | 'crl'>();
  const server = createServer((req, res) => {
    const kind = req.url?.startsWith('/ocsp') ? 'ocsp' : 'crl';
    if (down.has(kind)) {
      req.socket.destroy();
      return;
    }
    if (garbage.has(kind)) {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>please log in</html>');
      return;
    }
    const upstream = httpRequest(`${target.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers, agent: false }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => req.socket.destroy());
    req.pipe(upstream);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ url: `http://127.0.0.1:${port}`, target, down, garbage, server });
    });
  });
}

describe('central station over mutual TLS', () => {
  const clock = offsetClock();
  let t: TestService;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let dir: string;
  let rootPath: string;
  let packageText: string;

  before(async () => {
    relay = await startRelay();
    t = await startTestService({
      clock,
      serve: {
        stationListen: { host: '127.0.0.1', port: 0 },
        stationStatusCacheMs: CUT_OFF_MS,
        stationOcspUrl: `${relay.url}/ocsp`,
        stationCrlUrl: `${relay.url}/crl/issuing.crl`,
      },
    });
    assert.ok(t.service.publishUrl?.startsWith('http://127.0.0.1:'), String(t.service.publishUrl));
    relay.target.url = t.service.publishUrl as string;
    dir = tempDir('provisio-station-');
    rootPath = join(dir, 'root.crt');
    writeFileSync(rootPath, t.rootPem);
    packageText = (await setUpSystem(t)).packageText;
  });

  after(async () => {
    await t?.close();
    relay?.server.close();
  });

  it('ok/curl-checks-in-and-last-seen-is-recorded', async () => {
    const device = await provision(t, packageText, dir, 'STN-OK-1');
    const r = await checkIn(t, rootPath, device);
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.status, 200, r.body);
    const answer = JSON.parse(r.body);
    assert.equal(answer.deviceId, 'STN-OK-1');
    assert.equal(answer.serial, device.serial);
    assert.equal(answer.revocationSource, 'ocsp');
    const view = (await t.call('GET', '/api/v1/devices/STN-OK-1')).json();
    assert.equal(view.lastSeenAt, answer.lastSeen);
    assert.equal(view.lastSeenSerial, device.serial);
    assert.deepEqual(view.telemetry, { firmwareVersion: '1.0.0', uptimeSeconds: 3600, status: 'ok' });
    const listed = (await t.call('GET', '/api/v1/devices?q=STN-OK-1')).json();
    assert.equal(listed.items[0].lastSeenAt, answer.lastSeen);
  });

  it('fail/revoked/refused-once-the-cut-off-has-passed', async () => {
    const device = await provision(t, packageText, dir, 'STN-REV-1');
    assert.equal((await checkIn(t, rootPath, device)).status, 200);
    const revoked = await t.call('POST', '/api/v1/devices/STN-REV-1/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.status, 200, revoked.body.toString());
    // Poll as a device would, moving the station clock by a tenth of the cut-off per attempt: the
    // refusal must come no later than the cut-off (ten attempts) plus one attempt of slack.
    let attempts = 0;
    let last: CurlResult | null = null;
    for (; attempts <= 11; attempts++) {
      last = await checkIn(t, rootPath, device);
      if (last.status !== 200) break;
      clock.offsetMs += CUT_OFF_MS / 10;
    }
    assert.ok(last);
    assert.equal(last.status, 403, last.body);
    assert.equal(JSON.parse(last.body).error.code, 'device_certificate_revoked');
    assert.ok(attempts <= 11, `refused only after ${attempts} attempts`);
    // Within the cut-off the cached "good" still answered: the station does not ask per call.
    assert.ok(attempts >= 1, 'refused at once: the status cache was not used');
  });

  it('fail/tls/no-client-certificate-handshake-refused', async () => {
    const r = await checkIn(t, rootPath, null);
    assert.notEqual(r.exit, 0, `curl got an HTTP answer: ${r.status} ${r.body}`);
    assert.equal(r.status, 0);
  });

  it('fail/tls/certificate-of-another-pki-refused', async () => {
    // An attacker's own root and a client certificate with the same device id under it.
    const other = join(dir, 'other');
    const run = (args: string[]) => {
      const res = openssl(args);
      assert.equal(res.status, 0, res.output);
    };
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${other}-ca.key`, '-out', `${other}-ca.crt`, '-subj', '/CN=Attacker Root', '-days', '30']);
    run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${other}.key`, '-out', `${other}.csr`, '-subj', '/CN=STN-OK-1/OU=ZMonitor\\/bedside monitor']);
    writeFileSync(`${other}.ext`, 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
    run(['x509', '-req', '-in', `${other}.csr`, '-CA', `${other}-ca.crt`, '-CAkey', `${other}-ca.key`, '-CAcreateserial', '-out', `${other}.crt`, '-days', '30', '-extfile', `${other}.ext`]);
    const r = await checkIn(t, rootPath, { chain: `${other}.crt`, key: `${other}.key` });
    assert.notEqual(r.exit, 0, `curl got an HTTP answer: ${r.status} ${r.body}`);
  });

  it('fail/body/unknown-field-or-too-large-refused-and-nothing-recorded', async () => {
    const device = await provision(t, packageText, dir, 'STN-BODY-1');
    let r = await checkIn(t, rootPath, device, JSON.stringify({ status: 'ok', shell: 'rm -rf /' }));
    assert.equal(r.status, 400, r.body);
    assert.equal(JSON.parse(r.body).error.code, 'validation_failed');
    r = await checkIn(t, rootPath, device, JSON.stringify({ message: 'x'.repeat(4000) }));
    assert.equal(r.status, 413, r.body);
    assert.equal(JSON.parse(r.body).error.code, 'body_too_large');
    assert.equal((await t.call('GET', '/api/v1/devices/STN-BODY-1')).json().lastSeenAt, null);
  });

  it('ok/ocsp-down/the-crl-decides', async () => {
    const good = await provision(t, packageText, dir, 'STN-CRL-GOOD');
    const bad = await provision(t, packageText, dir, 'STN-CRL-BAD');
    assert.equal((await t.call('POST', '/api/v1/devices/STN-CRL-BAD/revoke', { json: { reason: 'cessationOfOperation' } })).status, 200);
    relay.down.add('ocsp');
    try {
      clock.offsetMs += CUT_OFF_MS; // the CRL the station may hold is older than the cut-off
      const ok = await checkIn(t, rootPath, good);
      assert.equal(ok.status, 200, ok.body);
      assert.equal(JSON.parse(ok.body).revocationSource, 'crl');
      const refused = await checkIn(t, rootPath, bad);
      assert.equal(refused.status, 403, refused.body);
      assert.equal(JSON.parse(refused.body).error.code, 'device_certificate_revoked');
    } finally {
      relay.down.delete('ocsp');
    }
  });

  it('fail/ocsp-down/a-revocation-on-the-crl-is-seen-within-the-cut-off-of-its-download', async () => {
    const first = await provision(t, packageText, dir, 'STN-CRLCUT-A');
    const second = await provision(t, packageText, dir, 'STN-CRLCUT-B');
    relay.down.add('ocsp');
    try {
      clock.offsetMs += CUT_OFF_MS; // nothing cached is fresh
      assert.equal(JSON.parse((await checkIn(t, rootPath, first)).body).revocationSource, 'crl'); // the CRL is downloaded now
      clock.offsetMs += CUT_OFF_MS / 2;
      // B's "good" comes from that same CRL, half a cut-off old: it may be reused only for the
      // other half.
      assert.equal((await checkIn(t, rootPath, second)).status, 200);
      assert.equal((await t.call('POST', '/api/v1/devices/STN-CRLCUT-B/revoke', { json: { reason: 'superseded' } })).status, 200);
      let attempts = 0;
      let last: CurlResult | null = null;
      for (; attempts <= 11; attempts++) {
        last = await checkIn(t, rootPath, second);
        if (last.status !== 200) break;
        clock.offsetMs += CUT_OFF_MS / 10;
      }
      assert.equal(last?.status, 403, last?.body);
      assert.ok(attempts <= 6, `refused only after ${attempts} attempts: the verdict outlived the CRL it came from`);
    } finally {
      relay.down.clear();
    }
  });

  it('ok/ocsp-answer-unreadable/the-crl-decides-and-garbage-from-both-fails-closed', async () => {
    const device = await provision(t, packageText, dir, 'STN-GARBAGE-1');
    relay.garbage.add('ocsp');
    try {
      clock.offsetMs += CUT_OFF_MS;
      const r = await checkIn(t, rootPath, device);
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).revocationSource, 'crl');
      relay.garbage.add('crl');
      clock.offsetMs += CUT_OFF_MS;
      const closed = await checkIn(t, rootPath, device);
      assert.equal(closed.status, 503, closed.body);
      assert.equal(JSON.parse(closed.body).error.code, 'revocation_status_unavailable');
    } finally {
      relay.garbage.clear();
    }
  });

  it('fail/gateway-certificate-is-not-a-device', async () => {
    // A gateway certificate chains to the same root and has clientAuth, but it is no device.
    const gw = await registerGateway(t, 'station-gw');
    const chain = join(dir, 'station-gw.chain.pem');
    const key = join(dir, 'station-gw.key');
    writeFileSync(chain, gw.chainPem);
    writeFileSync(key, gw.keyPem, { mode: 0o600 });
    const r = await checkIn(t, rootPath, { chain, key });
    assert.equal(r.status, 401, r.body);
    assert.equal(JSON.parse(r.body).error.code, 'client_certificate_unknown');
  });

  it('fail/ocsp-and-crl-down/fail-closed', async () => {
    const device = await provision(t, packageText, dir, 'STN-CLOSED-1');
    relay.down.add('ocsp');
    relay.down.add('crl');
    try {
      clock.offsetMs += CUT_OFF_MS; // nothing cached is fresh any more
      const r = await checkIn(t, rootPath, device);
      assert.equal(r.status, 503, r.body);
      assert.equal(JSON.parse(r.body).error.code, 'revocation_status_unavailable');
      assert.equal((await t.call('GET', '/api/v1/devices/STN-CLOSED-1')).json().lastSeenAt, null);
    } finally {
      relay.down.clear();
    }
    const again = await checkIn(t, rootPath, device);
    assert.equal(again.status, 200, again.body);
  });
});

describe('central station: an expired device certificate', () => {
  it('fail/tls/expired-certificate-handshake-refused', async () => {
    // The service runs three days in the past while it issues a one-day certificate, then returns
    // to the present: the certificate expired two days ago.
    const clock = offsetClock();
    clock.offsetMs = -3 * 86_400_000;
    const t = await startTestService({ clock, serve: { stationListen: { host: '127.0.0.1', port: 0 } } });
    try {
      const dir = tempDir('provisio-station-expired-');
      const rootPath = join(dir, 'root.crt');
      writeFileSync(rootPath, t.rootPem);
      assert.equal((await t.call('POST', '/api/v1/systems', { json: { name: 'Short', separationOfDuties: false } })).status, 201);
      assert.equal((await t.call('POST', '/api/v1/systems/Short/components', { json: { name: 'probe', validityDays: 1 } })).status, 201);
      const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'Short' } });
      assert.equal(pkg.status, 201);
      const device = await provision(t, pkg.body.toString(), dir, 'STN-EXP-1', clock.now());
      clock.offsetMs = 0;
      const r = await checkIn(t, rootPath, device);
      assert.notEqual(r.exit, 0, `curl got an HTTP answer: ${r.status} ${r.body}`);
      assert.equal((await t.call('GET', '/api/v1/devices/STN-EXP-1')).json().lastSeenAt, null);
      // The control: a certificate from the same CA issued now checks in.
      const fresh = await provision(t, pkg.body.toString(), dir, 'STN-EXP-2');
      const ok = await checkIn(t, rootPath, fresh);
      assert.equal(ok.status, 200, ok.body);
    } finally {
      await t.close();
    }
  });
});
