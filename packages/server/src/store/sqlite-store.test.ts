import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import Database from 'better-sqlite3';
import { openStore } from './open-store.js';
import { storeContract } from './store-contract.js';
import { aRealCertificate, assertFilledIn, rollBackToMigration8, version8Data } from './upgrade-fixture.js';

// One directory (tempDir registers an exit hook per call), one file per opened store.
const dir = tempDir('provisio-store-');
let counter = 0;
const freshFile = (name = 'store') => join(dir, `${name}-${++counter}.db`);
storeContract('SQLite', () => openStore({ url: freshFile() }));

/**
 * The requests table as before migration 13 (package_id NOT NULL), rebuilt the way SQLite allows
 * outside a transaction: foreign keys off, a copy, the original definition with the constraint.
 */
function restorePackageNotNull(raw: Database.Database): void {
  const rows = raw.prepare(`select type, sql from sqlite_master where tbl_name = 'requests' and sql is not null`).all() as Array<{ type: string; sql: string }>;
  const table = rows.find((r) => r.type === 'table')?.sql ?? '';
  const restored = table.replace('"package_id" text', '"package_id" text not null');
  assert.notEqual(restored, table);
  raw.pragma('foreign_keys = off');
  raw.exec('create table requests_copy as select * from requests');
  raw.exec('drop table requests');
  raw.exec(restored);
  raw.exec('insert into requests select * from requests_copy');
  raw.exec('drop table requests_copy');
  for (const r of rows.filter((x) => x.type !== 'table')) raw.exec(r.sql);
  raw.pragma('foreign_keys = on');
}

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
      assert.deepEqual(raw.prepare('select version, name from schema_migrations').all(), [{ version: 1, name: 'initial' }, { version: 2, name: 'approval policies' }, { version: 3, name: 'proxy gateways' }, { version: 4, name: 'revocation' }, { version: 5, name: 'station and expiry health' }, { version: 6, name: 'lifecycle' }, { version: 7, name: 'device list sorts' }, { version: 8, name: 'reprovisioning asked for by an admin' }, { version: 9, name: 'pending requests on devices' }, { version: 10, name: 'device text search' }, { version: 11, name: 'certified key fingerprints and blocked keys' }, { version: 12, name: 'separation of duties' }, { version: 13, name: 'enrollment tokens' }, { version: 14, name: 'pairing codes' }, { version: 15, name: 'enrollment protocols' }]);
    } finally {
      raw.close();
    }
  });

  it('ok/migrations-8-and-9-fill-in-existing-data', async () => {
    const file = freshFile('provisio');
    await (await openStore({ url: file })).close();
    // Back to the schema of migration 8, which an existing installation has, with its data.
    const revoked = await aRealCertificate();
    const raw = new Database(file);
    for (const statement of rollBackToMigration8('sqlite')) raw.exec(statement);
    restorePackageNotNull(raw);
    for (const statement of version8Data('sqlite', revoked)) raw.exec(statement);
    raw.close();
    const store = await openStore({ url: file });
    try {
      await assertFilledIn(store, revoked);
    } finally {
      await store.close();
    }
    // Migration 13 made requests.package_id nullable by rebuilding the table under the rows that
    // refer to it (devices, certificates): every row and reference is still there.
    const after = new Database(file, { readonly: true });
    try {
      assert.equal((after.prepare(`select "notnull" as n from pragma_table_info('requests') where name = 'package_id'`).get() as { n: number }).n, 0);
      assert.deepEqual(after.prepare('pragma foreign_key_check').all(), []);
      assert.equal((after.prepare('select count(*) as n from requests').get() as { n: number }).n, 4);
      const names = (after.prepare(`select name from sqlite_master where tbl_name = 'requests' and type in ('index', 'trigger') and sql is not null order by name`).all() as Array<{ name: string }>).map((r) => r.name);
      assert.deepEqual(names, ['requests_created_at_idx', 'requests_device_id_idx', 'requests_search_insert', 'requests_state_created_at_idx', 'requests_system_policy_decided_idx']);
    } finally {
      after.close();
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
