/**
 * OCSP responses (RFC 6960 §4.2, RFC 5019 §2.2): building signed BasicOCSPResponses and error
 * responses, strict parsing, and verification of who signed them.
 *
 *   OCSPResponse ::= SEQUENCE {
 *      responseStatus         OCSPResponseStatus,
 *      responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
 *
 *   BasicOCSPResponse ::= SEQUENCE {
 *      tbsResponseData      ResponseData,
 *      signatureAlgorithm   AlgorithmIdentifier,
 *      signature            BIT STRING,
 *      certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
 *
 *   ResponseData ::= SEQUENCE {
 *      version              [0] EXPLICIT Version DEFAULT v1,
 *      responderID              ResponderID,      -- byName [1] Name | byKey [2] KeyHash
 *      producedAt               GeneralizedTime,
 *      responses                SEQUENCE OF SingleResponse,
 *      responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
 *
 *   SingleResponse ::= SEQUENCE {
 *      certID                       CertID,
 *      certStatus                   CertStatus,      -- good [0] IMPLICIT NULL |
 *                                                    -- revoked [1] IMPLICIT RevokedInfo |
 *                                                    -- unknown [2] IMPLICIT NULL
 *      thisUpdate                   GeneralizedTime,
 *      nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
 *      singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
 *
 *   RevokedInfo ::= SEQUENCE {
 *      revocationTime              GeneralizedTime,
 *      revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
 */
import { createHash } from 'node:crypto';
import { isCa, type ParsedCertificate, parseCertificate } from './certificate.js';
import { checkRevocationReason, type RevocationReason, revocationReasonCode, revocationReasonFromCode } from './crl.js';
import {
  bitString,
  children,
  content,
  DEFAULT_MAX_DEPTH,
  decodeBitString,
  decodeOid,
  decodeSmallInteger,
  decodeTime,
  enumerated,
  expectTag,
  explicit,
  generalizedTime,
  octetString,
  oid,
  readRoot,
  readTlv,
  seq,
  Tag,
  type Tlv,
  tlv,
  whole,
} from './der.js';
import { PkiError } from './errors.js';
import { parseExtensionList, type RawExtension, UNDERSTOOD_EXTENSIONS } from './extensions.js';
import { keyIdentifier } from './keys.js';
import { formatName, type ParsedName, parseName } from './name.js';
import {
  type CertId,
  certIdMatchesIssuer,
  checkCertId,
  decodeCertId,
  decodeNonce,
  encodeCertId,
  MAX_OCSP_NONCE_BYTES,
  nonceExtension,
} from './ocsp.js';
import { OID } from './oids.js';
import { type SignatureAlgorithm, type Signer, signatureAlgorithmByOid, verifySignature } from './signer.js';

export type OcspResponseStatus =
  | 'successful'
  | 'malformedRequest'
  | 'internalError'
  | 'tryLater'
  | 'sigRequired'
  | 'unauthorized';

export type OcspErrorStatus = Exclude<OcspResponseStatus, 'successful'>;

/** RFC 6960 §4.2.1 OCSPResponseStatus; 4 is not used. */
const STATUS_CODES: Readonly<Record<OcspResponseStatus, number>> = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
};
const STATUS_BY_CODE = new Map<number, OcspResponseStatus>(
  Object.entries(STATUS_CODES).map(([name, code]) => [code, name as OcspResponseStatus]),
);

export type CertStatus =
  | { readonly status: 'good' }
  | { readonly status: 'revoked'; readonly revokedAt: Date; readonly reason: RevocationReason }
  | { readonly status: 'unknown' };

export interface SingleResponseInput {
  readonly certId: CertId;
  readonly status: CertStatus;
  readonly thisUpdate: Date;
  /** RFC 5019 §2.2.4: always set, so clients and caches know when to ask again. */
  readonly nextUpdate: Date;
}

