import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openssl, tempDir } from '@provisio/testkit';
import { checkRequestedSubjectAltNames, createCsr, MAX_CSR_BYTES, parseAndVerifyCsr, parseCsr } from './csr.js';
import { bitString, oid, seq, setOf, smallInteger, Tag, tlv, utf8String } from './der.js';
import { deviceSubjectAltName } from './device-identity.js';
import { PkiError } from './errors.js';
import { extension } from './extensions.js';
import { encodeGeneralName, type GeneralName } from './general-name.js';
import { generateKey } from './keys.js';
import { encodeName, formatName } from './name.js';
import { OID } from './oids.js';
import { encodePem } from './pem.js';
import { createKeySigner, type Signer } from './signer.js';

const isCode = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

/** Every failure must be a PkiError with a catalog code, never a TypeError or RangeError. */
function assertRefused(input: Uint8Array | string): void {
  assert.throws(
    () => parseAndVerifyCsr(input),
    (e: unknown) => e instanceof PkiError,
  );
}

async function makeCsr(type: 'p256' | 'rsa3072' = 'p256'): Promise<Buffer> {
  const signer = createKeySigner((await generateKey(type)).privateKey);
  return createCsr(signer, {
    subject: [{ type: 'CN', value: 'DEV-001' }],
    subjectAltName: [{ type: 'dns', value: 'dev-001.example' }],
  });
}

