/**
 * Pairing codes through the real service (HTTPS on a loopback port, a real SQLite file): the
 * admin registers a device with a code; the device pairs with code + CSR and gets the seed's
 * signed payload. Wrong codes are counted in the database and lock the record at 5 (across a
 * restart) with the same answer as an unknown device; expired and used codes are refused with
 * the database unchanged; the payload's signature, window and identity are checked.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createCsr, createKeySigner, deviceSubjectAltName, generateKey, parseCertificate, type Signer } from '@provisio/pki';
import {
  derivePairingHmacKey,
  parseCertifiedProfile,
  parsePairingPayload,
  verifyCertifiedProfile,
  verifyPairingPayload,
} from '@provisio/protocol';
import { type FixedClock, fixedClock, tempDir } from '@provisio/testkit';
import { type TestService, databaseState, setUpSystem, startTestService } from './service-harness.js';

async function deviceKey(): Promise<Signer> {
  return createKeySigner((await generateKey('p256')).privateKey);
}

async function csrFor(signer: Signer, deviceId: string, label: string): Promise<string> {
  return (await createCsr(signer, { subject: [{ type: 'CN', value: deviceId }, { type: 'OU', value: 'ZMonitor' }], subjectAltName: deviceSubjectAltName({ deviceId, deviceLabel: label }) })).toString('base64');
}

describe('pairing codes', () => {
  let t: TestService;
  let clock: FixedClock;
  const dataDir = tempDir('provisio-pairing-');

  before(async () => {
    clock = fixedClock(new Date());
    t = await startTestService({ clock, dataDir, webRoot: null });
    await setUpSystem(t, 'ZMonitor', 'bedside monitor', ['p256']);
    assert.equal((await t.call('PATCH', '/api/v1/systems/ZMonitor', { json: { enrollmentSecretApproves: true } })).status, 200);
  });
  after(async () => t?.close());

  async function register(deviceId: string, label = 'Bed 12', extra: Record<string, unknown> = {}): Promise<string> {
    const r = await t.call('POST', '/api/v1/pairings', { json: { system: 'ZMonitor', component: 'bedside monitor', deviceId, deviceLabel: label, ...extra } });
    assert.equal(r.status, 201, r.body.toString());
    const code = r.json().code as string;
    assert.match(code, /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/);
    return code;
  }
  const hello = (deviceId: string, code: string) => t.call('POST', '/api/v1/device/pairing/hello', { token: null, json: { deviceId, code } });
  const pair = (json: Record<string, unknown>) => t.call('POST', '/api/v1/device/pairing/pair', { token: null, json });
  const wrongCode = (code: string) => `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`;

  it('ok/pair/hello-then-csr-then-the-seed-payload', async () => {
    const code = await register('ZM-0001');
    const h = await hello('ZM-0001', code.toLowerCase());
    assert.equal(h.status, 200, h.body.toString());
    assert.deepEqual(h.json(), { deviceId: 'ZM-0001', deviceLabel: 'Bed 12', system: 'ZMonitor', component: 'bedside monitor', keyTypes: ['p256'], centralKeyGeneration: false });

    const signer = await deviceKey();
    const csr = await csrFor(signer, 'ZM-0001', 'Bed 12');
    const r = await pair({ deviceId: 'ZM-0001', code, csr });
    assert.equal(r.status, 201, r.body.toString());
    const body = r.json();
    assert.deepEqual(Object.keys(body.payload), ['deviceId', 'pairingCode', 'serverUrl', 'clientCertificate', 'caCertificate', 'issuedAt', 'expiresAt', 'signature']);
    assert.equal(body.payload.pairingCode, `${code.slice(0, 4)}-****`);
    const root = parseCertificate(t.rootPem);
    const parsed = parsePairingPayload(JSON.stringify(body.payload));
    verifyPairingPayload(parsed, { root, deviceId: 'ZM-0001', at: new Date() });
    verifyCertifiedProfile(parseCertifiedProfile(body.profile as string), { root, deviceId: 'ZM-0001', devicePublicKey: signer.publicKey, at: new Date() });

    // One byte changed, another device, past its window: each refused by the device's check.
    const changed = { ...body.payload, serverUrl: `${body.payload.serverUrl as string}x` };
    assert.throws(() => verifyPairingPayload(parsePairingPayload(JSON.stringify(changed)), { root, deviceId: 'ZM-0001', at: new Date() }), { code: 'pp_signature_invalid' });
    assert.throws(() => verifyPairingPayload(parsed, { root, deviceId: 'ZM-0002', at: new Date() }), { code: 'pp_wrong_device' });
    assert.throws(() => verifyPairingPayload(parsed, { root, deviceId: 'ZM-0001', at: new Date(Date.now() + 16 * 60_000) }), { code: 'pp_expired' });

    // The same code and CSR again answer the same request; another CSR is refused, nothing written.
    const again = await pair({ deviceId: 'ZM-0001', code, csr });
    assert.equal(again.status, 201, again.body.toString());
    assert.equal(again.json().request.id, body.request.id);
    const state = databaseState(t);
    const other = await pair({ deviceId: 'ZM-0001', code, csr: await csrFor(await deviceKey(), 'ZM-0001', 'Bed 12') });
    assert.equal(other.status, 401);
    assert.equal(other.json().error.code, 'pairing_code_used');
    assert.deepEqual(databaseState(t), state);
    const device = (await t.call('GET', '/api/v1/devices/ZM-0001')).json();
    assert.equal(device.state, 'approved');
  });

  it('ok/pair/hmac-form-verifies-with-the-key-from-the-code-only', async () => {
    const code = await register('ZM-0002');
    const r = await pair({ deviceId: 'ZM-0002', code, csr: await csrFor(await deviceKey(), 'ZM-0002', 'Bed 12'), signature: 'hmac' });
    assert.equal(r.status, 201, r.body.toString());
    const parsed = parsePairingPayload(JSON.stringify(r.json().payload));
    const root = parseCertificate(t.rootPem);
    verifyPairingPayload(parsed, { root, deviceId: 'ZM-0002', at: new Date(), hmacKey: derivePairingHmacKey(code, 'ZM-0002') });
    assert.throws(() => verifyPairingPayload(parsed, { root, deviceId: 'ZM-0002', at: new Date(), hmacKey: derivePairingHmacKey(wrongCode(code), 'ZM-0002') }), { code: 'pp_signature_invalid' });
    assert.throws(() => verifyPairingPayload(parsed, { root, deviceId: 'ZM-0002', at: new Date() }), { code: 'pp_signature_invalid' });
  });

  it('fail/pair/five-wrong-codes-lock-across-a-restart-one-answer-for-unknown-and-locked', async () => {
    const code = await register('ZM-0003');
    const unknown = await hello('ZM-9999', code);
    assert.equal(unknown.status, 401);
    for (let i = 1; i <= 5; i++) {
      const r = await hello('ZM-0003', wrongCode(code));
      assert.equal(r.status, 401);
      assert.deepEqual(r.json(), unknown.json(), `attempt ${i}: the same answer as an unknown device`);
    }
    const listed = (await t.call('GET', '/api/v1/pairings?system=ZMonitor')).json().items as Array<{ deviceId: string; state: string; failedAttempts: number }>;
    assert.deepEqual(listed.filter((p) => p.deviceId === 'ZM-0003').map((p) => [p.state, p.failedAttempts]), [['locked', 5]]);

    // The lock is in the database: a restarted service still refuses the right code, the same way.
    await t.close();
    t = await startTestService({ clock, dataDir, webRoot: null });
    const state = databaseState(t);
    const locked = await pair({ deviceId: 'ZM-0003', code, csr: await csrFor(await deviceKey(), 'ZM-0003', 'Bed 12') });
    assert.equal(locked.status, 401);
    assert.deepEqual(locked.json(), unknown.json());
    assert.deepEqual(databaseState(t), state, 'a locked record counts nothing more');

    const reset = await t.call('POST', '/api/v1/pairings/ZM-0003/reset');
    assert.equal(reset.status, 200, reset.body.toString());
    assert.equal(reset.json().state, 'active');
    assert.equal((await hello('ZM-0003', code)).status, 200);
    const audit = (await t.call('GET', '/api/v1/audit?target=ZM-0003&limit=50')).json().items as Array<{ action: string }>;
    assert.deepEqual(audit.map((e) => e.action).reverse(), ['pairing.create', 'pairing.failure', 'pairing.failure', 'pairing.failure', 'pairing.failure', 'pairing.lock', 'pairing.reset']);
    assert.ok(!JSON.stringify(audit).includes(code), 'the code is never audited');
  });

  it('fail/pair/expired-and-revoked-refused-database-unchanged', async () => {
    const code = await register('ZM-0004', 'Bed 4', { expiresInSeconds: 60 });
    clock.advance(61_000);
    let state = databaseState(t);
    const expired = await pair({ deviceId: 'ZM-0004', code, csr: await csrFor(await deviceKey(), 'ZM-0004', 'Bed 4') });
    assert.equal(expired.json().error?.code, 'pairing_code_expired');
    assert.deepEqual(databaseState(t), state);

    // An expired pairing may be registered again (the clock stays a minute ahead from here).
    const next = await register('ZM-0004', 'Bed 4');
    assert.equal((await t.call('POST', '/api/v1/pairings/ZM-0004/revoke')).status, 200);
    state = databaseState(t);
    const revoked = await pair({ deviceId: 'ZM-0004', code: next, csr: await csrFor(await deviceKey(), 'ZM-0004', 'Bed 4') });
    assert.equal(revoked.json().error?.code, 'pairing_code_revoked');
    assert.deepEqual(databaseState(t), state);

    // A CSR naming another label than the record's is refused, the code unspent.
    const third = await register('ZM-0004', 'Bed 4');
    state = databaseState(t);
    const mislabeled = await pair({ deviceId: 'ZM-0004', code: third, csr: await csrFor(await deviceKey(), 'ZM-0004', 'Bed 5') });
    assert.equal(mislabeled.json().error?.code, 'csr_san_not_allowed');
    assert.deepEqual(databaseState(t), state);
  });

  it('ok/pair/central-key-generation-off-by-default', async () => {
    const code = await register('ZM-0005');
    const state = databaseState(t);
    const r = await pair({ deviceId: 'ZM-0005', code });
    assert.equal(r.json().error?.code, 'central_key_not_allowed');
    assert.deepEqual(databaseState(t), state);
    assert.equal((await t.call('PATCH', '/api/v1/systems/ZMonitor', { json: { centralKeyGeneration: true } })).status, 200);
    const central = await pair({ deviceId: 'ZM-0005', code });
    assert.equal(central.status, 201, central.body.toString());
    const payload = central.json().payload as Record<string, string>;
    assert.match(payload.clientPrivateKey ?? '', /BEGIN PRIVATE KEY/);
    verifyPairingPayload(parsePairingPayload(JSON.stringify(payload)), { root: parseCertificate(t.rootPem), deviceId: 'ZM-0005', at: new Date() });
    const audit = (await t.call('GET', '/api/v1/audit?action=pairing.use&limit=50')).json().items as Array<{ targetId: string; details: Record<string, unknown> }>;
    assert.equal(audit.find((e) => e.targetId === 'ZM-0005')?.details.centralKeyGeneration, true);
    assert.ok(!JSON.stringify(audit).includes('PRIVATE KEY'));
  });
});
