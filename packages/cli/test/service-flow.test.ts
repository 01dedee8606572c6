/**
 * The disconnected flow as a new user runs it: `provisio serve` in its own process, then the
 * CLI for everything else — system, component, package, device init, request upload, approve,
 * profile download, device install, complete, device get — on SQLite and on PostgreSQL; then
 * `openssl verify` on the device certificate and `provisio audit verify` before and after an
 * attacker edits one audit row in the database.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get as httpsGet } from 'node:https';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openssl, tempDir } from '@provisio/testkit';
import { MAIN, type ServeProcess, ok, provisio, startServe, transcript } from './run-cli.js';

const PG_URL = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** `provisio serve` for a flow test; a first start says it made a development root and an admin. */
async function serve(dataDir: string, db?: string): Promise<ServeProcess> {
  const server = await startServe(['--data', dataDir, ...(db ? ['--db', db] : [])]);
  assert.match(server.stdout, /admin password \(shown once/);
  assert.match(server.stderr, /DEVELOPMENT root CA/);
  return server;
}

function flow(label: string, open: () => Promise<{ db?: string; cleanup?: () => Promise<void> }>) {
  describe(`disconnected flow via the CLI (${label})`, () => {
    let server: ServeProcess;
    let cleanup: (() => Promise<void>) | undefined;
    const dir = tempDir('provisio-flow-');
    /** The environment of a second person, an approver (created in the first test). */
    const approver: Record<string, string> = {};

    before(async () => {
      const db = await open();
      cleanup = db.cleanup;
      server = await serve(join(dir, 'data'), db.db);
    });
    after(async () => {
      await server?.stop();
      await cleanup?.();
    });

    it('ok/system-package-init-upload-approve-download-install-complete', () => {
      const env = server.env;
      ok(['system', 'create', 'ZMonitor'], env);
      ok(['component', 'create', '--system', 'ZMonitor', 'bedside monitor', '--validity-days', '90'], env);
      const pkg = join(dir, 'zmonitor.ppkg');
      ok(['package', 'create', '--system', 'ZMonitor', '--out', pkg], env);

      // On the device (offline: no service variables at all).
      const keystore = join(dir, 'keystore');
      const ppr = join(dir, 'DEV-001.ppr');
      ok(['device', 'init', '--package', pkg, '--component', 'bedside monitor', '--id', 'DEV-001', '--label', 'Bed 12', '--dir', keystore, '--out', ppr], {});

      const up = ok(['request', 'upload', ppr], env);
      assert.match(up.stdout, /accepted as (req_[0-9a-f]+)/);
      const list = JSON.parse(ok(['request', 'list', '--state', 'pending', '--json'], env).stdout);
      const pending = list.items.find((r: { deviceId: string }) => r.deviceId === 'DEV-001');
      assert.ok(pending, JSON.stringify(list));
      // Separation of duties (on by default): the admin uploaded it, so a second person approves.
      const own = provisio(['request', 'approve', pending.id], { env });
      assert.equal(own.status, 5, transcript(own));
      assert.match(own.stdout + own.stderr, /\[approver_is_submitter\]/);
      assert.equal(JSON.parse(ok(['request', 'show', pending.id, '--json'], env).stdout).state, 'pending');
      ok(['user', 'create', 'alice', '--role', 'approver', '--token-out', join(dir, 'alice.token')], env);
      Object.assign(approver, { ...env, PROVISIO_TOKEN: readFileSync(join(dir, 'alice.token'), 'utf8').trim() });
      ok(['request', 'approve', pending.id], approver);
      const again = provisio(['request', 'approve', pending.id], { env: approver });
      assert.equal(again.status, 7, transcript(again));
      assert.match(again.stderr, /\[request_not_pending\]/);

      const cp = join(dir, 'DEV-001.pcp');
      ok(['profile', 'download', pending.id, '--out', cp], env);
      ok(['device', 'install', '--dir', keystore, cp], {});
      ok(['device', 'complete', 'DEV-001'], env);
      const device = JSON.parse(ok(['device', 'get', 'DEV-001', '--json'], env).stdout);
      assert.equal(device.state, 'provisioned');

      const certs = readFileSync(join(keystore, 'certificate.pem'), 'utf8');
      const [leaf, intermediate] = certs.split(/(?<=-----END CERTIFICATE-----\n)/);
      const files = tempDir();
      writeFileSync(join(files, 'leaf.pem'), leaf ?? '');
      writeFileSync(join(files, 'int.pem'), intermediate ?? '');
      const v = openssl(['verify', '-CAfile', env.PROVISIO_CA_FILE as string, '-untrusted', join(files, 'int.pem'), join(files, 'leaf.pem')]);
      assert.match(v.output, /leaf\.pem: OK/, v.output);
      assert.equal(device.certificates[0].serial.toUpperCase(), openssl(['x509', '-in', join(files, 'leaf.pem'), '-noout', '-serial']).stdout.trim().replace('serial=', ''));

      const audit = ok(['audit', 'verify'], env);
      assert.match(audit.stdout, /audit log OK/);
    });

    it('ok/approve-many-with-one-verdict-each', () => {
      const env = server.env;
      const pkg = join(dir, 'many.ppkg');
      ok(['package', 'create', '--system', 'ZMonitor', '--out', pkg], env);
      const ids = ['DEV-011', 'DEV-012'].map((id) => {
        const ppr = join(dir, `${id}.ppr`);
        ok(['device', 'init', '--package', pkg, '--component', 'bedside monitor', '--id', id, '--label', id, '--dir', join(dir, `ks-${id}`), '--out', ppr], {});
        return /accepted as (req_[0-9a-f]+)/.exec(ok(['request', 'upload', ppr], env).stdout)?.[1] as string;
      });
      // Waiting devices: the pending request's kind and id, as the Devices page shows them.
      const waiting = JSON.parse(ok(['device', 'list', '--needs-approval', '--json'], env).stdout) as { items: { deviceId: string; pendingRequest: { id: string; kind: string } }[] };
      assert.deepEqual(waiting.items.map((d) => [d.deviceId, d.pendingRequest.id, d.pendingRequest.kind]).sort(), [['DEV-011', ids[0], 'provision'], ['DEV-012', ids[1], 'provision']]);
      // The Devices page's filters: component (of a system) and how the request travelled.
      const filtered = JSON.parse(ok(['device', 'list', '--system', 'ZMonitor', '--component', 'bedside monitor', '--transport', 'upload', '--q', 'DEV-01', '--json'], env).stdout) as { items: { deviceId: string }[] };
      assert.deepEqual(filtered.items.map((d) => d.deviceId).sort(), ['DEV-011', 'DEV-012']);
      assert.equal(JSON.parse(ok(['device', 'list', '--transport', 'connected', '--q', 'DEV-01', '--json'], env).stdout).total, 0);
      const lonely = provisio(['device', 'list', '--component', 'bedside monitor'], { env });
      assert.equal(lonely.status, 2);
      assert.match(lonely.stderr, /--component names a component of a system: pass --system too \[usage_invalid\]/);
      const listed = ok(['device', 'list'], env).stdout;
      ids.forEach((id, i) => assert.match(listed, new RegExp(`DEV-01${i + 1} +pending +ZMonitor/bedside monitor +never +provision ${id} +-`)));
      const decided = (JSON.parse(ok(['request', 'list', '--state', 'approved', '--json'], env).stdout) as { items: { id: string }[] }).items[0]?.id as string;
      // Two pending requests and one already approved: two approvals, one refusal, exit 7 (conflict).
      const r = provisio(['request', 'approve', ...ids, decided], { env: approver });
      assert.equal(r.status, 7, transcript(r));
      for (const id of ids) assert.match(r.stdout, new RegExp(`✔ Approved ${id}: device DEV-01[12] certificate serial [0-9a-f]+`));
      assert.match(r.stdout, new RegExp(`✘ Refused ${decided}: .* \\[request_not_pending\\]`));
      assert.match(r.stdout, /2 approved, 1 refused/);
      for (const id of ids) assert.equal(JSON.parse(ok(['request', 'show', id, '--json'], env).stdout).state, 'approved');
      assert.equal(JSON.parse(ok(['device', 'list', '--needs-approval', '--json'], env).stdout).total, 0);
    });

    it('ok/audit-list-time-window-and-export', () => {
      const env = server.env;
      const all = JSON.parse(ok(['audit', 'list', '--limit', '200', '--json'], env).stdout) as { total: number; items: { seq: number; at: string; action: string }[] };
      assert.ok(all.total >= 8, `the flow above wrote entries: ${all.total}`);
      // A window from the third-newest entry on holds exactly the entries at or after it.
      const pivot = all.items[2] as { at: string };
      const recent = JSON.parse(ok(['audit', 'list', '--since', pivot.at, '--json'], env).stdout) as typeof all;
      assert.equal(recent.total, all.items.filter((e) => e.at >= pivot.at).length);
      const before = JSON.parse(ok(['audit', 'list', '--until', pivot.at, '--action', 'system.create', '--json'], env).stdout) as typeof all;
      assert.deepEqual(before.items.map((e) => e.action), ['system.create']);
      assert.equal(JSON.parse(ok(['audit', 'list', '--since', '2999-01-01T00:00:00Z', '--json'], env).stdout).total, 0);

      const file = join(dir, 'audit.jsonl');
      const exported = ok(['audit', 'export', '--out', file], env);
      const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number });
      // The export ran after the list above: it holds at least those entries, newest first.
      assert.ok(lines.length >= all.total);
      assert.deepEqual(lines.map((e) => e.seq), [...lines.map((e) => e.seq)].sort((a, b) => b - a));
      assert.match(exported.stdout, new RegExp(`${lines.length} audit entries written to`));
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const filtered = join(dir, 'approvals.jsonl');
      ok(['audit', 'export', '--action', 'request.approve', '--out', filtered], env);
      const approvals = JSON.parse(ok(['audit', 'list', '--action', 'request.approve', '--json'], env).stdout) as typeof all;
      assert.ok(approvals.total >= 3 && approvals.items.every((e) => e.action === 'request.approve'));
      // The export holds the same entries, field for field, as the list.
      assert.deepEqual(readFileSync(filtered, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown), approvals.items);

      // An existing file is never overwritten; a time that is not ISO 8601 is refused before any
      // call, an impossible date by the service.
      const again = provisio(['audit', 'export', '--out', file], { env });
      assert.notEqual(again.status, 0);
      assert.match(again.stderr, /\[file_exists\]/);
      const bad = provisio(['audit', 'list', '--since', 'yesterday'], { env });
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /--since must be a time like .*\[usage_invalid\]/, transcript(bad));
      const impossible = provisio(['audit', 'export', '--until', '2026-13-45T00:00:00Z', '--out', join(dir, 'never.jsonl')], { env });
      assert.match(impossible.stderr, /until must match format "date-time" \[validation_failed\]/, transcript(impossible));
      assert.equal(existsSync(join(dir, 'never.jsonl')), false);
    });

    it('ok/openapi/every-api-call-of-the-cli-is-in-the-served-document', async () => {
      // The CLI's calls are read from its source; the document is the one the server serves.
      const source = (readFileSync(new URL('../src/commands/service.ts', import.meta.url), 'utf8') + readFileSync(new URL('../src/commands/serve.ts', import.meta.url), 'utf8'))
        // Query strings are not part of a path.
        .replace(/\$\{query\(\{[^}]*\}\)\}/g, '')
        .replace(/\$\{q\}/g, '');
      const calls = [...source.matchAll(/'(GET|POST)',\s*`?['`]?(\/api\/v1\/[^'`?$]*(?:\$\{[^}]+\}[^'`?$]*)*)/g)].map((m) => ({
        method: (m[1] as string).toLowerCase(),
        path: (m[2] as string).replace(/\$\{[^}]+\}/g, '{param}').replace(/\/$/, ''),
      }));
      assert.ok(calls.length >= 15, `found only ${calls.length} API calls in the CLI source`);
      const doc = await new Promise<{ paths: Record<string, Record<string, unknown>> }>((resolve, reject) => {
        httpsGet(`${server.env.PROVISIO_URL}/openapi.json`, { ca: readFileSync(server.env.PROVISIO_CA_FILE as string) }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(JSON.parse(body)));
        }).on('error', reject);
      });
      const templates = Object.keys(doc.paths).map((p) => ({ p, re: new RegExp(`^${p.replace(/\{[^}]+\}/g, '\\{param\\}')}$`) }));
      for (const call of calls) {
        const match = templates.find((t) => t.re.test(call.path) && doc.paths[t.p]?.[call.method]);
        assert.ok(match, `the CLI calls ${call.method.toUpperCase()} ${call.path}, which /openapi.json does not describe`);
      }
    });

    it('ok/mock-device/files-written-and-marked', () => {
      const out = join(dir, 'mock');
      const r = ok(['mock-device', '--system', 'ZMonitor', '--component', 'bedside monitor', '--count', '2', '--out', out, '--json'], server.env);
      const { devices } = JSON.parse(r.stdout) as { devices: Array<{ deviceId: string; dir: string }> };
      assert.equal(devices.length, 2);
      const first = devices[0] as { deviceId: string; dir: string };
      assert.equal(statSync(join(first.dir, 'device.key')).mode & 0o777, 0o600);
      const text = openssl(['x509', '-in', join(first.dir, 'certificate.pem'), '-noout', '-subject']).stdout;
      assert.match(text, /MOCK DEVICE/);
    });
  });
}

flow('SQLite', async () => ({}));

flow('PostgreSQL', async () => {
  const name = `provisio_e2e_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  try {
    await admin.connect();
  } catch (e) {
    throw new Error(`PostgreSQL is not reachable at ${PG_URL} (${(e as Error).message}); set PROVISIO_TEST_PG_URL`);
  }
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    db: url.toString(),
    cleanup: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    },
  };
});

