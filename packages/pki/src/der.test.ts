import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_MAX_DEPTH,
  decodeOid,
  decodeTime,
  decodeUnsignedInteger,
  namedBitString,
  octetString,
  oid,
  readRoot,
  readTlv,
  seq,
  Tag,
  time,
  unsignedInteger,
} from './der.js';
import { PkiError } from './errors.js';

const limits = { maxBytes: 1 << 20, maxDepth: DEFAULT_MAX_DEPTH };

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof PkiError && e.code === code);
}

describe('der', () => {
  it('ok/round-trip/sequence', () => {
    const der = seq(oid('1.2.840.10045.4.3.2'), unsignedInteger(Buffer.from([0x80, 1])));
    const root = readRoot(der, limits);
    assert.equal(root.tag, Tag.SEQUENCE);
    const first = readTlv(der, root.contentStart, root.end);
    assert.equal(decodeOid(der, first), '1.2.840.10045.4.3.2');
    const second = readTlv(der, first.end, root.end);
    // 0x80 0x01 needs a 0x00 sign octet; the magnitude comes back without it.
    assert.deepEqual([...der.subarray(second.contentStart, second.end)], [0, 0x80, 1]);
    assert.deepEqual([...decodeUnsignedInteger(der, second, 'n')], [0x80, 1]);
  });

  it('ok/oid/uuid-arcs-beyond-2^53', () => {
    // The Provisio key purposes live under 2.25 (ITU-T X.667): 128-bit arcs. The expected bytes are
    // what `openssl asn1parse -genstr OID:2.25.271081668842900329250379676066833332173` writes.
    const text = '2.25.271081668842900329250379676066833332173';
    const der = oid(text);
    assert.equal(der.toString('hex'), '0614698397f0b78ad897baaa9bb586f6e69ae4e5ef4d');
    assert.equal(decodeOid(der, readTlv(der, 0)), text);
    for (const t of ['2.999', '2.25.340282366920938463463374607431768211455', '1.3.6.1.4.1.9007199254740993']) {
      const d = oid(t);
      assert.equal(decodeOid(d, readTlv(d, 0)), t);
    }
    assertCode(() => oid('2.25.-1'), 'der_malformed');
    assertCode(() => oid('2'), 'der_malformed');
  });

  it('ok/long-lengths', () => {
    for (const size of [127, 128, 255, 256, 70_000]) {
      const der = octetString(Buffer.alloc(size));
      const root = readRoot(seq(der), limits);
      assert.equal(root.end - root.contentStart, der.length);
    }
  });

  it('fail/ber/indefinite-length', () => {
    assertCode(() => readRoot(Buffer.from([0x30, 0x80, 0x05, 0x00, 0x00, 0x00]), limits), 'der_malformed');
  });

  it('fail/ber/non-minimal-length', () => {
    assertCode(() => readRoot(Buffer.from([0x30, 0x81, 0x02, 0x05, 0x00]), limits), 'der_malformed');
    assertCode(() => readRoot(Buffer.from([0x30, 0x82, 0x00, 0x82, ...Buffer.alloc(0x82)]), limits), 'der_malformed');
  });

  it('fail/hostile/huge-length', () => {
    // Claims 4 GiB of content in a 6-byte input: must fail fast, allocating nothing.
    assertCode(() => readRoot(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), limits), 'der_malformed');
    assertCode(() => readRoot(Buffer.from([0x30, 0x88, 1, 2, 3, 4, 5, 6, 7, 8]), limits), 'der_malformed');
  });

  it('fail/hostile/deep-nesting', () => {
    // 100,000 nested SEQUENCEs: a recursive parser would exhaust the stack.
    let der: Buffer = Buffer.from([0x05, 0x00]);
    for (let i = 0; i < 100; i++) der = seq(der);
    assertCode(() => readRoot(der, limits), 'der_malformed');
    const deep = Buffer.alloc(200_000);
    for (let i = 0; i < 100_000; i++) {
      deep[2 * i] = 0x30;
      deep[2 * i + 1] = 0x80;
    }
    assertCode(() => readRoot(deep, { maxBytes: 1 << 20, maxDepth: DEFAULT_MAX_DEPTH }), 'der_malformed');
  });

  it('fail/truncated-and-trailing', () => {
    const der = seq(oid('2.5.4.3'));
    for (let cut = 0; cut < der.length; cut++)
      assertCode(() => readRoot(der.subarray(0, cut), limits), 'der_malformed');
    assertCode(() => readRoot(Buffer.concat([der, Buffer.from([0])]), limits), 'der_malformed');
  });

  it('fail/size-limit', () => {
    assertCode(() => readRoot(Buffer.alloc(2000), { maxBytes: 1000, maxDepth: 4 }), 'input_too_large');
  });

  it('fail/integer/non-minimal-or-negative', () => {
    const nonMinimal = Buffer.from([0x02, 0x02, 0x00, 0x01]);
    assertCode(() => decodeUnsignedInteger(nonMinimal, readTlv(nonMinimal, 0), 'n'), 'der_malformed');
    const negative = Buffer.from([0x02, 0x01, 0x80]);
    assertCode(() => decodeUnsignedInteger(negative, readTlv(negative, 0), 'n'), 'der_malformed');
  });

  it('ok/time/utc-until-2049-generalized-from-2050', () => {
    const a = time(new Date('2049-12-31T23:59:59Z'));
    assert.equal(a[0], Tag.UTC_TIME);
    assert.equal(a.subarray(2).toString(), '491231235959Z');
    const b = time(new Date('2050-01-01T00:00:00Z'));
    assert.equal(b[0], Tag.GENERALIZED_TIME);
    assert.equal(b.subarray(2).toString(), '20500101000000Z');
    assert.equal(decodeTime(a, readTlv(a, 0)).toISOString(), '2049-12-31T23:59:59.000Z');
    assert.equal(decodeTime(b, readTlv(b, 0)).toISOString(), '2050-01-01T00:00:00.000Z');
  });

  it('fail/time/invalid-date', () => {
    const bad = Buffer.concat([Buffer.from([Tag.UTC_TIME, 13]), Buffer.from('260231120000Z')]);
    assertCode(() => decodeTime(bad, readTlv(bad, 0)), 'der_malformed');
  });

  it('ok/named-bit-string/trailing-zero-bits-dropped', () => {
    // digitalSignature (bit 0) only: one octet 0x80 with 7 unused bits (X.690 §11.2.2).
    assert.deepEqual([...namedBitString([0])], [0x03, 0x02, 0x07, 0x80]);
    // keyCertSign (5) + cRLSign (6): 0x06 with 1 unused bit.
    assert.deepEqual([...namedBitString([5, 6])], [0x03, 0x02, 0x01, 0x06]);
  });
});
