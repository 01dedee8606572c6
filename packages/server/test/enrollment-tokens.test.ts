/**
 * One-time enrollment tokens through the real service (HTTPS on a loopback port, a real SQLite
 * file): create, list, revoke; a device enrolls with token + CSR; each refusal answers its stable
 * code and leaves the database as it was (row counts, token uses and the audit head).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCsr, createKeySigner, deviceSubjectAltName, generateKey, parseCertificate, publicKeyFingerprint, type Signer } from '@provisio/pki';
import { parseCertifiedProfile, verifyCertifiedProfile } from '@provisio/protocol';
import { type FixedClock, fixedClock } from '@provisio/testkit';
import { type TestService, databaseState, setUpSystem, startTestService } from './service-harness.js';

async function deviceKey(): Promise<Signer> {
  return createKeySigner((await generateKey('p256')).privateKey);
}

async function csrFor(signer: Signer, deviceId: string, label?: string): Promise<string> {
  const der = await createCsr(signer, {
    subject: [{ type: 'CN', value: deviceId }],
    ...(label ? { subjectAltName: deviceSubjectAltName({ deviceId, deviceLabel: label }) } : {}),
  });
  return der.toString('base64');
}

describe('enrollment tokens', () => {
  let t: TestService;
  let clock: FixedClock;

  before(async () => {
    // Real time: the service's TLS certificate is checked by Node with the real clock.
    clock = fixedClock(new Date());
    t = await startTestService({ clock, webRoot: null });
    await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256']);
    const r = await t.call('PATCH', '/api/v1/systems/ZMonitor', { json: { enrollmentSecretApproves: true } });
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().enrollmentSecretApproves, true);
    await setUpSystem(t, 'Pumps', 'pump', ['p256']);
  });
  after(async () => t?.close());

  async function createToken(json: Record<string, unknown>): Promise<string> {
    const r = await t.call('POST', '/api/v1/tokens', { json: { system: 'ZMonitor', component: 'bedside monitor', ...json } });
    assert.equal(r.status, 201, r.body.toString());
    const token = r.json().token as string;
    assert.match(token, /^pvt_[0-9a-f]{16}_[0-9a-f]{64}$/);
    return token;
  }

  const enroll = async (json: Record<string, unknown>) => t.call('POST', '/api/v1/device/enroll', { token: null, json });

  /** Calls `attempt`, expects the refusal, and that nothing was written. */
  async function refused(attempt: () => Promise<{ status: number; json(): Record<string, unknown> }>, code: string, status: number) {
    const state = databaseState(t);
    const r = await attempt();
    assert.equal(r.status, status, JSON.stringify(r.json()));
    assert.equal((r.json().error as { code: string }).code, code);
    assert.deepEqual(databaseState(t), state, `${code}: the refusal wrote nothing`);
    return r;
  }

  it('ok/token/enroll-once-then-used', async () => {
    const token = await createToken({ deviceId: 'ZM-0001' });
    const signer = await deviceKey();
    const r = await enroll({ token, deviceId: 'ZM-0001', deviceLabel: 'Bed 12', csr: await csrFor(signer, 'ZM-0001', 'Bed 12') });
    assert.equal(r.status, 201, r.body.toString());
    const body = r.json();
    assert.equal(body.request.state, 'approved');
    const profile = parseCertifiedProfile(body.profile as string);
    verifyCertifiedProfile(profile, { root: parseCertificate(t.rootPem), deviceId: 'ZM-0001', devicePublicKey: signer.publicKey, at: new Date() });
    assert.equal(profile.payload.system, 'ZMonitor');
    assert.equal(profile.payload.deviceLabel, 'Bed 12');
    assert.equal(profile.payload.publicKeySha256, publicKeyFingerprint(signer.publicKey));

    const request = (await t.call('GET', `/api/v1/requests/${body.request.id}`)).json();
    assert.deepEqual(request.enrollment, { kind: 'token', id: token.split('_')[1] });
    assert.equal(request.packageId, null);

    // Single-use by default: the second use is refused, with a new key and another device alike.
    const again = await deviceKey();
    await refused(async () => enroll({ token, deviceId: 'ZM-0001', csr: await csrFor(again, 'ZM-0001') }), 'token_used', 401);

    const listed = (await t.call('GET', '/api/v1/tokens?system=ZMonitor')).json().items as Array<Record<string, unknown>>;
    const mine = listed.find((x) => x.id === token.split('_')[1]);
    assert.equal(mine?.state, 'used');
    assert.equal(mine?.uses, 1);

    // Every use audited, the secret never.
    const audit = await t.call('GET', '/api/v1/audit/export?limit=1000');
    const text = audit.body.toString('utf8');
    const secret = token.split('_')[2] as string;
    assert.ok(!text.includes(secret), 'the secret is not in the audit log');
    const uses = text.trim().split('\n').map((l) => JSON.parse(l) as { action: string; targetId: string }).filter((e) => e.action === 'token.use');
    assert.deepEqual(uses.map((e) => e.targetId), [token.split('_')[1]]);
  });

  it('fail/token/wrong-secret-and-unknown-id-one-answer', async () => {
    const token = await createToken({ deviceId: 'ZM-0002' });
    const signer = await deviceKey();
    const csr = await csrFor(signer, 'ZM-0002');
    const wrong = `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`;
    const unknown = `pvt_${'0'.repeat(16)}_${token.split('_')[2]}`;
    const a = await refused(() => enroll({ token: wrong, deviceId: 'ZM-0002', csr }), 'token_invalid', 401);
    const b = await refused(() => enroll({ token: unknown, deviceId: 'ZM-0002', csr }), 'token_invalid', 401);
    const c = await refused(() => enroll({ token: 'not a token', deviceId: 'ZM-0002', csr }), 'token_invalid', 401);
    assert.deepEqual(a.json(), b.json());
    assert.deepEqual(b.json(), c.json());
    // Still good afterwards: failures do not spend it.
    assert.equal((await enroll({ token, deviceId: 'ZM-0002', csr })).status, 201);
  });

  it('fail/token/expired-revoked-other-device', async () => {
    const signer = await deviceKey();
    const expiring = await createToken({ deviceId: 'ZM-0003', expiresInSeconds: 60 });
    clock.advance(61_000);
    await refused(async () => enroll({ token: expiring, deviceId: 'ZM-0003', csr: await csrFor(signer, 'ZM-0003') }), 'token_expired', 401);
    clock.set(new Date());

    const revoked = await createToken({ deviceId: 'ZM-0003' });
    const id = revoked.split('_')[1] as string;
    const r = await t.call('POST', `/api/v1/tokens/${id}/revoke`);
    assert.equal(r.status, 200, r.body.toString());
    assert.equal(r.json().state, 'revoked');
    await refused(async () => enroll({ token: revoked, deviceId: 'ZM-0003', csr: await csrFor(signer, 'ZM-0003') }), 'token_revoked', 401);

    const bound = await createToken({ deviceId: 'ZM-0003' });
    await refused(async () => enroll({ token: bound, deviceId: 'ZM-0004', csr: await csrFor(signer, 'ZM-0004') }), 'token_device_mismatch', 403);
    // A CSR asking for a name the certificate will not carry is refused, and the token unspent.
    await refused(async () => enroll({ token: bound, deviceId: 'ZM-0003', csr: await csrFor(signer, 'ZM-0003', 'Another label') }), 'csr_san_not_allowed', 400);
    assert.equal((await enroll({ token: bound, deviceId: 'ZM-0003', csr: await csrFor(signer, 'ZM-0003') })).status, 201);
  });

  it('ok/token/pattern-and-uses', async () => {
    const token = await createToken({ devicePattern: '^ZM-1[0-9]{3}$', maxUses: 2 });
    for (const id of ['ZM-1001', 'ZM-1002']) {
      const r = await enroll({ token, deviceId: id, csr: await csrFor(await deviceKey(), id) });
      assert.equal(r.status, 201, r.body.toString());
    }
    await refused(async () => enroll({ token, deviceId: 'ZM-1003', csr: await csrFor(await deviceKey(), 'ZM-1003') }), 'token_used', 401);
    const other = await createToken({ devicePattern: '^ZM-1[0-9]{3}$' });
    await refused(async () => enroll({ token: other, deviceId: 'ZM-2001', csr: await csrFor(await deviceKey(), 'ZM-2001') }), 'token_device_mismatch', 403);
  });

  it('fail/token/create-binding', async () => {
    for (const [json, code] of [
      [{}, 'token_binding_invalid'],
      [{ deviceId: 'ZM-1', devicePattern: '^ZM$' }, 'token_binding_invalid'],
      [{ devicePattern: 'ZM-.*' }, 'token_binding_invalid'],
      [{ deviceId: 'ZM-1', component: 'nope' }, 'component_not_found'],
    ] as const) {
      const state = databaseState(t);
      const r = await t.call('POST', '/api/v1/tokens', { json: { system: 'ZMonitor', component: 'bedside monitor', ...json } });
      assert.equal(r.json().error?.code, code, JSON.stringify(json));
      assert.deepEqual(databaseState(t), state);
    }
  });

  it('ok/token/waits-for-an-approver-when-the-system-says-so', async () => {
    // Pumps keeps the default: the token authenticates the device, an approver decides.
    const r0 = await t.call('POST', '/api/v1/tokens', { json: { system: 'Pumps', component: 'pump', deviceId: 'PMP-1' } });
    const token = r0.json().token as string;
    const signer = await deviceKey();
    const r = await enroll({ token, deviceId: 'PMP-1', csr: await csrFor(signer, 'PMP-1') });
    assert.equal(r.status, 202, r.body.toString());
    const id = r.json().request.id as string;
    assert.equal((await t.call('GET', `/api/v1/device/requests/${id}/profile`, { token: null })).status, 202);
    const approved = await t.call('POST', `/api/v1/requests/${id}/approve`);
    assert.equal(approved.status, 200, approved.body.toString());
    const profile = await t.call('GET', `/api/v1/device/requests/${id}/profile`, { token: null });
    assert.equal(profile.status, 200);
    verifyCertifiedProfile(parseCertifiedProfile(profile.body), { root: parseCertificate(t.rootPem), deviceId: 'PMP-1', devicePublicKey: signer.publicKey, at: new Date() });
    const review = await t.call('GET', `/api/v1/requests/${id}/review`);
    assert.equal(review.status, 200, review.body.toString());
  });
});
