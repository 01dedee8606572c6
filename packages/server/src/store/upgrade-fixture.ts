/**
 * For the tests of migrations 9, 10, 11 and 12 on both databases (sqlite-store.test.ts,
 * postgres-store.test.ts): a migrated database taken back to the schema of migration 8, rows an
 * older version wrote, and what the store must answer once it has migrated them again. For tests
 * only, like store-contract.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { type ParsedCertificate, type SerialNumber, createKeySigner, generateKey, issueSelfSigned, parseCertificate, publicKeyFingerprint, randomSerial } from '@provisio/pki';
import type { DeviceIdText, SystemId } from '../domain/model.js';
import type { DeviceFilter, Store } from '../domain/store.js';
import type { DialectName } from './migrations.js';

/**
 * Statements that undo migrations 14, 13, 12, 11, 10 and 9 (the pg_trgm extension stays: it is the
 * database's). requests.package_id is made NOT NULL again on PostgreSQL here; on SQLite the test
 * rebuilds the table, so migration 13's rebuild runs against the old data on both.
 */
export function rollBackToMigration8(dialect: DialectName): string[] {
  const tokens = [
    'drop table pairing_codes',
    'alter table systems drop column central_key_generation',
    'drop table enrollment_tokens',
    'alter table systems drop column enrollment_secret_approves',
    'alter table requests drop column enrollment_kind',
    'alter table requests drop column enrollment_id',
  ];
  const keyPolicy = [
    'drop index certificates_public_key_sha256_idx',
    'alter table certificates drop column public_key_sha256',
    'drop table blocked_keys',
  ];
  const search = dialect === 'sqlite'
    ? ['devices', 'requests', 'certificates'].flatMap((t) => [`drop trigger ${t}_search_insert`, `drop table ${t}_search`])
    : ['devices_device_id', 'devices_label', 'requests_hardware_serial', 'requests_public_key_fingerprint', 'certificates_serial', 'certificates_fingerprint'].map((i) => `drop index ${i}_trgm_idx`);
  return [
    ...tokens,
    // SQLite cannot put a NOT NULL back with one statement: sqlite-store.test.ts rebuilds it.
    ...(dialect === 'postgres' ? ['alter table requests alter column package_id set not null'] : []),
    ...keyPolicy,
    ...search,
    'drop index devices_pending_first_idx',
    'drop index devices_needs_approval_idx',
    ...['pending_request_id', 'pending_request_kind', 'pending_request_expires_at'].map((c) => `alter table devices drop column ${c}`),
    'alter table systems drop column separation_of_duties',
    'delete from schema_migrations where version in (9, 10, 11, 12, 13, 14)',
  ];
}

/** A real certificate for `version8Data` (self-signed: only its DER and key matter here). */
export async function aRealCertificate(): Promise<ParsedCertificate> {
  const signer = createKeySigner((await generateKey('p256')).privateKey);
  const issued = await issueSelfSigned(signer, {
    serial: randomSerial({ bytes: (n) => randomBytes(n) }),
    subject: [{ type: 'CN', value: 'PMP-2' }],
    notBefore: new Date(0),
    notAfter: new Date(9_000_000_000_000),
  });
  return parseCertificate(issued.der);
}

/**
 * A device waiting for its first approval (PMP-1), and a provisioned one (PMP-2, certificate
 * serial 7e01cafe) with a pending reprovisioning request and, newer, a rejected one; and PMP-2's
 * earlier certificate `revoked` (a real one), revoked for keyCompromise.
 */
