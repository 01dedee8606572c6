/**
 * The audit log's tail, attacked in the database the way someone with write access to it would
 * (SQL straight into the SQLite file or the PostgreSQL database while the service runs), and
 * found by `provisio audit verify` three ways: online through the service, offline against the
 * database with the checkpoint file, and offline against an export with the checkpoint file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { tempDir } from '@provisio/testkit';
import { hashAuditEntry } from '@provisio/server';
import { type CliResult, ok, provisio, type ServeProcess, startServe, transcript } from './run-cli.js';

const PG_URL = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** SQL with `?` placeholders on either database. */
interface RawDb {
  all(sql: string): Promise<Record<string, unknown>[]>;
  run(sql: string, params?: readonly unknown[]): Promise<void>;
  close(): Promise<void>;
}

function sqliteDb(file: string): RawDb {
  const db = new Database(file);
  return {
    all: (sql) => Promise.resolve(db.prepare(sql).all() as Record<string, unknown>[]),
    run: (sql, params = []) => Promise.resolve(void db.prepare(sql).run(...params)),
    close: () => Promise.resolve(void db.close()),
  };
}

async function postgresDb(url: string): Promise<RawDb> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const numbered = (sql: string) => {
    let n = 0;
    return sql.replace(/\?/g, () => `$${++n}`);
  };
  return {
    all: async (sql) => (await client.query(sql)).rows as Record<string, unknown>[],
    run: async (sql, params = []) => void (await client.query(numbered(sql), [...params])),
    close: () => client.end(),
  };
}

interface Backend {
  /** --db for serve and the offline verify (none: the SQLite file in the data directory). */
  readonly db?: string;
  open(dataDir: string): Promise<RawDb>;
  cleanup(): Promise<void>;
}

const TABLES = ['audit_log', 'audit_checkpoints', 'audit_head'] as const;