describe('audit tampering is found offline (SQLite)', () => {
  it('fail/audit/edited-row-is-named', async () => {
    const dir = tempDir('provisio-audit-');
    const server = await serve(join(dir, 'data'));
    try {
      ok(['system', 'create', 'Tampered'], server.env);
      ok(['component', 'create', '--system', 'Tampered', 'unit'], server.env);
    } finally {
      await server.stop();
    }
    const verify = () => provisio(['audit', 'verify', '--data', join(dir, 'data')]);
    assert.match(verify().stdout, /audit log OK/, transcript(verify()));
    // The attacker has the database file and rewrites what an entry says.
    const db = new Database(join(dir, 'data', 'provisio.db'));
    const row = db.prepare('SELECT seq FROM audit_log WHERE action = \'system.create\'').get() as { seq: number };
    db.prepare('UPDATE audit_log SET actor = \'user:someone-else\' WHERE seq = ?').run(row.seq);
    db.close();
    const r = verify();
    assert.equal(r.status, 4, transcript(r));
    assert.match(r.stdout, new RegExp(`NOT OK at entry #${row.seq}: edited`));
  });
});

describe('serve --ca: an issuing CA from the offline ceremony', () => {
  it('ok/ceremony-ca/serves-and-issues-under-the-ceremony-root', async () => {
    const dir = tempDir('provisio-ceremony-');
    const env = { PROVISIO_ROOT_PASSPHRASE: 'correct horse battery staple' };
    ok(['ca', 'init-root', '--out', join(dir, 'root')], env);
    ok(['ca', 'new-intermediate', '--out', join(dir, 'ca')], {});
    ok(['ca', 'sign-intermediate', '--root', join(dir, 'root'), '--csr', join(dir, 'ca', 'intermediate.csr'), '--out', join(dir, 'ca', 'intermediate.crt')], env);
    writeFileSync(join(dir, 'ca', 'root.crt'), readFileSync(join(dir, 'root', 'root.crt')));
    const child = spawn(process.execPath, [MAIN, 'serve', '--data', join(dir, 'data'), '--port', '0', '--ca', join(dir, 'ca')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}\n${err}`)), 30_000);
        child.stdout?.on('data', (c: Buffer) => {
          out += c.toString();
          if (/serving https/.test(out)) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}:\n${out}\n${err}`)));
      });
      assert.doesNotMatch(err, /DEVELOPMENT/);
      const rootPem = readFileSync(join(dir, 'root', 'root.crt'));
      const fingerprint = createHash('sha256').update(Buffer.from(rootPem.toString().replace(/-----[^-]+-----|\s/g, ''), 'base64')).digest('hex');
      assert.match(out, new RegExp(`root SHA-256\\s+${fingerprint}`));
      // The TLS certificate of the service chains to the ceremony root.
      const url = /serving (https:\/\/\S+)/.exec(out)?.[1] as string;
      const token = readFileSync(join(dir, 'data', 'admin.token'), 'utf8').trim();
      const r = provisio(['system', 'create', 'Ceremonial'], { env: { PROVISIO_URL: url, PROVISIO_CA_FILE: join(dir, 'root', 'root.crt'), PROVISIO_TOKEN: token } });
      assert.equal(r.status, 0, transcript(r));
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
