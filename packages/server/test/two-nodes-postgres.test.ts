/**
 * Two service nodes on one PostgreSQL database and one issuing CA (the scale-out path): a
 * revocation made on one node is answered "revoked" by the other's OCSP responder at once, even
 * for a serial whose "good" answer it had cached; CRL numbers rise across nodes and concurrent
 * revocations on both nodes never share a number, and the newest CRL lists both; a device's
 * long-poll held on one node answers the decision an approver makes on the other (LISTEN/NOTIFY),
 * on a channel named for the schema, so installations sharing one database do not wake each other.
 * PostgreSQL runs on every development and CI machine: without a reachable server the suite fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { parseCrl, parseOcspResponse } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { channelFor } from '../src/store/pg-decision-fan-out.js';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const url = process.env.PROVISIO_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('two nodes on one PostgreSQL', () => {
  const schema = `provisio_test_${randomBytes(6).toString('hex')}`;
  let a: TestService;
  let b: TestService;
  let packageText: string;
  const dir = tempDir('provisio-rev-pg-');

  before(async () => {
    a = await startTestService({ db: url, dbSchema: schema });
    // The second node: its own data directory (TLS, profile signer, OCSP responder), the first
    // node's issuing CA, the same database; the admin token was made by the first.
    const dataDir = tempDir('provisio-rev-pg-b-');
    copyFileSync(a.service.adminTokenPath, join(dataDir, 'admin.token'));
    b = await startTestService({ db: url, dbSchema: schema, dataDir, caDir: join(a.dataDir, 'ca') });
    ({ packageText } = await setUpSystem(a));
  });
  after(async () => {
    await b?.close();
    await a?.close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`drop schema if exists "${schema}" cascade`);
    } finally {
      await client.end();
    }
  });

  async function provision(t: TestService, deviceId: string): Promise<{ serial: string; certPath: string }> {
    const { text } = await makeRequest(packageText, deviceId);
    const submitted = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(submitted.status, 201, submitted.body.toString());
    const approved = await t.call('POST', `/api/v1/requests/${submitted.json().request.id}/approve`);
    const certificate = approved.json().certificate as { serial: string; pem: string };
    const certPath = join(dir, `${deviceId}.crt`);
    writeFileSync(certPath, certificate.pem);
    return { serial: certificate.serial, certPath };
  }

  async function crlOf(t: TestService) {
    const r = await t.call('GET', '/crl/issuing.crl', { token: null });
    assert.equal(r.status, 200);
    return parseCrl(r.body);
  }

  it('ok/revoked-on-one-node-is-revoked-on-the-other-at-once', async () => {
    const device = await provision(a, 'PG-001');
    const reqPath = join(dir, 'pg.req');
    const made = openssl(['ocsp', '-issuer', join(a.dataDir, 'ca', 'intermediate.crt'), '-cert', device.certPath, '-no_nonce', '-reqout', reqPath]);
    assert.equal(made.status, 0, made.output);
    const path = `/ocsp/${encodeURIComponent(readFileSync(reqPath).toString('base64'))}`;
    const good = parseOcspResponse((await b.call('GET', path, { token: null })).body);
    assert.equal(good.basic?.responses[0]?.status.status, 'good', 'node B knows a certificate node A issued');

    const revoked = await a.call('POST', '/api/v1/devices/PG-001/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.status, 200, revoked.body.toString());
    // Node B had a pre-signed "good" for this serial; its cache was not told, the database was.
    const after = parseOcspResponse((await b.call('GET', path, { token: null })).body).basic?.responses[0]?.status;
    assert.equal(after?.status, 'revoked');
    assert.equal(after?.status === 'revoked' ? after.reason : null, 'keyCompromise');
    const crl = await crlOf(b);
    assert.equal(crl.crlNumber, BigInt(revoked.json().crlNumber), 'node B serves the CRL node A published');
    assert.deepEqual(crl.entries.map((e) => e.serial), [device.serial]);
  });

  it('ok/concurrent-revocations-on-both-nodes-take-distinct-rising-numbers', async () => {
    const start = (await crlOf(a)).crlNumber ?? 0n;
    const devices = ['PG-010', 'PG-011', 'PG-012', 'PG-013'];
    const serials = [];
    for (const id of devices) serials.push((await provision(a, id)).serial);
    const results = await Promise.all(devices.map((id, i) => (i % 2 === 0 ? a : b).call('POST', `/api/v1/devices/${id}/revoke`, { json: { reason: 'cessationOfOperation' } })));
    const numbers = results.map((r) => {
      assert.equal(r.status, 200, r.body.toString());
      return BigInt(r.json().crlNumber);
    });
    assert.equal(new Set(numbers).size, devices.length, `numbers ${numbers.join(', ')} are distinct`);
    assert.ok(numbers.every((n) => n > start));
    const newest = await crlOf(b);
    assert.equal(newest.crlNumber, numbers.reduce((x, y) => (x > y ? x : y)), 'the stored CRL is the highest number');
    for (const serial of serials) assert.ok(newest.entries.some((e) => e.serial === serial), `${serial} is listed`);
  });
  async function submit(t: TestService, deviceId: string): Promise<string> {
    const { text } = await makeRequest(packageText, deviceId);
    const r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    return r.json().request.id as string;
  }

  it('ok/long-poll-held-on-one-node-answers-a-decision-made-on-the-other', async () => {
    const approvedId = await submit(a, 'PG-020');
    // Held on B for up to 30 s; the approval is made on A. Without the notification B would answer
    // 202 at its timeout, not the profile.
    const held = b.call('GET', `/api/v1/device/requests/${approvedId}/profile?wait=30`, { token: null });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await a.call('POST', `/api/v1/requests/${approvedId}/approve`)).status, 200);
    const answer = await held;
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(answer.headers['content-type'], 'application/vnd.provisio.profile+json');

    const rejectedId = await submit(b, 'PG-021');
    const heldOnA = a.call('GET', `/api/v1/device/requests/${rejectedId}/profile?wait=30`, { token: null });
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await b.call('POST', `/api/v1/requests/${rejectedId}/reject`, { json: { reason: 'not ours' } })).status, 200);
    const refused = await heldOnA;
    assert.equal(refused.status, 409, refused.body.toString());
    assert.equal(refused.json().error.code, 'request_rejected');
  });

  it('ok/channel-names-carry-the-schema', () => {
    // Channels are database-wide: each installation's carries its schema, so no cross-talk.
    assert.notEqual(channelFor(schema), channelFor(`${schema}_other`));
    assert.notEqual(channelFor(schema), channelFor(undefined));
    assert.match(channelFor(schema), /^provisio_decided_[0-9a-f]{16}$/);
  });
});
