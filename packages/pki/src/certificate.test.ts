import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createTestPki, seededRandom, type TestPki } from '@provisio/testkit';
import { isCa, isSelfIssued, MAX_CERTIFICATE_BYTES, parseCertificate } from './certificate.js';
import { PkiError } from './errors.js';
import { encodePem } from './pem.js';

const now = new Date('2026-06-01T12:00:00Z');

describe('parse certificate', () => {
  let pki: TestPki;
  before(async () => {
    pki = await createTestPki({ now, random: seededRandom('parse') });
  });

  it('ok/pem-and-der-agree', async () => {
    const { certificate } = await pki.issueDevice('DEV-200');
    const fromPem = parseCertificate(encodePem('CERTIFICATE', certificate.der));
    assert.equal(fromPem.fingerprint, certificate.fingerprint);
    assert.equal(fromPem.serial, certificate.serial);
    assert.equal(isCa(pki.root.certificate), true);
    assert.equal(isSelfIssued(pki.root.certificate), true);
    assert.equal(isCa(certificate), false);
    assert.equal(certificate.decoded.basicConstraints?.ca, false);
    assert.equal(pki.intermediate.certificate.decoded.basicConstraints?.pathLength, 0);
  });

  it('fail/hostile/every-byte-flipped', async () => {
    // Each single-byte corruption either still parses or is refused with a catalog code;
    // nothing else (TypeError, RangeError, a hang) may escape the parser.
    const { certificate } = await pki.issueDevice('DEV-201');
    for (let i = 0; i < certificate.der.length; i++) {
      const copy = Buffer.from(certificate.der);
      copy[i] = (copy[i] as number) ^ 0xff;
      try {
        parseCertificate(copy);
      } catch (e) {
        assert.ok(e instanceof PkiError, `byte ${i}: ${String(e)}`);
      }
    }
  });

  it('fail/hostile/truncated-and-oversized', async () => {
    const { certificate } = await pki.issueDevice('DEV-202');
    for (let cut = 0; cut < certificate.der.length; cut += 7) {
      assert.throws(
        () => parseCertificate(certificate.der.subarray(0, cut)),
        (e: unknown) => e instanceof PkiError,
      );
    }
    const huge = Buffer.alloc(MAX_CERTIFICATE_BYTES + 10);
    assert.throws(
      () => parseCertificate(huge),
      (e: unknown) => e instanceof PkiError && e.code === 'input_too_large',
    );
  });

  it('fail/pem/wrong-label', async () => {
    const { certificate } = await pki.issueDevice('DEV-203');
    assert.throws(
      () => parseCertificate(encodePem('X509 CRL', certificate.der)),
      (e: unknown) => e instanceof PkiError && e.code === 'pem_invalid',
    );
  });
});