/**
 * Who signs: the CA itself (its certificate and key), or a delegated responder whose
 * certificate the CA issued with EKU id-kp-OCSPSigning (profile 'ocsp-responder'). A delegated
 * responder's certificate is sent in `certs` so clients can check the delegation
 * (RFC 6960 §4.2.2.2); the CA's own certificate is not, clients already hold it.
 */
export interface OcspResponder {
  readonly certificate: ParsedCertificate;
  readonly signer: Signer;
}

export interface BuildOcspResponseInput {
  readonly responder: OcspResponder;
  readonly producedAt: Date;
  readonly responses: readonly SingleResponseInput[];
  /** The request's nonce, echoed in responseExtensions (RFC 8954); null or absent for none. */
  readonly nonce?: Buffer | null;
}

/** Time fields carry whole seconds (RFC 5280 §4.1.2.5.2); lint compares what will be encoded. */
function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

function isValidDate(date: unknown): date is Date {
  return date instanceof Date && !Number.isNaN(date.getTime());
}

function lintFail(message: string): never {
  throw new PkiError('profile_violation', `OCSP response: ${message}`);
}

function isDelegatedResponder(certificate: ParsedCertificate): boolean {
  return !isCa(certificate);
}

/** The typed ResponseData that lint checks and the encoder writes. */
interface OcspResponsePlan {
  readonly responder: OcspResponder;
  readonly delegated: boolean;
  readonly responderKeyHash: Buffer;
  readonly producedAt: Date;
  readonly responses: readonly SingleResponseInput[];
  readonly nonce: Buffer | null;
}

function planResponse(input: BuildOcspResponseInput): OcspResponsePlan {
  const { responder } = input;
  const cert = responder.certificate;
  const name = formatName(cert.subject);
  if (!cert.publicKey.spki.equals(responder.signer.publicKey.spki)) {
    lintFail(`the signer key does not match the responder certificate "${name}"`);
  }
  if (!isValidDate(input.producedAt)) lintFail('producedAt must be a date');
  const producedAt = wholeSeconds(input.producedAt);
  if (producedAt < cert.notBefore || producedAt > cert.notAfter) {
    lintFail(`the responder certificate "${name}" is not valid at producedAt ${producedAt.toISOString()}`);
  }
  const delegated = isDelegatedResponder(cert);
  // RFC 6960 §4.2.2.2: a responder other than the CA must carry id-kp-OCSPSigning.
  if (delegated && !cert.decoded.extKeyUsage?.includes(OID.kpOcspSigning)) {
    lintFail(`"${name}" is neither a CA nor a delegated responder (no extended key usage id-kp-OCSPSigning)`);
  }
  if (input.responses.length === 0) lintFail('at least one SingleResponse is required');
  const responses: SingleResponseInput[] = [];
  for (const r of input.responses) {
    checkCertId(r.certId, 'OCSP response');
    const serial = r.certId.serial;
    if (!isValidDate(r.thisUpdate) || !isValidDate(r.nextUpdate)) {
      lintFail(`serial ${serial}: thisUpdate and nextUpdate must be dates`);
    }
    const thisUpdate = wholeSeconds(r.thisUpdate);
    const nextUpdate = wholeSeconds(r.nextUpdate);
    if (!(nextUpdate > thisUpdate)) {
      lintFail(`serial ${serial}: nextUpdate ${nextUpdate.toISOString()} must be later than thisUpdate`);
    }
    let status: CertStatus;
    switch (r.status?.status) {
      case 'good':
        status = { status: 'good' };
        break;
      case 'unknown':
        status = { status: 'unknown' };
        break;
      case 'revoked': {
        const revoked = r.status;
        if (!isValidDate(revoked.revokedAt)) lintFail(`serial ${serial}: revokedAt must be a date`);
        checkRevocationReason(revoked.reason);
        status = { status: 'revoked', revokedAt: wholeSeconds(revoked.revokedAt), reason: revoked.reason };
        break;
      }
      default:
        return lintFail(`serial ${serial}: status must be good, revoked or unknown`);
    }
    // A "good" or "revoked" answer is authoritative; it may only name certificates of the CA this
    // responder speaks for. (An "unknown" answer may name any issuer.)
    if (status.status !== 'unknown') {
      const namesCa = delegated
        ? createHash(r.certId.hashAlgorithm).update(cert.issuer.der).digest().equals(r.certId.issuerNameHash)
        : certIdMatchesIssuer(r.certId, cert);
      if (!namesCa) {
        lintFail(`serial ${serial}: the CertID names an issuer "${name}" does not answer for; answer "unknown"`);
      }
    }
    responses.push({ certId: r.certId, status, thisUpdate, nextUpdate });
  }
  const nonce = input.nonce ?? null;
  if (nonce !== null && (nonce.length === 0 || nonce.length > MAX_OCSP_NONCE_BYTES)) {
    lintFail(`a nonce must be 1 to ${MAX_OCSP_NONCE_BYTES} bytes (RFC 8954)`);
  }
  return { responder, delegated, responderKeyHash: keyIdentifier(cert.publicKey), producedAt, responses, nonce };
}

