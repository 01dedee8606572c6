/**
 * A device's history for approvers and auditors (docs/web.md "Device"): every request the device
 * ever made, not only its current one, and the audit entries about it and them in chain order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REQUEST_MEDIA, type TestService, makeRequest, setUpSystem, startTestService } from './service-harness.js';

describe('device history', () => {
  let t: TestService;
  let packageText: string;
  const requestIds: string[] = [];
  let approver: string;

  const submit = async (deviceId: string) => {
    const r = await t.call('POST', '/api/v1/requests', { raw: Buffer.from((await makeRequest(packageText, deviceId)).text), contentType: REQUEST_MEDIA });
    assert.equal(r.status, 201, r.body.toString());
    return r.json().request.id as string;
  };

  before(async () => {
    t = await startTestService({ webRoot: null });
    ({ packageText } = await setUpSystem(t));
    // DEV-H: rejected, asks again and is approved, revoked, then asks a third time.
    requestIds.push(await submit('DEV-H'));
    assert.equal((await t.call('POST', `/api/v1/requests/${requestIds[0]}/reject`, { json: { reason: 'unknown serial' } })).status, 200);
    requestIds.push(await submit('DEV-H'));
    assert.equal((await t.call('POST', `/api/v1/requests/${requestIds[1]}/approve`)).status, 200);
    assert.equal((await t.call('POST', '/api/v1/devices/DEV-H/revoke', { json: { reason: 'superseded' } })).status, 200);
    requestIds.push(await submit('DEV-H'));
    // Another device's entries must not show in DEV-H's history.
    await submit('DEV-OTHER');
    approver = (await t.call('POST', '/api/v1/users', { json: { username: 'alma', role: 'approver' } })).json().token as string;
  });
  after(() => t.close());

  it('ok/history/every-request-and-every-entry-in-order-for-an-approver', async () => {
    // Approvers may not list the audit log, but may read the history of a device they judge.
    assert.equal((await t.call('GET', '/api/v1/audit', { token: approver })).status, 403);
    const r = await t.call('GET', '/api/v1/devices/DEV-H/history', { token: approver });
    assert.equal(r.status, 200, r.body.toString());
    const h = r.json();
    assert.deepEqual(h.requests.map((x: { id: string }) => x.id), [...requestIds].reverse(), 'every request, newest first');
    assert.deepEqual(h.requests.map((x: { state: string }) => x.state), ['pending', 'approved', 'rejected']);
    assert.equal(h.requests[2].decisionReason, 'unknown serial');
    const events = h.events as { seq: number; action: string; targetId: string }[];
    assert.deepEqual(events.map((e) => e.action), ['request.submit', 'request.reject', 'request.submit', 'request.approve', 'device.revoke', 'request.submit']);
    assert.deepEqual(events.map((e) => e.seq), [...events.map((e) => e.seq)].sort((a, b) => a - b), 'chain order');
    assert.ok(events.every((e) => e.targetId === 'DEV-H' || requestIds.includes(e.targetId)), JSON.stringify(events));
    assert.equal(h.truncated, false);
  });

  it('fail/history/unknown-device-and-technician', async () => {
    const unknown = await t.call('GET', '/api/v1/devices/DEV-NOPE/history');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'device_not_found');
    const tech = (await t.call('POST', '/api/v1/users', { json: { username: 'tom', role: 'technician' } })).json().token as string;
    const refused = await t.call('GET', '/api/v1/devices/DEV-H/history', { token: tech });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().error.code, 'role_forbidden');
  });
});
