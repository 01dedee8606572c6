/**
 * The hospital workflow of seed 003 as people run it: `provisio serve` (with its central station)
 * in one process; an admin's `provisio pairing create`; on the device `provisio device pair`,
 * which asks with its id and code, makes its key and a CSR with the seed's profile, verifies the
 * signed payload before writing anything, installs 0600, confirms over mutual TLS and checks in
 * at the station. openssl checks the certificate, curl the mutual TLS. Five wrong codes lock the
 * pairing, which a restart of the service does not undo, with the same answer as an unknown
 * device; a used code is refused; no refused attempt creates the keystore directory.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { checkInstalledKeystore, snapshot, stationUrlOf } from './enroll-secret-helpers.js';
import { type CliResult, type ServeProcess, ok, provisio, startServe, transcript } from './run-cli.js';

describe('provisio pairing and device pair', () => {
  let server: ServeProcess;
  let station: string;
  const dir = tempDir('provisio-pairing-cli-');
  const data = join(dir, 'data');

  before(async () => {
    server = await startServe(['--data', data, '--station-listen', '127.0.0.1:0']);
    station = stationUrlOf(server.stdout);
    ok(['system', 'create', 'ZMonitor', '--secret-approves', 'on'], server.env);
    ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor', '--key-type', 'p256,rsa3072'], server.env);
  });
  after(async () => server?.stop());

  const register = (id: string, label: string): string => {
    const r = ok(['pairing', 'create', '--system', 'ZMonitor', '--component', 'bedside monitor', '--id', id, '--label', label], server.env);
    const code = r.stdout.trim();
    assert.match(code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    return code;
  };
  /** `provisio device pair` as a device runs it: no PROVISIO_* variables. */
  const pair = (args: string[]): CliResult => provisio(['device', 'pair', '--url', server.env.PROVISIO_URL as string, '--ca', server.env.PROVISIO_CA_FILE as string, ...args]);
  const wrong = (code: string) => `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;

  it('ok/pair/the-whole-flow-to-a-mutual-tls-check-in', () => {
    const code = register('DEV-001', 'Bed 12');
    const keystore = join(dir, 'ks-001');
    const r = pair(['--id', 'DEV-001', '--code', code.toLowerCase(), '--dir', keystore, '--station', station]);
    assert.equal(r.status, 0, transcript(r));
    assert.match(r.stdout, /Checked in at /);
    checkInstalledKeystore(keystore, { rootPath: server.env.PROVISIO_CA_FILE as string, deviceId: 'DEV-001', system: 'ZMonitor', label: 'Bed 12', stationUrl: station });
    const config = JSON.parse(readFileSync(join(keystore, 'config.json'), 'utf8')) as { serverUrl: string; certificate: string };
    assert.equal(config.serverUrl, server.env.PROVISIO_URL);
    assert.equal(config.certificate, join(keystore, 'certificate.pem'));
    assert.equal(statSync(join(keystore, 'config.json')).mode & 0o777, 0o600);
    const device = JSON.parse(ok(['device', 'get', 'DEV-001', '--json'], server.env).stdout) as { state: string };
    assert.equal(device.state, 'provisioned');
    // The device's own security audit log: provisioning, the payload's verification, the install, mutual TLS.
    const log = JSON.parse(ok(['device', 'audit', '--dir', keystore, '--json'], {}).stdout) as { ok: boolean; list: Array<{ event: string; details: Record<string, unknown> }> };
    assert.equal(log.ok, true);
    assert.deepEqual(log.list.map((e) => e.event), ['device.initialized', 'provision.requested', 'payload.verified', 'profile.verified', 'install.completed', 'database.created', 'install.confirmed', 'check_in.succeeded']);
    assert.equal(log.list[2]?.details.signature, 'asymmetric');
    assert.ok(!JSON.stringify(log).includes(code) && !JSON.stringify(log).includes(code.slice(5)), 'the pairing code is not in the device log');

    // Used: the same code on another device (another key) gets nothing and writes nothing.
    const other = join(dir, 'ks-001-again');
    const again = pair(['--id', 'DEV-001', '--code', code, '--dir', other]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /pairing_code_used/);
    assert.equal(snapshot(other), null);
  });

  it('fail/pair/five-wrong-codes-lock-survives-restart-same-answer-as-unknown', async () => {
    const code = register('DEV-002', 'Bed 14');
    const keystore = join(dir, 'ks-002');
    const unknown = pair(['--id', 'DEV-404', '--code', code, '--dir', keystore]);
    assert.equal(unknown.status, 3, transcript(unknown));
    assert.match(unknown.stderr, /pairing_code_invalid/);
    for (let i = 1; i <= 5; i++) {
      const r = pair(['--id', 'DEV-002', '--code', wrong(code), '--dir', keystore]);
      assert.equal(r.status, unknown.status);
      assert.equal(r.stderr.replaceAll('DEV-002', 'DEV-404'), unknown.stderr, `attempt ${i}: the same answer as an unknown device`);
    }
    const locked = pair(['--id', 'DEV-002', '--code', code, '--dir', keystore]);
    assert.equal(locked.stderr.replaceAll('DEV-002', 'DEV-404'), unknown.stderr, 'locked: the right code gets the same answer');
    assert.equal(snapshot(keystore), null, 'no attempt created the keystore');

    // A restart of the service keeps the count and the lock (they are in the database).
    const port = Number(new URL(server.env.PROVISIO_URL as string).port);
    await server.stop();
    server = await startServe(['--data', data, '--station-listen', station.replace('https://', '')], { port });
    const afterRestart = pair(['--id', 'DEV-002', '--code', code, '--dir', keystore]);
    assert.equal(afterRestart.stderr.replaceAll('DEV-002', 'DEV-404'), unknown.stderr);
    const listed = JSON.parse(ok(['pairing', 'list', '--system', 'ZMonitor', '--json'], server.env).stdout) as Array<{ deviceId: string; state: string; failedAttempts: number }>;
    assert.deepEqual(listed.filter((p) => p.deviceId === 'DEV-002').map((p) => [p.state, p.failedAttempts]), [['locked', 5]]);

    ok(['pairing', 'reset', '--id', 'DEV-002'], server.env);
    const paired = pair(['--id', 'DEV-002', '--code', code, '--dir', keystore, '--key', 'rsa3072', '--hmac']);
    assert.equal(paired.status, 0, transcript(paired));
    checkInstalledKeystore(keystore, { rootPath: server.env.PROVISIO_CA_FILE as string, deviceId: 'DEV-002', system: 'ZMonitor', label: 'Bed 14', stationUrl: station, keyAlgorithm: 'RSA' });
  });
});
