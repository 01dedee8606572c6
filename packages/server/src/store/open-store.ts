/**
 * Opens the store named by a URL: a file path or `sqlite:PATH` (SQLite, the default, embedded),
 * or `postgres://…` / `postgresql://…` (PostgreSQL, for more than one server). Runs the
 * migrations before returning. Durability settings are in docs/storage.md.
 */
import { chmodSync, closeSync, constants, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Store } from '../domain/store.js';
import { KyselyStore } from './kysely-store.js';
import { migrate } from './migrations.js';
import { UnavailableAwarePostgresDialect } from './pg-unavailable.js';
import type { Database } from './schema.js';
import { ServiceSqliteDialect, WalFlusher } from './sqlite-dialect.js';

export interface OpenStoreOptions {
  /** A file path, `sqlite:PATH`, `sqlite::memory:` (tests), or `postgres://…`. */
  readonly url: string;
  /** PostgreSQL only: the schema to create (if missing) and use; tests isolate themselves with it. */
  readonly schema?: string;
}

/** 5 s: long enough to wait out a CLI command writing the same file, short enough to fail visibly. */
const SQLITE_BUSY_TIMEOUT_MS = 5000;
/** Per server process; PostgreSQL's default max_connections (100) leaves room for several servers. */
const PG_POOL_MAX = 10;

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const target = parseStoreUrl(options.url);
  if (target.kind === 'postgres') return openPostgres(target.url, options.schema);
  if (options.schema !== undefined) throw new Error('openStore: "schema" applies to PostgreSQL only');
  return openSqlite(target.path);
}

type StoreTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

export function parseStoreUrl(url: string): StoreTarget {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  const path = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (path === '') throw new Error(`openStore: "${url}" names no database file`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) throw new Error(`openStore: unsupported database URL scheme in "${url}"; use a file path, sqlite:PATH or postgres://…`);
  return { kind: 'sqlite', path };
}

async function openSqlite(path: string): Promise<Store> {
  const memory = path === ':memory:';
  const file = memory ? path : resolve(path);
  if (!memory) {
    // The database holds password and token hashes: owner-only, like every secret file (I7).
    const dir = dirname(file);
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600));
    chmodSync(file, 0o600);
  }
  const sqlite = new SqliteDatabase(file, { timeout: SQLITE_BUSY_TIMEOUT_MS });
  try {
    // WAL: readers do not block the writer. synchronous=NORMAL: a COMMIT appends to the WAL
    // without fsync; the driver fsyncs the WAL on the thread pool and resolves no store call
    // before the commits it could see are on disk (sqlite-dialect.ts), so an issued certificate
    // still survives power loss before anyone receives it (security.md I1).
    const mode = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (!memory && mode !== 'wal') throw new Error(`SQLite refused WAL mode (journal_mode is ${String(mode)})`);
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
  } catch (error) {
    sqlite.close();
    throw error;
  }
  const db = new Kysely<Database>({ dialect: new ServiceSqliteDialect(sqlite, new WalFlusher(memory ? null : `${file}-wal`)) });
  return finishOpen(db, 'sqlite');
}

/** PostgreSQL BIGINT (int8) as a JS number: times are epoch ms and seqs/counts stay far below 2^53. */
const INT8_OID = 20;
function parseInt8(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`BIGINT ${text} is beyond JavaScript's safe integers`);
  return value;
}

async function openPostgres(url: string, schema: string | undefined): Promise<Store> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error(`openStore: schema "${schema}" must be lowercase letters, digits and _ (at most 63), starting with a letter or _`);
  }
  const settings = ['-c synchronous_commit=on'];
  if (schema !== undefined) settings.push(`-c search_path=${schema}`);
  const pool = new pg.Pool({
    connectionString: url,
    max: PG_POOL_MAX,
    // Startup parameters, so every pooled connection has them before its first query.
    options: settings.join(' '),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection dropped by the server (restart, failover) emits 'error' on the pool; the
  // next query opens a fresh one. Without a listener the process would exit.
  pool.on('error', () => {});
  // A connection lost while checked out (mid-transaction) emits 'error' on the client, where the
  // pool listens only while it is idle: without this listener that crashed the process. Its
  // query fails instead (database_unavailable, pg-unavailable.ts) and the pool discards the client
  // on release, because it is no longer queryable.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new UnavailableAwarePostgresDialect({ pool }) });
  try {
    if (schema !== undefined) await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return finishOpen(db, 'postgres');
}

async function finishOpen(db: Kysely<Database>, dialect: 'sqlite' | 'postgres'): Promise<Store> {
  try {
    await migrate(db, dialect);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return new KyselyStore(db, dialect);
}
