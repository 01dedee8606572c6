import assert from 'node:assert/strict';
import { fstatSync, fsync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@provisio/testkit';
import Database from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { ServiceSqliteDialect, WalFlusher } from './sqlite-dialect.js';

const dir = tempDir('provisio-dialect-');
let counter = 0;

/** fsync(2) that waits for `open()` before it runs, and records the inode of every descriptor it synced. */
function gatedSync(fail?: NodeJS.ErrnoException) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const synced: number[] = [];
  const sync = (fd: number, done: (error: Error | null) => void) => {
    synced.push(fstatSync(fd).ino);
    void gate.then(() => (fail ? done(fail) : fsync(fd, done)));
  };
  return { sync, synced, open };
}

interface Table {
  t: { id: number; v: string };
}

function openDb(sync: (fd: number, done: (error: Error | null) => void) => void) {
  const file = join(dir, `d-${++counter}.db`);
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.exec('create table t (id integer primary key, v text not null)');
  const db = new Kysely<Table>({ dialect: new ServiceSqliteDialect(sqlite, new WalFlusher(`${file}-wal`, sync)) });
  return { db, file, sqlite };
}

/** 'pending' when `p` has not settled after 50 ms: used only where nothing can settle it (the gate is closed). */
async function settled(p: Promise<unknown>): Promise<'resolved' | 'rejected' | 'pending'> {
  return Promise.race([
    p.then(() => 'resolved' as const, () => 'rejected' as const),
    new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 50)),
  ]);
}

describe('SQLite driver: durability by WAL fsync off the event loop', () => {
  it('ok/transaction-resolves-only-after-the-wal-is-synced', async () => {
    const g = gatedSync();
    const { db, file } = openDb(g.sync);
    try {
      const done = db.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'certificate' }).execute());
      assert.equal(await settled(done), 'pending', 'committed, but not answered before the fsync');
      // It is committed to the WAL: a second connection already reads it.
      const other = new Database(file, { readonly: true });
      assert.deepEqual(other.prepare('select v from t').all(), [{ v: 'certificate' }]);
      other.close();
      g.open();
      await done;
      assert.equal(g.synced[0], statSync(`${file}-wal`).ino, 'the WAL file was synced');
    } finally {
      g.open();
      await db.destroy();
    }
  });

  it('ok/a-read-after-a-commit-waits-for-that-commit-to-be-durable', async () => {
    const g = gatedSync();
    const { db } = openDb(g.sync);
    try {
      const write = db.insertInto('t').values({ id: 1, v: 'x' }).execute();
      const read = db.selectFrom('t').selectAll().execute();
      assert.equal(await settled(read), 'pending', 'a read that could see the commit is not answered before it is on disk');
      g.open();
      await write;
      assert.deepEqual(await read, [{ id: 1, v: 'x' }]);
    } finally {
      g.open();
      await db.destroy();
    }
  });

  it('ok/one-fsync-covers-the-commits-written-before-it', async () => {
    const g = gatedSync();
    const { db, file } = openDb(g.sync);
    try {
      // The first commit starts a flush that waits at the gate; the four others commit meanwhile
      // (the connection is lent on at once) and share the next flush.
      const all = Promise.all([1, 2, 3, 4, 5].map((id) => db.transaction().execute((trx) => trx.insertInto('t').values({ id, v: 'x' }).execute())));
      assert.equal(await settled(all), 'pending');
      g.open();
      await all;
      const wal = statSync(`${file}-wal`).ino;
      assert.equal(g.synced.filter((ino) => ino === wal).length, 2, 'five commits, two WAL fsyncs');
    } finally {
      g.open();
      await db.destroy();
    }
  });

  it('fail/fsync-error-fails-the-call-and-every-later-one', async () => {
    const eio = Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    const g = gatedSync(eio);
    const { db } = openDb(g.sync);
    g.open();
    try {
      await assert.rejects(db.insertInto('t').values({ id: 1, v: 'x' }).execute(), /could not be made durable .*EIO.*restart the service/);
      // The kernel may have dropped the dirty pages: a later success would prove nothing.
      await assert.rejects(db.selectFrom('t').selectAll().execute(), /could not be made durable/);
    } finally {
      await db.destroy().catch(() => {});
    }
  });

  it('ok/statements-are-prepared-once', async () => {
    const { db, sqlite } = openDb(fsync);
    try {
      const prepared: string[] = [];
      const prepare = sqlite.prepare.bind(sqlite);
      sqlite.prepare = ((text: string) => {
        prepared.push(text);
        return prepare(text);
      }) as typeof sqlite.prepare;
      for (let id = 1; id <= 3; id++) await db.insertInto('t').values({ id, v: 'x' }).execute();
      for (let i = 0; i < 3; i++) await sql`select count(*) as n from t`.execute(db);
      assert.equal(prepared.length, 2, prepared.join('\n'));
    } finally {
      await db.destroy();
    }
  });
});
