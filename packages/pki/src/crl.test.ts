import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  createRootCa,
  createSubordinateCa,
  createTestPki,
  DAY,
  openssl,
  seededRandom,
  type TestCa,
  type TestPki,
  tempDir,
} from '@provisio/testkit';
import type { ParsedCertificate } from './certificate.js';
import {
  buildCrl,
  type CrlInput,
  isRevocationReason,
  MAX_CRL_BYTES,
  MAX_CRL_NUMBER,
  parseCrl,
  REVOCATION_REASONS,
  type RevokedEntry,
  revocationReasonCode,
  revocationReasonFromCode,
  verifyCrl,
} from './crl.js';
import { bitString, explicit, NULL, seq, smallInteger, time } from './der.js';
import { PkiError } from './errors.js';
import { authorityKeyIdentifierExtension, extension } from './extensions.js';
import { OID } from './oids.js';
import { encodePem } from './pem.js';
import type { SerialNumber } from './serial.js';
import { createKeySigner } from './signer.js';

// openssl checks thisUpdate/nextUpdate and certificate validity against the wall clock, so the
// test PKI lives at the real current time (whole seconds), fixed once for the file.
const now = new Date(Math.floor(Date.now() / 1000) * 1000);

function assertPkiError(fn: () => unknown, code?: string): PkiError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof PkiError, `expected a PkiError, got ${String(caught)}`);
  if (code) assert.equal(caught.code, code, caught.message);
  return caught;
}

async function assertRejectsPki(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof PkiError && e.code === code);
}

/** What openssl prints for a serial: uppercase hex, even length. */
function opensslSerial(serial: SerialNumber): string {
  return serial.toUpperCase();
}

