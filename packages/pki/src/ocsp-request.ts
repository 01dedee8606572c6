/**
 * OCSP requests (RFC 6960 §4.1): strict parsing of what any client on the network sends (POST
 * body or GET path, RFC 6960 Appendix A.1), and a builder for our own clients.
 *
 *   OCSPRequest ::= SEQUENCE {
 *       tbsRequest                  TBSRequest,
 *       optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
 *
 *   TBSRequest ::= SEQUENCE {
 *       version             [0]     EXPLICIT Version DEFAULT v1,
 *       requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
 *       requestList                 SEQUENCE OF Request,
 *       requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
 *
 *   Request ::= SEQUENCE {
 *       reqCert                     CertID,
 *       singleRequestExtensions [0] EXPLICIT Extensions OPTIONAL }
 *
 * Every fault a parser finds is reported as `ocsp_request_malformed`, which the responder
 * answers with an OCSP `malformedRequest` (RFC 6960 §2.3), never an HTTP error page.
 */
import type { ParsedCertificate } from './certificate.js';
import { children, DEFAULT_MAX_DEPTH, expectTag, explicit, readRoot, readTlv, seq, Tag, type Tlv } from './der.js';
import { PkiError } from './errors.js';
import { parseExtensionList, type RawExtension } from './extensions.js';
import {
  type CertId,
  type CertIdHash,
  certIdFor,
  checkCertId,
  decodeCertId,
  decodeNonce,
  encodeCertId,
  MAX_OCSP_NONCE_BYTES,
  nonceExtension,
} from './ocsp.js';
import { OID } from './oids.js';
import type { SerialNumber } from './serial.js';

/**
 * 4 KiB. A one-certificate request with a nonce is ~100 bytes (RFC 5019 §2.1 clients send one
 * CertID); 4 KiB still fits a signed request carrying a requestor certificate, or a few dozen
 * CertIDs. The endpoint is unauthenticated and open to the internet, so anything larger is
 * refused before a byte of it is parsed.
 */
export const MAX_OCSP_REQUEST_BYTES = 4 * 1024;

/**
 * Longest GET path segment looked at: the base64 of MAX_OCSP_REQUEST_BYTES, every character
 * percent-encoded (three characters each).
 */
export const MAX_OCSP_GET_PATH_CHARS = Math.ceil(MAX_OCSP_REQUEST_BYTES / 3) * 4 * 3;

export interface ParsedOcspRequest {
  /** The request DER exactly as received. */
  readonly der: Buffer;
  /** The CertIDs asked about, in request order (at least one). */
  readonly requests: CertId[];
  /** The requestExtensions nonce (RFC 8954: 1 to 32 octets), or null when none was sent. */
  readonly nonce: Buffer | null;
}

function malformed(message: string): PkiError {
  return new PkiError('ocsp_request_malformed', message);
}

/**
 * RFC 6960 §4.4: unrecognized extensions are ignored unless critical; a critical one we do not
 * understand makes the request unanswerable.
 */
function refuseUnknownCritical(exts: readonly RawExtension[], understood: ReadonlySet<string>, where: string): void {
  for (const ext of exts) {
    if (ext.critical && !understood.has(ext.oid)) {
      throw malformed(`${where} has critical extension ${ext.oid}, which is not supported`);
    }
  }
}

const UNDERSTOOD_REQUEST_EXTENSIONS: ReadonlySet<string> = new Set([OID.ocspNonce]);
const NO_EXTENSIONS: ReadonlySet<string> = new Set();

/** The Extensions inside an [n] EXPLICIT wrapper, which must hold exactly one value. */
function explicitExtensions(der: Buffer, wrapper: Tlv): RawExtension[] {
  const list = readTlv(der, wrapper.contentStart, wrapper.end);
  if (list.end !== wrapper.end) throw malformed('trailing bytes after Extensions');
  return parseExtensionList(der, list);
}

