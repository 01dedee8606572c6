/** A fresh PostgreSQL database for one benchmark run, dropped afterwards (the benchmarks share it). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

const PG_URL = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs `fn` with the URL of a new database; null (and a loud line) when there is no server. */
export async function withPostgres<T>(fn: (url: string) => Promise<T>): Promise<T | null> {
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch (e) {
    console.log(`\n!!! SKIPPING PostgreSQL: ${PG_URL.replace(/\/\/[^@/]*@/, '//…@')} is not reachable (${(e as Error).message}); set PROVISIO_TEST_PG_URL\n`);
    await admin.end().catch(() => {});
    return null;
  }
  const name = `provisio_bench_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}
