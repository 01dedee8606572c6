/**
 * Files a start may find after a crash or a careless copy (docs/service.md "Files and faults"):
 * a service key pair left mismatched by a kill between its two writes is replaced on the next
 * start, which says so; a development CA whose first start was killed half-way is removed and
 * made again; a CA directory missing files that is not such a half-made CA is refused
 * (ca_incomplete, exit 3); a private key readable by others is refused (key_file_exposed, exit 5)
 * and nothing in the data directory changes.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openssl, tempDir } from '@provisio/testkit';
import { provisioAsync, startServe, transcript } from './run-cli.js';

/** The public key of a PEM private key or certificate, as openssl prints it. */
function publicKeyOf(path: string, kind: 'key' | 'cert'): string {
  const r = kind === 'key' ? openssl(['pkey', '-in', path, '-pubout']) : openssl(['x509', '-in', path, '-noout', '-pubkey']);
  assert.equal(r.status, 0, r.output);
  return r.output;
}

/**
 * "Nothing changed": every file of the data directory with its mode and bytes, except the
 * database, which is compared by its rows (SQLite may fold its WAL into the file on open): row
 * counts and the audit head.
 */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('provisio.db')) continue;
    const path = join(entry.parentPath, entry.name);
    out[path] = `${statSync(path).mode.toString(8)}:${readFileSync(path).toString('base64')}`;
  }
  const db = new Database(join(dir, 'provisio.db'), { readonly: true });
  try {
    for (const table of ['users', 'api_tokens', 'certificates', 'crl_state', 'audit_log', 'audit_checkpoints']) {
      out[`rows:${table}`] = String((db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    }
    out['audit_head'] = JSON.stringify(db.prepare('SELECT last_seq, last_hash FROM audit_head').all());
  } finally {
    db.close();
  }
  return out;
}

describe('serve start after faults', () => {
  const dir = tempDir('provisio-serve-faults-');
  /** A data directory that has started once (CA, service certificates, admin). */
  const template = join(dir, 'template');

  before(async () => {
    await (await startServe(['--data', template, '--publish-listen', 'off'])).stop();
  });

  function copy(name: string): string {
    const data = join(dir, name);
    cpSync(template, data, { recursive: true });
    return data;
  }

  for (const name of ['tls', 'ocsp-responder', 'profile-signer']) {
    it(`ok/start/mismatched-${name}-pair-is-replaced`, async () => {
      const data = copy(`mismatch-${name}`);
      // A kill between the key's write and the certificate's: a new key beside the old certificate.
      const keyPath = join(data, 'ca', `${name}.key`);
      const fresh = openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
      assert.equal(fresh.status, 0, fresh.output);
      writeFileSync(keyPath, fresh.output, { mode: 0o600 });
      const s = await startServe(['--data', data, '--publish-listen', 'off']);
      await s.stop();
      assert.match(s.stderr, new RegExp(`${name}\\.key does not belong to .*${name}\\.crt.*making a new pair`));
      assert.equal(publicKeyOf(keyPath, 'key'), publicKeyOf(join(data, 'ca', `${name}.crt`), 'cert'));
      assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    });
  }

  it('ok/start/half-made-development-ca-is-made-again', async () => {
    const data = copy('half-made');
    const ca = join(data, 'ca');
    // The state a kill leaves after the intermediate's files are written, before root.crt: the
    // marker written first is still there. Nothing was issued by this CA yet, so no database.
    for (const file of ['root.crt', 'DEVELOPMENT-ROOT', 'tls.crt', 'tls.key', 'ocsp-responder.crt', 'ocsp-responder.key', 'profile-signer.crt', 'profile-signer.key']) rmSync(join(ca, file));
    for (const file of ['provisio.db', 'provisio.db-wal', 'provisio.db-shm', 'admin.token']) rmSync(join(data, file), { force: true });
    writeFileSync(join(ca, 'DEVELOPMENT-CA-INCOMPLETE'), 'x', { mode: 0o644 });
    const oldIntermediate = readFileSync(join(ca, 'intermediate.crt'), 'utf8');
    const s = await startServe(['--data', data, '--publish-listen', 'off']);
    await s.stop();
    assert.match(s.stderr, /interrupted while making the development CA/);
    assert.match(s.stderr, /created a DEVELOPMENT root CA/);
    assert.notEqual(readFileSync(join(ca, 'intermediate.crt'), 'utf8'), oldIntermediate, 'made again, not reused');
    assert.equal(readdirSync(ca).includes('DEVELOPMENT-CA-INCOMPLETE'), false);
    const verify = openssl(['verify', '-CAfile', join(ca, 'root.crt'), join(ca, 'intermediate.crt')]);
    assert.equal(verify.status, 0, verify.output);
  });

  const refusals: [string, (data: string) => string[], number, RegExp][] = [
    ['fail/start/ca-missing-root-without-marker', (data) => (rmSync(join(data, 'ca', 'root.crt')), []), 3, /lacks root\.crt.*\[ca_incomplete\]/],
    ['fail/start/ceremony-ca-dir-missing-key', (data) => {
      const ca = join(dir, 'ceremony-ca');
      cpSync(join(data, 'ca'), ca, { recursive: true });
      rmSync(join(ca, 'intermediate.key'));
      return ['--ca', ca];
    }, 3, /lacks intermediate\.key.*from the ceremony.*\[ca_incomplete\]/],
    ['fail/start/intermediate-key-0644', (data) => (chmodSync(join(data, 'ca', 'intermediate.key'), 0o644), []), 5, /intermediate\.key is readable by group or others \(mode 0644\).*chmod 600 .*intermediate\.key.*\[key_file_exposed\]/],
    ['fail/start/tls-key-0640', (data) => (chmodSync(join(data, 'ca', 'tls.key'), 0o640), []), 5, /tls\.key is readable by group or others \(mode 0640\).*chmod 600.*\[key_file_exposed\]/],
    ['fail/start/profile-signer-key-0604', (data) => (chmodSync(join(data, 'ca', 'profile-signer.key'), 0o604), []), 5, /profile-signer\.key is readable by group or others.*\[key_file_exposed\]/],
  ];
  for (const [name, damage, exit, message] of refusals) {
    it(name, async () => {
      const data = copy(name.split('/').at(-1) as string);
      const flags = damage(data);
      const before = snapshot(data);
      const r = await provisioAsync(['serve', '--data', data, '--port', '0', '--publish-listen', 'off', ...flags]);
      assert.equal(r.status, exit, transcript(r));
      assert.match(r.stderr.replace(/\n/g, ' '), message);
      assert.equal(r.stdout, '');
      assert.deepEqual(snapshot(data), before, 'the data directory is unchanged');
    });
  }
});
