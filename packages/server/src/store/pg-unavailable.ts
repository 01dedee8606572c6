/**
 * PostgreSQL going away (restart, failover, a terminated backend, a cut network) is a fault the
 * service outlives: every query or transaction that meets it fails with `database_unavailable`
 * (HTTP 503 with Retry-After, docs/errors.md), nothing half-done is committed, and the pool
 * opens fresh connections for the next call. Without this a lost connection surfaced as an
 * unexplained 500, and an error event on a checked-out client crashed the process.
 */
import type { CompiledQuery, DatabaseConnection, Driver, QueryCompiler, QueryResult, TransactionSettings } from 'kysely';
import { PostgresDialect, type PostgresDialectConfig } from 'kysely';
import { DatabaseUnavailable } from '../domain/errors.js';

/**
 * SQLSTATE class 08 (connection exception), 57P01-57P03 (admin shutdown, crash shutdown,
 * cannot connect now: RFC-less, PostgreSQL Appendix A), socket errors of the OS, and the
 * messages node-postgres gives a connection that ended under it.
 */
const LOST_CODES = new Set(['57P01', '57P02', '57P03', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const LOST_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect|Client was closed/i;

export function isConnectionLost(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (LOST_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  return typeof message === 'string' && LOST_MESSAGES.test(message);
}

async function translated<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DatabaseUnavailable || !isConnectionLost(error)) throw error;
    throw new DatabaseUnavailable(error instanceof Error ? error.message : String(error));
  }
}

class TranslatedConnection implements DatabaseConnection {
  constructor(readonly inner: DatabaseConnection) {}
  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    return translated(() => this.inner.executeQuery<R>(query));
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}

type Compile = QueryCompiler['compileQuery'];

const inner = (connection: DatabaseConnection) => (connection instanceof TranslatedConnection ? connection.inner : connection);

class TranslatingDriver implements Driver {
  constructor(private readonly driver: Driver) {}
  init() {
    return translated(() => this.driver.init());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new TranslatedConnection(await translated(() => this.driver.acquireConnection()));
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    return translated(() => this.driver.beginTransaction(inner(connection), settings));
  }

  commitTransaction(connection: DatabaseConnection) {
    return translated(() => this.driver.commitTransaction(inner(connection)));
  }

  rollbackTransaction(connection: DatabaseConnection) {
    return translated(() => this.driver.rollbackTransaction(inner(connection)));
  }

  // PostgresDriver implements all three savepoint methods (the store's inserts use them).
  savepoint(connection: DatabaseConnection, name: string, compile: Compile) {
    return translated(() => this.driver.savepoint!(inner(connection), name, compile));
  }

  rollbackToSavepoint(connection: DatabaseConnection, name: string, compile: Compile) {
    return translated(() => this.driver.rollbackToSavepoint!(inner(connection), name, compile));
  }

  releaseSavepoint(connection: DatabaseConnection, name: string, compile: Compile) {
    return translated(() => this.driver.releaseSavepoint!(inner(connection), name, compile));
  }

  releaseConnection(connection: DatabaseConnection) {
    return this.driver.releaseConnection(inner(connection));
  }

  destroy() {
    return this.driver.destroy();
  }
}

/** Kysely's PostgreSQL dialect whose every failure from a lost connection is `database_unavailable`. */
export class UnavailableAwarePostgresDialect extends PostgresDialect {
  constructor(config: PostgresDialectConfig) {
    super(config);
  }

  override createDriver(): Driver {
    return new TranslatingDriver(super.createDriver());
  }
}
