/**
 * K11: PostgreSQL loses every connection of the service, again and again, while fifty approvals
 * run against a real `provisio serve` process. The process stays up; a call that met a lost
 * connection is answered 503 database_unavailable with Retry-After, never 500; retried, every
 * approval ends with a certificate, and every certificate the service answered is the one the
 * database holds. The decision fan-out's LISTEN connection comes back on its own.
 *
 * The test runs in a database of its own (made and dropped here): pg_terminate_backend hits every
 * backend of that database, so tests using database `test` are not disturbed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type SerialNumber, buildOcspRequest, decodePem, parseCertificate, parseOcspResponse } from '@provisio/pki';
import { tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, makeRequest } from '../../server/test/service-harness.js';
import { setUp } from './connected-helpers.js';
import { type ServeProcess, ok, startServe } from './run-cli.js';

const baseUrl = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const database = `provisio_faults_${randomBytes(5).toString('hex')}`;
const dbUrl = (() => {
  const u = new URL(baseUrl);
  u.pathname = `/${database}`;
  return u.toString();
})();

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { error?: { code: string; message: string }; certificate?: { serial: string; pem: string } };
}

function call(env: Record<string, string>, method: string, path: string, raw?: Buffer, contentType = 'application/json'): Promise<Answer> {
  const ca = readFileSync(env.PROVISIO_CA_FILE as string, 'utf8');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${env.PROVISIO_URL}${path}`, {
      method,
      ca,
      agent: false,
      headers: { authorization: `Bearer ${env.PROVISIO_TOKEN}`, ...(raw ? { 'content-type': contentType, 'content-length': String(raw.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as Answer['body'] }));
    });
    req.on('error', reject);
    req.end(raw);
  });
}

/** One OCSP POST (RFC 6960 Appendix A.1) to the service; the raw OCSPResponse. */
function ocspPost(env: Record<string, string>, body: Buffer): Promise<{ status: number; der: Buffer }> {
  const ca = readFileSync(env.PROVISIO_CA_FILE as string, 'utf8');
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${env.PROVISIO_URL}/ocsp`, { method: 'POST', ca, agent: false, headers: { 'content-type': 'application/ocsp-request', 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, der: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function admin<T>(connectTo: string, run: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: connectTo });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Ends every backend of the test database except the asking one: the service's pool and its listener. */
function terminateBackends(): Promise<number> {
  return admin(dbUrl, async (c) => (await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rowCount ?? 0);
}

describe('PostgreSQL connections lost during a burst (K11)', () => {
  const dir = tempDir('provisio-faults-pg-');
  let server: ServeProcess;

  before(async () => {
    await admin(baseUrl, (c) => c.query(`CREATE DATABASE ${database}`));
    server = await startServe(['--data', join(dir, 'data'), '--db', dbUrl, '--rate-per-client', '0']);
  });
  after(async () => {
    await server?.stop();
    await admin(baseUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  });

  it('ok/fifty-approvals-while-backends-are-terminated', async () => {
    const { env } = server;
    const packageText = readFileSync(setUp(env, dir, 'Faults', false), 'utf8');
    // One admin token uploads and approves here: separation of duties (D28) is not what is tested.
    ok(['system', 'update', 'Faults', '--separation-of-duties', 'off'], env);
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const { text } = await makeRequest(packageText, `PG-${String(i).padStart(3, '0')}`, { component: 'sensor' });
      const r = await call(env, 'POST', '/api/v1/requests', Buffer.from(text), REQUEST_MEDIA);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      ids.push((r.body as unknown as { request: { id: string } }).request.id);
    }

    // Terminate every backend over and over while the approvals run (ten at a time), and ask
    // the OCSP responder after each round: it answers in OCSP, tryLater while the database is
    // away (RFC 6960 §2.3), never internalError or an HTTP error.
    const intermediate = parseCertificate(readFileSync(join(dir, 'data', 'ca', 'intermediate.crt'), 'utf8'));
    const ocspRequest = await buildOcspRequest({ issuer: intermediate, serial: '01' as SerialNumber });
    const ocspStatuses: string[] = [];
    let approving = true;
    let terminated = 0;
    const killer = (async () => {
      while (approving) {
        terminated += await terminateBackends();
        const answer = await ocspPost(env, ocspRequest);
        assert.equal(answer.status, 200);
        ocspStatuses.push(parseOcspResponse(answer.der).status);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();

    const answered = new Map<string, { serial: string; pem: string }>();
    const unavailable: Answer[] = [];
    const ambiguous: string[] = [];
    const approve = async (id: string): Promise<void> => {
      let failedBefore = false;
      for (let attempt = 0; attempt < 200; attempt++) {
        const r = await call(env, 'POST', `/api/v1/requests/${id}/approve`);
        if (r.status === 200) {
          answered.set(id, r.body.certificate as { serial: string; pem: string });
          return;
        }
        if (r.status === 503) {
          unavailable.push(r);
          failedBefore = true;
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        // A connection lost during COMMIT leaves the client unsure whether it committed; the retry
        // then finds the request approved. Allowed only after a 503, and checked below.
        if (failedBefore && r.status === 409 && r.body.error?.code === 'request_not_pending') {
          ambiguous.push(id);
          return;
        }
        assert.fail(`approve ${id}: ${r.status} ${JSON.stringify(r.body)}`);
      }
      assert.fail(`approve ${id}: still unavailable after 200 attempts`);
    };
    const queue = [...ids];
    try {
      await Promise.all(Array.from({ length: 10 }, async () => {
        for (let id = queue.shift(); id; id = queue.shift()) await approve(id);
      }));
    } finally {
      approving = false;
      await killer;
    }

    assert.equal(server.child.exitCode, null, `the service exited:\n${server.stderr}`);
    assert.equal(server.child.signalCode, null);
    assert.ok(terminated > 0, 'backends were terminated');
    assert.ok(unavailable.length > 0, 'some calls met a lost connection');
    for (const r of unavailable) {
      assert.equal(r.body.error?.code, 'database_unavailable', JSON.stringify(r.body));
      assert.match(String(r.headers['retry-after']), /^[1-9][0-9]*$/);
      assert.doesNotMatch(r.body.error?.message ?? '', /terminat|57P01|ECONN/i, 'the cause is not echoed');
    }
    assert.equal(answered.size + ambiguous.length, 50);
    assert.ok(ocspStatuses.length > 0);
    for (const status of ocspStatuses) assert.ok(status === 'successful' || status === 'tryLater', `OCSP answered ${status}`);

    // Every answered certificate is the one in the database, and every request has one.
    const rows = await admin(dbUrl, async (c) => (await c.query<{ request_id: string; serial: string; der: Buffer }>('SELECT request_id, serial, der FROM certificates WHERE kind = \'device\'')).rows);
    const byRequest = new Map(rows.map((row) => [row.request_id, row]));
    for (const id of ids) assert.ok(byRequest.has(id), `request ${id} has its certificate in the database`);
    for (const [id, certificate] of answered) {
      const row = byRequest.get(id);
      assert.equal(row?.serial, certificate.serial);
      assert.ok(row?.der.equals(decodePem(certificate.pem, 'CERTIFICATE').der), `the certificate answered for ${id} is the stored one`);
    }
    const states = await call(env, 'GET', '/api/v1/requests?system=Faults&state=pending&limit=100');
    assert.equal((states.body as unknown as { items: unknown[] }).items.length, 0);

    // The audit chain survived the lost transactions intact.
    const audit = await call(env, 'GET', '/api/v1/audit/verify');
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    assert.equal((audit.body as unknown as { ok: boolean }).ok, true, JSON.stringify(audit.body));

    // The decision fan-out listens again after its connection was terminated.
    await terminateBackends();
    for (let i = 0; ; i++) {
      const listening = await admin(dbUrl, async (c) => (await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE \'LISTEN provisio_decided_%\'')).rows[0].n as number);
      if (listening > 0) break;
      assert.ok(i < 300, `the fan-out did not listen again:\n${server.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(server.stderr, /listener connection lost/);
    assert.equal(server.child.exitCode, null);
  });
});