function parseRequestDer(der: Buffer): ParsedOcspRequest {
  const root = readRoot(der, { maxBytes: MAX_OCSP_REQUEST_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  const [tbsTlv, signatureTlv, extra] = children(der, expectTag(root, Tag.SEQUENCE, 'OCSPRequest'));
  // A signed request is accepted and its signature ignored: Provisio answers anyone about any
  // serial (status is public), so a requestor signature would authorize nothing.
  if ((signatureTlv && signatureTlv.tag !== 0xa0) || extra) {
    throw malformed('OCSPRequest holds something other than tbsRequest and optionalSignature [0]');
  }
  const parts = children(der, expectTag(tbsTlv, Tag.SEQUENCE, 'TBSRequest'));
  let i = 0;
  if (parts[i]?.tag === 0xa0) {
    // X.690 §11.5: DER never encodes a DEFAULT value, and v1 is the only version there is.
    throw malformed('TBSRequest version must be absent (v1 is the DEFAULT, and the only version)');
  }
  if (parts[i]?.tag === 0xa1) i++; // requestorName: informational only, ignored.
  const list = children(der, expectTag(parts[i++], Tag.SEQUENCE, 'requestList'));
  if (list.length === 0) throw malformed('requestList is empty; ask about at least one certificate');
  const requests: CertId[] = [];
  for (const request of list) {
    const [certIdTlv, singleExts, extraRequest] = children(der, expectTag(request, Tag.SEQUENCE, 'Request'));
    if (extraRequest || (singleExts && singleExts.tag !== 0xa0)) throw malformed('Request has unexpected fields');
    requests.push(decodeCertId(der, expectTag(certIdTlv, Tag.SEQUENCE, 'reqCert')));
    if (singleExts) refuseUnknownCritical(explicitExtensions(der, singleExts), NO_EXTENSIONS, 'a Request');
  }
  let nonce: Buffer | null = null;
  const extsTlv = parts[i];
  if (extsTlv?.tag === 0xa2) {
    i++;
    const exts = explicitExtensions(der, extsTlv);
    refuseUnknownCritical(exts, UNDERSTOOD_REQUEST_EXTENSIONS, 'the request');
    const nonceExt = exts.find((e) => e.oid === OID.ocspNonce);
    if (nonceExt) {
      nonce = decodeNonce(nonceExt);
      // RFC 8954 §2.1: a nonce of 0 or more than 32 octets MUST be answered malformedRequest.
      if (nonce.length === 0 || nonce.length > MAX_OCSP_NONCE_BYTES) {
        throw malformed(`the nonce is ${nonce.length} octets; RFC 8954 allows 1 to ${MAX_OCSP_NONCE_BYTES}`);
      }
    }
  }
  if (i !== parts.length) throw malformed('TBSRequest has fields after requestExtensions');
  return { der, requests, nonce };
}

/** Any PkiError from below (der_malformed, input_too_large, ...) becomes ocsp_request_malformed. */
function asMalformed(e: unknown): never {
  if (e instanceof PkiError && e.code !== 'ocsp_request_malformed') {
    throw malformed(`malformed OCSP request: ${e.message}`);
  }
  throw e;
}

/**
 * Parses an OCSP request as POSTed (`application/ocsp-request`, RFC 6960 Appendix A.1). The
 * optionalSignature, if any, is accepted and ignored; requestorName is ignored. Throws only
 * PkiError `ocsp_request_malformed`.
 */
export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  try {
    // readRoot checks the size too; checking first spares copying an oversized body.
    if (der.length > MAX_OCSP_REQUEST_BYTES) {
      throw malformed(`the request is ${der.length} bytes; at most ${MAX_OCSP_REQUEST_BYTES} are accepted`);
    }
    return parseRequestDer(Buffer.from(der));
  } catch (e) {
    return asMalformed(e);
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * Parses the GET form (RFC 6960 Appendix A.1): `{url}/{url-encoding of base-64 encoding of the
 * DER encoding of the OCSPRequest}`. Pass the path after the responder's base URL, still
 * percent-encoded or already decoded (base64 contains no '%', so decoding is idempotent).
 * Accepts standard base64 and, leniently, base64url; refuses anything else, including
 * non-canonical base64 (stray bits in the last character).
 */
export function parseOcspGetPath(pathSegment: string): ParsedOcspRequest {
  if (typeof pathSegment !== 'string' || pathSegment.length === 0) throw malformed('the GET path is empty');
  if (pathSegment.length > MAX_OCSP_GET_PATH_CHARS) {
    throw malformed(
      `the GET path is ${pathSegment.length} characters; at most ${MAX_OCSP_GET_PATH_CHARS} are accepted`,
    );
  }
  let text: string;
  try {
    text = decodeURIComponent(pathSegment);
  } catch {
    throw malformed('the GET path is not valid percent-encoding');
  }
  let der: Buffer;
  // Unpadded base64url of only letters and digits matches BASE64 too: its length tells them apart.
  if (BASE64.test(text) && text.length % 4 === 0) {
    der = Buffer.from(text, 'base64');
    if (der.toString('base64') !== text) throw malformed('the GET path is not canonical base64');
  } else if (BASE64URL.test(text)) {
    const body = text.replace(/=+$/, '');
    if (text !== body && text.length % 4 !== 0) throw malformed('the GET path is base64url with wrong padding');
    der = Buffer.from(body, 'base64url');
    if (der.toString('base64url') !== body) throw malformed('the GET path is not canonical base64url');
  } else {
    throw malformed('the GET path is not base64 (RFC 6960 Appendix A.1)');
  }
  return parseOcspRequest(der);
}

export interface BuildOcspRequestInput {
  /** The CA certificate that issued the certificate asked about. */
  readonly issuer: ParsedCertificate;
  readonly serial: SerialNumber;
  /** 1 to 32 random bytes (RFC 8954); 32 recommended. Omit for RFC 5019 cacheable requests. */
  readonly nonce?: Buffer;
  /** SHA-1 by default: RFC 5019 §2.1.1 responders are only required to understand SHA-1. */
  readonly hashAlgorithm?: CertIdHash;
}

/** An unsigned one-certificate OCSPRequest (RFC 5019 §2.1), for clients and tests. */
export async function buildOcspRequest(input: BuildOcspRequestInput): Promise<Buffer> {
  const certId = certIdFor(input.issuer, input.serial, input.hashAlgorithm ?? 'sha1');
  checkCertId(certId, 'OCSP request');
  const tbsParts = [seq(seq(encodeCertId(certId)))];
  if (input.nonce !== undefined) {
    if (input.nonce.length === 0 || input.nonce.length > MAX_OCSP_NONCE_BYTES) {
      throw new PkiError('profile_violation', `an OCSP nonce must be 1 to ${MAX_OCSP_NONCE_BYTES} bytes (RFC 8954)`);
    }
    tbsParts.push(explicit(2, seq(nonceExtension(input.nonce))));
  }
  return seq(seq(...tbsParts));
}
