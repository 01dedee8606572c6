/**
 * What the admin web UI's Devices page needs from the API: the review of one request (signatures
 * verified again over the stored bytes, age, package, component template, policy verdict) and the
 * device list's orders (pending first, by id).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openssl, tempDir } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

describe('request review and device order', () => {
  let t: TestService;
  const ids: Record<string, string> = {};
  let packageText: string;

  before(async () => {
    t = await startTestService({ webRoot: null });
    ({ packageText } = await setUpSystem(t));
    // Uploaded in this order: A (approved), B (left pending), C (approved last).
    for (const device of ['DEV-A', 'DEV-B', 'DEV-C']) {
      const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest(packageText, device)).text), contentType: REQUEST_MEDIA });
      assert.equal(r.status, 201, r.body.toString());
      ids[device] = r.json().request.id;
    }
    for (const device of ['DEV-A', 'DEV-C']) assert.equal((await t.call('POST', `/api/v1/requests/${ids[device]}/approve`)).status, 200);
  });
  after(() => t.close());

  const order = async (query: string) => (await t.call('GET', `/api/v1/devices?${query}`)).json().items.map((d: { deviceId: string }) => d.deviceId);

  it('ok/sort/pending-first-then-most-recent', async () => {
    assert.deepEqual(await order('sort=pending-first'), ['DEV-B', 'DEV-C', 'DEV-A']);
    assert.deepEqual(await order('sort=device-id'), ['DEV-A', 'DEV-B', 'DEV-C']);
    assert.equal((await order('')).at(-1), 'DEV-B', 'the default order is the most recently changed first');
    const bad = await t.call('GET', '/api/v1/devices?sort=random');
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'validation_failed');
  });

  it('ok/sort/columns-both-directions-with-the-id-as-tie-breaker', async () => {
    assert.deepEqual(await order('sort=device-id&direction=desc'), ['DEV-C', 'DEV-B', 'DEV-A']);
    assert.deepEqual(await order('sort=created&direction=asc'), ['DEV-A', 'DEV-B', 'DEV-C']);
    assert.deepEqual(await order('sort=created'), ['DEV-C', 'DEV-B', 'DEV-A'], 'times default to newest first');
    // States tie (two approved): the device id breaks the tie, ascending either way.
    assert.deepEqual(await order('sort=state'), ['DEV-A', 'DEV-C', 'DEV-B']);
    assert.deepEqual(await order('sort=state&direction=desc'), ['DEV-B', 'DEV-A', 'DEV-C']);
    // Labels are "Bed DEV-…": the same order as the ids. Paging through keeps the order.
    const pages = [];
    for (let offset = 0; offset < 3; offset++) pages.push(...(await order(`sort=label&direction=desc&limit=1&offset=${offset}`)));
    assert.deepEqual(pages, ['DEV-C', 'DEV-B', 'DEV-A']);
    // Only whitelisted columns and directions reach the query.
    for (const q of ['sort=label;drop', 'sort=hardware_serial', 'sort=label&direction=sideways']) {
      const bad = await t.call('GET', `/api/v1/devices?${q}`);
      assert.equal(bad.status, 400, q);
      assert.equal(bad.json().error.code, 'validation_failed');
    }
  });

  it('ok/filter/by-transport-and-certificate-expiry-window', async () => {
    const r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from((await makeRequest(packageText, 'DEV-F')).text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201);
    assert.deepEqual(await order('transport=connected'), ['DEV-F']);
    assert.deepEqual(await order('transport=upload&sort=device-id'), ['DEV-A', 'DEV-B', 'DEV-C']);
    // The component's certificates live 365 days: due within 366 days, not within 364.
    assert.deepEqual(await order('expiresWithinDays=366&sort=device-id'), ['DEV-A', 'DEV-C']);
    assert.deepEqual(await order('expiresWithinDays=364'), []);
    const bad = await t.call('GET', '/api/v1/devices?transport=pigeon');
    assert.equal(bad.json().error.code, 'validation_failed');
  });

  it('ok/audit/time-window', async () => {
    const total = async (q: string) => {
      const r = await t.call('GET', `/api/v1/audit?limit=1&${q}`);
      assert.equal(r.status, 200, r.body.toString());
      return r.json().total as number;
    };
    const all = await total('');
    assert.ok(all > 5);
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
    assert.equal(await total(`since=${hourAgo}`), all);
    assert.equal(await total(`since=${inAnHour}`), 0);
    assert.equal(await total(`until=${hourAgo}`), 0);
    assert.equal(await total(`since=${hourAgo}&until=${inAnHour}&action=request.approve`), await total('action=request.approve'));
    const bad = await t.call('GET', '/api/v1/audit?since=yesterday');
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'validation_failed');
  });

  it('ok/audit/export-everything-matching-as-json-lines', async () => {
    const all = (await t.call('GET', '/api/v1/audit?limit=1')).json().total as number;
    const r = await t.call('GET', '/api/v1/audit/export');
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/jsonl; charset=utf-8');
    assert.match(String(r.headers['content-disposition']), /attachment; filename="audit.jsonl"/);
    const lines = r.body.toString().trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; action: string; hash: string });
    assert.ok(lines.length >= all, 'every entry (more may have been appended since the count)');
    const seqs = lines.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), 'newest first');
    assert.equal(new Set(seqs).size, seqs.length, 'no entry twice');
    assert.ok(lines.every((e) => /^[0-9a-f]{64}$/.test(e.hash)));
    // The list's filters apply, and the limit.
    const submits = (await t.call('GET', '/api/v1/audit?action=request.submit&limit=1')).json().total as number;
    const filtered = (await t.call('GET', '/api/v1/audit/export?action=request.submit')).body.toString().trimEnd().split('\n');
    assert.equal(filtered.length, submits);
    assert.ok(filtered.every((l) => (JSON.parse(l) as { action: string }).action === 'request.submit'));
    assert.equal((await t.call('GET', '/api/v1/audit/export?limit=2')).body.toString().trimEnd().split('\n').length, 2);
    assert.equal((await t.call('GET', '/api/v1/audit/export?since=2999-01-01T00:00:00Z')).body.length, 0);
    const bad = await t.call('GET', '/api/v1/audit/export?limit=100001');
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'validation_failed');
  });

  it('ok/search/by-key-or-certificate-fingerprint', async () => {
    const key = (await t.call('GET', `/api/v1/requests/${ids['DEV-B']}`)).json().publicKeySha256 as string;
    assert.deepEqual(await order(`q=${key.slice(8, 24).toUpperCase()}`), ['DEV-B'], 'a piece of the key fingerprint, any case');
    const cert = (await t.call('GET', '/api/v1/devices/DEV-C')).json().certificates[0].sha256 as string;
    assert.deepEqual(await order(`q=${cert.slice(20, 40)}`), ['DEV-C']);
  });

  it('ok/review/shows-the-facts-an-approver-decides-on', async () => {
    const r = await t.call('GET', `/api/v1/requests/${ids['DEV-B']}/review`);
    assert.equal(r.status, 200, r.body.toString());
    const review = r.json();
    assert.deepEqual(review.signatures, { status: 'verified' });
    assert.equal(review.request.deviceId, 'DEV-B');
    assert.equal(review.request.state, 'pending');
    assert.equal(review.request.keyAlgorithm, 'ECDSA P-256');
    assert.match(review.request.publicKeySha256, /^[0-9a-f]{64}$/);
    assert.equal(review.expired, false);
    assert.ok(Number.isInteger(review.ageSeconds) && review.ageSeconds >= 0);
    assert.equal(review.package.status, 'active');
    assert.equal(review.package.id, review.request.packageId);
    assert.deepEqual(review.component.keyTypes, ['p256', 'rsa3072']);
    assert.equal(review.request.policyDecision, 'manual');
  });

  it('fail/review/a-stored-copy-changed-in-the-database-is-not-verified', async () => {
    // The attack: someone with write access to the database edits a pending request's bytes (a
    // new label) hoping the approver trusts the stored copy. The review checks the signatures again.
    const db = new Database(join(t.dataDir, 'provisio.db'));
    try {
      const row = db.prepare('select raw from requests where id = ?').get(ids['DEV-B']) as { raw: Buffer };
      const jws = JSON.parse(row.raw.toString('utf8')) as { payload: string };
      const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      payload.deviceLabel = 'Not the bed it was';
      jws.payload = Buffer.from(JSON.stringify(payload)).toString('base64url');
      db.prepare('update requests set raw = ? where id = ?').run(Buffer.from(JSON.stringify(jws)), ids['DEV-B']);
    } finally {
      db.close();
    }
    const review = (await t.call('GET', `/api/v1/requests/${ids['DEV-B']}/review`)).json();
    assert.equal(review.signatures.status, 'failed');
    assert.equal(review.signatures.code, 'pr_device_signature_invalid');
  });

  it('ok/ca/hierarchy-checked-by-openssl-and-newest-crl', async () => {
    const r = await t.call('GET', '/api/v1/ca');
    assert.equal(r.status, 200, r.body.toString());
    const ca = r.json();
    assert.deepEqual(ca.certificates.map((c: { role: string }) => c.role), ['root', 'issuing CA', 'profile signer', 'OCSP responder']);
    const [root, issuing, signer, responder] = ca.certificates as { pem: string; subject: string; issuer: string; notAfter: string }[];
    assert.equal(root?.subject, root?.issuer);
    assert.equal(issuing?.issuer, root?.subject);
    const dir = tempDir('provisio-ca-view-');
    writeFileSync(join(dir, 'root.pem'), root?.pem ?? '');
    writeFileSync(join(dir, 'issuing.pem'), issuing?.pem ?? '');
    for (const [name, cert] of [['signer', signer], ['responder', responder]] as const) {
      writeFileSync(join(dir, `${name}.pem`), cert?.pem ?? '');
      const verified = openssl(['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'issuing.pem'), join(dir, `${name}.pem`)]);
      assert.equal(verified.status, 0, verified.output);
    }
    assert.ok(ca.crl.number >= 1);
    assert.ok(Date.parse(ca.crl.nextUpdate) > Date.parse(ca.crl.thisUpdate));
    assert.match(ca.crl.url, /\/crl\/issuing\.crl$/);
    assert.match(ca.ocsp.url, /\/ocsp$/);
    // The service asked its own responder and verified the signed answer against the issuing CA.
    assert.equal(ca.ocsp.selfCheck.status, 'answering', JSON.stringify(ca.ocsp.selfCheck));
    assert.equal(ca.ocsp.selfCheck.detail, 'successful');
    assert.ok(Math.abs(Date.parse(ca.ocsp.selfCheck.producedAt) - Date.now()) < 3_600_000);
    assert.ok(Number.isInteger(ca.ocsp.selfCheck.preSignedAnswers));
  });

  it('ok/approve-many/one-verdict-each-and-refusals-cost-only-themselves', async () => {
    const fresh: string[] = [];
    for (const device of ['DEV-D', 'DEV-E']) {
      const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest(packageText, device)).text), contentType: REQUEST_MEDIA });
      fresh.push(r.json().request.id);
    }
    const r = await t.call('POST', '/api/v1/requests/approve', { json: { requestIds: [fresh[0], ids['DEV-A'], 'req_0000', fresh[1]] } });
    assert.equal(r.status, 200, r.body.toString());
    const body = r.json();
    assert.equal(body.approved, 2);
    assert.equal(body.refused, 2);
    assert.deepEqual(body.items.map((v: { ok: boolean; code?: string }) => (v.ok ? 'ok' : v.code)), ['ok', 'request_not_pending', 'request_not_found', 'ok']);
    for (const device of ['DEV-D', 'DEV-E']) {
      const d = (await t.call('GET', `/api/v1/devices/${device}`)).json();
      assert.equal(d.state, 'approved');
      assert.equal(d.certificates.length, 1);
    }
    const audit = (await t.call('GET', '/api/v1/audit?action=request.approve&limit=500')).json().items.map((e: { targetId: string }) => e.targetId);
    assert.ok(fresh.every((id) => audit.includes(id)), 'each approval has its audit entry');
    const tech = await t.call('POST', '/api/v1/users', { json: { username: 'tina', role: 'technician' } });
    const refused = await t.call('POST', '/api/v1/requests/approve', { token: tech.json().token, json: { requestIds: [ids['DEV-B']] } });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'role_forbidden');
    const empty = await t.call('POST', '/api/v1/requests/approve', { json: { requestIds: [] } });
    assert.equal(empty.json().error.code, 'validation_failed');
  });

  it('ok/certificate/decoded-with-its-chain-verified', async () => {
    const serial = (await t.call('GET', '/api/v1/devices/DEV-A')).json().certificates[0].serial as string;
    const r = await t.call('GET', `/api/v1/devices/DEV-A/certificates/${serial}`);
    assert.equal(r.status, 200, r.body.toString());
    const body = r.json();
    assert.deepEqual(body.verification, { status: 'verified' });
    assert.equal(body.chain.length, 3);
    const [leaf, issuing, root] = body.chain;
    assert.match(leaf.subject, /CN=DEV-A/);
    assert.equal(leaf.serial, serial);
    assert.equal(leaf.ca, false);
    assert.equal(leaf.publicKey, 'ECDSA P-256');
    assert.ok(leaf.extKeyUsage.includes('clientAuth'), JSON.stringify(leaf.extKeyUsage));
    assert.equal(leaf.issuer, issuing.subject);
    assert.equal(issuing.issuer, root.subject);
    assert.equal(issuing.ca, true);
    // Another device's serial is not this device's certificate.
    const other = (await t.call('GET', '/api/v1/devices/DEV-C')).json().certificates[0].serial as string;
    for (const path of [`/api/v1/devices/DEV-A/certificates/${other}`, '/api/v1/devices/DEV-A/certificates/abcdef']) {
      const miss = await t.call('GET', path);
      assert.equal(miss.status, 404);
      assert.equal(miss.json().error.code, 'certificate_not_found');
    }
  });

  it('fail/review/unknown-request-and-technician', async () => {
    const unknown = await t.call('GET', '/api/v1/requests/req_0000/review');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'request_not_found');
    const user = await t.call('POST', '/api/v1/users', { json: { username: 'tech', role: 'technician' } });
    for (const path of [`/api/v1/requests/${ids['DEV-A']}/review`, '/api/v1/ca', '/api/v1/audit/export']) {
      const r = await t.call('GET', path, { token: user.json().token });
      assert.equal(r.status, 403);
      assert.equal(r.json().error.code, 'role_forbidden');
    }
  });
});

// The same list queries in PostgreSQL's dialect (the SQL of the orders, filters and search).
const pgUrl = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('device list orders, filters and search on PostgreSQL', () => {
  const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
  let t: TestService;
  const ids: Record<string, string> = {};

  before(async () => {
    t = await startTestService({ db: pgUrl, dbSchema: schema, webRoot: null });
    const { packageText } = await setUpSystem(t);
    for (const [device, path] of [['DEV-A', '/api/v1/requests'], ['DEV-B', '/api/v1/requests'], ['DEV-C', '/api/v1/device/requests']] as const) {
      const r = await t.call('POST', path, { raw: Buffer.from((await makeRequest(packageText, device)).text), contentType: REQUEST_MEDIA });
      assert.equal(r.status, 201, r.body.toString());
      ids[device] = r.json().request.id;
    }
    const bulk = await t.call('POST', '/api/v1/requests/approve', { json: { requestIds: [ids['DEV-A'], ids['DEV-C']] } });
    assert.equal(bulk.json().approved, 2);
  });
  after(async () => {
    await t?.close();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      await client.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await client.end();
    }
  });

  const order = async (query: string) => (await t.call('GET', `/api/v1/devices?${query}`)).json().items.map((d: { deviceId: string }) => d.deviceId);

  it('ok/postgres/orders-filters-and-search', async () => {
    assert.equal((await order('sort=pending-first'))[0], 'DEV-B');
    assert.deepEqual(await order('sort=device-id'), ['DEV-A', 'DEV-B', 'DEV-C']);
    assert.deepEqual(await order('transport=connected'), ['DEV-C']);
    assert.deepEqual(await order('expiresWithinDays=366&sort=device-id'), ['DEV-A', 'DEV-C']);
    assert.deepEqual(await order('expiresWithinDays=364'), []);
    const key = (await t.call('GET', `/api/v1/requests/${ids['DEV-B']}`)).json().publicKeySha256 as string;
    assert.deepEqual(await order(`q=${key.slice(4, 20).toUpperCase()}`), ['DEV-B']);
    const cert = (await t.call('GET', '/api/v1/devices/DEV-A')).json().certificates[0].sha256 as string;
    assert.deepEqual(await order(`q=${cert.slice(30, 50)}`), ['DEV-A']);
  });
});
