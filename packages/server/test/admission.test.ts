/**
 * Burst handling (issue 4 item 3): the admission limiter on its own (FIFO, limits, release on
 * error), and the real service under a burst of uploads with tiny limits — every refusal is a 503
 * service_unavailable with Retry-After, every acceptance is stored, nothing refused is stored, and
 * the refused requests succeed when retried after the advertised delay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { AdmissionLimiter } from '../src/http/admission.js';
import { makeRequest, REQUEST_MEDIA, setUpSystem, startTestService, type Reply } from './service-harness.js';

test('limiter: runs up to maxInFlight, queues up to maxQueued, refuses beyond, grants FIFO', async () => {
  const limiter = new AdmissionLimiter({ maxInFlight: 2, maxQueued: 2 });
  const a = limiter.tryAdmit()!;
  const b = limiter.tryAdmit()!;
  const c = limiter.tryAdmit()!;
  const d = limiter.tryAdmit()!;
  assert.ok(a && b && c && d);
  assert.equal(limiter.tryAdmit(), null, 'slots and queue full: refused');
  assert.equal(limiter.inFlight, 2);
  assert.equal(limiter.queued, 2);
  assert.equal(await a.ready, true);
  assert.equal(await b.ready, true);
  const order: string[] = [];
  void c.ready.then((ok) => order.push(`c:${ok}`));
  void d.ready.then((ok) => order.push(`d:${ok}`));
  await sleep(5);
  assert.deepEqual(order, [], 'queued tickets wait');
  const r = limiter.retryAfterSeconds();
  assert.ok(r >= 1 && r <= 5);
  b.release();
  b.release(); // idempotent: frees one slot only
  await sleep(5);
  assert.deepEqual(order, ['c:true'], 'the first queued runs first');
  assert.equal(limiter.inFlight, 2);
  assert.equal(limiter.queued, 1);
  const e = limiter.tryAdmit()!;
  assert.ok(e, 'a queue place freed up');
  d.release(); // leaves the queue before its turn
  await sleep(5);
  assert.deepEqual(order, ['c:true', 'd:false']);
  a.release();
  assert.equal(await e.ready, true, 'e runs after d left the queue');
  c.release();
  e.release();
  assert.equal(limiter.inFlight, 0);
  assert.equal(limiter.queued, 0);
  assert.throws(() => new AdmissionLimiter({ maxInFlight: 0 }), RangeError);
});

test('limiter: run() releases the slot when the work throws, and refuses with the busy error', async () => {
  const limiter = new AdmissionLimiter({ maxInFlight: 1, maxQueued: 0 });
  const busy = (s: number) => new Error(`busy ${s}`);
  const fail = async (): Promise<never> => {
    throw new Error('boom');
  };
  await assert.rejects(limiter.run(fail, busy), /boom/);
  assert.equal(limiter.inFlight, 0, 'released after the error');
  let release!: () => void;
  const held = limiter.run(() => new Promise<string>((res) => (release = () => res('done'))), busy);
  await sleep(1);
  await assert.rejects(limiter.run(async () => 'x', busy), /busy 1/);
  release();
  assert.equal(await held, 'done');
  assert.equal(await limiter.run(async () => 'again', busy), 'again');
});

test('service: a burst of uploads gets 201 or 503 + Retry-After; every 201 is stored, no 503 is, and retries succeed', async () => {
  const t = await startTestService({ admission: { maxInFlight: 1, maxQueued: 1 } });
  try {
    const { packageText } = await setUpSystem(t);
    const requests = await Promise.all(Array.from({ length: 20 }, (_, i) => makeRequest(packageText, `BURST-${String(i).padStart(2, '0')}`)));
    const upload = (text: string): Promise<Reply> => t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    // The burst goes over 20 connections opened (TLS handshakes done) beforehand, so the uploads
    // really arrive together rather than one handshake apart.
    const agent = new Agent({ keepAlive: true, maxSockets: requests.length, ca: t.rootPem });
    const send = (method: string, path: string, body?: Buffer): Promise<{ status: number; body: Buffer; headers: Record<string, string | string[] | undefined> }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${t.service.url}${path}`, {
          method,
          agent,
          headers: { authorization: `Bearer ${t.adminToken}`, ...(body ? { 'content-type': REQUEST_MEDIA, 'content-length': String(body.length) } : {}) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
        });
        req.on('error', reject);
        req.end(body);
      });
    await Promise.all(requests.map(() => send('GET', '/api/v1/health')));
    const raw = await Promise.all(requests.map((r) => send('POST', '/api/v1/requests', Buffer.from(r.text))));
    agent.destroy();
    const replies: Reply[] = raw.map((r) => ({ ...r, json: () => JSON.parse(r.body.toString('utf8')) }));

    const accepted = replies.filter((r) => r.status === 201);
    const refused = replies.map((r, i) => ({ r, i })).filter(({ r }) => r.status !== 201);
    assert.ok(refused.length > 0, 'the burst exceeds 1 in flight + 1 queued: some are refused');
    assert.ok(accepted.length >= 2, 'the running one and the queued one are accepted');
    let maxRetryAfter = 0;
    for (const { r } of refused) {
      assert.equal(r.status, 503, r.body.toString());
      assert.equal(r.json().error.code, 'service_unavailable');
      const after = Number(r.headers['retry-after']);
      assert.ok(Number.isInteger(after) && after >= 1 && after <= 5, `Retry-After ${String(r.headers['retry-after'])}`);
      maxRetryAfter = Math.max(maxRetryAfter, after);
    }

    const list = async () => (await t.call('GET', '/api/v1/requests')).json();
    const stored = await list();
    assert.equal(stored.total, accepted.length, 'every accepted request is stored, no refused one is');
    const storedIds = new Set((stored.items as { deviceId: string }[]).map((x) => x.deviceId));
    for (const { i } of refused) assert.ok(!storedIds.has(`BURST-${String(i).padStart(2, '0')}`), 'a refused request is not stored');

    await sleep(maxRetryAfter * 1000);
    for (const { i } of refused) {
      const again = await upload(requests[i]!.text);
      assert.equal(again.status, 201, again.body.toString());
    }
    assert.equal((await list()).total, requests.length, 'all 20 stored exactly once');
  } finally {
    await t.close();
  }
});
