/**
 * The device's own security audit log and its encrypted database, through real parts: a real
 * service with its central station in this process, the built CLI in child processes
 * (`device provision --station`, `device install`, `device audit`, `device db-key`), and
 * Debian's `sqlcipher` reading the database with the printed key.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { cpSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tamperPayload } from '../../device/test/fake-service.js';
import { tempDir } from '@provisio/testkit';
import { type TestService, setUpSystem, startTestService } from '../../server/test/service-harness.js';
import { MAIN } from './run-cli.js';

function cli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) env[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env }, (error, stdout, stderr) => {
      resolve({ status: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const pemBody = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
const LOG = 'security_audit_log.jsonl';

describe('provisio device audit and device db-key', () => {
  let t: TestService;
  let packageText: string;
  const work = tempDir('provisio-device-audit-');
  let keystore: string;

  before(async () => {
    t = await startTestService({ serve: { stationListen: { host: '127.0.0.1', port: 0 } } });
    ({ packageText } = await setUpSystem(t));
    const policy = await t.call('POST', '/api/v1/systems/ZMonitor/components/bedside%20monitor/policy', { json: { mode: 'automatic', rules: { deviceIdPattern: '^AUD-[0-9]+$' } } });
    assert.equal(policy.status, 200, policy.body.toString());
    const pkg = join(work, 'zmonitor.ppkg');
    writeFileSync(pkg, packageText);
    keystore = join(work, 'AUD-1');
    const r = await cli(['device', 'provision', '--package', pkg, '--component', 'bedside monitor', '--id', 'AUD-1', '--label', 'Bed 1', '--dir', keystore, '--url', t.service.url, '--station', t.service.stationUrl as string]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
  after(() => t?.close());

  it('ok/provisioning-is-recorded-and-verifies', async () => {
    const listed = await cli(['device', 'audit', '--dir', keystore, '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    const report = JSON.parse(listed.stdout) as { ok: boolean; entries: number; list: { event: string; details: Record<string, unknown> }[] };
    assert.equal(report.ok, true);
    assert.deepEqual(report.list.map((e) => e.event), [
      'device.initialized',
      'provision.requested',
      'profile.verified',
      'install.completed',
      'database.created',
      'install.confirmed',
      'check_in.succeeded',
    ]);
    const installed = JSON.parse(readFileSync(join(keystore, 'install.json'), 'utf8')) as { serial: string; requestId: string };
    const verified = report.list[2]?.details;
    assert.equal(verified?.serial, installed.serial);
    assert.equal(verified?.requestId, installed.requestId);
    assert.equal(report.list[5]?.details.mutualTls, true);
    assert.equal(report.list[6]?.details.station, new URL(t.service.stationUrl as string).origin);

    const text = await cli(['device', 'audit', '--dir', keystore]);
    assert.match(text.stdout, /^ {4}1 {2}\S+Z {2}device\.initialized .* deviceId=AUD-1 /m);
    assert.match(text.stdout, /7 entries, chain intact/);
    const verify = await cli(['device', 'audit', '--dir', keystore, '--verify']);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /7 entries, chain intact \(head 7 [0-9a-f]{64}\)/);

    for (const name of [LOG, 'security_audit_head.json', 'device.db']) assert.equal(statSync(join(keystore, name)).mode & 0o777, 0o600, name);
  });

  it('ok/no-secret-in-the-log', async () => {
    const dbKey = await cli(['device', 'db-key', '--dir', keystore]);
    assert.equal(dbKey.status, 0, dbKey.stderr);
    const log = readFileSync(join(keystore, LOG), 'utf8');
    const keyPem = readFileSync(join(keystore, 'device.key'), 'utf8');
    const d = createPrivateKey(keyPem).export({ format: 'jwk' }).d as string;
    const bootstrapKey = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(packageText)?.[0] ?? '';
    assert.ok(bootstrapKey.length > 0, 'the package carries the bootstrap key');
    for (const [what, secret] of [
      ['device key PEM', pemBody(keyPem).slice(0, 48)],
      ['device key scalar', d],
      ['database key', dbKey.stdout.trim()],
      ['bootstrap key', pemBody(bootstrapKey.replace(/\\n/g, '\n')).slice(40, 88)],
      ['API token', t.adminToken],
    ] as const) {
      assert.ok(secret.length >= 32, what);
      assert.ok(!log.includes(secret), `${what} is in the log`);
    }
    assert.doesNotMatch(log, /PRIVATE KEY/);
    // Reading the key out is itself recorded.
    assert.match(log.trimEnd().split('\n').at(-1) ?? '', /"event":"database\.key_read"/);
  });

  it('ok/db-key-opens-the-database-in-the-sqlcipher-shell-and-nothing-else-does', async () => {
    const r = await cli(['device', 'db-key', '--dir', keystore, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /this key is a secret/);
    const { key, database } = JSON.parse(r.stdout) as { key: string; database: string };
    assert.match(key, /^[0-9a-f]{64}$/);
    const read = spawnSync('sqlcipher', [database], { input: `PRAGMA key = "x'${key}'";\nSELECT value FROM provisio_state WHERE name = 'serviceUrl';\n`, encoding: 'utf8' });
    assert.equal(read.stdout.trim(), t.service.url, read.stderr);
    const without = spawnSync('sqlcipher', [database], { input: 'SELECT count(*) FROM sqlite_master;\n', encoding: 'utf8' });
    assert.match(without.stderr, /not a database/);
  });

  it('fail/refused-install-is-recorded-and-changes-nothing-else', async () => {
    const dir = join(work, 'refused');
    cpSync(keystore, dir, { recursive: true });
    const profile = readFileSync(join(dir, 'profile.pcp'), 'utf8');
    const tampered = join(work, 'tampered.pcp');
    writeFileSync(tampered, tamperPayload(profile, (p) => {
      p.deviceLabel = 'Bed 13';
    }));
    const before = readFileSync(join(dir, 'certificate.pem'));
    const r = await cli(['device', 'install', '--dir', dir, tampered]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cp_signature_invalid/);
    assert.ok(readFileSync(join(dir, 'certificate.pem')).equals(before));
    const list = JSON.parse((await cli(['device', 'audit', '--dir', dir, '--json'])).stdout) as { ok: boolean; list: { event: string; details: { code?: string } }[] };
    assert.equal(list.ok, true);
    assert.deepEqual(list.list.slice(-2).map((e) => `${e.event} ${e.details.code}`), ['profile.refused cp_signature_invalid', 'install.refused cp_signature_invalid']);
  });

  /** A copy of the keystore whose log `edit` changes; `device audit --verify` must name `finding`. */
  async function assertDetected(name: string, edit: (lines: string[]) => string, finding: string): Promise<void> {
    const dir = join(work, name);
    cpSync(keystore, dir, { recursive: true });
    const lines = readFileSync(join(dir, LOG), 'utf8').split('\n').slice(0, -1);
    writeFileSync(join(dir, LOG), edit(lines));
    const r = await cli(['device', 'audit', '--dir', dir, '--verify']);
    assert.equal(r.status, 4, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`error: ${finding}.*\\[device_audit_broken\\]`), r.stderr);
  }

  it('fail/edited-deleted-reordered-and-cut-logs-are-detected', async () => {
    // An attacker hides that a profile was verified for another serial.
    await assertDetected('edited', (l) => `${l.map((x, i) => (i === 2 ? x.replace(/"serial":"[0-9a-f]+"/, '"serial":"01"') : x)).join('\n')}\n`, 'hash_mismatch at line 3');
    await assertDetected('deleted', (l) => `${l.filter((_, i) => i !== 3).join('\n')}\n`, 'sequence_broken at line 4');
    await assertDetected('reordered', (l) => `${[l[0], l[2], l[1], ...l.slice(3)].join('\n')}\n`, 'sequence_broken at line 2');
    await assertDetected('cut', (l) => `${l.slice(0, -2).join('\n')}\n`, 'truncated');
  });
});
