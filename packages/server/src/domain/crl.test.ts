/**
 * CRL publishing and the OCSP responder's pre-signed answers on a fixed clock, over a real SQLite
 * store and a test PKI: the CRL job publishes only when the newest CRL is an interval old (or
 * past nextUpdate), nextUpdate is thisUpdate + interval + grace, numbers rise; a kept OCSP answer
 * is re-signed once half its validity has passed and never outlives a revocation.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type SerialNumber, buildCrl, createKeySigner, describeKeyObject, buildOcspRequest, fingerprint, parseCertificate, parseCrl, parseOcspRequest, parseOcspResponse, randomSerial, verifyCrl } from '@provisio/pki';
import { type TestPki, createTestPki, fixedClock, seededRandom, tempDir } from '@provisio/testkit';
import { OcspResponderService } from '../ca/ocsp-responder.js';
import { openStore } from '../store/open-store.js';
import { crlGraceMs, publishCrl, refreshCrl } from './crl.js';
import type { IssuingAuthority, ServiceDeps } from './deps.js';
import type { CertificateRecord } from './model.js';
import type { Store } from './store.js';

const HOUR = 3_600_000;

describe('CRL publishing and pre-signed OCSP answers (fixed clock)', () => {
  const clock = fixedClock('2026-06-01T12:00:00Z');
  const random = seededRandom('crl-test');
  let pki: TestPki;
  let store: Store;
  let deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>;
  const invalidated: SerialNumber[][] = [];

  before(async () => {
    pki = await createTestPki({ now: clock.now(), random });
    store = await openStore({ url: join(tempDir('provisio-crl-'), 'crl.db') });
    // A key pair to certify as the delegated responder.
    const responder = await pki.issueDevice('responder-key');
    const issued = await pki.intermediate.issuer.issue({
      profile: { kind: 'ocsp-responder' },
      serial: randomSerial(random),
      subject: [{ type: 'CN', value: 'Test OCSP responder' }],
      publicKey: describeKeyObject(responder.key.publicKey),
      notBefore: new Date(clock.now().getTime() - HOUR),
      notAfter: new Date(clock.now().getTime() + 90 * 24 * HOUR),
    });
    const intermediate = pki.intermediate.certificate;
    const authority: IssuingAuthority = {
      root: pki.root.certificate,
      intermediate,
      issuerFingerprint: intermediate.fingerprint,
      plan: (request) => pki.intermediate.issuer.plan(request),
      issue: (request) => pki.intermediate.issuer.issue(request),
      profileSigner: pki.intermediate.signer, // not used here
      profileSignerChain: [],
      signCrl: (input) => buildCrl({ issuer: intermediate, signer: pki.intermediate.signer, ...input }),
      ocspResponder: { certificate: parseCertificate(issued.der), signer: createKeySigner(responder.key.privateKey) },
      renewOcspResponder: () => Promise.reject(new Error('the responder is far from expiry in this test')),
      rootCrl: { path: 'none', current: () => null },
    };
    deps = { store, clock, authority, revocation: { crlIntervalMs: HOUR, revoked: (serials) => invalidated.push([...serials]) } };
  });
  after(async () => store.close());

  it('ok/grace/a-quarter-interval-at-most-15-minutes', () => {
    assert.equal(crlGraceMs(HOUR), 15 * 60_000);
    assert.equal(crlGraceMs(4 * 60_000), 60_000);
    assert.equal(crlGraceMs(24 * HOUR), 15 * 60_000);
  });

  it('ok/job/publishes-when-due-with-honest-next-update', async () => {
    const first = await refreshCrl(deps);
    assert.ok(first, 'no CRL yet: one is published');
    assert.equal(first.crlNumber, 1);
    assert.deepEqual(first.thisUpdate, clock.now());
    assert.deepEqual(first.nextUpdate, new Date(clock.now().getTime() + HOUR + 15 * 60_000));
    const parsed = parseCrl(first.der);
    verifyCrl(parsed, pki.intermediate.certificate);
    assert.equal(parsed.crlNumber, 1n);
    assert.deepEqual(parsed.nextUpdate, first.nextUpdate, 'the stored nextUpdate is the signed one');

    clock.advance(HOUR - 1000);
    assert.equal(await refreshCrl(deps), null, 'fresher than an interval: nothing published');
    clock.advance(1000);
    const second = await refreshCrl(deps);
    assert.equal(second?.crlNumber, 2, 'an interval old: published again');
    assert.ok(second && second.nextUpdate > clock.now());
  });

  it('ok/revoked-entries-listed-and-ocsp-answers-refreshed-and-invalidated', async () => {
    const leaf = await pki.issueDevice('CRL-1');
    const record: CertificateRecord = {
      serial: leaf.certificate.serial,
      issuerFingerprint: pki.intermediate.certificate.fingerprint,
      deviceId: null,
      requestId: null,
      kind: 'device',
      der: leaf.certificate.der,
      fingerprint: fingerprint(leaf.certificate.der),
      notBefore: leaf.certificate.notBefore,
      notAfter: leaf.certificate.notAfter,
      status: 'active',
      revokedAt: null,
      revocationReason: null,
      createdAt: clock.now(),
    };
    await store.insertCertificate(record);
    const ocsp = new OcspResponderService(deps, HOUR);
    const request = parseOcspRequest(await buildOcspRequest({ issuer: pki.intermediate.certificate, serial: record.serial }));
    const first = await ocsp.answer(request);
    assert.equal(parseOcspResponse(first.der).basic?.responses[0]?.status.status, 'good');
    clock.advance(HOUR / 2 - 1000);
    assert.ok((await ocsp.answer(request)).der.equals(first.der), 'kept while less than half its validity has passed');
    assert.equal(await ocsp.refreshDue(), 0);
    clock.advance(1000);
    assert.equal(await ocsp.refreshDue(), 1, 're-signed at half its validity, before nextUpdate');
    const refreshed = await ocsp.answer(request);
    assert.ok(!refreshed.der.equals(first.der));
    assert.deepEqual(refreshed.cache?.thisUpdate, clock.now());

    // Revoked in the store (as another node would): the kept "good" is not served again.
    const crl = await store.transaction(async (tx) => {
      assert.ok(await tx.revokeCertificate(record.issuerFingerprint, record.serial, { at: clock.now(), reason: 'keyCompromise' }));
      return publishCrl(tx, deps);
    });
    const status = parseOcspResponse((await ocsp.answer(request)).der).basic?.responses[0]?.status;
    assert.equal(status?.status, 'revoked');
    assert.deepEqual(parseCrl(crl.der).entries, [{ serial: record.serial, revokedAt: clock.now(), reason: 'keyCompromise' }]);
    assert.equal(crl.crlNumber, 3);
  });
});
