/**
 * The device side of the central station and the expiry health commands, against a real service
 * in this process with its station listener: a keystore made by the device SDK (init, approve,
 * install) checks in through the SDK (`checkInAtStation`) and through the built CLI
 * (`provisio device check-in`); `provisio device list` shows when it was last seen, and
 * `--expiring 30d` / `--overdue` the expiry health. After revocation the check-in is refused once
 * the station's cut-off has passed (its clock is moved, so the test does not depend on speed).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { DeviceError, checkInAtStation, initDevice, installProfile } from '@provisio/device';
import type { Clock } from '@provisio/pki';
import { tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, setUpSystem, startTestService } from '../../server/test/service-harness.js';
import { agent, kill, until } from './connected-helpers.js';
import { MAIN } from './run-cli.js';

const CUT_OFF_MS = 60_000;

function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number; stdout: string; stderr: string }> {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) base[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...base, ...env } }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('provisio device check-in and device list', () => {
  const clock: Clock & { offsetMs: number } = { offsetMs: 0, now: () => new Date(Date.now() + clock.offsetMs) };
  let t: TestService;
  let env: Record<string, string>;
  let packageText: string;
  const work = tempDir('provisio-station-cli-');

  before(async () => {
    t = await startTestService({ clock, serve: { stationListen: { host: '127.0.0.1', port: 0 }, stationStatusCacheMs: CUT_OFF_MS } });
    await setUpSystem(t);
    assert.equal((await t.call('POST', '/api/v1/systems/ZMonitor/components', { json: { name: 'probe', validityDays: 20 } })).status, 201);
    // A package made after the second component, so it names both.
    const pkg = await t.call('POST', '/api/v1/packages', { json: { system: 'ZMonitor' } });
    assert.equal(pkg.status, 201);
    packageText = pkg.body.toString();
    env = { PROVISIO_URL: t.service.url, PROVISIO_CA_FILE: t.service.rootPath, PROVISIO_TOKEN: t.adminToken };
  });
  after(() => t?.close());

  /** A keystore the way a device makes it, approved by the service and installed. */
  async function keystore(deviceId: string, component = 'bedside monitor'): Promise<string> {
    const dir = join(work, deviceId);
    const init = await initDevice({ clock, random: { bytes: (n) => randomBytes(n) } }, { packageText, component, deviceId, deviceLabel: `Bed ${deviceId}`, firmwareVersion: '3.2.1', dir });
    let r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(init.requestText), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    const id = r.json().request.id as string;
    r = await t.call('POST', `/api/v1/requests/${id}/approve`);
    assert.equal(r.status, 200, r.body.toString());
    const profile = await t.call('GET', `/api/v1/requests/${id}/profile`);
    await installProfile({ clock }, { dir, profileText: profile.body });
    return dir;
  }

  it('ok/sdk-check-in-records-last-seen-with-the-firmware-from-init', async () => {
    const dir = await keystore('CHK-SDK-1');
    const result = await checkInAtStation({}, { dir, stationUrl: t.service.stationUrl as string });
    assert.equal(result.deviceId, 'CHK-SDK-1');
    assert.equal(result.revocationSource, 'ocsp');
    const view = (await t.call('GET', '/api/v1/devices/CHK-SDK-1')).json();
    assert.equal(view.lastSeenAt, result.lastSeen);
    assert.deepEqual(view.telemetry, { firmwareVersion: '3.2.1' });
  });

  it('ok/provision-and-agent-check-in-at-the-station-once-provisioned', async () => {
    // Zero-touch for this component's ST- devices, so the device commands run without a person.
    const policy = await t.call('POST', '/api/v1/systems/ZMonitor/components/probe/policy', { json: { mode: 'automatic', rules: { deviceIdPattern: '^ST-[0-9]+$' } } });
    assert.equal(policy.status, 200, policy.body.toString());
    const station = t.service.stationUrl as string;
    const pkg = join(work, 'zmonitor.ppkg');
    writeFileSync(pkg, packageText);
    const r = await cli(['device', 'provision', '--package', pkg, '--component', 'probe', '--id', 'ST-1', '--label', 'Probe 1', '--firmware', '4.0.0', '--dir', join(work, 'ST-1'), '--station', station, '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const checkIn = (JSON.parse(r.stdout) as { checkIn: { deviceId: string; revocationSource: string } }).checkIn;
    assert.deepEqual([checkIn.deviceId, checkIn.revocationSource], ['ST-1', 'ocsp']);
    assert.deepEqual((await t.call('GET', '/api/v1/devices/ST-1')).json().telemetry, { firmwareVersion: '4.0.0' });

    // The agent checks in once provisioned, and keeps running.
    await cli(['device', 'init', '--package', pkg, '--component', 'probe', '--id', 'ST-2', '--label', 'Probe 2', '--dir', join(work, 'ST-2'), '--out', join(work, 'ST-2.ppr')]);
    const a = agent(['--dir', join(work, 'ST-2'), '--station', station, '--heartbeat', '10']);
    try {
      await until('the agent to check in', () => /Checked in at .* as ST-2/.test(a.output()), a.output);
      assert.equal(a.child.exitCode, null, a.output());
    } finally {
      await kill(a.child, 'SIGTERM');
    }
    assert.ok((await t.call('GET', '/api/v1/devices/ST-2')).json().lastSeenAt, 'last seen recorded');
  });

  it('fail/sdk-check-in/not-installed-or-not-https', async () => {
    const dir = join(work, 'CHK-NOTYET');
    await initDevice({ clock, random: { bytes: (n) => randomBytes(n) } }, { packageText, component: 'bedside monitor', deviceId: 'CHK-NOTYET', deviceLabel: 'x', dir });
    await assert.rejects(checkInAtStation({}, { dir, stationUrl: t.service.stationUrl as string }), (e: unknown) => e instanceof DeviceError && e.code === 'device_not_installed');
    const installed = await keystore('CHK-HTTP');
    await assert.rejects(checkInAtStation({}, { dir: installed, stationUrl: (t.service.stationUrl as string).replace('https:', 'http:') }), (e: unknown) => e instanceof DeviceError && e.code === 'station_unreachable');
    // The service's API is not a station: the check-in route is not there.
    await assert.rejects(checkInAtStation({}, { dir: installed, stationUrl: t.service.url }), (e: unknown) => e instanceof DeviceError && e.code === 'station_refused');
  });

  it('ok/cli-check-in-then-refused-after-revocation-within-the-cut-off', async () => {
    const dir = await keystore('CHK-CLI-1');
    const station = t.service.stationUrl as string;
    let r = await cli(['device', 'check-in', '--dir', dir, '--station', station, '--status', 'degraded', '--message', 'battery low', '--json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout).deviceId, 'CHK-CLI-1');
    r = await cli(['device', 'list', '--q', 'CHK-CLI-1'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /CHK-CLI-1\s+approved\s+ZMonitor\/bedside monitor\s+\d{4}-\d\d-\d\dT/);
    r = await cli(['device', 'get', 'CHK-CLI-1'], env);
    assert.match(r.stdout, /last seen\s+\d{4}-.*\(certificate [0-9a-f]+\)/);
    assert.deepEqual((await t.call('GET', '/api/v1/devices/CHK-CLI-1')).json().telemetry, { firmwareVersion: '3.2.1', status: 'degraded', message: 'battery low' });

    r = await cli(['device', 'check-in', '--dir', dir, '--station', station, '--status', 'sleepy']);
    assert.equal(r.status, 2, r.stderr);

    r = await cli(['device', 'revoke', 'CHK-CLI-1', '--reason', 'privilegeWithdrawn', '--yes'], env);
    assert.equal(r.status, 0, r.stderr);
    // Poll as a device would, the station clock moving a tenth of the cut-off per attempt: refused
    // no later than the cut-off (ten attempts) plus one attempt of slack.
    let attempts = 0;
    for (; attempts <= 11; attempts++) {
      r = await cli(['device', 'check-in', '--dir', dir, '--station', station]);
      if (r.status !== 0) break;
      clock.offsetMs += CUT_OFF_MS / 10;
    }
    assert.ok(attempts <= 11, `still accepted after ${attempts} attempts`);
    assert.equal(r.status, 5, r.stdout + r.stderr);
    assert.match(r.stderr, /device_certificate_revoked.*\[station_refused\]/);
    assert.match(r.stderr, /hint: .*provisioned again/);
  });

  it('fail/serve-flags/bad-listen-addresses-and-durations-exit-2-before-starting', async () => {
    for (const flags of [
      ['--publish-listen', 'nope'],
      ['--publish-listen', '127.0.0.1:99999'],
      ['--station-listen', 'off'],
      ['--station-listen', '127.0.0.1'],
      ['--station-cut-off', '0s'],
      ['--station-cut-off', '2h'],
      ['--expiry-window', '10m'],
      ['--publish-url', 'http://pki.example/with/path'],
      ['--publish-listen', 'off', '--publish-url', 'http://pki.example'],
    ]) {
      const r = await cli(['serve', '--data', join(work, 'never'), '--port', '0', ...flags]);
      assert.equal(r.status, 2, `${flags.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /provisio: error: --/);
    }
  });

  it('ok/device-list-expiring-and-overdue', async () => {
    await keystore('CHK-SHORT-1', 'probe');
    let r = await cli(['device', 'list', '--expiring', '30d'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /DEVICE\s+SERIAL\s+EXPIRES\s+RENEWAL DUE/);
    assert.match(r.stdout, /CHK-SHORT-1\s+[0-9a-f]+\s+\d{4}-/);
    assert.doesNotMatch(r.stdout, /CHK-SDK-1/, 'a 398-day certificate does not expire within 30 days');
    assert.match(r.stdout, /expiring within 30d/);
    r = await cli(['device', 'list', '--expiring', '30d', '--json'], env);
    const listed = JSON.parse(r.stdout) as { total: number; items: { deviceId: string }[] };
    assert.ok(listed.items.some((c) => c.deviceId === 'CHK-SHORT-1'));
    r = await cli(['device', 'list', '--overdue', '--json'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).items, []);
    r = await cli(['device', 'list', '--expiring', 'soon'], env);
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /\[validation_failed\]/);
    r = await cli(['device', 'list', '--expiring', '30d', '--overdue'], env);
    assert.equal(r.status, 2, r.stderr);
  });
});
