/**
 * The peer comparison: cfssl's `serve` (Debian's golang-cfssl, cfssl 1.2) signing CSRs over HTTP
 * with its SQLite certificate database, driven from Node by the same closed-loop load generator
 * and the same concurrency levels as bench/connected.ts. Prints CSRs/s and p50/p99 per level and
 * the ratio of our connected enrollments per second (service in its own process, SQLite) to
 * cfssl's persisted signs per second.
 *
 * cfssl does less per request than one enrollment: one CSR parsed, verified and signed, one row
 * written; no provisioning request signatures, no profile, no audit chain, no TLS, no second and
 * third round trip. The ratio is therefore not like for like; it says how far from a bare
 * signing service the whole enrollment is.
 *
 * `npm run bench:peer` runs this alone and installs golang-cfssl with apt-get when it is missing
 * and apt-get is usable (root); `npm run bench` runs it only when cfssl is already there. Either
 * way a missing cfssl is said loudly and the comparison skipped.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { createCsr, createKeySigner, encodePem, generateKey } from '@provisio/pki';
import type { ConnectedRow } from './connected.js';
import { closedLoop, type Figures, ms, send } from './load.js';

const LEVELS = [1, 16, 64] as const;
const COUNT: Record<number, number> = { 1: 300, 16: 2000, 64: 2000 };
const WARM_UP = 200;

/** cfssl 1.2's certdb schema for SQLite (certdb/sqlite/migrations/001_CreateCertificates.sql, not shipped by the Debian package). */
const SCHEMA = `
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier)
);`;

function has(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** cfssl on the PATH, installing Debian's golang-cfssl when asked and possible; the reason when not. */
function ensureCfssl(install: boolean): string | null {
  if (has('cfssl')) return null;
  if (!install) return 'cfssl is not installed ("npm run bench:peer" installs Debian\'s golang-cfssl)';
  if (!has('apt-get')) return 'cfssl is not installed and there is no apt-get to install golang-cfssl';
  if (process.getuid?.() !== 0) return 'cfssl is not installed and installing golang-cfssl needs root';
  try {
    console.log('  installing golang-cfssl (apt-get update, apt-get install -y golang-cfssl)…');
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '-qq', 'golang-cfssl'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  } catch (e) {
    return `apt-get install golang-cfssl failed (${(e as Error).message.split('\n')[0]})`;
  }
  return has('cfssl') ? null : 'golang-cfssl was installed but provides no cfssl command';
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** A P-256 CA made with openssl, cfssl's signing config, its SQLite certdb and db config. */
function setUpCa(dir: string): { ca: string; caKey: string; config: string; dbConfig: string; dbFile: string } {
  const caKey = join(dir, 'ca-key.pem');
  const ca = join(dir, 'ca.pem');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-x509', '-key', caKey, '-out', ca, '-days', '30', '-subj', '/CN=Bench cfssl CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ signing: { default: { expiry: '8760h', usages: ['digital signature', 'client auth'] } } }));
  const dbFile = join(dir, 'certs.db');
  const db = new SqliteDatabase(dbFile);
  db.exec(SCHEMA);
  db.close();
  const dbConfig = join(dir, 'db-config.json');
  // Like ours: WAL, every commit fsynced before the answer (synchronous=FULL), and writers wait
  // for the lock (go-sqlite3's default answers "database is locked" at once under concurrency).
  writeFileSync(dbConfig, JSON.stringify({ driver: 'sqlite3', data_source: `file:${dbFile}?_journal=WAL&_synchronous=FULL&_busy_timeout=10000` }));
  return { ca, caKey, config, dbConfig, dbFile };
}