describe('csr', () => {
  it('ok/ours/verified-by-openssl', async () => {
    const dir = tempDir();
    const file = join(dir, 'r.csr');
    writeFileSync(file, encodePem('CERTIFICATE REQUEST', await makeCsr()));
    const result = openssl(['req', '-in', file, '-verify', '-noout', '-text']);
    // openssl req -verify exits 0 on failure too: assert the text.
    assert.match(result.output, /self-signature verify OK|verify OK/);
    assert.match(result.output, /DNS:dev-001\.example/);
  });

  for (const [name, args] of [
    ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['rsa3072', ['-newkey', 'rsa:3072']],
  ] as const) {
    it(`ok/openssl-made/${name}`, () => {
      const dir = tempDir();
      const made = openssl([
        'req',
        '-new',
        ...args,
        '-nodes',
        '-keyout',
        join(dir, 'k'),
        '-subj',
        '/CN=from openssl/O=Acme',
        '-out',
        join(dir, 'r.csr'),
      ]);
      assert.equal(made.status, 0, made.output);
      const csr = parseAndVerifyCsr(readFileSync(join(dir, 'r.csr'), 'utf8'));
      assert.equal(formatName(csr.subject), 'CN=from openssl, O=Acme');
      assert.equal(csr.publicKey.algorithm, name === 'p256' ? 'ec' : 'rsa');
    });
  }

  it('fail/csr/bad-signature', async () => {
    const der = await makeCsr();
    der[der.length - 5] = (der[der.length - 5] as number) ^ 0xff;
    assert.throws(() => parseAndVerifyCsr(der), isCode('csr_signature_invalid'));
  });

  it('fail/csr/tampered-subject', async () => {
    // The attacker edits the requested name after signing: the signature covers it.
    const der = await makeCsr();
    const at = der.indexOf(Buffer.from('DEV-001'));
    der.write('DEV-666', at, 'latin1');
    assert.throws(() => parseAndVerifyCsr(der), isCode('csr_signature_invalid'));
  });

  it('fail/csr/key-swapped', async () => {
    // A CSR carrying someone else's public key but signed by the attacker's key.
    const victim = createKeySigner((await generateKey('p256')).privateKey);
    const attacker = createKeySigner((await generateKey('p256')).privateKey);
    const forged = await createCsr(
      { ...attacker, publicKey: victim.publicKey },
      { subject: [{ type: 'CN', value: 'x' }] },
    );
    assert.throws(() => parseAndVerifyCsr(forged), isCode('csr_signature_invalid'));
  });

  it('fail/csr/rsa-1024', () => {
    const dir = tempDir();
    const made = openssl([
      'req',
      '-new',
      '-newkey',
      'rsa:1024',
      '-nodes',
      '-keyout',
      join(dir, 'k'),
      '-subj',
      '/CN=weak',
      '-out',
      join(dir, 'r.csr'),
    ]);
    assert.equal(made.status, 0, made.output);
    assert.throws(() => parseAndVerifyCsr(readFileSync(join(dir, 'r.csr'), 'utf8')), isCode('key_too_weak'));
  });

  it('fail/csr/unknown-curve', () => {
    const dir = tempDir();
    const made = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:secp256k1',
      '-nodes',
      '-keyout',
      join(dir, 'k'),
      '-subj',
      '/CN=k1',
      '-out',
      join(dir, 'r.csr'),
    ]);
    assert.equal(made.status, 0, made.output);
    assert.throws(() => parseAndVerifyCsr(readFileSync(join(dir, 'r.csr'), 'utf8')), isCode('key_unsupported'));
  });

  it('fail/csr/truncated-at-every-length', async () => {
    const der = await makeCsr();
    for (let cut = 0; cut < der.length; cut++) assertRefused(der.subarray(0, cut));
  });

  it('fail/csr/garbage-and-bit-flips', async () => {
    const der = await makeCsr();
    assertRefused(Buffer.from('not a csr at all'));
    assertRefused('-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n');
    assertRefused('');
    // Flip each byte of the structure in turn: every variant is refused cleanly.
    for (let i = 0; i < der.length; i++) {
      const copy = Buffer.from(der);
      copy[i] = (copy[i] as number) ^ 0xff;
      assertRefused(copy);
    }
  });

  it('fail/csr/over-size-limit', () => {
    const big = Buffer.concat([Buffer.from([0x30, 0x83, 0x01, 0x00, 0x00]), Buffer.alloc(0x10000)]);
    assert.ok(big.length > MAX_CSR_BYTES);
    assert.throws(() => parseCsr(big), isCode('input_too_large'));
  });

  it('fail/csr/ber-indefinite-length', async () => {
    const der = await makeCsr();
    // Re-encode the outer SEQUENCE with an indefinite length (BER): DER parsers must refuse.
    const headerLength = (der[1] as number) & 0x80 ? 2 + ((der[1] as number) & 0x7f) : 2;
    const ber = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(headerLength), Buffer.from([0, 0])]);
    assert.throws(() => parseCsr(ber), isCode('der_malformed'));
  });

  describe('attributes that may appear once', () => {
    /** A CSR signed over exactly these attributes (built by hand: createCsr writes one of each). */
    async function csrWith(signer: Signer, attributes: Buffer[]): Promise<Buffer> {
      const info = seq(smallInteger(0), encodeName([{ type: 'CN', value: 'DEV-001' }]), signer.publicKey.spki, tlv(0xa0, ...attributes));
      return seq(info, signer.algorithm.der, bitString(await signer.sign(info)));
    }
    const sanRequest = (...names: GeneralName[]) => seq(extension(OID.subjectAltName, false, seq(...names.map(encodeGeneralName))));
    const extensionRequest = (...values: Buffer[]) => seq(oid(OID.extensionRequest), tlv(Tag.SET, ...values));
    const challengePassword = (...values: string[]) => seq(oid(OID.challengePassword), setOf(...values.map(utf8String)));

    it('ok/one-of-each-verified-by-us-and-openssl', async () => {
      const signer = createKeySigner((await generateKey('p256')).privateKey);
      const der = await csrWith(signer, [challengePassword('secret'), extensionRequest(sanRequest({ type: 'dns', value: 'a.example' }))]);
      const csr = parseAndVerifyCsr(der);
      assert.deepEqual(csr.requestedExtensions.subjectAltName, [{ type: 'dns', value: 'a.example' }]);
      const dir = tempDir();
      writeFileSync(join(dir, 'r.csr'), encodePem('CERTIFICATE REQUEST', der));
      assert.match(openssl(['req', '-in', join(dir, 'r.csr'), '-verify', '-noout', '-text']).output, /DNS:a\.example[\s\S]*verify OK/);
    });

    it('fail/two-extension-requests-or-challenge-passwords', async () => {
      const signer = createKeySigner((await generateKey('p256')).privateKey);
      const innocent = extensionRequest(sanRequest({ type: 'dns', value: 'a.example' }));
      const other = extensionRequest(sanRequest({ type: 'dns', value: 'bank.example' }));
      for (const attributes of [
        [innocent, other],
        [other, innocent],
        [innocent, innocent],
        [challengePassword('one'), challengePassword('two')],
        [challengePassword('one'), innocent, challengePassword('one')],
        // One attribute, two values: the same ambiguity.
        [extensionRequest(sanRequest({ type: 'dns', value: 'a.example' }), sanRequest({ type: 'dns', value: 'bank.example' }))],
        [challengePassword('one', 'two')],
      ]) {
        const der = await csrWith(signer, attributes);
        assert.throws(() => parseCsr(der), (e: unknown) => isCode('csr_invalid')(e) && /extensionRequest|challengePassword/.test((e as Error).message));
      }
      // openssl reads such a CSR without complaint: a reader that takes the first and one that
      // takes the last would disagree on what was asked for.
      const dir = tempDir();
      writeFileSync(join(dir, 'r.csr'), encodePem('CERTIFICATE REQUEST', await csrWith(signer, [innocent, other])));
      assert.match(openssl(['req', '-in', join(dir, 'r.csr'), '-verify', '-noout']).output, /verify OK/);
    });
  });

  describe('subjectAltNames the certificate would not carry', () => {
    const device = { deviceId: 'DEV-001', deviceLabel: 'Bed 12' };

    it('ok/none-or-only-what-the-profile-writes', async () => {
      const signer = createKeySigner((await generateKey('p256')).privateKey);
      checkRequestedSubjectAltNames(parseCsr(await createCsr(signer, { subject: [{ type: 'CN', value: 'DEV-001' }] })), deviceSubjectAltName(device));
      const same = await createCsr(signer, { subject: [{ type: 'CN', value: 'DEV-001' }], subjectAltName: deviceSubjectAltName(device) });
      checkRequestedSubjectAltNames(parseCsr(same), deviceSubjectAltName(device));
      const host = await createCsr(signer, { subject: [{ type: 'CN', value: 'gw' }], subjectAltName: [{ type: 'dns', value: 'gw.example' }] });
      checkRequestedSubjectAltNames(parseCsr(host), [{ type: 'dns', value: 'gw.example' }, { type: 'ip', value: '10.0.0.1' }]);
    });

    it('fail/a-name-the-profile-does-not-write', async () => {
      const signer = createKeySigner((await generateKey('p256')).privateKey);
      for (const asked of [
        [{ type: 'dns', value: 'evil.example' }],
        [...deviceSubjectAltName(device), { type: 'ip', value: '10.0.0.1' }],
        deviceSubjectAltName({ deviceId: 'DEV-002', deviceLabel: 'Bed 12' }),
        deviceSubjectAltName({ deviceId: 'DEV-001', deviceLabel: 'Bed 13' }),
        [{ type: 'email', value: 'admin@example.org' }],
      ] as GeneralName[][]) {
        const csr = parseCsr(await createCsr(signer, { subject: [{ type: 'CN', value: 'DEV-001' }], subjectAltName: asked }));
        assert.throws(() => checkRequestedSubjectAltNames(csr, deviceSubjectAltName(device)), isCode('csr_san_not_allowed'), JSON.stringify(asked));
      }
      const host = parseCsr(await createCsr(signer, { subject: [{ type: 'CN', value: 'gw' }], subjectAltName: [{ type: 'dns', value: 'bank.example' }] }));
      assert.throws(() => checkRequestedSubjectAltNames(host, [{ type: 'dns', value: 'gw.example' }]), (e: unknown) => isCode('csr_san_not_allowed')(e) && (e as Error).message.includes('DNS:bank.example'));
    });
  });
});
