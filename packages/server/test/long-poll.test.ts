/**
 * Long-poll on the device profile route (GET /api/v1/device/requests/:id/profile?wait=N): a held
 * poll is answered as soon as an approver approves or rejects (no second poll needed), runs to its
 * timeout with 202 + Retry-After: 1 otherwise, and past the bound of held polls is answered at
 * once (202 + Retry-After: 5) — the same answer as a service without long-poll, which the SDK
 * handles by polling.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ProvisionProgress, initDevice, provisionConnected } from '@provisio/device';
import { systemClock } from '@provisio/pki';
import { tempDir } from '@provisio/testkit';
import { DecisionWaiters } from '../src/http/decision-waiters.js';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const deps = { clock: systemClock, random: { bytes: (n: number) => randomBytes(n) } };

describe('long-poll (SQLite)', () => {
  let t: TestService;
  let packageText: string;

  before(async () => {
    t = await startTestService();
    ({ packageText } = await setUpSystem(t));
  });
  after(async () => t.close());

  async function submit(deviceId: string): Promise<string> {
    const { text } = await makeRequest(packageText, deviceId);
    const r = await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from(text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    return r.json().request.id as string;
  }

  it('ok/held-poll-answers-the-approval', async () => {
    const id = await submit('LP-001');
    const held = t.call('GET', `/api/v1/device/requests/${id}/profile?wait=30`, { token: null });
    // Approve while the poll is held (it cannot have timed out: 30 s).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const approved = await t.call('POST', `/api/v1/requests/${id}/approve`);
    assert.equal(approved.status, 200, approved.body.toString());
    const r = await held;
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.headers['content-type'], 'application/vnd.provisio.profile+json');
  });

  it('ok/held-poll-answers-the-rejection', async () => {
    const id = await submit('LP-002');
    const held = t.call('GET', `/api/v1/device/requests/${id}/profile?wait=30`, { token: null });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const rejected = await t.call('POST', `/api/v1/requests/${id}/reject`, { json: { reason: 'not ours' } });
    assert.equal(rejected.status, 200, rejected.body.toString());
    const r = await held;
    assert.equal(r.status, 409, r.body.toString());
    assert.equal(r.json().error.code, 'request_rejected');
  });

  it('ok/held-poll-times-out-with-202-and-retry-after-1', async () => {
    const id = await submit('LP-003');
    const r = await t.call('GET', `/api/v1/device/requests/${id}/profile?wait=1`, { token: null });
    assert.equal(r.status, 202);
    assert.equal(r.headers['retry-after'], '1');
    // Without ?wait: answered at once, plain polling.
    const plain = await t.call('GET', `/api/v1/device/requests/${id}/profile`, { token: null });
    assert.equal(plain.status, 202);
    assert.equal(plain.headers['retry-after'], '5');
    // A decided request is answered at once whatever the wait.
    await t.call('POST', `/api/v1/requests/${id}/approve`);
    assert.equal((await t.call('GET', `/api/v1/device/requests/${id}/profile?wait=30`, { token: null })).status, 200);
  });

  it('err/wait-must-be-a-number-and-unknown-ids-are-not-held', async () => {
    const bad = await t.call('GET', `/api/v1/device/requests/req_x/profile?wait=soon`, { token: null });
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'validation_failed');
    const unknown = await t.call('GET', `/api/v1/device/requests/req_${'0'.repeat(32)}/profile?wait=30`, { token: null });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'request_not_found');
  });

  it('ok/sdk-gets-the-profile-from-the-held-poll', async () => {
    const dir = join(tempDir('provisio-lp-'), 'keystore');
    await initDevice(deps, { packageText, component: 'bedside monitor', deviceId: 'LP-004', deviceLabel: 'Bed LP-004', dir });
    const events: ProvisionProgress[] = [];
    const running = provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, longPollSeconds: 30, onProgress: (e) => events.push(e) });
    let requestId: string | undefined;
    for (let i = 0; i < 200 && !requestId; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      requestId = events.find((e) => e.step === 'submitted')?.requestId;
    }
    assert.ok(requestId);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await t.call('POST', `/api/v1/requests/${requestId}/approve`)).status, 200);
    const result = await running;
    assert.equal(result.serviceState, 'provisioned');
    // The poll held when the approval came answered it: no 202 was ever seen (the one 'waiting'
    // is said before the first poll).
    assert.deepEqual(events.map((e) => e.step), ['resumed', 'submitted', 'waiting', 'fetched', 'installed', 'confirmed']);
  });
});

describe('long-poll bound', () => {
  it('ok/no-place-left-answers-at-once', async () => {
    const waiters = new DecisionWaiters({ maxHeld: 1 });
    const first = waiters.register('req_a', 10_000);
    assert.ok(first);
    assert.equal(waiters.register('req_b', 10_000), null, 'the one place is taken');
    waiters.decided('req_a');
    assert.equal(await first.promise, true);
    assert.equal(waiters.held, 0);
    const second = waiters.register('req_b', 10_000);
    assert.ok(second);
    waiters.close();
    assert.equal(await second.promise, false, 'closing answers held polls');
    assert.equal(waiters.register('req_c', 10_000), null, 'closed: nothing more is held');
  });

  it('ok/service-with-no-hold-places-answers-202-retry-after-5', async () => {
    const t = await startTestService({ longPoll: { maxHeld: 0 } });
    try {
      const { packageText } = await setUpSystem(t);
      const { text } = await makeRequest(packageText, 'LP-100');
      const id = (await t.call('POST', '/api/v1/device/requests', { token: null, raw: Buffer.from(text), contentType: REQUEST_MEDIA })).json().request.id as string;
      const r = await t.call('GET', `/api/v1/device/requests/${id}/profile?wait=30`, { token: null });
      assert.equal(r.status, 202);
      assert.equal(r.headers['retry-after'], '5');

      // The SDK asks for a long-poll, is answered at once, and falls back to polling.
      const dir = join(tempDir('provisio-lp-'), 'keystore');
      await initDevice(deps, { packageText, component: 'bedside monitor', deviceId: 'LP-101', deviceLabel: 'Bed LP-101', dir });
      const events: ProvisionProgress[] = [];
      const running = provisionConnected(deps, { dir, serviceUrl: t.service.url, maxWaitMs: 60_000, maxPollIntervalMs: 100, onProgress: (e) => events.push(e) });
      let polled: ProvisionProgress | undefined;
      for (let i = 0; i < 400 && !polled; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        polled = events.find((e) => e.step === 'waiting' && e.retryInMs > 0);
      }
      assert.ok(polled && polled.step === 'waiting', JSON.stringify(events));
      assert.equal((await t.call('POST', `/api/v1/requests/${polled.requestId}/approve`)).status, 200);
      assert.equal((await running).serviceState, 'provisioned');
      assert.ok(events.filter((e) => e.step === 'waiting').length >= 2, 'it polled');
    } finally {
      await t.close();
    }
  });
});
