import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  createRootCa,
  createTestPki,
  DAY,
  openssl,
  seededRandom,
  type TestCa,
  type TestPki,
  tempDir,
} from '@provisio/testkit';
import type { ParsedCertificate } from './certificate.js';
import { parseCertificate } from './certificate.js';
import { bitString, explicit, NULL, octetString, oid, seq, smallInteger, Tag, tlv } from './der.js';
import { type DeviceId, deviceCertificateRequest } from './device-identity.js';
import { PkiError } from './errors.js';
import { extension } from './extensions.js';
import { generateKey } from './keys.js';
import { type CertId, certIdFor, certIdMatchesIssuer, encodeCertId } from './ocsp.js';
import {
  buildOcspRequest,
  MAX_OCSP_REQUEST_BYTES,
  type ParsedOcspRequest,
  parseOcspGetPath,
  parseOcspRequest,
} from './ocsp-request.js';
import {
  buildOcspErrorResponse,
  buildOcspResponse,
  type CertStatus,
  type OcspErrorStatus,
  type OcspResponder,
  parseOcspResponse,
  type SingleResponseInput,
  verifyOcspResponse,
} from './ocsp-response.js';
import { OID } from './oids.js';
import { encodePem } from './pem.js';
import { randomSerial, type SerialNumber } from './serial.js';
import { createKeySigner, type Signer } from './signer.js';

// openssl checks certificate validity and thisUpdate/nextUpdate against the wall clock, so the
// test PKI lives at the real current time (whole seconds), fixed once for the file.
const now = new Date(Math.floor(Date.now() / 1000) * 1000);
const inOneDay = new Date(now.getTime() + DAY);