async function startCfssl(files: ReturnType<typeof setUpCa>): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn('cfssl', [
    'serve', '-address', '127.0.0.1', '-port', String(port),
    '-ca', files.ca, '-ca-key', files.caKey, '-config', files.config, '-db-config', files.dbConfig,
    // Warnings only: a log line per request would be a cost ours does not pay.
    '-loglevel', '2',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 10_000;
  for (;;) {
    try {
      await send(`${url}/api/v1/cfssl/info`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, Buffer.from('{}'));
      return { url, child };
    } catch {
      if (child.exitCode !== null || performance.now() > deadline) {
        child.kill();
        throw new Error(`cfssl serve did not start: ${stderr.trim().slice(0, 400)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function makeCsrs(count: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const signer = createKeySigner((await generateKey('p256')).privateKey);
    const der = await createCsr(signer, { subject: [{ type: 'CN', value: `DEV-${randomBytes(4).toString('hex')}` }] });
    out.push(Buffer.from(JSON.stringify({ certificate_request: encodePem('CERTIFICATE REQUEST', der) })));
  }
  return out;
}

export interface PeerRow {
  readonly concurrency: number;
  readonly figures: Figures;
}

/** Runs the comparison; prints and returns the rows, or null when cfssl is not available here. */
export async function benchPeerCfssl(ours: readonly ConnectedRow[] = [], options: { install: boolean } = { install: true }): Promise<PeerRow[] | null> {
  console.log(`\npeer: cfssl serve (golang-cfssl) signing P-256 CSRs over HTTP keep-alive, SQLite certdb, same load generator`);
  const missing = ensureCfssl(options.install);
  if (missing) {
    console.log(`  !!! the cfssl comparison was SKIPPED: ${missing}`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), 'provisio-cfssl-'));
  let child: ChildProcess | null = null;
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const files = setUpCa(dir);
    const started = await startCfssl(files);
    child = started.child;
    const made = performance.now();
    const warm = await makeCsrs(WARM_UP);
    const sets = new Map<number, Buffer[]>();
    for (const c of LEVELS) sets.set(c, await makeCsrs(COUNT[c] ?? 2000));
    console.log(`  ${WARM_UP + [...sets.values()].reduce((n, s) => n + s.length, 0)} CSRs made in ${((performance.now() - made) / 1000).toFixed(1)} s (not timed)`);
    const sign = async (body: Buffer) => {
      const r = await send(`${started.url}/api/v1/cfssl/sign`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, body);
      if (r.status !== 200 || !r.body.includes('"success":true')) throw new Error(`cfssl sign: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
    };
    await closedLoop(warm, 16, sign);
    const rows: PeerRow[] = [];
    for (const c of LEVELS) {
      const figures = await closedLoop(sets.get(c) ?? [], c, sign);
      rows.push({ concurrency: c, figures });
      console.log(`  ${`cfssl serve, SQLite certdb, c=${c}`.padEnd(44)} ${figures.perSecond.toFixed(0).padStart(6)} /s ${ms(figures.p50)} ${ms(figures.p99)}`);
    }
    // Persisted: every signed certificate is a row in cfssl's database.
    const db = new SqliteDatabase(files.dbFile, { readonly: true });
    const stored = (db.prepare('SELECT count(*) AS n FROM certificates').get() as { n: number }).n;
    const journal = String(db.pragma('journal_mode', { simple: true }));
    db.close();
    const signed = WARM_UP + rows.reduce((n, r) => n + r.figures.count, 0);
    console.log(`  cfssl's certdb (journal_mode ${journal}) holds ${stored} certificates for ${signed} signs${stored === signed ? '' : ' (NOT all persisted: its rate is not a persisted rate)'}`);
    for (const r of rows) {
      const mine = ours.find((o) => o.database === 'SQLite' && o.placement === 'own process' && o.concurrency === r.concurrency);
      if (mine) {
        console.log(`  ratio at c=${r.concurrency}: our connected enrollments/s (SQLite, service in own process) / cfssl persisted signs/s = ${(mine.figures.perSecond / r.figures.perSecond).toFixed(2)}`);
      }
    }
    return rows;
  } finally {
    agent.destroy();
    child?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/'))) await benchPeerCfssl();
