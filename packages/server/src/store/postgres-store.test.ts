/**
 * The store contract against PostgreSQL. Each opened store gets its own fresh schema, dropped
 * after the suite. Without a reachable server the suite fails under CI (CI=true) and is skipped
 * loudly elsewhere.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import type { ComponentId, PackageId, SystemId, UserId } from '../domain/model.js';
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

    it('ok/approval-rows-locked-for-share-until-the-transaction-ends', async () => {
      const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      const store = await openStore({ url, schema });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`set search_path to "${schema}"`);
        for (const statement of version8Data('postgres', await aRealCertificate())) await client.query(statement);
        const ids = { userId: 'u1' as UserId, systemId: 's1' as SystemId, componentId: 'c1' as ComponentId, packageId: 'p1' as PackageId };
        const locked = (e: unknown) => (e as { code?: string }).code === '55P03';
        await store.transaction(async (tx) => {
          assert.equal((await tx.readApprovalRows(ids)).package?.status, 'active');
          // While the approval's transaction is open, revoking the package or changing the user,
          // the system or the component waits for it (lock_timeout turns the wait into an error).
          await client.query(`set lock_timeout = '100ms'`);
          await assert.rejects(client.query(`update packages set status = 'revoked', revoked_at = 1 where id = 'p1'`), locked);
          await assert.rejects(client.query(`update users set disabled_at = 1 where id = 'u1'`), locked);
          await assert.rejects(client.query(`update systems set allow_mock = 1 where id = 's1'`), locked);
          await assert.rejects(client.query(`update components set key_types = '["p384"]' where id = 'c1'`), locked);
        });
        await client.query(`update packages set status = 'revoked', revoked_at = 1 where id = 'p1'`);
        assert.equal((await store.transaction((tx) => tx.readApprovalRows(ids))).package?.status, 'revoked');
      } finally {
        await client.end();
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
