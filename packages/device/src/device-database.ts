/**
 * The device's encrypted local database, `device.db` in the keystore (seed 003: the app's
 * SQLCipher database; docs/device.md "The device database"; D37). SQLCipher through
 * better-sqlite3-multiple-ciphers, in the SQLCipher 3 page format (`cipher='sqlcipher'`,
 * `legacy=3`), which the `sqlcipher` tool Debian ships (3.4) reads and SQLCipher 4 reads with
 * `PRAGMA cipher_compatibility = 3`. The key is a raw 256-bit key (`x'…'`: no passphrase KDF,
 * since it already is a full-strength key) from `deriveDatabaseKey`, i.e. from device.key.
 *
 * Provisio keeps the device's configuration in it, in `provisio_state` (name → value), written
 * at every install; the application adds its own tables beside it.
 *
 * Key rotation (renew --rekey): `installProfile` re-keys the database to the new key
 * (`PRAGMA rekey`, one SQLite transaction) BEFORE device.key is replaced, while the new key is
 * still in renewal.key. A crash between leaves the database under the new key and device.key
 * old: opening then tries the key in renewal.key as well, and re-keys back to device.key, the
 * key identity.json names, so the database is never left under a key that may be thrown away.
 */
import type { KeyObject } from 'node:crypto';
import Database from 'better-sqlite3-multiple-ciphers';
import { importPrivateKeyPem } from '@provisio/pki';
import { appendDeviceAudit } from './device-audit-log.js';
import { deriveDatabaseKey } from './derive-database-key.js';
import { DeviceError } from './errors.js';
import { ensureKeystoreFile, fileState, keystorePath, readKeystoreFile } from './keystore.js';
import { loadDevice } from './load-device.js';

export type DeviceDatabase = Database.Database;

/** The settings SQLCipher 3.x uses by default, so Debian's `sqlcipher` opens the file as is. */
const CIPHER_PRAGMAS = [`cipher = 'sqlcipher'`, 'legacy = 3'] as const;

function rawKey(key: Buffer): string {
  return `"x'${key.toString('hex')}'"`;
}

/** Opens `path` with `key`; null when the key does not open it (SQLITE_NOTADB). */
function openWithKey(path: string, key: Buffer): DeviceDatabase | null {
  const db = new Database(path, { fileMustExist: true });
  try {
    for (const p of CIPHER_PRAGMAS) db.pragma(p);
    db.pragma(`key = ${rawKey(key)}`);
    // The key is only checked when the first page is read.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (e) {
    db.close();
    if ((e as { code?: unknown }).code === 'SQLITE_NOTADB') return null;
    throw e;
  }
}

function prepareSchema(db: DeviceDatabase): void {
  db.exec('CREATE TABLE IF NOT EXISTS provisio_state (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL)');
}

/** The key of device.key, and of renewal.key when a rotation is under way. */
function keysOf(dir: string): { current: Buffer; pending: Buffer | null; deviceId: string } {
  const device = loadDevice(dir);
  const privateKey = importPrivateKeyPem(readKeystoreFile(dir, 'key').toString('utf8'));
  const current = deriveDatabaseKey(privateKey, device.identity.deviceId);
  const pending = fileState(dir, 'renewalKey').present
    ? deriveDatabaseKey(importPrivateKeyPem(readKeystoreFile(dir, 'renewalKey').toString('utf8')), device.identity.deviceId)
    : null;
  return { current, pending, deviceId: device.identity.deviceId };
}

function unreadable(dir: string): DeviceError {
  return new DeviceError(
    'device_database_unreadable',
    `${keystorePath(dir, 'database')} does not open with the key derived from ${keystorePath(dir, 'key')}`,
    'the database was made under another device key (or is damaged); restore it from a backup, or move it away to start a new one',
  );
}

export interface OpenDeviceDatabaseOptions {
  /** Create device.db when it does not exist (default true). */
  readonly create?: boolean;
  /** For the audit entries: the device's clock. */
  readonly now?: Date;
}