describe('crl', () => {
  let pki: TestPki;
  let dir: string;
  let revokedLeaf: ParsedCertificate;
  let goodLeaf: ParsedCertificate;
  let otherLeaves: ParsedCertificate[];
  const file = (name: string, content: string | Uint8Array): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  before(async () => {
    pki = await createTestPki({ now, random: seededRandom('crl-test') });
    dir = tempDir();
    revokedLeaf = (await pki.issueDevice('DEV-REVOKED')).certificate;
    goodLeaf = (await pki.issueDevice('DEV-GOOD')).certificate;
    otherLeaves = [];
    for (const id of ['DEV-A', 'DEV-B', 'DEV-C', 'DEV-D']) otherLeaves.push((await pki.issueDevice(id)).certificate);
    file('root.pem', encodePem('CERTIFICATE', pki.root.certificate.der));
    file('int.pem', encodePem('CERTIFICATE', pki.intermediate.certificate.der));
    file(
      'bundle.pem',
      encodePem('CERTIFICATE', pki.root.certificate.der) + encodePem('CERTIFICATE', pki.intermediate.certificate.der),
    );
    file('revoked.pem', encodePem('CERTIFICATE', revokedLeaf.der));
    file('good.pem', encodePem('CERTIFICATE', goodLeaf.der));
  });

  function input(overrides: Partial<CrlInput> = {}): CrlInput {
    return {
      issuer: pki.intermediate.certificate,
      signer: pki.intermediate.signer,
      crlNumber: 42n,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + DAY),
      entries: [],
      ...overrides,
    };
  }

  function severalEntries(): RevokedEntry[] {
    const [a, b, c, d] = otherLeaves as [ParsedCertificate, ParsedCertificate, ParsedCertificate, ParsedCertificate];
    return [
      { serial: revokedLeaf.serial, revokedAt: new Date(now.getTime() - 3600_000), reason: 'keyCompromise' },
      { serial: a.serial, revokedAt: new Date(now.getTime() - 7200_000), reason: 'superseded' },
      { serial: b.serial, revokedAt: new Date(now.getTime() - 60_000), reason: 'unspecified' },
      { serial: c.serial, revokedAt: new Date(now.getTime() - 120_000), reason: 'cessationOfOperation' },
      { serial: d.serial, revokedAt: new Date(now.getTime() - 180_000), reason: 'certificateHold' },
    ];
  }

  describe('reasons', () => {
    test('ok/crl/reason-codes', () => {
      const expected = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];
      assert.deepEqual(REVOCATION_REASONS.map(revocationReasonCode), expected);
      for (const reason of REVOCATION_REASONS) {
        assert.equal(revocationReasonFromCode(revocationReasonCode(reason)), reason);
        assert.ok(isRevocationReason(reason));
      }
      assert.equal(isRevocationReason('toString'), false);
    });

    test('fail/crl/reason-unknown', () => {
      for (const code of [7, 11, -1, 1.5, 255])
        assertPkiError(() => revocationReasonFromCode(code), 'revocation_reason_invalid');
      assertPkiError(() => revocationReasonCode('stolen' as never), 'revocation_reason_invalid');
      assertPkiError(() => revocationReasonCode('constructor' as never), 'revocation_reason_invalid');
    });
  });

  describe('build and openssl', () => {
    test('ok/crl/several-entries', async () => {
      const entries = severalEntries();
      const der = await buildCrl(input({ entries, crlNumber: 4242n }));
      const path = file('several.crl.pem', encodePem('X509 CRL', der));
      const r = openssl(['crl', '-in', path, '-CAfile', join(dir, 'bundle.pem'), '-noout', '-text']);
      // openssl crl exits 0 even when verification fails: the text is what counts.
      assert.match(r.output, /verify OK/, r.output);
      assert.doesNotMatch(r.output, /verify failure/);
      assert.match(r.output, /Version 2 \(0x1\)/);
      assert.match(r.output, /X509v3 CRL Number:\s*\n\s*4242\b/);
      assert.match(r.output, /X509v3 Authority Key Identifier/);
      for (const entry of entries)
        assert.match(r.output, new RegExp(`Serial Number: ${opensslSerial(entry.serial)}\\b`));
      assert.match(r.output, /Key Compromise/);
      assert.match(r.output, /Superseded/);
      assert.match(r.output, /Cessation Of Operation/);
      assert.match(r.output, /Certificate Hold/);
      // RFC 5280 §5.3.1: unspecified is stated by omitting the reasonCode.
      assert.equal(r.output.match(/X509v3 CRL Reason Code/g)?.length, entries.length - 1);
    });

    test('ok/crl/openssl-verify-crl-check', async () => {
      const der = await buildCrl(input({ entries: severalEntries() }));
      const crl = file('check.crl.pem', encodePem('X509 CRL', der));
      const args = (leaf: string) => [
        'verify',
        '-crl_check',
        '-CRLfile',
        crl,
        '-CAfile',
        join(dir, 'root.pem'),
        '-untrusted',
        join(dir, 'int.pem'),
        join(dir, leaf),
      ];
      const revoked = openssl(args('revoked.pem'));
      assert.match(revoked.output, /certificate revoked/, revoked.output);
      assert.notEqual(revoked.status, 0);
      const good = openssl(args('good.pem'));
      assert.match(good.output, /good\.pem: OK/, good.output);
      assert.equal(good.status, 0);
    });

    test('ok/crl/empty', async () => {
      const der = await buildCrl(input({ entries: [] }));
      const path = file('empty.crl.pem', encodePem('X509 CRL', der));
      const r = openssl(['crl', '-in', path, '-CAfile', join(dir, 'bundle.pem'), '-noout', '-text']);
      assert.match(r.output, /verify OK/, r.output);
      assert.match(r.output, /No Revoked Certificates/);
      assert.deepEqual(parseCrl(der).entries, []);
    });

    test('ok/crl/p384-issuer', async () => {
      const ca = await createSubordinateCa(pki.root, now, seededRandom('p384'), {
        keyType: 'p384',
        subject: [{ type: 'CN', value: 'Provisio Test P-384 CA' }],
      });
      const der = await buildCrl(input({ issuer: ca.certificate, signer: ca.signer, entries: severalEntries() }));
      const path = file('p384.crl.pem', encodePem('X509 CRL', der));
      file(
        'p384-bundle.pem',
        encodePem('CERTIFICATE', pki.root.certificate.der) + encodePem('CERTIFICATE', ca.certificate.der),
      );
      const r = openssl(['crl', '-in', path, '-CAfile', join(dir, 'p384-bundle.pem'), '-noout']);
      assert.match(r.output, /verify OK/, r.output);
      verifyCrl(parseCrl(der), ca.certificate);
      assert.equal(parseCrl(der).signatureAlgorithm.name, 'ecdsa-with-SHA384');
    });

    test('fail/crl/tampered-signature', async () => {
      // An attacker edits a signed CRL (here: one bit of the signature) to hide a revocation.
      const der = Buffer.from(await buildCrl(input({ entries: severalEntries() })));
      der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
      const path = file('tampered.crl.pem', encodePem('X509 CRL', der));
      const r = openssl(['crl', '-in', path, '-CAfile', join(dir, 'bundle.pem'), '-noout']);
      assert.match(r.output, /verify failure/, r.output);
      assert.doesNotMatch(r.output, /verify OK/);
      assertPkiError(() => verifyCrl(parseCrl(der), pki.intermediate.certificate), 'crl_signature_invalid');
    });

    test('fail/crl/tampered-entry', async () => {
      // Deleting an entry is the attack that matters: flip a byte of the tbs (the CRL number).
      const der = Buffer.from(await buildCrl(input({ crlNumber: 0x1234n })));
      const at = der.indexOf(Buffer.from([0x02, 0x02, 0x12, 0x34]));
      assert.ok(at > 0);
      der[at + 3] = 0x35;
      const path = file('tampered-tbs.crl.pem', encodePem('X509 CRL', der));
      const r = openssl(['crl', '-in', path, '-CAfile', join(dir, 'bundle.pem'), '-noout']);
      assert.match(r.output, /verify failure/, r.output);
      assertPkiError(() => verifyCrl(parseCrl(der), pki.intermediate.certificate), 'crl_signature_invalid');
    });
  });

  describe('parse and verify', () => {
    test('ok/crl/round-trip', async () => {
      const entries = severalEntries();
      const der = await buildCrl(input({ entries, crlNumber: 7n }));
      for (const form of [der, encodePem('X509 CRL', der), Buffer.from(encodePem('X509 CRL', der))]) {
        const crl = parseCrl(form);
        assert.ok(crl.der.equals(der));
        assert.ok(crl.issuer.der.equals(pki.intermediate.certificate.subject.der));
        assert.equal(crl.crlNumber, 7n);
        assert.equal(crl.thisUpdate.getTime(), now.getTime());
        assert.equal(crl.nextUpdate?.getTime(), now.getTime() + DAY);
        assert.ok(crl.authorityKeyId?.equals(pki.intermediate.certificate.decoded.subjectKeyId as Buffer));
        assert.deepEqual(crl.entries, entries);
        assert.equal(crl.signatureAlgorithm.name, 'ecdsa-with-SHA256');
        verifyCrl(crl, pki.intermediate.certificate);
      }
    });

    test('ok/crl/whole-seconds', async () => {
      const revokedAt = new Date(now.getTime() - 1234);
      const der = await buildCrl(
        input({
          thisUpdate: new Date(now.getTime() + 999),
          entries: [{ serial: goodLeaf.serial, revokedAt, reason: 'superseded' }],
        }),
      );
      const crl = parseCrl(der);
      assert.equal(crl.thisUpdate.getTime(), now.getTime());
      assert.equal(crl.entries[0]?.revokedAt.getTime(), Math.floor(revokedAt.getTime() / 1000) * 1000);
    });

    test('ok/crl/largest-crl-number', async () => {
      // RFC 5280 §5.2.3: 20 octets, the sign bit clear.
      for (const n of [0n, 127n, 128n, 255n, 256n, MAX_CRL_NUMBER]) {
        assert.equal(parseCrl(await buildCrl(input({ crlNumber: n }))).crlNumber, n);
      }
    });

    test('ok/crl/generalized-time-after-2049', async () => {
      // RFC 5280 §5.1.2.4: GeneralizedTime from 2050. The issuer must still be valid then.
      const farNow = new Date('2049-12-31T00:00:00Z');
      const root = await createRootCa(new Date('2049-06-01T00:00:00Z'), seededRandom('far'));
      const der = await buildCrl({
        issuer: root.certificate,
        signer: root.signer,
        crlNumber: 1n,
        thisUpdate: farNow,
        nextUpdate: new Date('2050-01-02T00:00:00Z'),
        entries: [],
      });
      assert.ok(der.includes(Buffer.from('20500102000000Z')));
      const crl = parseCrl(der);
      assert.equal(crl.nextUpdate?.toISOString(), '2050-01-02T00:00:00.000Z');
      verifyCrl(crl, root.certificate);
    });

    test('fail/crl/signed-by-another-key', async () => {
      // An attacker's CA copies the issuing CA's name and signs a CRL that omits revocations.
      const attacker: TestCa = await createRootCa(now, seededRandom('attacker'), 'p256', [
        { type: 'CN', value: 'Provisio Test Issuing CA' },
      ]);
      assert.ok(attacker.certificate.subject.der.equals(pki.intermediate.certificate.subject.der));
      const der = await buildCrl(input({ issuer: attacker.certificate, signer: attacker.signer }));
      const e = assertPkiError(() => verifyCrl(parseCrl(der), pki.intermediate.certificate), 'crl_signature_invalid');
      assert.match(e.message, /authority key identifier|signature/);
    });

    test('fail/crl/wrong-issuer-name', async () => {
      const der = await buildCrl(input());
      assertPkiError(() => verifyCrl(parseCrl(der), pki.root.certificate), 'crl_signature_invalid');
    });

    test('fail/crl/issuer-without-crl-sign', async () => {
      // A device key must not be able to sign a CRL its CA would be trusted for.
      const device = await pki.issueDevice('DEV-SIGNS-CRL');
      const der = await buildCrl(input());
      assertPkiError(() => verifyCrl(parseCrl(der), device.certificate), 'crl_signature_invalid');
    });
  });

  describe('lint before signing', () => {
    const cases: Array<[string, () => Partial<CrlInput>, string]> = [
      ['fail/crl/lint/next-update-not-after-this-update', () => ({ nextUpdate: now }), 'profile_violation'],
      [
        'fail/crl/lint/next-update-same-second',
        () => ({ nextUpdate: new Date(now.getTime() + 500) }),
        'profile_violation',
      ],
      ['fail/crl/lint/negative-crl-number', () => ({ crlNumber: -1n }), 'profile_violation'],
      ['fail/crl/lint/crl-number-21-octets', () => ({ crlNumber: MAX_CRL_NUMBER + 1n }), 'profile_violation'],
      ['fail/crl/lint/signer-mismatch', () => ({ signer: pki.root.signer }), 'profile_violation'],
      [
        'fail/crl/lint/this-update-after-issuer-expiry',
        () => ({ thisUpdate: new Date(now.getTime() + 4000 * DAY), nextUpdate: new Date(now.getTime() + 4001 * DAY) }),
        'profile_violation',
      ],
      [
        'fail/crl/lint/duplicate-serial',
        () => ({
          entries: [
            { serial: goodLeaf.serial, revokedAt: now, reason: 'superseded' },
            { serial: goodLeaf.serial, revokedAt: now, reason: 'keyCompromise' },
          ],
        }),
        'profile_violation',
      ],
      [
        'fail/crl/lint/non-canonical-serial',
        () => ({ entries: [{ serial: 'ABCD' as SerialNumber, revokedAt: now, reason: 'superseded' }] }),
        'profile_violation',
      ],
      [
        'fail/crl/lint/remove-from-crl',
        () => ({ entries: [{ serial: goodLeaf.serial, revokedAt: now, reason: 'removeFromCRL' }] }),
        'revocation_reason_invalid',
      ],
      [
        'fail/crl/lint/unknown-reason',
        () => ({ entries: [{ serial: goodLeaf.serial, revokedAt: now, reason: 'stolen' as never }] }),
        'revocation_reason_invalid',
      ],
      ['fail/crl/lint/invalid-date', () => ({ thisUpdate: new Date(Number.NaN) }), 'profile_violation'],
    ];
    for (const [name, overrides, code] of cases) {
      test(name, async () => {
        let signed = false;
        const base = input(overrides());
        const signer = {
          ...base.signer,
          sign: async (d: Uint8Array) => {
            signed = true;
            return base.signer.sign(d);
          },
        };
        await assertRejectsPki(buildCrl({ ...base, signer }), code);
        assert.equal(signed, false, 'nothing is signed when lint fails');
      });
    }

    test('fail/crl/lint/issuer-without-crl-sign', async () => {
      // The signer matches the certificate, but a device certificate may not sign CRLs.
      const leaf = await pki.issueDevice('DEV-NOT-CA');
      await assertRejectsPki(
        buildCrl(input({ issuer: leaf.certificate, signer: createKeySigner(leaf.key.privateKey) })),
        'profile_violation',
      );
    });
  });

  describe('hostile input', () => {
    let valid: Buffer;
    before(async () => {
      valid = await buildCrl(input({ entries: severalEntries() }));
    });

    function onlyPkiErrors(bytes: Uint8Array): void {
      try {
        const crl = parseCrl(bytes);
        verifyCrl(crl, pki.intermediate.certificate);
      } catch (e) {
        if (!(e instanceof PkiError)) throw new Error(`non-PkiError escaped: ${String(e)}`, { cause: e });
      }
    }

    test('fail/crl/truncated', () => {
      for (let n = 0; n < valid.length; n++) {
        assertPkiError(() => parseCrl(valid.subarray(0, n)));
      }
    });

    test('fail/crl/garbage', () => {
      assertPkiError(() => parseCrl(Buffer.alloc(0)));
      assertPkiError(() => parseCrl(Buffer.from('not a crl at all')), 'der_malformed');
      assertPkiError(() => parseCrl('-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----\n'), 'pem_invalid');
      assertPkiError(() => parseCrl(encodePem('CERTIFICATE', valid)), 'pem_invalid');
      assertPkiError(() => parseCrl(pki.intermediate.certificate.der));
      assertPkiError(() => parseCrl(Buffer.concat([valid, Buffer.from([0])])), 'der_malformed');
    });

    test('fail/crl/ber-indefinite-length', () => {
      // The same CRL with its outer SEQUENCE re-encoded with BER's indefinite length.
      assert.equal(valid[1], 0x82);
      const ber = Buffer.concat([Buffer.from([0x30, 0x80]), valid.subarray(4), Buffer.from([0, 0])]);
      const e = assertPkiError(() => parseCrl(ber), 'der_malformed');
      assert.match(e.message, /indefinite/);
    });

    test('fail/crl/too-large', () => {
      assertPkiError(() => parseCrl(Buffer.alloc(MAX_CRL_BYTES + 1)), 'input_too_large');
      assertPkiError(() => parseCrl('A'.repeat(MAX_CRL_BYTES * 2 + 1)), 'input_too_large');
    });

    test('fail/crl/deep-nesting', () => {
      let nested: Buffer = NULL;
      for (let i = 0; i < 200; i++) nested = seq(nested);
      assertPkiError(() => parseCrl(nested), 'der_malformed');
    });

    test('fail/crl/mutations', () => {
      // Seeded single-byte mutations: whatever the parser meets, only a PkiError may escape.
      const random = seededRandom('crl-mutations');
      for (let i = 0; i < 3000; i++) {
        const mutated = Buffer.from(valid);
        const [pos0, pos1, value] = random.bytes(3) as unknown as [number, number, number];
        const pos = ((pos0 << 8) | pos1) % mutated.length;
        mutated[pos] = value;
        onlyPkiErrors(mutated);
      }
    });

    test('fail/crl/structure', async () => {
      const signer = pki.intermediate.signer;
      const cert = pki.intermediate.certificate;
      const aki = authorityKeyIdentifierExtension(cert.decoded.subjectKeyId as Buffer);
      const sign = async (tbs: Buffer) => seq(tbs, signer.algorithm.der, bitString(await signer.sign(tbs)));
      const head = [signer.algorithm.der, cert.subject.der, time(now), time(new Date(now.getTime() + DAY))];
      const crlNumber = extension(OID.crlNumber, false, smallInteger(1));
      const cases: Array<[string, Buffer, string]> = [
        // A v1 CRL (no version) cannot carry the extensions RFC 5280 requires.
        ['v1', seq(...head), 'crl_invalid'],
        ['v3', seq(smallInteger(2), ...head), 'crl_invalid'],
        // A delta CRL read as a complete one would make revoked certificates look good.
        [
          'delta-crl-indicator',
          seq(
            smallInteger(1),
            ...head,
            explicit(0, seq(aki, crlNumber, extension('2.5.29.27', true, smallInteger(1)))),
          ),
          'crl_invalid',
        ],
        [
          'unknown-critical-entry-extension',
          seq(
            smallInteger(1),
            ...head,
            seq(seq(smallInteger(5), time(now), seq(extension('2.5.29.29', true, seq())))),
            explicit(0, seq(aki, crlNumber)),
          ),
          'crl_invalid',
        ],
        [
          'reason-code-7',
          seq(
            smallInteger(1),
            ...head,
            seq(seq(smallInteger(5), time(now), seq(extension(OID.crlReason, false, Buffer.from([0x0a, 1, 7]))))),
            explicit(0, seq(aki, crlNumber)),
          ),
          'crl_invalid',
        ],
        ['empty-revoked-list', seq(smallInteger(1), ...head, seq(), explicit(0, seq(aki, crlNumber))), 'crl_invalid'],
        [
          'zero-serial',
          seq(smallInteger(1), ...head, seq(seq(smallInteger(0), time(now))), explicit(0, seq(aki, crlNumber))),
          'crl_invalid',
        ],
        [
          'duplicate-extension',
          seq(smallInteger(1), ...head, explicit(0, seq(aki, crlNumber, crlNumber))),
          'crl_invalid',
        ],
        ['trailing-field', seq(smallInteger(1), ...head, explicit(0, seq(aki, crlNumber)), NULL), 'crl_invalid'],
      ];
      for (const [name, tbs, code] of cases) {
        const der = await sign(tbs);
        const caught = assertPkiError(() => parseCrl(der));
        assert.equal(caught.code, code, `${name}: ${caught.message}`);
      }
      // The same structure with the required fields parses: the cases above fail for their reason.
      const ok = await sign(seq(smallInteger(1), ...head, explicit(0, seq(aki, crlNumber))));
      verifyCrl(parseCrl(ok), cert);
    });
  });
});
