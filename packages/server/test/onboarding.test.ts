/**
 * The Onboard page's API through the real service (D46): a pairing's create answer carries its
 * setup payload; a technician looks a device up with its id and code; confirming is the approval
 * of the request the device made with the code — refused to a technician (role), to the admin
 * who created the code (separation of duties) and before the device asked, each with the
 * database unchanged; a wrong code counts towards the lock with the device's uniform answer;
 * an approver's confirmation approves, and the device's page then says it enrolled with a
 * pairing code.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createCsr, createKeySigner, deviceSubjectAltName, generateKey, parseCertificate } from '@provisio/pki';
import { parseSetupPayload } from '@provisio/protocol';
import { tempDir } from '@provisio/testkit';
import { type Reply, type TestService, databaseState, setUpSystem, startTestService } from './service-harness.js';

const PASSWORD = 'onboarding password 1';

describe('onboarding (the Onboard page API)', () => {
  let t: TestService;
  const sessions = new Map<string, { cookie: string; csrf: string }>();

  before(async () => {
    t = await startTestService({ dataDir: tempDir('provisio-onboard-'), webRoot: null });
    await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256'], { separationOfDuties: true });
    for (const [username, role] of [['tom', 'technician'], ['abe', 'approver']] as const) {
      assert.equal((await t.call('POST', '/api/v1/users', { json: { username, role, password: PASSWORD } })).status, 201);
      const s = await t.call('POST', '/api/v1/session', { token: null, json: { username, password: PASSWORD } });
      assert.equal(s.status, 201, s.body.toString());
      sessions.set(username, { cookie: String(s.headers['set-cookie']).split(';')[0] as string, csrf: s.json().csrfToken as string });
    }
  });
  after(async () => t?.close());

  /** As a signed-in person (a session), or as the admin who created the codes (its API token). */
  const as = (who: 'tom' | 'abe' | 'admin', path: string, json: unknown): Promise<Reply> => {
    if (who === 'admin') return t.call('POST', path, { json });
    const s = sessions.get(who) as { cookie: string; csrf: string };
    return t.call('POST', path, { token: null, json, headers: { 'cookie': s.cookie, 'x-csrf-token': s.csrf } });
  };

  async function register(deviceId: string): Promise<{ code: string; setup: string }> {
    const r = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId, deviceLabel: `Bed of ${deviceId}` } });
    assert.equal(r.status, 201, r.body.toString());
    return { code: r.json().code as string, setup: r.json().setup as string };
  }

  async function devicePairs(deviceId: string, code: string): Promise<Reply> {
    const signer = createKeySigner((await generateKey('p256')).privateKey);
    const csr = await createCsr(signer, { subject: [{ type: 'CN', value: deviceId }, { type: 'OU', value: 'ZMonitor' }], subjectAltName: deviceSubjectAltName({ deviceId, deviceLabel: `Bed of ${deviceId}` }) });
    return t.call('POST', '/api/v1/device/pairing/pair', { token: null, json: { deviceId, code, csr: csr.toString('base64') } });
  }

  it('ok/create-answers-the-setup-payload', async () => {
    const { code, setup } = await register('OB-001');
    assert.deepEqual(parseSetupPayload(setup), {
      url: t.service.url,
      rootSha256: createHash('sha256').update(parseCertificate(t.rootPem).der).digest('hex'),
      deviceId: 'OB-001',
      code,
    });
  });

  it('ok/lookup-then-an-approver-confirms-the-pending-request', async () => {
    const { code } = await register('OB-002');
    const early = await as('tom', '/api/v1/onboard/lookup', { deviceId: 'OB-002', code });
    assert.equal(early.status, 200, early.body.toString());
    assert.equal(early.json().pairing.state, 'active');
    assert.equal(early.json().pairing.deviceLabel, 'Bed of OB-002');
    assert.equal(early.json().device, null);
    assert.equal(early.json().request, null);

    // Before the device asked there is nothing to approve.
    const state0 = databaseState(t);
    const notAsked = await as('abe', '/api/v1/onboard/confirm', { deviceId: 'OB-002', code });
    assert.equal(notAsked.status, 409, notAsked.body.toString());
    assert.equal(notAsked.json().error.code, 'pairing_not_asked');
    assert.deepEqual(databaseState(t), state0);

    assert.equal((await devicePairs('OB-002', code)).status, 202);
    const pending = await as('tom', '/api/v1/onboard/lookup', { deviceId: 'OB-002', code });
    assert.equal(pending.json().pairing.state, 'used');
    assert.equal(pending.json().device.state, 'pending');
    assert.equal(pending.json().request.state, 'pending');

    // A technician may look but not approve; the admin who created the code may not confirm it.
    const state1 = databaseState(t);
    const technician = await as('tom', '/api/v1/onboard/confirm', { deviceId: 'OB-002', code });
    assert.equal(technician.status, 403);
    assert.equal(technician.json().error.code, 'role_forbidden');
    const creator = await as('admin', '/api/v1/onboard/confirm', { deviceId: 'OB-002', code });
    assert.equal(creator.status, 403, creator.body.toString());
    assert.equal(creator.json().error.code, 'approver_is_submitter');
    assert.deepEqual(databaseState(t), state1);

    const confirmed = await as('abe', '/api/v1/onboard/confirm', { deviceId: 'OB-002', code });
    assert.equal(confirmed.status, 200, confirmed.body.toString());
    assert.equal(confirmed.json().request.state, 'approved');
    assert.equal(confirmed.json().device.state, 'approved');
    const audit = await t.call('GET', '/api/v1/audit?action=request.approve');
    assert.ok(audit.body.toString().includes('"confirmedInPerson":true'), audit.body.toString());

    // The device's page says how it enrolled.
    const device = await t.call('GET', '/api/v1/devices/OB-002');
    assert.deepEqual(device.json().enrollment, { method: 'pairing-code', transport: 'connected', requestId: confirmed.json().request.id });
    assert.deepEqual(device.json().certificates.map((c: { method: string }) => c.method), ['pairing-code']);
  });

  it('fail/lookup/a-wrong-code-counts-with-the-uniform-answer', async () => {
    const { code } = await register('OB-003');
    const wrong = `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;
    const r = await as('tom', '/api/v1/onboard/lookup', { deviceId: 'OB-003', code: wrong });
    const unknown = await as('tom', '/api/v1/onboard/lookup', { deviceId: 'OB-404', code });
    assert.equal(r.status, 401);
    assert.equal(r.json().error.code, 'pairing_code_invalid');
    assert.deepEqual(r.json(), unknown.json());
    const listed = (await t.call('GET', '/api/v1/pairings?system=ZMonitor')).json().items as Array<{ deviceId: string; failedAttempts: number }>;
    assert.equal(listed.find((p) => p.deviceId === 'OB-003')?.failedAttempts, 1);
  });
});
