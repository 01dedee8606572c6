/**
 * The issuing pipeline on a real SQLite store and a test PKI: a method refuses every operation it
 * does not implement, before anything else runs; what it does implement is signed, recorded and
 * audited in the caller's transaction; a refusal at any step leaves the store as it was.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type PublicKeyInfo, createKeySigner, generateKey, isProvisioError, parseCertificate, publicKeyFingerprint, verifyChain } from '@provisio/pki';
import { createTestPki, tempDir } from '@provisio/testkit';
import type { PackageId, RequestRecord } from '../domain/model.js';
import type { Store } from '../domain/store.js';
import { openStore } from '../store/open-store.js';
import { type IssuanceAuthority, issueCertificate } from './issue-certificate.js';
import { type DeviceIssuanceInput, bootstrapPackageMethod } from './methods/device.js';
import { enrollmentTokenMethod, pairingCodeMethod } from './methods/enrollment-secret.js';
import { gatewayMethod } from './methods/gateway.js';
import { packageCredentialMethod } from './methods/package-credential.js';
import { serviceMethod } from './methods/service.js';

const random = { bytes: (n: number) => randomBytes(n) };
const isCode = (code: string) => (e: unknown) => isProvisioError(e) && e.code === code;

describe('issuing pipeline', () => {
  let store: Store;
  let authority: IssuanceAuthority;
  let key: PublicKeyInfo;
  const now = new Date();

  before(async () => {
    store = await openStore({ url: join(tempDir('provisio-issuance-'), 'store.db') });
    const pki = await createTestPki({ now, random });
    const intermediate = pki.intermediate.certificate;
    authority = {
      root: pki.root.certificate,
      intermediate,
      issuerFingerprint: intermediate.fingerprint,
      plan: (r) => pki.intermediate.issuer.plan(r),
      issue: (r) => pki.intermediate.issuer.issue(r),
    };
    key = createKeySigner((await generateKey('p256')).privateKey).publicKey;
  });
  after(async () => store.close());

  const written = async () => ({
    certificates: (await store.findCertificatesByPublicKey(publicKeyFingerprint(key))).length,
    audit: (await store.listAudit({ limit: 1, offset: 0 })).total,
  });
  const gatewayInput = (name: string) => ({
    name,
    hosts: ['gw.example'],
    publicKey: key,
    audit: () => ({ at: now, actor: 'user:admin', action: 'gateway.create', targetType: 'gateway', targetId: name, details: {} }),
  });

  it('fail/method/refuses-what-it-does-not-implement', async () => {
    const before = await written();
    await assert.rejects(store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: gatewayMethod, operation: 'renew', input: gatewayInput('gw-a'), now })), isCode('method_operation_refused'));
    const packageInput = { packageId: 'pkg_x' as PackageId, system: 'Pumps', days: 30, publicKey: key, audit: () => ({ at: now, actor: 'system', action: 'x', targetType: 'x', targetId: 'x', details: {} }) };
    await assert.rejects(store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: packageCredentialMethod, operation: 'renew', input: packageInput, now })), isCode('method_operation_refused'));
    await assert.rejects(
      store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: serviceMethod, operation: 'renew', input: { template: { kind: 'tls-server', names: ['localhost'] }, publicKey: key, now }, now })),
      isCode('method_operation_refused'),
    );
    // A method answers only requests of its own kind: a renewal is not a provisioning request.
    // (Only the request is read before the refusal: the rest of the input is left out.)
    const input = { request: { id: 'req_r', kind: 'renewal', deviceId: 'D-1' } as Partial<RequestRecord> } as unknown as DeviceIssuanceInput;
    await assert.rejects(
      store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: bootstrapPackageMethod, operation: 'sign', input, now })),
      isCode('method_operation_refused'),
    );
    assert.deepEqual(await written(), before, 'nothing written');
  });

  it('fail/method/secret-methods-answer-only-their-own-requests', async () => {
    const before = await written();
    const run = (method: typeof bootstrapPackageMethod, request: Partial<RequestRecord>, operation: 'sign' | 'renew' = 'sign') =>
      assert.rejects(
        store.transaction((tx) => issueCertificate(tx, { random, authority }, { method, operation, input: { request: { id: 'req_s', deviceId: 'D-2', ...request } } as unknown as DeviceIssuanceInput, now })),
        isCode('method_operation_refused'),
      );
    const token = { enrollment: { kind: 'token' as const, id: 'ab12' } };
    const code = { enrollment: { kind: 'pairing-code' as const, id: 'D-2' } };
    await run(bootstrapPackageMethod, token); // a token's request is not a package's
    await run(enrollmentTokenMethod, {}); // nor a package's a token's
    await run(enrollmentTokenMethod, code); // nor a pairing code's a token's
    await run(pairingCodeMethod, token);
    await run(enrollmentTokenMethod, token, 'renew'); // they sign first certificates only
    assert.deepEqual(await written(), before, 'nothing written');
  });

  it('fail/validators/lifetime-beyond-the-kind-maximum-writes-nothing', async () => {
    const before = await written();
    const input = { packageId: 'pkg_y' as PackageId, system: 'Pumps', days: 366, publicKey: key, audit: () => ({ at: now, actor: 'system', action: 'x', targetType: 'x', targetId: 'x', details: {} }) };
    await assert.rejects(store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: packageCredentialMethod, operation: 'sign', input, now })), isCode('validation_failed'));
    assert.deepEqual(await written(), before);
  });

  it('ok/sign/recorded-and-audited-in-the-callers-transaction-then-one-key-one-identity', async () => {
    const issued = await store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: gatewayMethod, operation: 'sign', input: gatewayInput('gw-b'), now }));
    const certificate = parseCertificate(issued.issued.der);
    verifyChain({ leaf: certificate, intermediates: [authority.intermediate], roots: [authority.root], at: now });
    assert.deepEqual(await store.findCertificate(authority.issuerFingerprint, certificate.serial), issued.certificate);
    assert.equal(issued.certificate.kind, 'gateway');
    assert.equal(issued.certificate.publicKeySha256, publicKeyFingerprint(key));
    const entry = (await store.listAudit({ limit: 1, offset: 0 })).items[0];
    assert.equal(entry?.action, 'gateway.create');

    // The same key for another gateway: refused by key policy, nothing written.
    const before = await written();
    await assert.rejects(store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: gatewayMethod, operation: 'sign', input: gatewayInput('gw-c'), now })), isCode('key_in_use'));
    assert.deepEqual(await written(), before);
  });

  it('fail/key-policy/the-root-key-for-a-service-certificate', async () => {
    const before = await written();
    await assert.rejects(
      store.transaction((tx) => issueCertificate(tx, { random, authority }, { method: serviceMethod, operation: 'sign', input: { template: { kind: 'ocsp-responder' }, publicKey: authority.root.publicKey, now }, now })),
      isCode('key_is_ca_key'),
    );
    assert.deepEqual(await written(), before);
  });
});
