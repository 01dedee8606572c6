/**
 * The store contract against PostgreSQL. Each opened store gets its own fresh schema, dropped
 * after the suite. Without a reachable server the suite fails under CI (CI=true) and is skipped
 * loudly elsewhere.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { openStore } from './open-store.js';
import { storeContract } from './store-contract.js';
import { aRealCertificate, assertFilledIn, rollBackToMigration8, version8Data } from './upgrade-fixture.js';

const url = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];

async function reachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => {});
  }
}

const unreachable = await reachable();
if (unreachable !== null) {
  const reason = `PostgreSQL at ${url.replace(/\/\/[^@/]*@/, '//…@')} is not reachable (${unreachable}); set PROVISIO_TEST_PG_URL`;
  if (process.env.CI === 'true') {
    it('PostgreSQL is reachable (required under CI)', () => {
      assert.fail(reason);
    });
  } else {
    console.error(`\n!!! SKIPPING the PostgreSQL store tests: ${reason}\n`);
    it('PostgreSQL store contract', { skip: reason }, () => {});
  }
} else {
  const open = async () => {
    const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return openStore({ url, schema });
  };

  storeContract('PostgreSQL', open);

  describe('PostgreSQL store settings', () => {
    it('ok/migrations-are-idempotent-on-restart', async () => {
      const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const first = await openStore({ url, schema });
      const entry = await first.appendAudit({ at: new Date(), actor: 'system', action: 'store.test', targetType: 'store', targetId: 'x', details: {} });
      await first.close();
      // Two servers starting at once on the same schema: the advisory lock lets one migrate.
      const [a, b] = await Promise.all([openStore({ url, schema }), openStore({ url, schema })]);
      try {
        assert.deepEqual(await a.readAudit(1, 10), [entry]);
        assert.equal((await b.appendAudit({ ...entry, details: {} })).seq, 2);
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('ok/migrations-8-and-9-fill-in-existing-data', async () => {
      const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      await (await openStore({ url, schema })).close();
      // Back to the schema of migration 8, which an existing installation has, with its data.
      const revoked = await aRealCertificate();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`set search_path to "${schema}"`);
        for (const statement of [...rollBackToMigration8('postgres'), ...version8Data('postgres', revoked)]) await client.query(statement);
      } finally {
        await client.end();
      }
      const store = await openStore({ url, schema });
      try {
        await assertFilledIn(store, revoked);
      } finally {
        await store.close();
      }
    });

    it('ok/synchronous-commit-on', async () => {
      const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const store = await openStore({ url, schema });
      try {
        const kysely = (store as unknown as { kysely: import('kysely').Kysely<unknown> }).kysely;
        const { sql } = await import('kysely');
        const result = await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(kysely);
        assert.equal(result.rows[0]?.synchronous_commit, 'on');
      } finally {
        await store.close();
      }
    });
  });

  after(async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await client.end();
    }
  });
}
