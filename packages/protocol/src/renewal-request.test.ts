import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCsr, createKeySigner, generateKey } from '@provisio/pki';
import { ProtocolError } from './errors.js';
import { createRenewalRequest, parseRenewalRequest, verifyRenewalRequest } from './renewal-request.js';

const at = new Date('2026-06-01T12:00:00Z');
const serial = '7f3a9c0d11e24b5c8d6e7f8091a2b3c4';
const isCode = (code: string) => (e: unknown) => e instanceof ProtocolError && e.code === code;
const nonce = Buffer.alloc(16, 7);

describe('renewal request', async () => {
  const current = createKeySigner((await generateKey('p256')).privateKey);
  const next = createKeySigner((await generateKey('p256')).privateKey);
  const attacker = createKeySigner((await generateKey('p256')).privateKey);
  const csrOf = (s: typeof current) => createCsr(s, { subject: [{ type: 'CN', value: 'DEV-001' }] });

  it('ok/same-key-and-rekey', async () => {
    for (const key of [current, next]) {
      const text = await createRenewalRequest(current, { deviceId: 'DEV-001', serial, csrDer: await csrOf(key), nonce, at });
      const parsed = parseRenewalRequest(text);
      verifyRenewalRequest(parsed, current.publicKey, { deviceId: 'DEV-001', serial, at: new Date(at.getTime() + 60_000) });
      assert.deepEqual(parsed.csr.publicKey.spki, key.publicKey.spki);
      assert.equal(parsed.contentHash.length, 64);
    }
  });

  it('fail/audience/renewal-is-not-reprovisioning', async () => {
    const text = await createRenewalRequest(current, { deviceId: 'DEV-001', serial, csrDer: await csrOf(current), nonce, at, aud: 'provisio-reprovision' });
    const parsed = parseRenewalRequest(text);
    assert.equal(parsed.aud, 'provisio-reprovision');
    verifyRenewalRequest(parsed, current.publicKey, { deviceId: 'DEV-001', serial, at, aud: 'provisio-reprovision' });
    assert.throws(() => verifyRenewalRequest(parsed, current.publicKey, { deviceId: 'DEV-001', serial, at }), isCode('renewal_claims_invalid'));
  });

  it('fail/signature/another-key', async () => {
    // Someone holding a valid CSR for their own key signs a renewal naming the device's certificate.
    const forged = parseRenewalRequest(await createRenewalRequest(attacker, { deviceId: 'DEV-001', serial, csrDer: await csrOf(attacker), nonce, at }));
    assert.throws(() => verifyRenewalRequest(forged, current.publicKey, { deviceId: 'DEV-001', serial, at }), isCode('renewal_signature_invalid'));
  });

  it('fail/claims/other-device-serial-or-stale', async () => {
    const parsed = parseRenewalRequest(await createRenewalRequest(current, { deviceId: 'DEV-001', serial, csrDer: await csrOf(current), nonce, at }));
    assert.throws(() => verifyRenewalRequest(parsed, current.publicKey, { deviceId: 'DEV-002', serial, at }), isCode('renewal_claims_invalid'));
    assert.throws(() => verifyRenewalRequest(parsed, current.publicKey, { deviceId: 'DEV-001', serial: '01'.repeat(16), at }), isCode('renewal_claims_invalid'));
    assert.throws(() => verifyRenewalRequest(parsed, current.publicKey, { deviceId: 'DEV-001', serial, at: new Date(at.getTime() + 6 * 60_000) }), isCode('renewal_claims_invalid'));
  });

  it('fail/shape/malformed', async () => {
    const text = await createRenewalRequest(current, { deviceId: 'DEV-001', serial, csrDer: await csrOf(current), nonce, at });
    const [h, , s] = text.split('.') as [string, string, string];
    const payload = (o: Record<string, unknown>) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const good = { v: 1, aud: 'provisio-renew', deviceId: 'DEV-001', serial, csr: (await csrOf(current)).toString('base64'), nonce: nonce.toString('base64url'), iat: at.toISOString() };
    for (const bad of [42, '', 'a.b', `${text}.x`, `${h}.${payload({ ...good, v: 2 })}.${s}`, `${h}.${payload({ ...good, csr: 'AAAA' })}.${s}`, `${h}.${payload({ ...good, nonce: 'short' })}.${s}`, `${h}.${payload({ ...good, extra: 1 })}.${s}`]) {
      assert.throws(() => parseRenewalRequest(bad), isCode('renewal_malformed'), String(bad));
    }
  });
});
