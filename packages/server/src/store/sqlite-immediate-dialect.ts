/**
 * Kysely's SQLite dialect, with transactions opened by BEGIN IMMEDIATE instead of BEGIN.
 *
 * Why: a deferred BEGIN takes the write lock only at the first write. If another process (the
 * CLI, a second server by mistake) wrote in between, SQLite answers SQLITE_BUSY_SNAPSHOT at that
 * write and the busy timeout cannot help. BEGIN IMMEDIATE takes the write lock up front (waiting
 * up to busy_timeout), so a transaction that started always commits or fails before it reads.
 * Inside one process Kysely's SQLite driver already runs one transaction at a time.
 */
import { CompiledQuery, type DatabaseConnection, type Driver, SqliteDialect, type SqliteDialectConfig, SqliteDriver } from 'kysely';

class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

export class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}
