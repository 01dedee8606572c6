/**
 * The device database: SQLCipher, key derived from device.key. Checked with Debian's `sqlcipher`
 * tool, which nobody here wrote: it opens the file with the derived key, and not without it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { createKeySigner, importPrivateKeyPem } from '@provisio/pki';
import { fixedClock, seededRandom, tempDir } from '@provisio/testkit';
import { COMPONENT, createFakeService, type FakeService } from '../test/fake-service.js';
import { auditEvents, mode, withCode } from '../test/helpers.js';
import { deriveDatabaseKey, fixedPoint } from './derive-database-key.js';
import { verifyDeviceAudit } from './device-audit-log.js';
import { deviceDatabaseKey, openDeviceDatabase, readDeviceState, rekeyDeviceDatabase } from './device-database.js';
import { initDevice } from './init-device.js';
import { installProfile } from './install-profile.js';
import { replaceKeystoreFiles } from './keystore.js';

const NOW = '2026-06-01T12:00:00Z';

/** `sqlcipher FILE` with `script` on stdin: its output and exit status. */
function sqlcipher(file: string, script: string): { status: number | null; output: string } {
  const r = spawnSync('sqlcipher', [file], { input: script, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function keyed(key: Buffer, sql: string): string {
  return `PRAGMA key = "x'${key.toString('hex')}'";\n${sql}\n`;
}

describe('device database', () => {
  let service: FakeService;
  const random = seededRandom('device-db');

  before(async () => {
    service = await createFakeService({ now: new Date(NOW), random: seededRandom('db-service') });
  });

  async function installed(deviceId = 'DEV-001', keyType: 'p256' | 'p384' | 'rsa3072' = 'p256', from = service): Promise<{ dir: string; requestText: string }> {
    const dir = join(tempDir('provisio-db-'), 'ks');
    const service = from;
    const init = await initDevice({ clock: fixedClock(NOW), random }, { packageText: service.packageText, component: COMPONENT, deviceId, deviceLabel: 'Bed 12', dir, keyType });
    await installProfile({ clock: fixedClock(NOW) }, { dir, profileText: await service.issueProfile(init.requestText) });
    return { dir, requestText: init.requestText };
  }

  it('ok/derived-key-stable-per-private-key-and-device-id', () => {
    for (const [type, options] of [['ec', { namedCurve: 'P-256' }], ['ec', { namedCurve: 'P-384' }], ['rsa', { modulusLength: 2048 }]] as const) {
      const a = generateKeyPairSync(type as 'ec', options as { namedCurve: string }).privateKey;
      const b = generateKeyPairSync(type as 'ec', options as { namedCurve: string }).privateKey;
      const key = deriveDatabaseKey(a, 'DEV-001');
      assert.equal(key.length, 32);
      assert.ok(key.equals(deriveDatabaseKey(a, 'DEV-001')), `${type}: the same key every time`);
      // Re-imported from PEM (as device.key is read): still the same.
      assert.ok(key.equals(deriveDatabaseKey(importPrivateKeyPem(a.export({ type: 'pkcs8', format: 'pem' }) as string), 'DEV-001')));
      assert.ok(!key.equals(deriveDatabaseKey(b, 'DEV-001')), `${type}: another private key, another database key`);
      assert.ok(!key.equals(deriveDatabaseKey(a, 'DEV-002')), `${type}: another device id, another database key`);
    }
  });

  it('ok/fixed-points-are-reproducible-and-on-their-curves', () => {
    // The values docs/device.md gives for checking the derivation by hand.
    assert.equal(fixedPoint('prime256v1').counter, 0);
    assert.equal(fixedPoint('prime256v1').x.toString('hex'), 'bbe7cae007132a407a68d5e0276a4b7547cf4f0cbca1c3b2df844c80cfa54f18');
    assert.equal(fixedPoint('secp384r1').counter, 1);
    for (const [curve, crv] of [['prime256v1', 'P-256'], ['secp384r1', 'P-384']] as const) {
      const p = fixedPoint(curve);
      assert.deepEqual(fixedPoint(curve), p);
      const jwk = { kty: 'EC', crv, x: p.x.toString('base64url'), y: p.y.toString('base64url') };
      createPublicKey({ key: jwk, format: 'jwk' });
      // The import above checks the point: a y that is off by one is refused.
      const y = Buffer.from(p.y);
      y[y.length - 1] = (y[y.length - 1] as number) ^ 1;
      assert.throws(() => createPublicKey({ key: { ...jwk, y: y.toString('base64url') }, format: 'jwk' }));
    }
  });

  it('ok/install-makes-the-database-and-sqlcipher-opens-it-only-with-the-derived-key', async () => {
    const { dir } = await installed();
    const file = join(dir, 'device.db');
    assert.equal(mode(file), 0o600);
    const key = deviceDatabaseKey(dir);
    // Debian's sqlcipher reads it with the raw key, and sees what the install wrote.
    const read = sqlcipher(file, keyed(key, 'SELECT value FROM provisio_state WHERE name = \'deviceId\';'));
    assert.equal(read.status, 0, read.output);
    assert.equal(read.output.trim(), 'DEV-001');
    const serial = sqlcipher(file, keyed(key, 'SELECT value FROM provisio_state WHERE name = \'serial\';'));
    assert.equal(serial.output.trim(), (JSON.parse(readFileSync(join(dir, 'install.json'), 'utf8')) as { serial: string }).serial);
    // Without a key, or with another one, it is not a database.
    const without = sqlcipher(file, 'SELECT count(*) FROM sqlite_master;\n');
    assert.notEqual(without.status, 0);
    assert.match(without.output, /file is (encrypted or is )?not a database/);
    const wrong = Buffer.from(key);
    wrong[0] = (wrong[0] as number) ^ 0xff;
    const other = sqlcipher(file, keyed(wrong, 'SELECT count(*) FROM sqlite_master;'));
    assert.notEqual(other.status, 0);
    assert.match(other.output, /file is (encrypted or is )?not a database/);
    // Nothing readable in the file itself.
    assert.ok(!readFileSync(file).includes(Buffer.from('DEV-001')));
    assert.ok(!readFileSync(file).includes(Buffer.from('SQLite format 3')));

    // The SDK opens it for the application, which can add its own tables.
    const db = openDeviceDatabase(dir);
    db.exec('CREATE TABLE app_readings (at TEXT, value REAL)');
    db.prepare('INSERT INTO app_readings VALUES (?, ?)').run(NOW, 36.6);
    assert.equal(readDeviceState(db).deviceId, 'DEV-001');
    db.close();
    assert.equal(sqlcipher(file, keyed(key, 'SELECT value FROM app_readings;')).output.trim(), '36.6');
  });

  it('ok/rsa-and-p384-devices-too', async () => {
    const all = await createFakeService({
      now: new Date(NOW),
      random: seededRandom('db-service-rsa'),
      components: [{ name: COMPONENT, keyTypes: ['p256', 'p384', 'rsa3072'], validityDays: 365 }],
    });
    for (const keyType of ['p384', 'rsa3072'] as const) {
      const { dir } = await installed('DEV-010', keyType, all);
      const r = sqlcipher(join(dir, 'device.db'), keyed(deviceDatabaseKey(dir), 'SELECT value FROM provisio_state WHERE name = \'deviceId\';'));
      assert.equal(r.output.trim(), 'DEV-010', `${keyType}: ${r.output}`);
    }
  });

  it('ok/install-with-a-new-key-rekeys-the-database', async () => {
    const { dir } = await installed();
    const file = join(dir, 'device.db');
    const oldKey = deviceDatabaseKey(dir);
    // A renewal with a new key: the new key's profile, made here through a second request.
    const next = join(tempDir('provisio-db-'), 'next');
    const nextInit = await initDevice({ clock: fixedClock(NOW), random }, { packageText: service.packageText, component: COMPONENT, deviceId: 'DEV-001', deviceLabel: 'Bed 12', dir: next });
    const pem = readFileSync(join(next, 'device.key'), 'utf8');
    const profileText = await service.issueProfile(nextInit.requestText, { issuedAt: new Date(Date.parse(NOW) + 1000) });
    replaceKeystoreFiles(dir, [{ file: 'renewalKey', data: pem }]);
    await installProfile({ clock: fixedClock(NOW) }, { dir, profileText, newKey: { pem, signer: createKeySigner(importPrivateKeyPem(pem)) } });

    const newKey = deviceDatabaseKey(dir);
    assert.ok(!newKey.equals(oldKey));
    assert.equal(sqlcipher(file, keyed(newKey, 'SELECT value FROM provisio_state WHERE name = \'deviceId\';')).output.trim(), 'DEV-001');
    const withOld = sqlcipher(file, keyed(oldKey, 'SELECT count(*) FROM sqlite_master;'));
    assert.notEqual(withOld.status, 0);
    assert.match(withOld.output, /not a database/);
    const events = auditEvents(dir);
    assert.deepEqual(events.slice(events.indexOf('database.rekeyed') - 1), ['profile.verified', 'database.rekeyed', 'install.completed', 'key.rotated']);
    assert.equal(verifyDeviceAudit(dir).ok, true);
  });

  it('ok/rotation-interrupted-after-the-rekey-opens-and-goes-back-to-device-key', async () => {
    const { dir } = await installed();
    const current = deviceDatabaseKey(dir);
    // A crash after device.db was re-keyed to renewal.key's key, before device.key was replaced.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    replaceKeystoreFiles(dir, [{ file: 'renewalKey', data: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }]);
    rekeyDeviceDatabase(dir, privateKey, new Date(NOW));
    assert.match(sqlcipher(join(dir, 'device.db'), keyed(current, 'SELECT 1 FROM sqlite_master;')).output, /not a database/);
    const db = openDeviceDatabase(dir);
    assert.equal(readDeviceState(db).deviceId, 'DEV-001');
    db.close();
    // Back under device.key's key: a new renewal.key can no longer strand it.
    assert.equal(sqlcipher(join(dir, 'device.db'), keyed(current, 'SELECT value FROM provisio_state WHERE name = \'deviceId\';')).output.trim(), 'DEV-001');
    assert.deepEqual(auditEvents(dir).slice(-2), ['database.rekeyed', 'database.rekeyed']);
  });

  it('fail/database-under-another-key-is-refused', async () => {
    const a = await installed();
    const b = await installed('DEV-001');
    // b's database copied over a's: same device id, another key.
    writeFileSync(join(a.dir, 'device.db'), readFileSync(join(b.dir, 'device.db')));
    assert.throws(() => openDeviceDatabase(a.dir), withCode('device_database_unreadable'));
    // The certificate is not held hostage by the application's database: a newer profile still
    // installs, and the log says the database could not be opened.
    const profileText = await service.issueProfile(a.requestText, { issuedAt: new Date(Date.parse(NOW) + 1000) });
    const result = await installProfile({ clock: fixedClock(NOW) }, { dir: a.dir, profileText });
    assert.equal(result.changed, true);
    assert.deepEqual(auditEvents(a.dir).slice(-2), ['install.completed', 'database.failed device_database_unreadable']);
  });
});