function tail(name: string, backend: () => Promise<Backend>) {
  describe(`the audit tail is guarded (${name})`, () => {
    const dir = tempDir('provisio-audit-tail-');
    const data = join(dir, 'data');
    let b: Backend;
    let server: ServeProcess;
    let raw: RawDb;
    let snapshot: Record<string, Record<string, unknown>[]>;
    /** The newest checkpoint's seq, and the head (newer: its tail is guarded by audit_head alone). */
    let checkpointSeq: number;
    let headSeq: number;
    let files = 0;

    const serveArgs = () => ['--data', data, ...(b.db ? ['--db', b.db] : []), '--audit-checkpoint-interval', '1h'];

    before(async () => {
      b = await backend();
      // First run: some history, then a stop, which signs a last checkpoint over the head.
      const first = await startServe(serveArgs());
      try {
        ok(['system', 'create', 'Pumps'], first.env);
        ok(['component', 'create', '--system', 'Pumps', 'infusion'], first.env);
      } finally {
        await first.stop();
      }
      // Second run: more entries, not yet checkpointed (the interval is an hour).
      server = await startServe(serveArgs());
      ok(['system', 'create', 'Monitors'], server.env);
      ok(['component', 'create', '--system', 'Monitors', 'bedside'], server.env);
      raw = await b.open(data);
      snapshot = {};
      for (const t of TABLES) snapshot[t] = await raw.all(`select * from ${t}`);
      const cps = (snapshot.audit_checkpoints ?? []).map((r) => Number(r.seq));
      checkpointSeq = Math.max(...cps);
      headSeq = Number(snapshot.audit_head?.[0]?.last_seq);
      assert.ok(checkpointSeq >= 3 && headSeq > checkpointSeq, `a checkpoint at ${checkpointSeq}, the head at ${headSeq}`);
    });

    after(async () => {
      await raw?.close();
      await server?.stop();
      await b?.cleanup();
    });

    // Every case starts from the log as it was written.
    beforeEach(async () => {
      for (const t of TABLES) {
        await raw.run(`delete from ${t}`);
        for (const row of snapshot[t] ?? []) {
          const columns = Object.keys(row);
          await raw.run(`insert into ${t} (${columns.join(', ')}) values (${columns.map(() => '?').join(', ')})`, columns.map((c) => row[c]));
        }
      }
    });

    const online = () => provisio(['audit', 'verify'], { env: server.env });
    const offline = () => provisio(['audit', 'verify', ...(b.db ? ['--db', b.db, '--ca', join(data, 'ca'), '--checkpoints', join(data, 'audit-checkpoints.jsonl')] : ['--data', data])]);
    /** `audit export --checkpoints` from the running service, then `audit verify --export` on the two files alone. */
    const fromExport = () => {
      const n = ++files;
      const [entries, checkpoints] = [join(dir, `audit-${n}.jsonl`), join(dir, `checkpoints-${n}.jsonl`)];
      const exported = ok(['audit', 'export', '--out', entries, '--checkpoints', checkpoints, '--limit', '100000'], server.env);
      assert.match(exported.stdout, /signed checkpoints? written to/);
      return provisio(['audit', 'verify', '--export', entries, '--checkpoints', checkpoints, '--ca', join(data, 'ca')]);
    };
    const found = (r: CliResult, problem: string, seq?: number) => {
      assert.equal(r.status, 4, transcript(r));
      const m = /NOT OK at entry #(\d+): ([a-z_]+) — (.*)/.exec(r.stdout);
      assert.ok(m, transcript(r));
      assert.equal(m[2], problem, transcript(r));
      if (seq !== undefined) assert.equal(Number(m[1]), seq, transcript(r));
      return m[3] as string;
    };
    const clean = (r: CliResult) => {
      assert.equal(r.status, 0, transcript(r));
      assert.match(r.stdout, /audit log OK/);
      return r.stdout;
    };

    /** Rewrites entry `seq` and recomputes every hash after it, and audit_head, as an attacker who knows the algorithm would. */
    const rewriteFrom = async (seq: number) => {
      const rows = (await raw.all('select * from audit_log order by seq')).map((r): Record<string, unknown> & { seq: number; at: number } => ({ ...r, seq: Number(r.seq), at: Number(r.at) }));
      let prevHash = rows.find((r) => r.seq === seq - 1)?.hash as string;
      for (const r of rows.filter((x) => x.seq >= seq)) {
        const actor = r.seq === seq ? 'user:mallory' : r.actor as string;
        const hash = hashAuditEntry(prevHash, r.seq, {
          at: new Date(r.at), actor, action: r.action as string, targetType: r.target_type as string, targetId: r.target_id as string,
          details: JSON.parse(r.details as string) as Record<string, unknown>,
        });
        await raw.run('update audit_log set actor = ?, prev_hash = ?, hash = ? where seq = ?', [actor, prevHash, hash, r.seq]);
        prevHash = hash;
      }
      await raw.run('update audit_head set last_hash = ? where id = 1', [prevHash]);
    };

    it('ok/untampered-verifies-online-offline-and-from-an-export', () => {
      const kept = join(data, 'audit-checkpoints.jsonl');
      assert.equal(statSync(kept).mode & 0o777, 0o600);
      assert.ok(readFileSync(kept, 'utf8').includes(`"seq":${checkpointSeq},`), 'the checkpoint file holds the newest checkpoint');
      assert.match(clean(online()), new RegExp(`verified through #${headSeq}; \\d+ signed checkpoints?, the newest at #${checkpointSeq} \\(\\d+ in the checkpoint file\\)`));
      assert.match(clean(offline()), /in the checkpoint file/);
      assert.match(clean(fromExport()), new RegExp(`the newest at #${checkpointSeq}`));
    });

    it('fail/tail-truncated-after-the-newest-checkpoint/found-through-audit_head', async () => {
      await raw.run('delete from audit_log where seq > ?', [checkpointSeq]);
      assert.match(found(online(), 'truncated', checkpointSeq + 1), new RegExp(`audit_head records entry ${headSeq}`));
      assert.match(found(offline(), 'truncated', checkpointSeq + 1), /audit_head/);
    });

    it('limit/tail-truncated-after-the-newest-checkpoint/an-export-carries-no-audit_head', async () => {
      // docs/audit.md: an export is held against the checkpoints only; the tail past the newest
      // one is what audit_head guards, in the database.
      await raw.run('delete from audit_log where seq > ?', [checkpointSeq]);
      clean(fromExport());
    });

    it('fail/tail-truncated-past-a-checkpoint-and-audit_head-rewritten', async () => {
      const keep = checkpointSeq - 2;
      const last = (await raw.all(`select hash from audit_log where seq = ${keep}`))[0]?.hash as string;
      await raw.run('delete from audit_log where seq > ?', [keep]);
      await raw.run('update audit_head set last_seq = ?, last_hash = ? where id = 1', [keep, last]);
      assert.match(found(online(), 'truncated', keep + 1), /signed checkpoint covers entry/);
      found(offline(), 'truncated', keep + 1);
      found(fromExport(), 'truncated', keep + 1);
    });

    it('fail/checkpoint-rows-deleted', async () => {
      await raw.run('delete from audit_checkpoints');
      assert.match(found(online(), 'checkpoint_missing'), /the database no longer has/);
      found(offline(), 'checkpoint_missing');
    });

    it('fail/checkpoint-row-replaced', async () => {
      await raw.run('update audit_checkpoints set at = at + 1 where seq = ?', [checkpointSeq]);
      found(online(), 'checkpoint_differs', checkpointSeq);
      found(offline(), 'checkpoint_differs', checkpointSeq);
    });

    it('fail/chain-rewritten-with-every-hash-and-audit_head-recomputed', async () => {
      await rewriteFrom(2);
      found(online(), 'checkpoint_mismatch');
      found(offline(), 'checkpoint_mismatch');
      found(fromExport(), 'checkpoint_mismatch');
    });

    it('fail/chain-recomputed-and-checkpoint-rows-deleted/the-file-still-holds-them', async () => {
      await rewriteFrom(2);
      await raw.run('delete from audit_checkpoints');
      found(online(), 'checkpoint_missing');
      found(offline(), 'checkpoint_missing');
      found(fromExport(), 'checkpoint_mismatch');
    });

    it('fail/audit_head-disagrees-with-the-last-entry', async () => {
      await raw.run('update audit_head set last_hash = ? where id = 1', ['f'.repeat(64)]);
      found(online(), 'head_mismatch', headSeq);
      found(offline(), 'head_mismatch', headSeq);
    });

    it('fail/checkpoint-refused-while-the-tail-is-missing', async () => {
      await raw.run('delete from audit_log where seq > ?', [checkpointSeq]);
      const before = await raw.all('select seq from audit_checkpoints order by seq');
      const lines = readFileSync(join(data, 'audit-checkpoints.jsonl'), 'utf8');
      const r = await fetchJson(server, 'POST', '/api/v1/audit/checkpoints');
      assert.equal(r.status, 409);
      assert.equal((r.body as { error?: { code?: string } }).error?.code, 'audit_chain_broken');
      assert.deepEqual(await raw.all('select seq from audit_checkpoints order by seq'), before, 'nothing signed');
      assert.equal(readFileSync(join(data, 'audit-checkpoints.jsonl'), 'utf8'), lines);
    });

    it('fail/damaged-files/export-line-and-checkpoint-line', () => {
      const kept = readFileSync(join(data, 'audit-checkpoints.jsonl'), 'utf8');
      const entries = join(dir, 'damaged-audit.jsonl');
      const checkpoints = join(dir, 'damaged-checkpoints.jsonl');
      writeFileSync(entries, '{"seq": 1}\n');
      writeFileSync(checkpoints, kept);
      const r = provisio(['audit', 'verify', '--export', entries, '--checkpoints', checkpoints, '--ca', join(data, 'ca')]);
      assert.equal(r.status, 3, transcript(r));
      assert.match(r.stderr, /audit_file_invalid/);
      // A checkpoint file cut short is a finding: what it should prove cannot be read.
      const cut = join(dir, 'cut-checkpoints.jsonl');
      writeFileSync(cut, kept.slice(0, -10));
      const entriesOk = join(dir, 'fine-audit.jsonl');
      ok(['audit', 'export', '--out', entriesOk, '--limit', '100000'], server.env);
      found(provisio(['audit', 'verify', '--export', entriesOk, '--checkpoints', cut, '--ca', join(data, 'ca')]), 'checkpoint_file_invalid', 0);
    });

    it('fail/usage/export-without-checkpoints', () => {
      const r = provisio(['audit', 'verify', '--export', join(dir, 'none.jsonl')]);
      assert.equal(r.status, 2, transcript(r));
      assert.match(r.stderr, /needs --checkpoints FILE/);
      assert.equal(existsSync(join(dir, 'none.jsonl')), false);
    });
  });
}

/** One API call with the admin token, trusting the service's root. */
async function fetchJson(server: ServeProcess, method: string, path: string): Promise<{ status: number; body: unknown }> {
  const { request } = await import('node:https');
  const url = new URL(path, server.env.PROVISIO_URL);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: readFileSync(server.env.PROVISIO_CA_FILE as string), headers: { authorization: `Bearer ${server.env.PROVISIO_TOKEN}` } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) as unknown : null }));
    });
    req.on('error', reject);
    req.end();
  });
}

tail('SQLite', () => Promise.resolve({
  open: (dataDir) => Promise.resolve(sqliteDb(join(dataDir, 'provisio.db'))),
  cleanup: () => Promise.resolve(),
}));

tail('PostgreSQL', async () => {
  const name = `provisio_audit_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    db: url.toString(),
    open: () => postgresDb(url.toString()),
    cleanup: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
});
