/**
 * Key policy through the real service (HTTPS on a loopback port, a real SQLite file): one key,
 * one identity. Each refusal names its code and leaves the database as it was (row counts and the
 * audit head read from the SQLite file before and after).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Signer, createCsr, createKeySigner, encodePem, generateKey, importPrivateKeyPem } from '@provisio/pki';
import { weakRsaSigner } from '@provisio/testkit';
import { REQUEST_MEDIA, type TestService, databaseState, makeRequest, setUpSystem, startTestService } from './service-harness.js';

const newKey = async (): Promise<Signer> => createKeySigner((await generateKey('p256')).privateKey);

describe('key policy (SQLite)', () => {
  let t: TestService;
  let packageText: string;

  before(async () => {
    t = await startTestService();
    ({ packageText } = await setUpSystem(t));
  });
  after(async () => t.close());

  const submit = (text: string) => t.call('POST', '/api/v1/requests', { raw: Buffer.from(text), contentType: REQUEST_MEDIA });
  async function provision(deviceId: string, deviceKey: Signer): Promise<string> {
    const r = await submit((await makeRequest(packageText, deviceId, { deviceKey })).text);
    assert.equal(r.status, 201, r.body.toString());
    const id = r.json().request.id as string;
    const approved = await t.call('POST', `/api/v1/requests/${id}/approve`);
    assert.equal(approved.status, 200, approved.body.toString());
    return id;
  }
  /** Submits a request for `deviceId` with `deviceKey`: refused with `code`, nothing written. */
  async function assertRefusedAtIntake(deviceId: string, deviceKey: Signer, code: string): Promise<void> {
    const { text } = await makeRequest(packageText, deviceId, { deviceKey });
    const state = databaseState(t);
    const r = await submit(text);
    assert.equal(r.json().error?.code, code, r.body.toString());
    assert.equal(r.status, code === 'key_too_weak' ? 400 : 409);
    assert.deepEqual(databaseState(t), state, 'the refusal wrote nothing');
    assert.equal((await t.call('GET', `/api/v1/devices/${deviceId}`)).status, 404, 'no device was created');
  }

  it('fail/key-policy/rsa-modulus-divisible-by-3', async () => {
    // RSA 3072 with e = 65537 that signs its CSR and the request like any key, but n = 3 · p:
    // anyone can factor it, so its private key is no one's secret.
    const weak = await weakRsaSigner(3072);
    assert.equal(weak.publicKey.bits, 3072);
    await assertRefusedAtIntake('KP-WEAK', weak, 'key_too_weak');
  });

  it('fail/key-policy/issuing-ca-key-in-a-device-csr', async () => {
    // Someone holding the issuing CA's key asks for a device certificate for it: refused, or the
    // CA's key would also authenticate as a device.
    const caKey = createKeySigner(importPrivateKeyPem(readFileSync(join(t.dataDir, 'ca', 'intermediate.key'), 'utf8')));
    await assertRefusedAtIntake('KP-CA', caKey, 'key_is_ca_key');
  });

  it('fail/key-policy/one-key-two-devices', async () => {
    const shared = await newKey();
    await provision('KP-A1', shared);
    await assertRefusedAtIntake('KP-A2', shared, 'key_in_use');

    // Two requests with one key both wait (neither key is certified yet): the second approval is
    // refused by the pipeline, in the approving transaction, which then writes nothing.
    const twin = await newKey();
    const first = await submit((await makeRequest(packageText, 'KP-B1', { deviceKey: twin })).text);
    const second = await submit((await makeRequest(packageText, 'KP-B2', { deviceKey: twin })).text);
    assert.equal(first.status, 201, first.body.toString());
    assert.equal(second.status, 201, second.body.toString());
    assert.equal((await t.call('POST', `/api/v1/requests/${first.json().request.id}/approve`)).status, 200);
    const state = databaseState(t);
    const refused = await t.call('POST', `/api/v1/requests/${second.json().request.id}/approve`);
    assert.equal(refused.status, 409, refused.body.toString());
    assert.equal(refused.json().error.code, 'key_in_use');
    assert.deepEqual(databaseState(t), state, 'the refused approval wrote nothing');
    assert.equal((await t.call('GET', `/api/v1/requests/${second.json().request.id}`)).json().state, 'pending');
  });

  it('fail/key-policy/key-revoked-for-key-compromise-refused-for-a-new-device', async () => {
    const stolen = await newKey();
    await provision('KP-C1', stolen);
    const blockedBefore = databaseState(t).blocked_keys as number;
    const revoked = await t.call('POST', '/api/v1/devices/KP-C1/revoke', { json: { reason: 'keyCompromise' } });
    assert.equal(revoked.status, 200, revoked.body.toString());
    assert.equal(databaseState(t).blocked_keys, blockedBefore + 1, 'the revocation blocked the key');
    const entry = (await t.call('GET', `/api/v1/audit?action=certificate.revoke&target=${revoked.json().revoked[0].serial}`)).json().items[0];
    assert.match(entry.details.blockedKeySha256, /^[0-9a-f]{64}$/);
    // Whoever stole the key now asks for a certificate for a device of their own.
    await assertRefusedAtIntake('KP-C2', stolen, 'key_blocked');
    // The revoked device itself keeps its own answer for its old key.
    const own = await submit((await makeRequest(packageText, 'KP-C1', { deviceKey: stolen })).text);
    assert.equal(own.json().error?.code, 'device_key_revoked', own.body.toString());
  });

  it('fail/key-policy/gateway-key-for-a-device-and-device-key-for-a-gateway', async () => {
    const csrOf = async (key: Signer) => encodePem('CERTIFICATE REQUEST', await createCsr(key, { subject: [{ type: 'CN', value: 'gw' }] }));
    const gatewayKey = await newKey();
    const created = await t.call('POST', '/api/v1/gateways', { json: { name: 'kp-gw', hosts: ['127.0.0.1'], csr: await csrOf(gatewayKey) } });
    assert.equal(created.status, 201, created.body.toString());
    await assertRefusedAtIntake('KP-G1', gatewayKey, 'key_in_use');

    const deviceKey = await newKey();
    await provision('KP-G2', deviceKey);
    const state = databaseState(t);
    const refused = await t.call('POST', '/api/v1/gateways', { json: { name: 'kp-gw2', hosts: ['127.0.0.1'], csr: await csrOf(deviceKey) } });
    assert.equal(refused.status, 409, refused.body.toString());
    assert.equal(refused.json().error.code, 'key_in_use');
    const again = await t.call('POST', '/api/v1/gateways', { json: { name: 'kp-gw3', hosts: ['127.0.0.1'], csr: await csrOf(gatewayKey) } });
    assert.equal(again.json().error?.code, 'key_in_use', 'a gateway key serves one gateway');
    assert.deepEqual(databaseState(t), state, 'the refused registrations wrote nothing');
  });
});