const GOOD = Buffer.from([0x80, 0x00]); // [0] IMPLICIT NULL
const UNKNOWN = Buffer.from([0x82, 0x00]); // [2] IMPLICIT NULL

function encodeCertStatus(status: CertStatus): Buffer {
  switch (status.status) {
    case 'good':
      return GOOD;
    case 'unknown':
      return UNKNOWN;
    case 'revoked': {
      const fields = [generalizedTime(status.revokedAt)];
      // As in CRLs (RFC 5280 §5.3.1), an unspecified reason is omitted rather than stated.
      if (status.reason !== 'unspecified') fields.push(explicit(0, enumerated(revocationReasonCode(status.reason))));
      return tlv(0xa1, ...fields); // [1] IMPLICIT RevokedInfo: constructed
    }
  }
}

function encodeSingleResponse(r: SingleResponseInput): Buffer {
  return seq(
    encodeCertId(r.certId),
    encodeCertStatus(r.status),
    generalizedTime(r.thisUpdate),
    explicit(0, generalizedTime(r.nextUpdate)),
  );
}

function encodeResponseData(plan: OcspResponsePlan): Buffer {
  const fields = [
    // RFC 6960 §4.2.2.3 byKey: SHA-1 of the responder's subjectPublicKey bits. RFC 5019 §2.2.3
    // prefers it to byName: it stays valid across certificate renewals with the same key.
    explicit(2, octetString(plan.responderKeyHash)),
    generalizedTime(plan.producedAt),
    seq(...plan.responses.map(encodeSingleResponse)),
  ];
  if (plan.nonce) fields.push(explicit(1, seq(nonceExtension(plan.nonce))));
  return seq(...fields); // version v1 is the DEFAULT: omitted (X.690 §11.5)
}

function wrapResponse(status: OcspResponseStatus, basic?: Buffer): Buffer {
  const statusDer = enumerated(STATUS_CODES[status]);
  if (!basic) return seq(statusDer);
  return seq(statusDer, explicit(0, seq(oid(OID.ocspBasic), octetString(basic))));
}

/** A successful response with a signed BasicOCSPResponse (RFC 6960 §4.2.1). */
export async function buildOcspResponse(input: BuildOcspResponseInput): Promise<Buffer> {
  const plan = planResponse(input);
  const tbs = encodeResponseData(plan);
  const { signer, certificate } = plan.responder;
  const signature = await signer.sign(tbs);
  const fields = [tbs, signer.algorithm.der, bitString(signature)];
  if (plan.delegated) fields.push(explicit(0, seq(certificate.der)));
  return wrapResponse('successful', seq(...fields));
}

/**
 * An unsigned error response: responseStatus only, no responseBytes (RFC 6960 §4.2.1). What a
 * responder sends for a request it cannot parse (malformedRequest), a failure of its own
 * (internalError), or an issuer it does not serve (unauthorized, RFC 5019 §2.2.3).
 */
