import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import Database from 'better-sqlite3';
import type { DeviceIdText } from '../domain/model.js';
import { openStore } from './open-store.js';
import { storeContract } from './store-contract.js';

// One directory (tempDir registers an exit hook per call), one file per opened store.
const dir = tempDir('provisio-store-');
let counter = 0;
const freshFile = (name = 'store') => join(dir, `${name}-${++counter}.db`);
storeContract('SQLite', () => openStore({ url: freshFile() }));

describe('SQLite store files and settings', () => {
  it('ok/file-0600-directory-0700', async () => {
    const nested = join(dir, `nested-${++counter}`, 'data');
    const file = join(nested, 'provisio.db');
    const store = await openStore({ url: `sqlite:${file}` });
    try {
      await store.appendAudit({ at: new Date(), actor: 'system', action: 'store.test', targetType: 'store', targetId: 'x', details: {} });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(`${file}-wal`).mode & 0o777, 0o600, 'SQLite gives the WAL the database file\'s mode');
      assert.equal(statSync(nested).mode & 0o777, 0o700);
      assert.equal(statSync(join(nested, '..')).mode & 0o777, 0o700, 'every directory it created');
    } finally {
      await store.close();
    }
  });

  it('ok/wal-and-synchronous-normal', async () => {
    const file = freshFile('provisio');
    const store = await openStore({ url: file });
    try {
      // journal_mode is persistent in the file; synchronous is per connection, so it is read
      // through the store's own connection.
      const raw = new Database(file, { readonly: true });
      try {
        assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        raw.close();
      }
      const kysely = (store as unknown as { kysely: import('kysely').Kysely<unknown> }).kysely;
      const { sql } = await import('kysely');
      const sync = await sql<{ synchronous: number }>`pragma synchronous`.execute(kysely);
      // NORMAL: the COMMIT itself does not fsync; the driver fsyncs the WAL before any store call
      // returns (sqlite-dialect.test.ts), which keeps FULL's guarantee for what callers see.
      assert.equal(sync.rows[0]?.synchronous, 1, 'NORMAL');
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(kysely);
      assert.equal(fk.rows[0]?.foreign_keys, 1);
    } finally {
      await store.close();
    }
  });

  it('ok/migrations-are-idempotent-on-restart', async () => {
    const file = freshFile('provisio');
    const first = await openStore({ url: file });
    const entry = await first.appendAudit({ at: new Date(), actor: 'system', action: 'store.test', targetType: 'store', targetId: 'x', details: {} });
    await first.close();
    const again = await openStore({ url: file });
    try {
      assert.deepEqual(await again.readAudit(1, 10), [entry]);
      assert.equal((await again.appendAudit({ ...entry, details: {} })).seq, 2);
    } finally {
      await again.close();
    }
    const raw = new Database(file, { readonly: true });
    try {
      assert.deepEqual(raw.prepare('select version, name from schema_migrations').all(), [{ version: 1, name: 'initial' }, { version: 2, name: 'approval policies' }, { version: 3, name: 'proxy gateways' }, { version: 4, name: 'revocation' }, { version: 5, name: 'station and expiry health' }, { version: 6, name: 'lifecycle' }, { version: 7, name: 'device list sorts' }, { version: 8, name: 'pending requests on devices' }, { version: 9, name: 'device text search' }]);
    } finally {
      raw.close();
    }
  });

  it('ok/migrations-8-and-9-fill-in-existing-data', async () => {
    const file = freshFile('provisio');
    await (await openStore({ url: file })).close();
    // Back to the schema of migration 7, which an existing installation has ...
    const raw = new Database(file);
    raw.exec(`
      drop trigger devices_search_insert; drop trigger requests_search_insert; drop trigger certificates_search_insert;
      drop table devices_search; drop table requests_search; drop table certificates_search;
      drop index devices_pending_first_idx; drop index devices_needs_approval_idx;
      alter table devices drop column pending_request_id; alter table devices drop column pending_request_kind;
      alter table devices drop column pending_request_expires_at;
      delete from schema_migrations where version in (8, 9);`);
    // ... with data an older version wrote: a device waiting for its first approval, and a
    // provisioned one (certificate serial 7E01CAFE) with a reprovisioning request and a rejected one.
    raw.exec(`
      insert into users (id, username, role, created_at) values ('u1', 'alice', 'admin', 0);
      insert into systems (id, name, allow_mock, created_at) values ('s1', 'Pumps', 0, 0);
      insert into components (id, system_id, name, key_types, validity_days, created_at, renewal_grace_days) values ('c1', 's1', 'pump', '["p256"]', 398, 0, 0);
      insert into packages (id, system_id, status, bootstrap_certificate, bootstrap_fingerprint, request_lifetime_seconds, expires_at, created_at, created_by)
        values ('p1', 's1', 'active', x'00', 'f1', 86400, 9000000000000, 0, 'u1');`);
    const request = raw.prepare(`insert into requests (id, package_id, system_id, component_id, device_id, device_label, hardware_serial, nonce, content_hash, raw,
      public_key_fingerprint, key_algorithm, mock, transport, state, created_at, expires_at, kind)
      values (@id, 'p1', 's1', 'c1', @device, @device, @serial, @id, @id, x'00', @key, 'ECDSA P-256', 0, 'connected', @state, @at, 8000000000000, @kind)`);
    request.run({ id: 'r1', device: 'PMP-1', serial: 'HW-Alpha', key: 'a1'.repeat(32), state: 'pending', at: 1000, kind: null });
    request.run({ id: 'r2', device: 'PMP-2', serial: 'HW-Beta', key: 'b2'.repeat(32), state: 'approved', at: 1000, kind: null });
    request.run({ id: 'r3', device: 'PMP-2', serial: 'HW-Beta', key: 'c3'.repeat(32), state: 'pending', at: 3000, kind: 'reprovision' });
    request.run({ id: 'r4', device: 'PMP-2', serial: 'HW-Beta', key: 'd4'.repeat(32), state: 'rejected', at: 4000, kind: 'reprovision' });
    const device = raw.prepare(`insert into devices (device_id, system_id, component_id, label, state, mock, current_request_id, created_at, updated_at)
      values (@id, 's1', 'c1', @label, @state, 0, @request, 0, @at)`);
    device.run({ id: 'PMP-1', label: 'Ward A', state: 'pending', request: 'r1', at: 1000 });
    device.run({ id: 'PMP-2', label: 'Ward B', state: 'provisioned', request: 'r2', at: 2000 });
    raw.exec(`insert into certificates (issuer_fingerprint, serial, device_id, request_id, kind, der, fingerprint, not_before, not_after, status, created_at)
      values ('i1', '7e01cafe', 'PMP-2', 'r2', 'device', x'00', '${'e5'.repeat(32)}', 0, 9000000000000, 'active', 2000)`);
    raw.close();

    const store = await openStore({ url: file });
    try {
      assert.deepEqual((await store.findDevice('PMP-1' as DeviceIdText))?.pendingRequest, { id: 'r1', kind: 'provision', expiresAt: new Date(8_000_000_000_000) });
      assert.deepEqual((await store.findDevice('PMP-2' as DeviceIdText))?.pendingRequest, { id: 'r3', kind: 'reprovision', expiresAt: new Date(8_000_000_000_000) });
      const ids = async (filter: Partial<Parameters<typeof store.listDevices>[0]>) => (await store.listDevices({ limit: 10, offset: 0, ...filter })).items.map((d) => d.deviceId);
      assert.deepEqual(await ids({ needsApproval: true, sort: 'pending-first' }), ['PMP-2', 'PMP-1']);
      assert.deepEqual(await ids({ text: 'ward b' }), ['PMP-2'], 'label');
      assert.deepEqual(await ids({ text: 'hw-alp' }), ['PMP-1'], 'hardware serial');
      assert.deepEqual(await ids({ text: 'B2B2B2' }), ['PMP-2'], 'key SHA-256 of the current request');
      assert.deepEqual(await ids({ text: 'c3c3c3' }), [], 'not of another request');
      assert.deepEqual(await ids({ text: '01CAF' }), ['PMP-2'], 'certificate serial');
      assert.deepEqual(await ids({ text: 'e5e5e5' }), ['PMP-2'], 'certificate SHA-256');
    } finally {
      await store.close();
    }
  });

  it('fail/refuses-a-newer-schema', async () => {
    const file = freshFile('provisio');
    await (await openStore({ url: file })).close();
    const raw = new Database(file);
    raw.prepare('insert into schema_migrations (version, name, applied_at) values (999, ?, 0)').run('from the future');
    raw.close();
    await assert.rejects(openStore({ url: file }), /999 that this build does not know/);
  });
});
