/**
 * Fault tolerance of connected provisioning with real processes (docs/device.md, "The agent"):
 * `provisio serve` is SIGKILLed in the middle of 50 connected provisionings and restarted on the
 * same port and data: every device ends provisioned exactly once, the database holds one request
 * and one certificate per device, and every certificate a device installed is the one the
 * database holds (no certificate exists that the service could not revoke). agent-run.test.ts
 * kills the agent instead.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type FleetProgress, parseInstallRecord, simulateFleet } from '@provisio/device';
import { fingerprint, parseCertificate, systemClock } from '@provisio/pki';
import { tempDir } from '@provisio/testkit';
import { api, kill, setUp } from './connected-helpers.js';
import { type ServeProcess, startServe } from './run-cli.js';

const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };

describe('connected provisioning survives crashes (real processes)', () => {
  const dir = tempDir('provisio-faults-');
  const servers: ServeProcess[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  it('ok/server-killed-and-restarted-in-the-middle-of-50-provisionings', async () => {
    const data = join(dir, 'data-a');
    // Per-client limiting off: fifty devices share 127.0.0.1 here.
    const flags = ['--data', data, '--rate-per-client', '0'];
    let server = await startServe(flags);
    servers.push(server);
    const env = server.env;
    const pkg = setUp(env, dir, 'Crash', true);
    const port = Number(new URL(env.PROVISIO_URL as string).port);

    let restarted: Promise<void> | null = null;
    const onProgress = (p: FleetProgress) => {
      if (restarted || p.done < 10) return;
      // Ten are done, forty are somewhere between submit and confirm: kill -9, then restart on
      // the same port and data directory.
      restarted = (async () => {
        await kill(server.child, 'SIGKILL');
        server = await startServe(flags, { port });
        servers.push(server);
      })();
    };
    const keystores = join(dir, 'fleet');
    const summary = await simulateFleet(deps, {
      packageText: readFileSync(pkg, 'utf8'),
      component: 'sensor',
      count: 50,
      concurrency: 25,
      serviceUrl: env.PROVISIO_URL as string,
      dir: keystores,
      idPrefix: 'CRASH-',
      maxWaitMs: 120_000,
      onProgress,
    });
    assert.ok(restarted, 'the server was killed during the run');
    await restarted;
    assert.ok(servers.length >= 2);
    assert.deepEqual(summary.failed, {});
    assert.equal(summary.provisioned, 50);

    // The database: 50 requests (none duplicated), 50 devices provisioned, each with exactly one
    // certificate — byte-identical to the one its keystore installed.
    const requests = (await api(env, 'GET', '/api/v1/requests?system=Crash&limit=500')).body;
    assert.equal(requests.total, 50);
    assert.equal(new Set((requests.items as { deviceId: string }[]).map((r) => r.deviceId)).size, 50);
    const devices = (await api(env, 'GET', '/api/v1/devices?system=Crash&state=provisioned&limit=500')).body;
    assert.equal(devices.total, 50);
    for (let i = 1; i <= 50; i++) {
      const id = `CRASH-${String(i).padStart(5, '0')}`;
      const view = (await api(env, 'GET', `/api/v1/devices/${id}`)).body as { state: string; certificates: { serial: string; sha256: string }[] };
      assert.equal(view.state, 'provisioned', id);
      assert.equal(view.certificates.length, 1, `${id}: exactly one certificate issued`);
      const install = parseInstallRecord(readFileSync(join(keystores, id, 'install.json'), 'utf8'));
      assert.ok(install.confirmedAt, `${id}: confirmed`);
      const leaf = parseCertificate(readFileSync(join(keystores, id, 'certificate.pem'), 'utf8'));
      assert.equal(view.certificates[0]?.serial, install.serial, id);
      assert.equal(view.certificates[0]?.sha256, fingerprint(leaf.der), `${id}: the installed certificate is the stored one`);
    }
    const audit = (await api(env, 'GET', '/api/v1/audit/verify')).body;
    assert.equal(audit.ok, true, JSON.stringify(audit));
  });
});
