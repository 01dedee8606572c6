import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createKeySigner, encodePem, generateKey, type KeyType, type Signer } from '@provisio/pki';
import { openssl, tempDir } from '@provisio/testkit';
import { craftJws } from '../test/fixtures.js';
import { ProtocolError } from './errors.js';
import { parseTimestamp } from './fields.js';
import {
  base64url,
  decodeProtectedHeader,
  ecdsaDerToJose,
  fromBase64url,
  type GeneralJws,
  publicKeyFromJwk,
  signJws,
  verifyJwsSignature,
} from './jws.js';

const isCode = (code: string) => (e: unknown) => e instanceof ProtocolError && e.code === code;
const payload = Buffer.from('{"hello":"world"}', 'utf8');

async function signer(type: KeyType): Promise<Signer> {
  return createKeySigner((await generateKey(type)).privateKey);
}

/** ECDSA r || s (RFC 7518 §3.4) back to DER Ecdsa-Sig-Value, for openssl (written here, on purpose, independently of ecdsaDerToJose). */
function joseToDer(sig: Buffer): Buffer {
  const half = sig.length / 2;
  const int = (b: Buffer) => {
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    let v = b.subarray(i);
    if ((v[0] as number) & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    return Buffer.concat([Buffer.from([0x02, v.length]), v]);
  };
  const body = Buffer.concat([int(sig.subarray(0, half)), int(sig.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

describe('jws', () => {
  for (const [type, alg] of [
    ['p256', 'ES256'],
    ['p384', 'ES384'],
    ['rsa3072', 'RS256'],
  ] as const) {
    it(`ok/jws/${alg}/round-trip`, async () => {
      const s = await signer(type);
      const jws = await signJws(payload, [{ signer: s, header: { typ: 'x+jws', kid: 'k' } }]);
      const header = verifyJwsSignature(jws, 0, s.publicKey);
      assert.deepEqual(header, { alg, typ: 'x+jws', kid: 'k' });
      assert.deepEqual(fromBase64url(jws.payload), payload);
      const sigLength = fromBase64url(jws.signatures[0]?.signature as string).length;
      assert.equal(sigLength, type === 'p256' ? 64 : type === 'p384' ? 96 : 384);
    });

    it(`ok/jws/${alg}/verified-by-openssl`, async () => {
      // Interop: the signing input and signature are checked by a tool nobody here wrote.
      const s = await signer(type);
      const jws = await signJws(payload, [{ signer: s, header: {} }]);
      const sig = jws.signatures[0] as GeneralJws['signatures'][number];
      const dir = tempDir();
      writeFileSync(join(dir, 'input'), `${sig.protected}.${jws.payload}`);
      const raw = fromBase64url(sig.signature);
      writeFileSync(join(dir, 'sig'), s.publicKey.algorithm === 'ec' ? joseToDer(raw) : raw);
      writeFileSync(join(dir, 'pub.pem'), encodePem('PUBLIC KEY', s.publicKey.spki));
      const hash = alg === 'ES384' ? '-sha384' : '-sha256';
      const r = openssl(['dgst', hash, '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig'), join(dir, 'input')]);
      assert.match(r.output, /Verified OK/);
    });
  }

  it('ok/jws/two-signers', async () => {
    const a = await signer('p256');
    const b = await signer('p384');
    const jws = await signJws(payload, [
      { signer: a, header: { kid: 'a' } },
      { signer: b, header: { kid: 'b' } },
    ]);
    assert.equal(verifyJwsSignature(jws, 0, a.publicKey).kid, 'a');
    assert.equal(verifyJwsSignature(jws, 1, b.publicKey).kid, 'b');
    // Each signature only with its own key.
    assert.throws(() => verifyJwsSignature(jws, 0, b.publicKey), isCode('jws_algorithm_unsupported'));
    const c = await signer('p256');
    assert.throws(() => verifyJwsSignature(jws, 0, c.publicKey), isCode('jws_signature_invalid'));
    assert.throws(() => verifyJwsSignature(jws, 2, a.publicKey), isCode('jws_malformed'));
  });

  it('ok/jws/signing-input-is-the-header-as-received', async () => {
    // A header with its own spacing and member order verifies: nothing is re-encoded.
    const s = await signer('p256');
    const jws = await craftJws(payload, [{ signer: s, headerJson: '{ "kid" : "x",\n  "alg":"ES256" }' }]);
    assert.deepEqual(verifyJwsSignature(jws, 0, s.publicKey), { kid: 'x', alg: 'ES256' });
  });

  it('fail/jws/tampered', async () => {
    const s = await signer('p256');
    const jws = await signJws(payload, [{ signer: s, header: { kid: 'a' } }]);
    const other = base64url(Buffer.from('{"hello":"World"}'));
    assert.throws(() => verifyJwsSignature({ ...jws, payload: other }, 0, s.publicKey), isCode('jws_signature_invalid'));
    const sig = jws.signatures[0] as GeneralJws['signatures'][number];
    const header = base64url(Buffer.from('{"alg":"ES256","kid":"b"}'));
    assert.throws(
      () => verifyJwsSignature({ ...jws, signatures: [{ ...sig, protected: header }] }, 0, s.publicKey),
      isCode('jws_signature_invalid'),
    );
  });

  it('fail/alg/none', async () => {
    // The classic: "alg":"none" with an empty signature must never verify.
    const s = await signer('p256');
    const jws: GeneralJws = {
      payload: base64url(payload),
      signatures: [{ protected: base64url(Buffer.from('{"alg":"none"}')), signature: '' }],
    };
    assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_algorithm_unsupported'));
  });

  it('fail/alg/rs256-header-with-ec-key', async () => {
    const s = await signer('p256');
    const jws = await craftJws(payload, [{ signer: s, headerJson: '{"alg":"RS256"}' }]);
    assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_algorithm_unsupported'));
  });

  it('fail/alg/es384-header-with-p256-key', async () => {
    const s = await signer('p256');
    const jws = await craftJws(payload, [{ signer: s, headerJson: '{"alg":"ES384"}' }]);
    assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_algorithm_unsupported'));
  });

  it('fail/alg/hs256-with-the-public-key-as-secret', async () => {
    // Key confusion: an HMAC keyed with the (public) SPKI bytes must not pass as a signature.
    const s = await signer('rsa3072');
    const header = base64url(Buffer.from('{"alg":"HS256"}'));
    const p = base64url(payload);
    const mac = createHmac('sha256', s.publicKey.spki).update(`${header}.${p}`).digest();
    const jws: GeneralJws = { payload: p, signatures: [{ protected: header, signature: base64url(mac) }] };
    assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_algorithm_unsupported'));
  });

  it('fail/jws/sign-refuses-another-alg', async () => {
    const s = await signer('p256');
    await assert.rejects(signJws(payload, [{ signer: s, header: { alg: 'RS256' } }]), isCode('jws_algorithm_unsupported'));
    await assert.rejects(signJws(payload, [{ signer: s, header: { crit: ['exp'], exp: 1 } }]), isCode('jws_malformed'));
    const jws = await signJws(payload, [{ signer: s, header: { alg: 'ES256' } }]);
    assert.equal(verifyJwsSignature(jws, 0, s.publicKey).alg, 'ES256');
  });

  it('fail/jws/crit', async () => {
    // RFC 7515 §4.1.11: a critical extension we do not understand makes the JWS invalid.
    const s = await signer('p256');
    const jws = await craftJws(payload, [{ signer: s, headerJson: '{"alg":"ES256","crit":["b64"],"b64":false}' }]);
    assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_malformed'));
    assert.throws(() => decodeProtectedHeader(jws.signatures[0] as GeneralJws['signatures'][number]), isCode('jws_malformed'));
  });

  it('fail/jws/header-not-an-object', async () => {
    const s = await signer('p256');
    for (const headerJson of ['[]', '"ES256"', 'null', '{', '{"alg":"ES256"} x']) {
      const jws = await craftJws(payload, [{ signer: s, headerJson }]);
      assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_malformed'), headerJson);
    }
  });

  it('fail/jws/ecdsa-der-signature-instead-of-raw', async () => {
    // A DER signature is the wrong length for JWS ES256 (RFC 7518 §3.4) and is refused.
    const s = await signer('p256');
    const jws = await craftJws(payload, [{ signer: s, headerJson: '{"alg":"ES256"}', convertEcdsa: false }]);
    assert.throws(() => verifyJwsSignature(jws, 0, s.publicKey), isCode('jws_signature_invalid'));
  });

  it('ok/base64url/canonical-only', () => {
    assert.equal(base64url(Buffer.from([0xfb, 0xff])), '-_8');
    assert.deepEqual(fromBase64url('-_8'), Buffer.from([0xfb, 0xff]));
    assert.deepEqual(fromBase64url(''), Buffer.alloc(0));
    for (const bad of ['AQ==', '+/8', 'A', 'AR', 'A Q', 'AQ\n']) {
      assert.throws(() => fromBase64url(bad), isCode('jws_malformed'), bad);
    }
    assert.deepEqual(fromBase64url('AQ'), Buffer.from([1]));
  });

  it('ok/ecdsa-der-to-jose/pads-and-strips', () => {
    // r = 0x00 0x80 (positive, sign byte), s = 0x01: left-padded to 32 bytes each.
    const der = Buffer.from([0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]);
    const jose = ecdsaDerToJose(der, 32);
    assert.equal(jose.length, 64);
    assert.equal(jose[31], 0x80);
    assert.equal(jose[63], 0x01);
    assert.ok(jose.subarray(0, 31).every((b) => b === 0));
    assert.throws(() => ecdsaDerToJose(der, 0), isCode('jws_malformed'));
    assert.throws(() => ecdsaDerToJose(Buffer.concat([der, Buffer.from([0])]), 32), isCode('jws_malformed'));
    assert.throws(() => ecdsaDerToJose(Buffer.from([0x30, 0x00]), 32), isCode('jws_malformed'));
  });

  it('ok/jwk/canonical-public-keys', async () => {
    for (const type of ['p256', 'p384', 'rsa3072'] as const) {
      const s = await signer(type);
      const info = publicKeyFromJwk(s.publicKey.jwk);
      assert.ok(info.spki.equals(s.publicKey.spki));
    }
  });

  it('fail/jwk/shapes', async () => {
    const s = await signer('p256');
    const jwk = s.publicKey.jwk as Record<string, string>;
    const bad: unknown[] = [
      null,
      'key',
      { ...jwk, kid: 'extra' },
      { ...jwk, d: jwk.x },
      { kty: 'EC', crv: 'P-256', x: jwk.x },
      { ...jwk, kty: 'OKP' },
      { ...jwk, crv: 'P-521' },
      { ...jwk, x: `${jwk.x}=` },
      // A point not on the curve.
      { ...jwk, y: jwk.x },
    ];
    for (const value of bad) {
      assert.throws(
        () => publicKeyFromJwk(value),
        (e: unknown) => e instanceof ProtocolError || (e instanceof Error && 'code' in e && String(e.code).startsWith('key_')),
        JSON.stringify(value),
      );
    }
  });

  it('ok/timestamps/rfc3339', () => {
    assert.equal(parseTimestamp('2026-06-01T12:00:00Z')?.toISOString(), '2026-06-01T12:00:00.000Z');
    assert.equal(parseTimestamp('2026-06-01T12:00:00.123Z')?.toISOString(), '2026-06-01T12:00:00.123Z');
    assert.equal(parseTimestamp('2026-06-01T14:00:00+02:00')?.toISOString(), '2026-06-01T12:00:00.000Z');
    assert.equal(parseTimestamp('2028-02-29T00:00:00Z')?.toISOString(), '2028-02-29T00:00:00.000Z');
    for (const bad of [
      '2026-02-30T00:00:00Z',
      '2027-02-29T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-06-01T24:00:00Z',
      '2026-06-01T12:00:60Z',
      '2026-06-01 12:00:00Z',
      '2026-06-01T12:00:00',
      '2026-06-01t12:00:00z',
      '2026-06-01T12:00:00+24:00',
      '1780315200',
    ]) {
      assert.equal(parseTimestamp(bad), null, bad);
    }
  });
});
