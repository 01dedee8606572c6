/**
 * Pending requests of any kind on the Devices list, through the real HTTP API: a provisioned
 * device that asks to be reprovisioned (the device SDK over mutual TLS) stays provisioned but is
 * listed first with its pending request, found by the "needs approval" filter, reviewed (its
 * signature checked against the certificate it used), approved in bulk or rejected; a device
 * revoked while its reprovisioning waits gets no certificate; an expired request stays listed
 * until it is rejected.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { initDevice, loadDevice, provisionConnected, reprovisionConnected } from '@provisio/device';
import { DAY, type FixedClock, fixedClock, tempDir } from '@provisio/testkit';
import { makeRequest, REQUEST_MEDIA, type TestService, startTestService } from './service-harness.js';

const random = { bytes: (n: number) => randomBytes(n) };

interface ListedDevice {
  deviceId: string;
  state: string;
  pendingRequest: { id: string; kind: string; expiresAt: string } | null;
}

describe('pending requests of any kind on the device list (SQLite, HTTP API)', () => {
  let t: TestService;
  let clock: FixedClock;
  let packageText: string;
  const deps = () => ({ clock, random });

  before(async () => {
    // Real time: the service's TLS certificate is made with this clock and checked by Node with the real one.
    clock = fixedClock(new Date());
    t = await startTestService({ clock });
    const call = async (path: string, json: unknown, status: number) => {
      const r = await t.call('POST', path, { json });
      assert.equal(r.status, status, r.body.toString());
      return r;
    };
    // One admin token uploads and approves here: separation of duties (D28) is off for this system.
    await call('/api/v1/systems', { name: 'Pumps', separationOfDuties: false }, 201);
    await call('/api/v1/systems/Pumps/components', { name: 'pump', keyTypes: ['p256'] }, 201);
    packageText = (await call('/api/v1/packages', { system: 'Pumps' }, 201)).body.toString('utf8');
  });
  after(async () => t.close());

  async function setPolicy(json: unknown): Promise<void> {
    const r = await t.call('POST', '/api/v1/systems/Pumps/components/pump/policy', { json });
    assert.equal(r.status, 200, r.body.toString());
  }

  /** A device provisioned at once (automatic policy); then the component's requests wait for an approver. */
  async function provisioned(deviceId: string): Promise<string> {
    await setPolicy({ mode: 'automatic', rules: { transports: ['connected'] } });
    const dir = join(tempDir('provisio-pending-'), 'keystore');
    await initDevice(deps(), { packageText, component: 'pump', deviceId, deviceLabel: `Pump ${deviceId}`, dir });
    const result = await provisionConnected(deps(), { dir, serviceUrl: t.service.url, maxWaitMs: 30_000, maxPollIntervalMs: 100 });
    assert.equal(result.serviceState, 'provisioned');
    await setPolicy({ mode: 'manual' });
    return dir;
  }

  /** Starts a reprovisioning with the SDK; resolves once the request is stored (it then waits). */
  async function askToReprovision(dir: string, signal: AbortSignal) {
    let submitted: (id: string) => void = () => {};
    const stored = new Promise<string>((resolve) => {
      submitted = resolve;
    });
    const running = reprovisionConnected(deps(), {
      dir, serviceUrl: t.service.url, maxWaitMs: 120_000, longPollSeconds: 1, signal,
      onProgress: (e) => {
        if (e.step === 'reprovision-submitted') submitted(e.requestId);
      },
    });
    running.catch(() => {});
    const finishedEarly = running.then(() => {
      throw new Error('finished before submitting');
    });
    const requestId = await Promise.race([stored, finishedEarly]);
    return { requestId, running };
  }

  async function list(query: string): Promise<{ total: number; items: ListedDevice[] }> {
    const r = await t.call('GET', `/api/v1/devices?${query}`);
    assert.equal(r.status, 200, r.body.toString());
    return r.json();
  }

  const codeOf = (r: { json(): Record<string, any> }) => r.json().error?.code as string | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any -- error bodies are read loosely

  it('ok/reprovisioning-listed-first-reviewed-and-approved-in-bulk-beside-a-first-provisioning', async () => {
    await provisioned('PMP-002');
    const dir = await provisioned('PMP-001');
    const currentSerial = loadDevice(dir).install?.serial;
    const { requestId, running } = await askToReprovision(dir, new AbortController().signal);
    // A first provisioning, delivered by a technician: it waits as well.
    const made = await makeRequest(packageText, 'PMP-003', { system: 'Pumps', component: 'pump', keyType: 'p256', createdAt: clock.now() });
    const upload = await t.call('POST', '/api/v1/requests', { raw: Buffer.from(made.text), contentType: REQUEST_MEDIA });
    assert.equal(upload.status, 201, upload.body.toString());
    const uploadId = upload.json().request.id as string;

    // Both on top of the pending-first order; the reprovisioning device keeps its state.
    const first = await list('sort=pending-first&limit=2');
    assert.equal(first.total, 3);
    assert.deepEqual(first.items.map((d) => [d.deviceId, d.state, d.pendingRequest?.kind, d.pendingRequest?.id]).sort(), [
      ['PMP-001', 'provisioned', 'reprovision', requestId],
      ['PMP-003', 'pending', 'provision', uploadId],
    ]);
    assert.deepEqual((await list('sort=pending-first&limit=1&offset=2')).items.map((d) => [d.deviceId, d.pendingRequest]), [['PMP-002', null]]);
    assert.equal((await list('needsApproval=true')).total, 2);
    assert.deepEqual((await list('needsApproval=true&state=provisioned')).items.map((d) => d.deviceId), ['PMP-001']);
    assert.deepEqual((await list('state=pending')).items.map((d) => d.deviceId), ['PMP-003'], 'the state filter is still the device state');
    assert.equal(codeOf(await t.call('GET', '/api/v1/devices?needsApproval=perhaps')), 'validation_failed');

    // The review checks the reprovisioning request against the certificate the device used.
    const review = await t.call('GET', `/api/v1/requests/${requestId}/review`);
    assert.equal(review.status, 200, review.body.toString());
    assert.deepEqual(review.json().signatures, { status: 'verified' });
    assert.equal(review.json().signedWithCertificate, currentSerial);
    assert.equal(review.json().request.kind, 'reprovision');
    assert.equal(review.json().expired, false);

    // Bulk approval takes the pending request whatever its kind.
    const bulk = await t.call('POST', '/api/v1/requests/approve', { json: { requestIds: [requestId, uploadId] } });
    assert.equal(bulk.status, 200, bulk.body.toString());
    assert.deepEqual([bulk.json().approved, bulk.json().refused], [2, 0]);
    const result = await running;
    assert.equal(result.requestId, requestId);
    assert.notEqual(loadDevice(dir).install?.serial, currentSerial, 'the device installed its new certificate');
    assert.equal((await list('needsApproval=true')).total, 0);
    const device = (await t.call('GET', '/api/v1/devices/PMP-001')).json();
    assert.deepEqual([device.state, device.pendingRequest], ['provisioned', null]);
  });

  it('fail/revoked-while-waiting-gets-no-certificate-and-the-request-is-rejected', async () => {
    const dir = await provisioned('PMP-010');
    const aborter = new AbortController();
    const { requestId } = await askToReprovision(dir, aborter.signal);
    const revoked = await t.call('POST', '/api/v1/devices/PMP-010/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.status, 200, revoked.body.toString());
    const certificates = () => t.call('GET', '/api/v1/devices/PMP-010').then((r) => r.json().certificates as unknown[]);
    const before = (await certificates()).length;
    // Attack: a stolen device asks for a fresh profile, then is revoked; an approver who clicks
    // Approve must not hand it a new certificate.
    const approve = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
    assert.equal(approve.status, 409, approve.body.toString());
    assert.equal(codeOf(approve), 'device_not_provisioned');
    assert.equal((await certificates()).length, before, 'nothing issued');
    assert.equal((await t.call('GET', `/api/v1/requests/${requestId}`)).json().state, 'pending');
    const listed = (await list('needsApproval=true&state=revoked')).items;
    assert.deepEqual(listed.map((d) => [d.deviceId, d.pendingRequest?.id]), [['PMP-010', requestId]], 'it still waits for a decision');

    const reject = await t.call('POST', `/api/v1/requests/${requestId}/reject`, { json: { reason: 'device revoked' } });
    assert.equal(reject.status, 200, reject.body.toString());
    aborter.abort();
    const device = (await t.call('GET', '/api/v1/devices/PMP-010')).json();
    assert.deepEqual([device.state, device.pendingRequest], ['revoked', null], 'a rejection leaves the device as it was');
  });

  it('ok/an-expired-reprovisioning-stays-listed-until-rejected', async () => {
    const dir = await provisioned('PMP-020');
    const aborter = new AbortController();
    const { requestId } = await askToReprovision(dir, aborter.signal);
    aborter.abort();
    clock.advance(8 * DAY);
    const [listed] = (await list('needsApproval=true')).items;
    assert.equal(listed?.pendingRequest?.id, requestId);
    assert.ok(Date.parse(listed?.pendingRequest?.expiresAt ?? '') < clock.now().getTime(), 'its expiry is in the past');
    assert.equal((await t.call('GET', `/api/v1/requests/${requestId}/review`)).json().expired, true);
    const approve = await t.call('POST', `/api/v1/requests/${requestId}/approve`);
    assert.equal(codeOf(approve), 'request_expired');
    assert.equal((await list('needsApproval=true')).total, 1, 'a refused approval changes nothing');
    const reject = await t.call('POST', `/api/v1/requests/${requestId}/reject`, { json: { reason: 'expired' } });
    assert.equal(reject.status, 200, reject.body.toString());
    assert.equal((await list('needsApproval=true')).total, 0);
    assert.equal((await t.call('GET', '/api/v1/devices/PMP-020')).json().state, 'provisioned');
  });
});