export function version8Data(dialect: DialectName, revoked: ParsedCertificate): string[] {
  const blob = dialect === 'sqlite' ? `x'00'` : `'\\x00'::bytea`;
  const der = dialect === 'sqlite' ? `x'${revoked.der.toString('hex')}'` : `'\\x${revoked.der.toString('hex')}'::bytea`;
  const request = (id: string, device: string, serial: string, key: string, state: string, at: number, kind: string | null) =>
    `insert into requests (id, package_id, system_id, component_id, device_id, device_label, hardware_serial, nonce, content_hash, raw, public_key_fingerprint, key_algorithm, mock, transport, state, created_at, expires_at, kind)
     values ('${id}', 'p1', 's1', 'c1', '${device}', '${device}', '${serial}', '${id}', '${id}', ${blob}, '${key.repeat(32)}', 'ECDSA P-256', 0, 'connected', '${state}', ${at}, 8000000000000, ${kind ? `'${kind}'` : 'null'})`;
  return [
    `insert into users (id, username, role, created_at) values ('u1', 'alice', 'admin', 0)`,
    `insert into systems (id, name, allow_mock, created_at) values ('s1', 'Pumps', 0, 0)`,
    `insert into components (id, system_id, name, key_types, validity_days, created_at, renewal_grace_days) values ('c1', 's1', 'pump', '["p256"]', 398, 0, 0)`,
    `insert into packages (id, system_id, status, bootstrap_certificate, bootstrap_fingerprint, request_lifetime_seconds, expires_at, created_at, created_by)
     values ('p1', 's1', 'active', ${blob}, 'f1', 86400, 9000000000000, 0, 'u1')`,
    request('r1', 'PMP-1', 'HW-Alpha', 'a1', 'pending', 1000, null),
    request('r2', 'PMP-2', 'HW-Beta', 'b2', 'approved', 1000, null),
    request('r3', 'PMP-2', 'HW-Beta', 'c3', 'pending', 3000, 'reprovision'),
    request('r4', 'PMP-2', 'HW-Beta', 'd4', 'rejected', 4000, 'reprovision'),
    `insert into devices (device_id, system_id, component_id, label, state, mock, current_request_id, created_at, updated_at)
     values ('PMP-1', 's1', 'c1', 'Ward A', 'pending', 0, 'r1', 0, 1000), ('PMP-2', 's1', 'c1', 'Ward B', 'provisioned', 0, 'r2', 0, 2000)`,
    `insert into certificates (issuer_fingerprint, serial, device_id, request_id, kind, der, fingerprint, not_before, not_after, status, created_at)
     values ('i1', '7e01cafe', 'PMP-2', 'r2', 'device', ${blob}, '${'e5'.repeat(32)}', 0, 9000000000000, 'active', 2000)`,
    `insert into certificates (issuer_fingerprint, serial, device_id, request_id, kind, der, fingerprint, not_before, not_after, status, revoked_at, revocation_reason, created_at)
     values ('i1', '${revoked.serial}', 'PMP-2', null, 'device', ${der}, '${revoked.fingerprint}', 0, 9000000000000, 'revoked', 1500, 'keyCompromise', 1000)`,
  ];
}

/** What the store answers about `version8Data` once migrations 9, 10 and 11 ran. */
export async function assertFilledIn(store: Store, revoked: ParsedCertificate): Promise<void> {
  const key = publicKeyFingerprint(revoked.publicKey);
  assert.deepEqual((await store.findCertificatesByPublicKey(key)).map((c) => [c.serial, c.publicKeySha256]), [[revoked.serial, key]], 'its key filled in');
  assert.deepEqual(await store.findBlockedKey(key), { publicKeySha256: key, blockedAt: new Date(1500), issuerFingerprint: 'i1', serial: revoked.serial }, 'its key blocked');
  assert.equal((await store.findCertificate('i1', '7e01cafe' as SerialNumber))?.publicKeySha256, undefined, 'a row whose DER does not parse keeps no key');
  const expiresAt = new Date(8_000_000_000_000);
  assert.deepEqual((await store.findDevice('PMP-1' as DeviceIdText))?.pendingRequest, { id: 'r1', kind: 'provision', expiresAt });
  assert.deepEqual((await store.findDevice('PMP-2' as DeviceIdText))?.pendingRequest, { id: 'r3', kind: 'reprovision', expiresAt });
  const ids = async (filter: Partial<DeviceFilter>) => (await store.listDevices({ limit: 10, offset: 0, ...filter })).items.map((d) => d.deviceId);
  assert.deepEqual(await ids({ needsApproval: true, sort: 'pending-first' }), ['PMP-2', 'PMP-1']);
  assert.deepEqual(await ids({ text: 'ward b' }), ['PMP-2'], 'label');
  assert.deepEqual(await ids({ text: 'hw-alp' }), ['PMP-1'], 'hardware serial');
  assert.deepEqual(await ids({ text: 'B2B2B2' }), ['PMP-2'], 'key SHA-256 of the current request');
  assert.deepEqual(await ids({ text: 'c3c3c3' }), [], 'not of another request');
  assert.deepEqual(await ids({ text: '01CAF' }), ['PMP-2'], 'certificate serial');
  assert.deepEqual(await ids({ text: 'e5e5e5' }), ['PMP-2'], 'certificate SHA-256');
  // Migration 12: a system that existed keeps separation of duties on (D28).
  assert.equal((await store.findSystemById('s1' as SystemId))?.separationOfDuties, true);
}
