/**
 * The service's SQLite driver for Kysely (in place of Kysely's own SqliteDriver), over the one
 * better-sqlite3 connection of the process. Three differences, each for a measured reason
 * (bench/RESULTS.md):
 *
 * - Transactions open with BEGIN IMMEDIATE instead of BEGIN. A deferred BEGIN takes the write lock
 *   only at the first write; if another process (the CLI) wrote in between, SQLite answers
 *   SQLITE_BUSY_SNAPSHOT there and the busy timeout cannot help. BEGIN IMMEDIATE takes the lock
 *   up front (waiting up to busy_timeout), so a transaction that started commits or fails before
 *   it reads.
 * - Prepared statements are kept and reused: Kysely's driver prepares every statement again.
 * - Durability without blocking the event loop (docs/storage.md, "Durability"): the connection
 *   runs with synchronous=NORMAL, so a COMMIT only appends to the WAL, and the WAL is fsynced on
 *   the thread pool by `WalFlusher`. Every store call (a query, or a whole transaction) resolves
 *   only after the WAL holding every commit made before it returned is on disk, so nothing the
 *   store returns can be lost by a crash or a power cut — the guarantee of synchronous=FULL. One
 *   fsync covers every commit written before it started (group commit).
 */
import { closeSync, fsync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type DatabaseConnection, type Driver, type QueryResult, SqliteDialect } from 'kysely';

/** Distinct statements the service runs are a few dozen; the bound only stops unbounded growth. */
const STATEMENT_CACHE_MAX = 256;

/**
 * Makes the WAL durable with fsync on the thread pool. Counts commits written to the WAL and
 * commits known to be on disk; `durable()` waits until the second catches up with the first as
 * it was when called. A failed fsync is final: after it the kernel may have dropped the dirty
 * pages and a later fsync could succeed without them, so every later `durable()` fails too and
 * the service must be restarted (SQLite then recovers from the WAL on disk).
 */
export class WalFlusher {
  #written = 0;
  #flushed = 0;
  #running: Promise<void> | null = null;
  #failed: Error | null = null;
  #fd: number | null = null;
  #directorySynced = false;

  /**
   * @param walPath the database's `-wal` file; null for an in-memory database (nothing to flush).
   * @param sync fsync(2) on a descriptor, calling back when done (node:fs `fsync`; tests wrap it).
   */
  constructor(
    private readonly walPath: string | null,
    private readonly sync: (fd: number, done: (error: Error | null) => void) => void = fsync,
  ) {}

  /** A commit (or an autocommit write) was appended to the WAL. */
  written(): void {
    this.#written++;
  }

  /** Resolves when every commit written before this call is on disk. */
  async durable(): Promise<void> {
    const target = this.#written;
    while (this.#flushed < target) {
      if (this.#failed) throw this.#failed;
      this.#running ??= this.#flush().finally(() => {
        this.#running = null;
      });
      await this.#running;
    }
    if (this.#failed) throw this.#failed;
  }

  async #flush(): Promise<void> {
    const upTo = this.#written;
    if (this.walPath !== null) {
      try {
        this.#fd ??= openSync(this.walPath, 'r');
        await this.#fsync(this.#fd);
        if (!this.#directorySynced) {
          // The WAL file's directory entry, once: the file was created by SQLite's first write.
          const dir = openSync(dirname(this.walPath), 'r');
          try {
            await this.#fsync(dir);
          } finally {
            closeSync(dir);
          }
          this.#directorySynced = true;
        }
      } catch (e) {
        this.#failed = new Error(`the SQLite WAL could not be made durable (fsync ${this.walPath}): ${(e as Error).message}; restart the service`);
        throw this.#failed;
      }
    }
    this.#flushed = Math.max(this.#flushed, upTo);
  }

  #fsync(fd: number): Promise<void> {
    return new Promise((resolve, reject) => this.sync(fd, (error) => (error ? reject(error) : resolve())));
  }

  close(): void {
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}

class SqliteConnection implements DatabaseConnection {
  readonly #statements = new Map<string, BetterSqlite3.Statement>();

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly wal: WalFlusher,
  ) {}

  #prepare(sql: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (this.#statements.size >= STATEMENT_CACHE_MAX) this.#statements.delete(this.#statements.keys().next().value as string);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const statement = this.#prepare(query.sql);
    const parameters = query.parameters as unknown[];
    const inTransaction = this.db.inTransaction;
    let result: QueryResult<R>;
    if (statement.reader) {
      result = { rows: statement.all(parameters) as R[] };
    } else {
      const { changes, lastInsertRowid } = statement.run(parameters);
      result = { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
    }
    // A transaction ended (COMMIT; a ROLLBACK counts too, flushing nothing new is harmless) or
    // a write ran on its own (autocommit): the WAL has new frames to make durable. SQLite calls
    // COMMIT itself "read-only", hence the transaction state before and after.
    if (!this.db.inTransaction && (inTransaction || !statement.readonly)) this.wal.written();
    return result;
  }

  async* streamQuery<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const statement = this.#prepare(query.sql);
    if (!statement.reader) throw new Error('only statements that return rows can be streamed');
    for (const row of statement.iterate(query.parameters as unknown[])) yield { rows: [row as R] };
  }
}

/** One connection, lent to one caller at a time in arrival order. */
class ServiceSqliteDriver implements Driver {
  readonly #connection: SqliteConnection;
  readonly #waiting: Array<() => void> = [];
  #busy = false;

  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly wal: WalFlusher,
  ) {
    this.#connection = new SqliteConnection(db, wal);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy = true;
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  /** Lends the connection to the next caller at once, then waits for the WAL to be on disk. */
  async releaseConnection(): Promise<void> {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#busy = false;
    await this.wal.durable();
  }

  async destroy(): Promise<void> {
    try {
      await this.wal.durable();
    } finally {
      this.wal.close();
      this.db.close();
    }
  }
}

export class ServiceSqliteDialect extends SqliteDialect {
  constructor(
    private readonly db: BetterSqlite3.Database,
    private readonly wal: WalFlusher,
  ) {
    super({ database: db });
  }

  override createDriver(): Driver {
    return new ServiceSqliteDriver(this.db, this.wal);
  }
}