export function buildOcspErrorResponse(status: OcspErrorStatus): Buffer {
  if (!Object.hasOwn(STATUS_CODES, status) || status === ('successful' as string)) {
    throw new TypeError(`"${String(status)}" is not an OCSP error status`);
  }
  return wrapResponse(status);
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * 64 KiB. A one-certificate response signed by a delegated responder is ~1 KiB (~2.5 KiB with
 * RSA); 64 KiB leaves room for many SingleResponses and a certificate chain.
 */
export const MAX_OCSP_RESPONSE_BYTES = 64 * 1024;

export interface ParsedSingleResponse {
  readonly certId: CertId;
  readonly status: CertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
}

export interface ParsedBasicOcspResponse {
  /** The ResponseData bytes the signature covers, exactly as received. */
  readonly tbs: Buffer;
  readonly producedAt: Date;
  /** ResponderID byKey: SHA-1 of the responder's public key bits. */
  readonly responderKeyHash: Buffer | null;
  /** ResponderID byName. */
  readonly responderName: ParsedName | null;
  readonly responses: ParsedSingleResponse[];
  readonly nonce: Buffer | null;
  /** The certificates sent with the response (a delegated responder's certificate). */
  readonly certs: ParsedCertificate[];
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Buffer;
}

export interface ParsedOcspResponse {
  readonly der: Buffer;
  readonly status: OcspResponseStatus;
  /** The signed part; null unless status is 'successful'. */
  readonly basic: ParsedBasicOcspResponse | null;
}

function invalid(message: string): PkiError {
  return new PkiError('ocsp_response_invalid', message);
}

const UNDERSTOOD_RESPONSE_EXTENSIONS: ReadonlySet<string> = new Set([OID.ocspNonce]);

/** Extensions inside an [n] EXPLICIT wrapper; a critical one we do not process is refused. */
function explicitExtensions(buf: Buffer, wrapper: Tlv, understood: ReadonlySet<string>, where: string): RawExtension[] {
  const list = readTlv(buf, wrapper.contentStart, wrapper.end);
  if (list.end !== wrapper.end) throw invalid(`trailing bytes after ${where} extensions`);
  const exts = parseExtensionList(buf, list);
  for (const ext of exts) {
    if (ext.critical && !understood.has(ext.oid)) throw invalid(`${where} has critical extension ${ext.oid}`);
  }
  return exts;
}

/** The one value inside an [n] EXPLICIT wrapper. */
function explicitInner(buf: Buffer, wrapper: Tlv, what: string): Tlv {
  const inner = readTlv(buf, wrapper.contentStart, wrapper.end);
  if (inner.end !== wrapper.end) throw invalid(`trailing bytes in ${what}`);
  return inner;
}

function generalized(buf: Buffer, t: Tlv | undefined, what: string): Date {
  return decodeTime(buf, expectTag(t, Tag.GENERALIZED_TIME, what));
}

function decodeCertStatus(buf: Buffer, t: Tlv | undefined): CertStatus {
  if (t?.tag === 0x80 || t?.tag === 0x82) {
    if (t.end !== t.contentStart) throw invalid('certStatus good/unknown must be an empty NULL');
    return { status: t.tag === 0x80 ? 'good' : 'unknown' };
  }
  if (t?.tag !== 0xa1) throw invalid('certStatus is missing or not good [0], revoked [1] or unknown [2]');
  const [timeTlv, reasonTlv, extra] = children(buf, t);
  if (extra || (reasonTlv && reasonTlv.tag !== 0xa0)) throw invalid('RevokedInfo has unexpected fields');
  const revokedAt = generalized(buf, timeTlv, 'revocationTime');
  let reason: RevocationReason = 'unspecified';
  if (reasonTlv) {
    const inner = expectTag(explicitInner(buf, reasonTlv, 'revocationReason'), Tag.ENUMERATED, 'CRLReason');
    reason = revocationReasonFromCode(decodeSmallInteger(buf, inner, 'CRLReason'));
  }
  return { status: 'revoked', revokedAt, reason };
}

function decodeSingleResponse(buf: Buffer, t: Tlv): ParsedSingleResponse {
  const parts = children(buf, expectTag(t, Tag.SEQUENCE, 'SingleResponse'));
  let i = 0;
  const certId = decodeCertId(buf, expectTag(parts[i++], Tag.SEQUENCE, 'certID'));
  const status = decodeCertStatus(buf, parts[i++]);
  const thisUpdate = generalized(buf, parts[i++], 'thisUpdate');
  let nextUpdate: Date | null = null;
  if (parts[i]?.tag === 0xa0) {
    nextUpdate = generalized(buf, explicitInner(buf, parts[i++] as Tlv, 'nextUpdate'), 'nextUpdate');
  }
  if (parts[i]?.tag === 0xa1) explicitExtensions(buf, parts[i++] as Tlv, new Set(), 'a SingleResponse');
  if (i !== parts.length) throw invalid('SingleResponse has unexpected fields');
  return { certId, status, thisUpdate, nextUpdate };
}

function decodeBasic(basic: Buffer): ParsedBasicOcspResponse {
  const root = readRoot(basic, { maxBytes: MAX_OCSP_RESPONSE_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  const [tbsTlv, algTlv, sigTlv, certsTlv, extra] = children(basic, expectTag(root, Tag.SEQUENCE, 'BasicOCSPResponse'));
  if (extra || (certsTlv && certsTlv.tag !== 0xa0)) throw invalid('BasicOCSPResponse has unexpected fields');
  const alg = children(basic, expectTag(algTlv, Tag.SEQUENCE, 'signatureAlgorithm'));
  const signatureAlgorithm = signatureAlgorithmByOid(decodeOid(basic, expectTag(alg[0], Tag.OID, 'algorithm')));
  const signature = Buffer.from(decodeBitString(basic, expectTag(sigTlv, Tag.BIT_STRING, 'signature')).bytes);
  const certs: ParsedCertificate[] = [];
  if (certsTlv) {
    const list = expectTag(explicitInner(basic, certsTlv, 'certs'), Tag.SEQUENCE, 'certs');
    for (const c of children(basic, list)) certs.push(parseCertificate(Buffer.from(whole(basic, c))));
  }

  const parts = children(basic, expectTag(tbsTlv, Tag.SEQUENCE, 'ResponseData'));
  let i = 0;
  // X.690 §11.5: the DEFAULT v1 is never encoded, and there is no other version.
  if (parts[i]?.tag === 0xa0) throw invalid('ResponseData version must be absent (v1 is the DEFAULT)');
  const idTlv = parts[i++];
  let responderKeyHash: Buffer | null = null;
  let responderName: ParsedName | null = null;
  if (idTlv?.tag === 0xa1) {
    responderName = parseName(basic, explicitInner(basic, idTlv, 'responderID byName'));
  } else if (idTlv?.tag === 0xa2) {
    const hash = expectTag(explicitInner(basic, idTlv, 'responderID byKey'), Tag.OCTET_STRING, 'KeyHash');
    responderKeyHash = Buffer.from(content(basic, hash));
    if (responderKeyHash.length !== 20) throw invalid('responderID byKey must be a 20-byte SHA-1 hash');
  } else {
    throw invalid('responderID is missing or neither byName [1] nor byKey [2]');
  }
  const producedAt = generalized(basic, parts[i++], 'producedAt');
  const responses = children(basic, expectTag(parts[i++], Tag.SEQUENCE, 'responses')).map((r) =>
    decodeSingleResponse(basic, r),
  );
  let nonce: Buffer | null = null;
  if (parts[i]?.tag === 0xa1) {
    const exts = explicitExtensions(basic, parts[i++] as Tlv, UNDERSTOOD_RESPONSE_EXTENSIONS, 'the response');
    const nonceExt = exts.find((e) => e.oid === OID.ocspNonce);
    if (nonceExt) nonce = decodeNonce(nonceExt);
  }
  if (i !== parts.length) throw invalid('ResponseData has unexpected fields');
  return {
    tbs: Buffer.from(whole(basic, tbsTlv as Tlv)),
    producedAt,
    responderKeyHash,
    responderName,
    responses,
    nonce,
    certs,
    signatureAlgorithm,
    signature,
  };
}

function decodeResponse(der: Buffer): ParsedOcspResponse {
  const root = readRoot(der, { maxBytes: MAX_OCSP_RESPONSE_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  const [statusTlv, bytesTlv, extra] = children(der, expectTag(root, Tag.SEQUENCE, 'OCSPResponse'));
  if (extra || (bytesTlv && bytesTlv.tag !== 0xa0)) throw invalid('OCSPResponse has unexpected fields');
  const code = decodeSmallInteger(der, expectTag(statusTlv, Tag.ENUMERATED, 'responseStatus'), 'responseStatus');
  const status = STATUS_BY_CODE.get(code);
  if (!status) throw invalid(`responseStatus ${code} is not defined by RFC 6960 §4.2.1`);
  if (status !== 'successful') {
    // RFC 6960 §4.2.1: error responses carry no responseBytes.
    if (bytesTlv) throw invalid(`a ${status} response must not carry responseBytes`);
    return { der, status, basic: null };
  }
  if (!bytesTlv) throw invalid('a successful response lacks responseBytes');
  const [typeTlv, valueTlv, extraBytes] = children(
    der,
    expectTag(explicitInner(der, bytesTlv, 'responseBytes'), Tag.SEQUENCE, 'ResponseBytes'),
  );
  if (extraBytes) throw invalid('ResponseBytes has unexpected fields');
  const type = decodeOid(der, expectTag(typeTlv, Tag.OID, 'responseType'));
  if (type !== OID.ocspBasic) throw invalid(`responseType ${type} is not id-pkix-ocsp-basic`);
  const basic = Buffer.from(content(der, expectTag(valueTlv, Tag.OCTET_STRING, 'response')));
  return { der, status, basic: decodeBasic(basic) };
}

/**
 * Parses an OCSP response (DER) without verifying it; `verifyOcspResponse` checks who signed it.
 * Throws only PkiError `ocsp_response_invalid`.
 */
export function parseOcspResponse(input: Uint8Array): ParsedOcspResponse {
  try {
    if (input.length > MAX_OCSP_RESPONSE_BYTES) {
      throw invalid(`the response is ${input.length} bytes; at most ${MAX_OCSP_RESPONSE_BYTES} are accepted`);
    }
    return decodeResponse(Buffer.from(input));
  } catch (e) {
    if (e instanceof PkiError && e.code !== 'ocsp_response_invalid') {
      throw invalid(`malformed OCSP response: ${e.message}`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

/** Clock skew tolerated on thisUpdate and nextUpdate; OpenSSL's default is the same 5 minutes. */
export const OCSP_CLOCK_SKEW_MS = 5 * 60 * 1000;

function certLabel(c: ParsedCertificate): string {
  return `"${formatName(c.subject)}" (serial ${c.serial})`;
}

function isSameCertificateKey(a: ParsedCertificate, b: ParsedCertificate): boolean {
  return a.subject.der.equals(b.subject.der) && a.publicKey.spki.equals(b.publicKey.spki);
}

function verifies(alg: SignatureAlgorithm, key: ParsedCertificate, data: Buffer, signature: Buffer): boolean {
  try {
    return verifySignature(alg, key.publicKey, data, signature);
  } catch (e) {
    if (e instanceof PkiError) return false; // algorithm and key kinds differ, or an invalid key
    throw e;
  }
}

/**
 * Why `candidate` may not sign responses for `issuer`'s certificates at `at`, or null when it
 * may (RFC 6960 §4.2.2.2): it is the issuer itself, or a certificate the issuer signed that is
 * valid at `at`, carries EKU id-kp-OCSPSigning and no critical extension we do not process.
 */
function whyNotAuthorized(candidate: ParsedCertificate, issuer: ParsedCertificate, at: Date): string | null {
  if (isSameCertificateKey(candidate, issuer)) return null;
  const label = certLabel(candidate);
  if (!candidate.issuer.der.equals(issuer.subject.der)) {
    return `responder ${label} was issued by "${formatName(candidate.issuer)}", not by ${certLabel(issuer)}`;
  }
  if (!verifies(candidate.signatureAlgorithm, issuer, candidate.tbs, candidate.signature)) {
    return `responder ${label} is not signed by ${certLabel(issuer)}`;
  }
  if (at < candidate.notBefore || at > candidate.notAfter) {
    return `responder ${label} is not valid at ${at.toISOString()}`;
  }
  if (!candidate.decoded.extKeyUsage?.includes(OID.kpOcspSigning)) {
    return `responder ${label} lacks extended key usage id-kp-OCSPSigning`;
  }
  const ku = candidate.decoded.keyUsage;
  if (ku && !ku.has('digitalSignature')) return `responder ${label} lacks digitalSignature in its key usage`;
  const unknown = candidate.extensions.find((e) => e.critical && !UNDERSTOOD_EXTENSIONS.has(e.oid));
  if (unknown) return `responder ${label} has critical extension ${unknown.oid}, which is not processed`;
  return null;
}

function matchesResponderId(basic: ParsedBasicOcspResponse, cert: ParsedCertificate): boolean {
  if (basic.responderKeyHash) return keyIdentifier(cert.publicKey).equals(basic.responderKeyHash);
  return basic.responderName?.der.equals(cert.subject.der) === true;
}

/**
 * Checks that a successful response was signed by `issuer` itself or by a responder `issuer`
 * delegated to (RFC 6960 §4.2.2.2, §3.2 steps 2-4), that every SingleResponse names a
 * certificate of `issuer`, and that each is current at `at` (§3.2 steps 5-6, with
 * OCSP_CLOCK_SKEW_MS of tolerance). Returns the certificate that signed. Matching the
 * answers to the question asked (CertID, nonce) is the caller's part.
 */
export function verifyOcspResponse(resp: ParsedOcspResponse, issuer: ParsedCertificate, at: Date): ParsedCertificate {
  const basic = resp.basic;
  if (resp.status !== 'successful' || !basic) {
    throw new PkiError('ocsp_response_invalid', `the responder answered ${resp.status}; there is no status to verify`);
  }
  const fail = (message: string): never => {
    throw new PkiError('ocsp_signature_invalid', message);
  };
  const candidates = [issuer, ...basic.certs].filter((c) => matchesResponderId(basic, c));
  if (candidates.length === 0) {
    fail(`the response was signed by a responder that is neither ${certLabel(issuer)} nor in the response's certs`);
  }
  let signer: ParsedCertificate | null = null;
  let reason = '';
  for (const candidate of candidates) {
    const why = whyNotAuthorized(candidate, issuer, at);
    if (why) {
      reason = why;
      continue;
    }
    if (!verifies(basic.signatureAlgorithm, candidate, basic.tbs, basic.signature)) {
      reason = `the response signature does not verify with the key of ${certLabel(candidate)}`;
      continue;
    }
    signer = candidate;
    break;
  }
  if (!signer) return fail(reason);
  for (const r of basic.responses) {
    if (!certIdMatchesIssuer(r.certId, issuer)) {
      fail(`the response answers for serial ${r.certId.serial} of another issuer than ${certLabel(issuer)}`);
    }
  }
  for (const r of basic.responses) {
    if (r.thisUpdate.getTime() > at.getTime() + OCSP_CLOCK_SKEW_MS) {
      throw new PkiError(
        'ocsp_response_stale',
        `the status of serial ${r.certId.serial} is dated ${r.thisUpdate.toISOString()}, after ${at.toISOString()}; check the clock`,
      );
    }
    if (r.nextUpdate && r.nextUpdate.getTime() < at.getTime() - OCSP_CLOCK_SKEW_MS) {
      throw new PkiError(
        'ocsp_response_stale',
        `the status of serial ${r.certId.serial} expired at ${r.nextUpdate.toISOString()}; fetch a fresh response`,
      );
    }
  }
  return signer;
}