/**
 * Opens (and by default creates) the keystore's database with the key derived from device.key.
 * The caller closes it. The keystore must be whole (loadDevice's checks).
 */
export function openDeviceDatabase(dir: string, options: OpenDeviceDatabaseOptions = {}): DeviceDatabase {
  const { current, pending } = keysOf(dir);
  const path = keystorePath(dir, 'database');
  if (!fileState(dir, 'database').present) {
    if (options.create === false) throw new DeviceError('device_not_installed', `${path} does not exist yet`, 'it is made at install; "provisio device db-key --init" makes it now');
    ensureKeystoreFile(dir, 'database');
    const db = openWithKey(path, current);
    if (!db) throw unreadable(dir);
    prepareSchema(db);
    appendDeviceAudit(dir, { event: 'database.created', details: { file: 'device.db', cipher: 'sqlcipher3' }, ...(options.now ? { at: options.now } : {}) });
    return db;
  }
  const db = openWithKey(path, current);
  if (db) {
    prepareSchema(db);
    return db;
  }
  // A rotation re-keyed the database and was interrupted before device.key was replaced: back
  // to the key identity.json names (the rotation re-keys again when it is retried).
  const interrupted = pending ? openWithKey(path, pending) : null;
  if (!interrupted) throw unreadable(dir);
  interrupted.pragma(`rekey = ${rawKey(current)}`);
  appendDeviceAudit(dir, { event: 'database.rekeyed', details: { to: 'device.key', reason: 'rotation_interrupted' }, ...(options.now ? { at: options.now } : {}) });
  prepareSchema(interrupted);
  return interrupted;
}

/** The database key of this keystore, for tools (`provisio device db-key`). A secret. */
export function deviceDatabaseKey(dir: string): Buffer {
  return keysOf(dir).current;
}

/**
 * Re-keys device.db (when there is one) from device.key's key to `newKey`'s, before the caller
 * makes `newKey` device.key. Already under the new key (a retried rotation): nothing to do.
 * `unreadable` when neither key opens it: it is lost to this device whatever the rotation does,
 * so the caller goes on (and records it). Any other failure throws: the rotation must stop, or
 * the database would stay under a key about to be replaced.
 */
export function rekeyDeviceDatabase(dir: string, newKey: KeyObject, now: Date): 'rekeyed' | 'unchanged' | 'unreadable' {
  if (!fileState(dir, 'database').present) return 'unchanged';
  const { current, deviceId } = keysOf(dir);
  const next = deriveDatabaseKey(newKey, deviceId);
  const path = keystorePath(dir, 'database');
  const db = openWithKey(path, current);
  if (!db) {
    const already = openWithKey(path, next);
    if (!already) return 'unreadable';
    already.close();
    return 'unchanged';
  }
  try {
    db.pragma(`rekey = ${rawKey(next)}`);
  } finally {
    db.close();
  }
  appendDeviceAudit(dir, { event: 'database.rekeyed', details: { to: 'renewal.key', reason: 'key_rotation' }, at: now });
  return 'rekeyed';
}

/**
 * Records the device's configuration in provisio_state (after an install). Only values that
 * differ are written: installing the same profile again leaves the file as it was.
 */
export function writeDeviceState(db: DeviceDatabase, values: Readonly<Record<string, string>>, now: Date): void {
  const current = readDeviceState(db);
  const changed = Object.entries(values).filter(([name, value]) => current[name] !== value);
  if (changed.length === 0) return;
  const put = db.prepare('INSERT INTO provisio_state (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at');
  const at = now.toISOString();
  db.transaction(() => {
    for (const [name, value] of changed) put.run(name, value, at);
  })();
}

/** provisio_state as an object. */
export function readDeviceState(db: DeviceDatabase): Record<string, string> {
  const rows = db.prepare('SELECT name, value FROM provisio_state ORDER BY name').all() as { name: string; value: string }[];
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}