function assertPkiError(fn: () => unknown, code: string): PkiError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof PkiError, `expected PkiError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

async function assertRejectsPki(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof PkiError, String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });
}

/** Re-assembles a successful response from its parts: the `certs` field is outside the signature. */
function assembleResponse(tbs: Buffer, algorithm: Buffer, signature: Buffer, certs: readonly Buffer[]): Buffer {
  const fields = [tbs, algorithm, bitString(signature)];
  if (certs.length > 0) fields.push(explicit(0, seq(...certs)));
  return seq(tlv(Tag.ENUMERATED, Buffer.from([0])), explicit(0, seq(oid(OID.ocspBasic), octetString(seq(...fields)))));
}

describe('ocsp', () => {
  let pki: TestPki;
  let dir: string;
  let goodLeaf: ParsedCertificate;
  let revokedLeaf: ParsedCertificate;
  let neverIssued: SerialNumber;
  /** Delegated responder: a certificate from the issuing CA with EKU id-kp-OCSPSigning. */
  let delegated: OcspResponder;
  let caResponder: OcspResponder;
  const path = (name: string): string => join(dir, name);
  const file = (name: string, content: string | Uint8Array): string => {
    writeFileSync(path(name), content);
    return path(name);
  };

  async function issueResponderCertificate(ca: TestCa, signer: Signer, cn: string): Promise<ParsedCertificate> {
    const issued = await ca.issuer.issue({
      profile: { kind: 'ocsp-responder' },
      serial: randomSerial(pki.random),
      subject: [{ type: 'CN', value: cn }],
      publicKey: signer.publicKey,
      notBefore: now,
      notAfter: new Date(now.getTime() + 30 * DAY),
    });
    return parseCertificate(issued.der);
  }

  before(async () => {
    pki = await createTestPki({ now, random: seededRandom('ocsp-test') });
    dir = tempDir();
    goodLeaf = (await pki.issueDevice('DEV-GOOD')).certificate;
    revokedLeaf = (await pki.issueDevice('DEV-REVOKED')).certificate;
    neverIssued = randomSerial(seededRandom('never-issued'));
    const responderSigner = createKeySigner((await generateKey('p256')).privateKey);
    delegated = {
      certificate: await issueResponderCertificate(pki.intermediate, responderSigner, 'Provisio Test OCSP Responder'),
      signer: responderSigner,
    };
    caResponder = { certificate: pki.intermediate.certificate, signer: pki.intermediate.signer };
    file('root.pem', encodePem('CERTIFICATE', pki.root.certificate.der));
    file('int.pem', encodePem('CERTIFICATE', pki.intermediate.certificate.der));
  });

  const certId = (serial: SerialNumber, hash: 'sha1' | 'sha256' = 'sha1'): CertId =>
    certIdFor(pki.intermediate.certificate, serial, hash);

  /** The status our CA's records would give each serial in these tests. */
  function statusOf(serial: SerialNumber): CertStatus {
    if (serial === goodLeaf.serial) return { status: 'good' };
    if (serial === revokedLeaf.serial) {
      return { status: 'revoked', revokedAt: new Date(now.getTime() - 3600_000), reason: 'keyCompromise' };
    }
    return { status: 'unknown' };
  }

  function single(id: CertId): SingleResponseInput {
    return { certId: id, status: statusOf(id.serial), thisUpdate: now, nextUpdate: inOneDay };
  }

  async function respond(request: ParsedOcspRequest, responder: OcspResponder = caResponder): Promise<Buffer> {
    return buildOcspResponse({
      responder,
      producedAt: now,
      responses: request.requests.map(single),
      nonce: request.nonce,
    });
  }

  let responseFiles = 0;

  /** `openssl ocsp` reading our response for `serial`, verifying against the root. */
  function opensslCheck(respDer: Buffer, serial: SerialNumber, extra: string[] = []): string {
    const respPath = file(`resp-${++responseFiles}.der`, respDer);
    const r = openssl([
      'ocsp',
      '-respin',
      respPath,
      '-issuer',
      path('int.pem'),
      '-serial',
      `0x${serial}`,
      '-CAfile',
      path('root.pem'),
      '-verify_other',
      path('int.pem'),
      '-no_nonce',
      '-resp_text',
      ...extra,
    ]);
    return r.output;
  }

  describe('requests', () => {
    test('ok/ocsp/request/built-by-us', async () => {
      const nonce = Buffer.from(seededRandom('nonce').bytes(32));
      for (const hashAlgorithm of ['sha1', 'sha256'] as const) {
        const der = await buildOcspRequest({
          issuer: pki.intermediate.certificate,
          serial: goodLeaf.serial,
          nonce,
          hashAlgorithm,
        });
        const req = parseOcspRequest(der);
        assert.ok(req.der.equals(der));
        assert.equal(req.requests.length, 1);
        assert.deepEqual(req.requests[0], certId(goodLeaf.serial, hashAlgorithm));
        assert.ok(certIdMatchesIssuer(req.requests[0] as CertId, pki.intermediate.certificate));
        assert.equal(certIdMatchesIssuer(req.requests[0] as CertId, pki.root.certificate), false);
        assert.ok(req.nonce?.equals(nonce));
        // openssl reads it too.
        const text = openssl(['ocsp', '-reqin', file(`req-${hashAlgorithm}.der`, der), '-req_text']).output;
        assert.match(text, new RegExp(`Serial Number: ${goodLeaf.serial.toUpperCase()}`), text);
        assert.match(text, new RegExp(`Hash Algorithm: ${hashAlgorithm}`));
        assert.match(text, new RegExp(`0420${nonce.toString('hex').toUpperCase()}`));
      }
      const noNonce = parseOcspRequest(
        await buildOcspRequest({ issuer: pki.intermediate.certificate, serial: goodLeaf.serial }),
      );
      assert.equal(noNonce.nonce, null);
    });

    test('ok/ocsp/request/get-unpadded-base64url-of-letters-and-digits-only', async () => {
      // Such a path is also valid-looking standard base64 of the wrong length: it must be read as
      // base64url, not refused (found with random nonces: one request in a few failed).
      // The CertID's two issuer hashes are most of the request: vary them until one fits.
      const random = seededRandom('unpadded-base64url');
      const base = certId(goodLeaf.serial);
      let found = 0;
      for (let i = 0; i < 2000 && found < 2; i++) {
        const id = { ...base, issuerNameHash: Buffer.from(random.bytes(20)), issuerKeyHash: Buffer.from(random.bytes(20)), serial: randomSerial(random) };
        const der = seq(seq(seq(seq(encodeCertId(id))))); // OCSPRequest { tbsRequest { requestList { Request { reqCert } } } }
        const segment = der.toString('base64url');
        if (der.length % 3 === 0 || /[-_]/.test(segment)) continue;
        assert.ok(parseOcspGetPath(segment).der.equals(der), segment);
        found++;
      }
      assert.equal(found, 2, 'the search found requests of this shape');
    });

    test('ok/ocsp/request/openssl-no-nonce', () => {
      const reqPath = path('openssl-no-nonce.der');
      const r = openssl([
        'ocsp',
        '-issuer',
        path('int.pem'),
        '-serial',
        `0x${goodLeaf.serial}`,
        '-reqout',
        reqPath,
        '-no_nonce',
      ]);
      assert.equal(r.status, 0, r.output);
      const der = readFileSync(reqPath);
      const post = parseOcspRequest(der);
      assert.equal(post.nonce, null);
      assert.deepEqual(post.requests, [certId(goodLeaf.serial)]);
      // GET (RFC 6960 Appendix A.1): URL-encoded base64 of the DER; base64url accepted too.
      for (const segment of [
        encodeURIComponent(der.toString('base64')),
        der.toString('base64'),
        der.toString('base64url'),
      ]) {
        const get = parseOcspGetPath(segment);
        assert.ok(get.der.equals(der));
        assert.deepEqual(get.requests, post.requests);
      }
    });

    test('ok/ocsp/request/openssl-nonce-and-sha256', () => {
      const reqPath = path('openssl-nonce.der');
      // openssl wants the CertID digest before -serial.
      const r = openssl([
        'ocsp',
        '-issuer',
        path('int.pem'),
        '-sha256',
        '-serial',
        `0x${revokedLeaf.serial}`,
        '-reqout',
        reqPath,
      ]);
      assert.equal(r.status, 0, r.output);
      const req = parseOcspRequest(readFileSync(reqPath));
      assert.equal(req.nonce?.length, 16); // OpenSSL's default nonce
      assert.deepEqual(req.requests, [certId(revokedLeaf.serial, 'sha256')]);
      assert.deepEqual(parseOcspGetPath(encodeURIComponent(readFileSync(reqPath).toString('base64'))), req);
    });

    test('ok/ocsp/request/signed-request-accepted', () => {
      // optionalSignature [0] is accepted and ignored; requestorName [1] too.
      const tbs = seq(
        explicit(1, tlv(0x82, Buffer.from('client.example'))),
        seq(seq(encodeCertId(certId(goodLeaf.serial)))),
      );
      const signature = explicit(0, seq(seq(oid(OID.ecdsaWithSha256)), bitString(Buffer.from([1, 2, 3]))));
      const req = parseOcspRequest(seq(tbs, signature));
      assert.deepEqual(req.requests, [certId(goodLeaf.serial)]);
    });

    test('fail/ocsp/request/malformed', async () => {
      const valid = await buildOcspRequest({ issuer: pki.intermediate.certificate, serial: goodLeaf.serial });
      const id = encodeCertId(certId(goodLeaf.serial));
      /** An unsigned OCSPRequest around `tbsFields`. */
      const request = (...tbsFields: Buffer[]) => seq(seq(...tbsFields));
      const list = (...certIds: Buffer[]) => seq(...certIds.map((c) => seq(c)));
      const rawCertId = (hashOid: string, nameHash: number, keyHash: number, serial: Buffer) =>
        seq(seq(oid(hashOid), NULL), octetString(Buffer.alloc(nameHash)), octetString(Buffer.alloc(keyHash)), serial);
      const exts = (...e: Buffer[]) => explicit(2, seq(...e));
      const nonce = (bytes: Buffer) => extension(OID.ocspNonce, false, octetString(bytes));
      const sha384 = '2.16.840.1.101.3.4.2.2';
      const cases: Array<[string, Uint8Array]> = [
        ['empty', Buffer.alloc(0)],
        ['garbage', Buffer.from('GET / HTTP/1.1\r\n\r\n')],
        ['truncated', valid.subarray(0, valid.length - 1)],
        ['trailing-bytes', Buffer.concat([valid, Buffer.from([0])])],
        ['ber-indefinite', Buffer.concat([Buffer.from([0x30, 0x80]), valid.subarray(2), Buffer.from([0, 0])])],
        ['too-large', seq(octetString(Buffer.alloc(MAX_OCSP_REQUEST_BYTES)))],
        ['not-a-sequence', octetString(Buffer.from([1]))],
        ['empty-request-list', request(seq())],
        // X.690 §11.5: the DEFAULT version is never encoded in DER.
        ['version-encoded', request(explicit(0, smallInteger(0)), list(id))],
        ['unsupported-hash', request(list(rawCertId(sha384, 48, 48, smallInteger(5))))],
        ['wrong-hash-length', request(list(rawCertId(OID.sha1, 19, 20, smallInteger(5))))],
        ['zero-serial', request(list(rawCertId(OID.sha1, 20, 20, smallInteger(0))))],
        ['negative-serial', request(list(rawCertId(OID.sha1, 20, 20, tlv(Tag.INTEGER, Buffer.from([0xff])))))],
        ['serial-21-octets', request(list(rawCertId(OID.sha1, 20, 20, tlv(Tag.INTEGER, Buffer.alloc(21, 1)))))],
        // RFC 8954 §2.1: nonces of 0 or more than 32 octets are answered malformedRequest.
        ['nonce-empty', request(list(id), exts(nonce(Buffer.alloc(0))))],
        ['nonce-33-bytes', request(list(id), exts(nonce(Buffer.alloc(33, 1))))],
        ['nonce-not-octet-string', request(list(id), exts(extension(OID.ocspNonce, false, smallInteger(5))))],
        // RFC 6960 §4.4: a critical extension we do not understand cannot be ignored.
        ['unknown-critical-extension', request(list(id), exts(extension('1.2.3.4', true, NULL)))],
        [
          'duplicate-extension',
          request(list(id), exts(extension('1.2.3.4', false, NULL), extension('1.2.3.4', false, NULL))),
        ],
        ['signature-wrong-tag', seq(seq(list(id)), seq())],
        ['extra-field', request(list(id), NULL)],
        ['deep-nesting', Array.from({ length: 100 }).reduce<Buffer>((inner) => seq(inner), NULL)],
      ];
      for (const [name, der] of cases) {
        let caught: unknown;
        try {
          parseOcspRequest(der);
        } catch (e) {
          caught = e;
        }
        assert.ok(caught instanceof PkiError, `${name}: expected a PkiError, got ${String(caught)}`);
        assert.equal(caught.code, 'ocsp_request_malformed', `${name}: ${caught.message}`);
      }
      // The helpers build a valid request when asked to: the cases fail for their stated reason.
      assert.deepEqual(parseOcspRequest(request(list(id), exts(nonce(Buffer.alloc(16, 1))))).requests, [
        certId(goodLeaf.serial),
      ]);
    });

    test('fail/ocsp/request/malformed-get', async () => {
      const der = await buildOcspRequest({ issuer: pki.intermediate.certificate, serial: goodLeaf.serial });
      const b64 = der.toString('base64');
      const cases = [
        '',
        '%ZZ',
        '!!!',
        `${b64}@`,
        `${b64.slice(0, -1)}`, // wrong length
        `${b64.replace(/=+$/, '')}=`, // wrong padding
        'A'.repeat(100_000),
        `${b64.slice(0, 4)}-_${b64.slice(4)}`, // mixed alphabets
        Buffer.from('not ocsp').toString('base64'),
      ];
      for (const segment of cases) assertPkiError(() => parseOcspGetPath(segment), 'ocsp_request_malformed');
    });

    test('fail/ocsp/request/mutations', async () => {
      // Seeded single-byte mutations and every truncation: only ocsp_request_malformed may escape.
      const valid = await buildOcspRequest({
        issuer: pki.intermediate.certificate,
        serial: goodLeaf.serial,
        nonce: Buffer.alloc(32, 7),
      });
      for (let n = 0; n < valid.length; n++)
        assertPkiError(() => parseOcspRequest(valid.subarray(0, n)), 'ocsp_request_malformed');
      const random = seededRandom('ocsp-request-mutations');
      for (let i = 0; i < 3000; i++) {
        const mutated = Buffer.from(valid);
        const [pos, value] = random.bytes(2) as unknown as [number, number];
        mutated[pos % mutated.length] = value;
        try {
          parseOcspRequest(mutated);
        } catch (e) {
          assert.ok(e instanceof PkiError && e.code === 'ocsp_request_malformed', String(e));
        }
      }
    });
  });

  describe('responses', () => {
    for (const [name, serialOf] of [
      ['good', () => goodLeaf.serial],
      ['revoked', () => revokedLeaf.serial],
      ['unknown', () => neverIssued],
    ] as const) {
      for (const by of ['ca', 'delegated'] as const) {
        test(`ok/ocsp/response/${by}/${name}`, async () => {
          const serial = serialOf();
          const responder = by === 'ca' ? caResponder : delegated;
          const req = parseOcspRequest(await buildOcspRequest({ issuer: pki.intermediate.certificate, serial }));
          const der = await respond(req, responder);

          const text = opensslCheck(der, serial);
          assert.match(text, /Response verify OK/, text);
          assert.match(text, new RegExp(`0x${serial}: ${name}\\b`), text);
          if (name === 'revoked') {
            assert.match(text, /Revocation Time/);
            assert.match(text, /Reason: keyCompromise/);
          }

          const parsed = parseOcspResponse(der);
          assert.equal(parsed.status, 'successful');
          const basic = parsed.basic;
          assert.ok(basic);
          assert.equal(basic.certs.length, by === 'ca' ? 0 : 1);
          assert.equal(basic.responderName, null);
          assert.ok(basic.responderKeyHash?.equals(responder.certificate.decoded.subjectKeyId as Buffer));
          assert.equal(basic.producedAt.getTime(), now.getTime());
          assert.equal(basic.responses.length, 1);
          const r = basic.responses[0];
          assert.ok(r);
          assert.deepEqual(r.certId, req.requests[0]);
          assert.deepEqual(r.status, statusOf(serial));
          assert.equal(r.thisUpdate.getTime(), now.getTime());
          assert.equal(r.nextUpdate?.getTime(), inOneDay.getTime());
          const signer = verifyOcspResponse(parsed, pki.intermediate.certificate, now);
          assert.ok(signer.der.equals(responder.certificate.der));
        });
      }
    }

    test('ok/ocsp/response/unspecified-reason-omitted', async () => {
      const der = await buildOcspResponse({
        responder: caResponder,
        producedAt: now,
        responses: [
          {
            certId: certId(revokedLeaf.serial),
            status: { status: 'revoked', revokedAt: now, reason: 'unspecified' },
            thisUpdate: now,
            nextUpdate: inOneDay,
          },
        ],
      });
      const text = opensslCheck(der, revokedLeaf.serial);
      assert.match(text, /Response verify OK/, text);
      assert.match(text, /: revoked/);
      assert.doesNotMatch(text, /Reason:/);
      assert.deepEqual(parseOcspResponse(der).basic?.responses[0]?.status, {
        status: 'revoked',
        revokedAt: now,
        reason: 'unspecified',
      });
    });

    test('ok/ocsp/response/several', async () => {
      const ids = [goodLeaf.serial, revokedLeaf.serial, neverIssued].map((s) => certId(s));
      const der = await buildOcspResponse({ responder: delegated, producedAt: now, responses: ids.map(single) });
      const parsed = parseOcspResponse(der);
      assert.deepEqual(
        parsed.basic?.responses.map((r) => r.status.status),
        ['good', 'revoked', 'unknown'],
      );
      verifyOcspResponse(parsed, pki.intermediate.certificate, now);
    });

    test('ok/ocsp/response/nonce-echo', async () => {
      // The client sends a nonce; the response must carry the same bytes (RFC 8954).
      const reqPath = path('nonce-req.der');
      const made = openssl(['ocsp', '-issuer', path('int.pem'), '-serial', `0x${goodLeaf.serial}`, '-reqout', reqPath]);
      assert.equal(made.status, 0, made.output);
      const req = parseOcspRequest(readFileSync(reqPath));
      assert.ok(req.nonce);
      for (const responder of [caResponder, delegated]) {
        const der = await respond(req, responder);
        const parsed = parseOcspResponse(der);
        assert.ok(parsed.basic?.nonce?.equals(req.nonce));
        const r = openssl([
          'ocsp',
          '-reqin',
          reqPath,
          '-respin',
          file('nonce-resp.der', der),
          '-CAfile',
          path('root.pem'),
          '-verify_other',
          path('int.pem'),
          '-resp_text',
        ]);
        assert.match(r.output, /Response verify OK/, r.output);
        assert.doesNotMatch(r.output, /Nonce Verify error|no nonce in response/);
        assert.match(r.output, new RegExp(`OCSP Nonce:\\s*\\n\\s*0410${req.nonce.toString('hex').toUpperCase()}`));
      }
      // A response for another nonce is caught by openssl's nonce check.
      const other = await respond({ ...req, nonce: Buffer.alloc(16, 9) });
      const r = openssl([
        'ocsp',
        '-reqin',
        reqPath,
        '-respin',
        file('other-nonce.der', other),
        '-CAfile',
        path('root.pem'),
        '-verify_other',
        path('int.pem'),
      ]);
      assert.match(r.output, /Nonce Verify error/, r.output);
    });

    test('ok/ocsp/response/error-statuses', () => {
      const statuses: OcspErrorStatus[] = [
        'malformedRequest',
        'internalError',
        'tryLater',
        'sigRequired',
        'unauthorized',
      ];
      for (const status of statuses) {
        const der = buildOcspErrorResponse(status);
        const parsed = parseOcspResponse(der);
        assert.equal(parsed.status, status);
        assert.equal(parsed.basic, null);
        const text = openssl(['ocsp', '-respin', file(`err-${status}.der`, der), '-resp_text']).output;
        assert.match(text, new RegExp(status.toLowerCase()), text);
        // Nothing signed, nothing to verify.
        assertPkiError(() => verifyOcspResponse(parsed, pki.intermediate.certificate, now), 'ocsp_response_invalid');
      }
      assert.throws(() => buildOcspErrorResponse('successful' as never), TypeError);
      assert.throws(() => buildOcspErrorResponse('teapot' as never), TypeError);
    });

    test('fail/ocsp/response/tampered-signature', async () => {
      // An attacker flips a revoked answer's signature bits (or any byte of it) in transit.
      const req = parseOcspRequest(
        await buildOcspRequest({ issuer: pki.intermediate.certificate, serial: revokedLeaf.serial }),
      );
      const der = Buffer.from(await respond(req, caResponder));
      der[der.length - 1] = (der[der.length - 1] as number) ^ 0x01;
      const text = opensslCheck(der, revokedLeaf.serial);
      assert.doesNotMatch(text, /Response verify OK/, text);
      assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(der), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
    });

    test('fail/ocsp/response/tampered-status', async () => {
      // Turning "revoked" into "good" means re-encoding the status: the signature no longer covers it.
      const parsed = parseOcspResponse(
        await respond({ der: Buffer.alloc(0), requests: [certId(revokedLeaf.serial)], nonce: null }),
      );
      const basic = parsed.basic;
      assert.ok(basic);
      const goodResponse = await buildOcspResponse({
        responder: caResponder,
        producedAt: now,
        responses: [{ ...single(certId(revokedLeaf.serial)), status: { status: 'good' } }],
      });
      const forgedTbs = parseOcspResponse(goodResponse).basic?.tbs as Buffer;
      const forged = assembleResponse(forgedTbs, basic.signatureAlgorithm.der, basic.signature, []);
      assert.doesNotMatch(opensslCheck(forged, revokedLeaf.serial), /Response verify OK/);
      assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(forged), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
    });

    test('fail/ocsp/verify/signed-by-unrelated-key', async () => {
      // An attacker signs the responder's bytes with a key of its own, keeping the CA's responderID.
      const attackerSigner = createKeySigner((await generateKey('p256')).privateKey);
      const legit = parseOcspResponse(
        await respond({ der: Buffer.alloc(0), requests: [certId(revokedLeaf.serial)], nonce: null }),
      );
      const tbs = legit.basic?.tbs as Buffer;
      const forged = assembleResponse(tbs, attackerSigner.algorithm.der, await attackerSigner.sign(tbs), []);
      assert.doesNotMatch(opensslCheck(forged, revokedLeaf.serial), /Response verify OK/);
      assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(forged), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );

      // An unrelated CA signing for our intermediate's certificates, under its own name.
      const stranger = await createRootCa(now, seededRandom('stranger'), 'p256', [
        { type: 'CN', value: 'Stranger CA' },
      ]);
      const unknownAnswer = await buildOcspResponse({
        responder: { certificate: stranger.certificate, signer: stranger.signer },
        producedAt: now,
        responses: [
          { certId: certId(goodLeaf.serial), status: { status: 'unknown' }, thisUpdate: now, nextUpdate: inOneDay },
        ],
      });
      assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(unknownAnswer), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
    });

    test('fail/ocsp/verify/responder-from-another-ca', async () => {
      // An attacker's CA copies the issuing CA's name and issues itself an OCSP responder certificate.
      const attackerCa = await createRootCa(now, seededRandom('attacker'), 'p256', [
        { type: 'CN', value: 'Provisio Test Issuing CA' },
      ]);
      const signer = createKeySigner((await generateKey('p256')).privateKey);
      const responder = { certificate: await issueResponderCertificate(attackerCa, signer, 'Evil Responder'), signer };
      const der = await buildOcspResponse({
        responder,
        producedAt: now,
        responses: [single(certId(revokedLeaf.serial))],
      });
      assert.doesNotMatch(opensslCheck(der, revokedLeaf.serial), /Response verify OK/);
      const e = assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(der), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
      assert.match(e.message, /not signed by/);

      // A genuine responder of the root (another CA in our own hierarchy) cannot answer for the
      // intermediate's certificates either.
      const rootResponder = {
        certificate: await issueResponderCertificate(pki.root, signer, 'Root Responder'),
        signer,
      };
      const unknownAnswer = await buildOcspResponse({
        responder: rootResponder,
        producedAt: now,
        responses: [
          { certId: certId(goodLeaf.serial), status: { status: 'unknown' }, thisUpdate: now, nextUpdate: inOneDay },
        ],
      });
      const e2 = assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(unknownAnswer), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
      assert.match(e2.message, /issued by/);
    });

    test('fail/ocsp/verify/responder-without-ocsp-signing', async () => {
      // A device holds a certificate from the CA; its key signs a response and its certificate
      // (EKU clientAuth, not OCSPSigning) is offered in `certs`, which the signature does not cover.
      const key = await generateKey('p256');
      const signer = createKeySigner(key.privateKey);
      const responderCert = await issueResponderCertificate(pki.intermediate, signer, 'Shared-key responder');
      const deviceCert = parseCertificate(
        (
          await pki.intermediate.issuer.issue(
            deviceCertificateRequest(
              { deviceId: 'DEV-ROGUE' as DeviceId, deviceLabel: 'rogue', system: 'ZMonitor', component: 'x' },
              signer.publicKey,
              randomSerial(pki.random),
              { notBefore: now, notAfter: inOneDay },
            ),
          )
        ).der,
      );
      const legit = parseOcspResponse(
        await buildOcspResponse({
          responder: { certificate: responderCert, signer },
          producedAt: now,
          responses: [single(certId(revokedLeaf.serial))],
        }),
      );
      const basic = legit.basic;
      assert.ok(basic);
      const forged = assembleResponse(basic.tbs, basic.signatureAlgorithm.der, basic.signature, [deviceCert.der]);
      assert.doesNotMatch(opensslCheck(forged, revokedLeaf.serial), /Response verify OK/);
      const e = assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(forged), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
      assert.match(e.message, /OCSPSigning/);
      // Our builder refuses to sign as such a responder in the first place.
      await assertRejectsPki(
        buildOcspResponse({
          responder: { certificate: deviceCert, signer },
          producedAt: now,
          responses: [single(certId(goodLeaf.serial))],
        }),
        'profile_violation',
      );
    });

    test('fail/ocsp/verify/expired-responder', async () => {
      const later = new Date(now.getTime() + 60 * DAY); // the responder certificate lasts 30 days
      const der = await buildOcspResponse({
        responder: delegated,
        producedAt: now,
        responses: [single(certId(goodLeaf.serial))],
      });
      const e = assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(der), pki.intermediate.certificate, later),
        'ocsp_signature_invalid',
      );
      assert.match(e.message, /not valid at/);
    });

    test('fail/ocsp/verify/stale', async () => {
      // A replayed old "good" answer: signed correctly, but its nextUpdate has passed.
      const der = await buildOcspResponse({
        responder: caResponder,
        producedAt: now,
        responses: [single(certId(goodLeaf.serial))],
      });
      const parsed = parseOcspResponse(der);
      verifyOcspResponse(parsed, pki.intermediate.certificate, new Date(inOneDay.getTime() + 60_000)); // within skew
      assertPkiError(
        () => verifyOcspResponse(parsed, pki.intermediate.certificate, new Date(now.getTime() + 2 * DAY)),
        'ocsp_response_stale',
      );
      assertPkiError(
        () => verifyOcspResponse(parsed, pki.intermediate.certificate, new Date(now.getTime() - 3600_000)),
        'ocsp_response_stale',
      );
    });

    test('fail/ocsp/verify/answer-for-another-issuer', async () => {
      // The CA signs, but the CertID names another issuer: the CA is not authoritative for it.
      const der = await buildOcspResponse({
        responder: caResponder,
        producedAt: now,
        responses: [
          {
            certId: certIdFor(pki.root.certificate, goodLeaf.serial),
            status: { status: 'unknown' },
            thisUpdate: now,
            nextUpdate: inOneDay,
          },
        ],
      });
      assertPkiError(
        () => verifyOcspResponse(parseOcspResponse(der), pki.intermediate.certificate, now),
        'ocsp_signature_invalid',
      );
    });
  });

  describe('lint before signing', () => {
    const cases: Array<[string, () => Parameters<typeof buildOcspResponse>[0], string]> = [
      [
        'fail/ocsp/lint/signer-mismatch',
        () => ({
          responder: { certificate: pki.intermediate.certificate, signer: delegated.signer },
          producedAt: now,
          responses: [single(certId(goodLeaf.serial))],
        }),
        'profile_violation',
      ],
      [
        'fail/ocsp/lint/next-update-not-after-this-update',
        () => ({
          responder: caResponder,
          producedAt: now,
          responses: [{ ...single(certId(goodLeaf.serial)), nextUpdate: now }],
        }),
        'profile_violation',
      ],
      [
        'fail/ocsp/lint/no-responses',
        () => ({ responder: caResponder, producedAt: now, responses: [] }),
        'profile_violation',
      ],
      [
        'fail/ocsp/lint/good-for-another-issuer',
        () => ({
          responder: caResponder,
          producedAt: now,
          responses: [{ ...single(certId(goodLeaf.serial)), certId: certIdFor(pki.root.certificate, goodLeaf.serial) }],
        }),
        'profile_violation',
      ],
      [
        'fail/ocsp/lint/responder-expired-at-produced-at',
        () => ({
          responder: delegated,
          producedAt: new Date(now.getTime() + 31 * DAY),
          responses: [single(certId(goodLeaf.serial))],
        }),
        'profile_violation',
      ],
      [
        'fail/ocsp/lint/nonce-too-long',
        () => ({
          responder: caResponder,
          producedAt: now,
          responses: [single(certId(goodLeaf.serial))],
          nonce: Buffer.alloc(33),
        }),
        'profile_violation',
      ],
      [
        'fail/ocsp/lint/remove-from-crl',
        () => ({
          responder: caResponder,
          producedAt: now,
          responses: [
            {
              ...single(certId(revokedLeaf.serial)),
              status: { status: 'revoked', revokedAt: now, reason: 'removeFromCRL' },
            },
          ],
        }),
        'revocation_reason_invalid',
      ],
      [
        'fail/ocsp/lint/bad-cert-id',
        () => ({
          responder: caResponder,
          producedAt: now,
          responses: [
            {
              ...single(certId(goodLeaf.serial)),
              certId: { ...certId(goodLeaf.serial), issuerKeyHash: Buffer.alloc(3) },
            },
          ],
        }),
        'profile_violation',
      ],
    ];
    for (const [name, makeInput, code] of cases) {
      test(name, async () => {
        await assertRejectsPki(buildOcspResponse(makeInput()), code);
      });
    }

    test('fail/ocsp/lint/request-nonce', async () => {
      await assertRejectsPki(
        buildOcspRequest({ issuer: pki.intermediate.certificate, serial: goodLeaf.serial, nonce: Buffer.alloc(0) }),
        'profile_violation',
      );
    });
  });

  describe('hostile responses', () => {
    test('fail/ocsp/response/malformed', async () => {
      const valid = await buildOcspResponse({
        responder: delegated,
        producedAt: now,
        responses: [single(certId(revokedLeaf.serial))],
        nonce: Buffer.alloc(16, 1),
      });
      for (let n = 0; n < valid.length; n++)
        assertPkiError(() => parseOcspResponse(valid.subarray(0, n)), 'ocsp_response_invalid');
      const cases: Buffer[] = [
        Buffer.from('<html>500</html>'),
        seq(tlv(Tag.ENUMERATED, Buffer.from([4]))), // status 4 is not used
        seq(tlv(Tag.ENUMERATED, Buffer.from([1])), explicit(0, seq())), // error status with responseBytes
        seq(tlv(Tag.ENUMERATED, Buffer.from([0]))), // successful without responseBytes
        seq(tlv(Tag.ENUMERATED, Buffer.from([0])), explicit(0, seq(oid('1.2.3'), octetString(seq())))), // unknown type
        Buffer.concat([Buffer.from([0x30, 0x80]), valid.subarray(4), Buffer.from([0, 0])]), // BER
      ];
      for (const der of cases) assertPkiError(() => parseOcspResponse(der), 'ocsp_response_invalid');
      const random = seededRandom('ocsp-response-mutations');
      for (let i = 0; i < 3000; i++) {
        const mutated = Buffer.from(valid);
        const [hi, lo, value] = random.bytes(3) as unknown as [number, number, number];
        mutated[((hi << 8) | lo) % mutated.length] = value;
        try {
          verifyOcspResponse(parseOcspResponse(mutated), pki.intermediate.certificate, now);
        } catch (e) {
          assert.ok(e instanceof PkiError, String(e));
        }
      }
    });
  });
});
