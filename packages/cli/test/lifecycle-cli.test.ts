/**
 * Renewal as a person runs it: `provisio serve` in its own process, a device provisioned with
 * `provisio device provision`, then `provisio device renew` (same key, then --rekey) printing its
 * steps; the component's renewal grace period set on create and changed with `component update`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import { spawn, spawnSync } from 'node:child_process';
import { until } from './connected-helpers.js';
import { MAIN, type ServeProcess, ok, provisio, startServe, transcript } from './run-cli.js';

const installed = (keystore: string) => JSON.parse(readFileSync(join(keystore, 'install.json'), 'utf8')) as { serial: string; confirmedAt?: string };
const dbKey = (keystore: string) => provisio(['device', 'db-key', '--dir', keystore]).stdout.trim();
const sqlcipher = (keystore: string, key: string, sql: string) =>
  spawnSync('sqlcipher', [join(keystore, 'device.db')], { input: `PRAGMA key = "x'${key}'";\n${sql}\n`, encoding: 'utf8' });
const keySha = (keystore: string) => (JSON.parse(readFileSync(join(keystore, 'identity.json'), 'utf8')) as { publicKeySha256: string }).publicKeySha256;

describe('device renew and component grace via the CLI against provisio serve', () => {
  let server: ServeProcess;
  const dir = tempDir('provisio-renew-cli-');

  before(async () => {
    server = await startServe(['--data', join(dir, 'data')]);
  });
  after(async () => server?.stop());

  it('ok/component-renewal-grace-on-create-and-update', () => {
    const env = server.env;
    ok(['system', 'create', 'Grace'], env);
    const created = ok(['component', 'create', '--system', 'Grace', 'tag', '--renewal-grace-days', '3'], env);
    assert.match(created.stdout, /renewal grace 3 d/, transcript(created));
    const updated = ok(['component', 'update', '--system', 'Grace', 'tag', '--renewal-grace-days', '7', '--json'], env);
    assert.equal(JSON.parse(updated.stdout).renewalGraceDays, 7);
    const tooLong = provisio(['component', 'update', '--system', 'Grace', 'tag', '--renewal-grace-days', '91'], { env });
    assert.notEqual(tooLong.status, 0, transcript(tooLong));
    assert.match(tooLong.stderr, /validation_failed|0 to 90|maximum/, transcript(tooLong));
    const missing = provisio(['component', 'update', '--system', 'Grace', 'tag'], { env });
    assert.notEqual(missing.status, 0, transcript(missing));
  });

  it('ok/renew-by-hand-then-rekey-then-reprovision', async () => {
    const env = server.env;
    ok(['system', 'create', 'Renew'], env);
    ok(['component', 'create', '--system', 'Renew', 'sensor'], env);
    ok(['policy', 'set', '--system', 'Renew', '--mode', 'automatic', '--transports', 'connected'], env);
    const pkg = join(dir, 'renew.ppkg');
    ok(['package', 'create', '--system', 'Renew', '--out', pkg], env);
    const keystore = join(dir, 'keystore');

    // Not provisioned yet: nothing to renew.
    ok(['device', 'init', '--package', pkg, '--component', 'sensor', '--id', 'REN-001', '--label', 'Sensor 1', '--dir', keystore], {});
    const early = provisio(['device', 'renew', '--dir', keystore]);
    assert.notEqual(early.status, 0, transcript(early));
    assert.match(early.stderr, /renewal_not_ready/, transcript(early));

    const provisioned = provisio(['device', 'provision', '--package', pkg, '--component', 'sensor', '--id', 'REN-001', '--label', 'Sensor 1', '--dir', keystore]);
    assert.equal(provisioned.status, 0, transcript(provisioned));
    const first = installed(keystore);

    const renewed = provisio(['device', 'renew', '--dir', keystore]);
    assert.equal(renewed.status, 0, transcript(renewed));
    assert.match(renewed.stdout, new RegExp(`✔ 1/3 Renewal request for certificate ${first.serial} signed with the current key`));
    assert.match(renewed.stdout, /✔ 2\/3 New certificate [0-9a-f]+ issued/);
    assert.match(renewed.stdout, /✔ 3\/3 Mutual TLS with the new certificate: the service holds REN-001 provisioned/);
    assert.match(renewed.stdout, /left to expire \(same key\)/);
    const second = installed(keystore);
    assert.notEqual(second.serial, first.serial);
    assert.ok(second.confirmedAt);

    const afterRenewal = JSON.parse(ok(['device', 'get', 'REN-001', '--json'], env).stdout) as { certificates: { serial: string; status: string }[] };
    assert.deepEqual(afterRenewal.certificates.map((c) => c.status), ['active', 'active'], 'a same-key renewal leaves the older certificate to expire');
    const keyBefore = keySha(keystore);
    const dbKeyBefore = dbKey(keystore);
    const rekeyed = provisio(['device', 'renew', '--dir', keystore, '--rekey', '--json']);
    assert.equal(rekeyed.status, 0, transcript(rekeyed));
    // device.db followed the key: it opens in the sqlcipher shell with the new key's derived
    // key, and no longer with the old one.
    const dbKeyAfter = dbKey(keystore);
    assert.notEqual(dbKeyAfter, dbKeyBefore);
    assert.equal(sqlcipher(keystore, dbKeyAfter, 'SELECT value FROM provisio_state WHERE name = \'deviceId\';').stdout.trim(), 'REN-001');
    assert.match(sqlcipher(keystore, dbKeyBefore, 'SELECT count(*) FROM sqlite_master;').stderr, /not a database/);
    const answer = JSON.parse(rekeyed.stdout) as { previousSerial: string; serial: string; rekey: boolean };
    assert.equal(answer.previousSerial, second.serial);
    assert.equal(answer.rekey, true);
    assert.notEqual(keySha(keystore), keyBefore, 'device.key was replaced');

    const device = ok(['device', 'get', 'REN-001', '--json'], env);
    const certificates = (JSON.parse(device.stdout) as { certificates: { serial: string; status: string; revocationReason: string | null }[] }).certificates;
    assert.deepEqual(certificates.find((c) => c.serial === second.serial)?.revocationReason, 'superseded');
    assert.equal(certificates.find((c) => c.serial === answer.serial)?.status, 'active');
    // Both certificates of the old key are superseded once the new key's certificate is installed.
    assert.equal(certificates.find((c) => c.serial === first.serial)?.revocationReason, 'superseded');

    // Reprovisioning through a manual policy: waits for an approver, then installs.
    ok(['policy', 'set', '--system', 'Renew', '--component', 'sensor', '--mode', 'manual'], env);
    const env2: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PROVISIO_')) env2[k] = v;
    const child = spawn(process.execPath, [MAIN, 'device', 'reprovision', '--dir', keystore, '--wait', '120'], { stdio: ['ignore', 'pipe', 'pipe'], env: env2 });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await until('the reprovisioning to wait for approval', () => /Waiting for approval/.test(text), () => text);
      const requestId = /provisio request approve (req_[0-9a-f]{32})/.exec(text)?.[1];
      assert.ok(requestId, text);
      ok(['request', 'approve', requestId], env);
      assert.equal(await exited, 0, text);
      assert.match(text, /✔ 3\/4 Mutual TLS with the new certificate: the service holds REN-001 provisioned/);
      assert.equal(installed(keystore).confirmedAt !== undefined, true);
      assert.notEqual(installed(keystore).serial, answer.serial);
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }

    // The device's own log holds the whole story, and verifies.
    const log = ok(['device', 'audit', '--dir', keystore, '--json'], {});
    const report = JSON.parse(log.stdout) as { ok: boolean; list: { event: string; details: { code?: string; rekey?: boolean } }[] };
    assert.equal(report.ok, true);
    const events = report.list.map((e) => (e.details.code ? `${e.event} ${e.details.code}` : e.event));
    assert.deepEqual(events.filter((e) => /^(renewal|reprovision|key|database)\./.test(e)), [
      'renewal.failed renewal_not_ready',
      'database.created',
      'renewal.requested',
      'renewal.completed',
      'database.key_read',
      'renewal.requested',
      'database.rekeyed',
      'key.rotated',
      'renewal.completed',
      'database.key_read',
      'reprovision.requested',
      'reprovision.completed',
    ]);
    assert.equal(ok(['device', 'audit', '--dir', keystore, '--verify'], {}).status, 0);
  });
});
