import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createKeySigner, generateKey } from '@provisio/pki';
import { createConfirmProof, verifyConfirmProof } from './confirm-proof.js';
import { ProtocolError } from './errors.js';

const at = new Date('2026-06-01T12:00:00Z');
const claims = { deviceId: 'DEV-001', serial: '7f3a9c0d11e24b5c8d6e7f8091a2b3c4', at };
const isCode = (code: string) => (e: unknown) => e instanceof ProtocolError && e.code === code;

describe('confirmation proof', async () => {
  const device = createKeySigner((await generateKey('p256')).privateKey);
  const attacker = createKeySigner((await generateKey('p256')).privateKey);

  it('ok/p256-and-rsa', async () => {
    verifyConfirmProof(await createConfirmProof(device, claims), device.publicKey, { ...claims, at: new Date(at.getTime() + 60_000) });
    const rsa = createKeySigner((await generateKey('rsa3072')).privateKey);
    verifyConfirmProof(await createConfirmProof(rsa, claims), rsa.publicKey, claims);
  });

  it('fail/signature/another-key', async () => {
    // A gateway (or anyone) without the device key signs a proof for the device's certificate.
    const forged = await createConfirmProof(attacker, claims);
    assert.throws(() => verifyConfirmProof(forged, device.publicKey, claims), isCode('confirm_proof_invalid'));
  });

  it('fail/claims/other-device-serial-or-stale', async () => {
    const proof = await createConfirmProof(device, claims);
    assert.throws(() => verifyConfirmProof(proof, device.publicKey, { ...claims, deviceId: 'DEV-002' }), isCode('confirm_proof_invalid'));
    assert.throws(() => verifyConfirmProof(proof, device.publicKey, { ...claims, serial: '01'.repeat(16) }), isCode('confirm_proof_invalid'));
    assert.throws(() => verifyConfirmProof(proof, device.publicKey, { ...claims, at: new Date(at.getTime() + 6 * 60_000) }), isCode('confirm_proof_invalid'));
  });

  it('fail/shape/malformed', async () => {
    const proof = await createConfirmProof(device, claims);
    const [h, p, s] = proof.split('.') as [string, string, string];
    for (const bad of [42, '', 'a.b', `${h}.${p}`, `${h}.${p}.${s}.x`, `${Buffer.from('{"alg":"ES256","typ":"other"}').toString('base64url')}.${p}.${s}`]) {
      const refused = (e: unknown) => e instanceof ProtocolError && /^(confirm_proof_malformed|confirm_proof_invalid)$/.test(e.code);
      assert.throws(() => verifyConfirmProof(bad, device.publicKey, claims), refused, String(bad));
    }
    // A payload changed after signing no longer verifies.
    const other = Buffer.from(JSON.stringify({ v: 1, aud: 'provisio-confirm', deviceId: 'DEV-002', serial: claims.serial, iat: at.toISOString() })).toString('base64url');
    assert.throws(() => verifyConfirmProof(`${h}.${other}.${s}`, device.publicKey, { ...claims, deviceId: 'DEV-002' }), isCode('confirm_proof_invalid'));
  });
});
