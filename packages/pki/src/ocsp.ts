/**
 * OCSP (RFC 6960, with the RFC 5019 lightweight profile): the parts requests and responses
 * share. Requests live in ocsp-request.ts, responses in ocsp-response.ts.
 *
 *   CertID ::= SEQUENCE {
 *       hashAlgorithm       AlgorithmIdentifier,
 *       issuerNameHash      OCTET STRING, -- Hash of issuer's DN
 *       issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
 *       serialNumber        CertificateSerialNumber }
 */
import { createHash } from 'node:crypto';
import type { ParsedCertificate } from './certificate.js';
import {
  children,
  content,
  decodeOid,
  decodeUnsignedInteger,
  expectTag,
  NULL,
  octetString,
  oid,
  readTlv,
  seq,
  Tag,
  type Tlv,
  unsignedInteger,
} from './der.js';
import { PkiError } from './errors.js';
import { extension, type RawExtension } from './extensions.js';
import { OID } from './oids.js';
import { type SerialNumber, serialFromBytes, serialToBytes } from './serial.js';

export type CertIdHash = 'sha1' | 'sha256';

export interface CertId {
  /**
   * SHA-1 is what RFC 5019 §2.1.1 clients send and what OpenSSL sends by default; hashing
   * public names here has no collision-resistance requirement. SHA-256 is accepted too.
   */
  readonly hashAlgorithm: CertIdHash;
  /** Hash over the DER of the issuer's subject Name. */
  readonly issuerNameHash: Buffer;
  /** Hash over the issuer's subjectPublicKey BIT STRING value (no tag, length or unused-bits octet). */
  readonly issuerKeyHash: Buffer;
  readonly serial: SerialNumber;
}

const HASH_OIDS: Readonly<Record<CertIdHash, string>> = { sha1: OID.sha1, sha256: OID.sha256 };
const HASH_LENGTHS: Readonly<Record<CertIdHash, number>> = { sha1: 20, sha256: 32 };

/** RFC 8954 §2.1: a nonce is 1 to 32 octets; 32 is also what we send. */
export const MAX_OCSP_NONCE_BYTES = 32;

/** The CertID naming `serial` as issued by `issuer`. */
export function certIdFor(issuer: ParsedCertificate, serial: SerialNumber, hashAlgorithm: CertIdHash = 'sha1'): CertId {
  if (!Object.hasOwn(HASH_OIDS, hashAlgorithm)) {
    throw new TypeError(`CertID hash algorithm must be sha1 or sha256, got ${String(hashAlgorithm)}`);
  }
  return {
    hashAlgorithm,
    issuerNameHash: createHash(hashAlgorithm).update(issuer.subject.der).digest(),
    issuerKeyHash: createHash(hashAlgorithm).update(issuer.publicKey.keyBits).digest(),
    serial,
  };
}

/**
 * Whether `id` names `issuer` (RFC 6960 §4.1.1): issuerNameHash over the issuer's subject DER
 * and issuerKeyHash over its public key bits, both with the CertID's hash algorithm.
 */
export function certIdMatchesIssuer(id: CertId, issuer: ParsedCertificate): boolean {
  if (!Object.hasOwn(HASH_OIDS, id.hashAlgorithm)) return false;
  const nameHash = createHash(id.hashAlgorithm).update(issuer.subject.der).digest();
  const keyHash = createHash(id.hashAlgorithm).update(issuer.publicKey.keyBits).digest();
  return nameHash.equals(id.issuerNameHash) && keyHash.equals(id.issuerKeyHash);
}

/** Whether two CertIDs name the same certificate (same hash algorithm, hashes and serial). */
export function certIdsEqual(a: CertId, b: CertId): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.serial === b.serial &&
    a.issuerNameHash.equals(b.issuerNameHash) &&
    a.issuerKeyHash.equals(b.issuerKeyHash)
  );
}

/**
 * Checks a CertID we are about to encode; `what` prefixes the message. Throws profile_violation,
 * since a bad CertID here is the caller's fault, not the peer's.
 */
export function checkCertId(id: CertId, what: string): void {
  const fail = (message: string): never => {
    throw new PkiError('profile_violation', `${what}: ${message}`);
  };
  if (!Object.hasOwn(HASH_OIDS, id.hashAlgorithm)) fail('CertID hash algorithm must be sha1 or sha256');
  const length = HASH_LENGTHS[id.hashAlgorithm];
  if (!Buffer.isBuffer(id.issuerNameHash) || id.issuerNameHash.length !== length) {
    fail(`issuerNameHash must be ${length} bytes`);
  }
  if (!Buffer.isBuffer(id.issuerKeyHash) || id.issuerKeyHash.length !== length) {
    fail(`issuerKeyHash must be ${length} bytes`);
  }
  if (typeof id.serial !== 'string' || !/^(?:[0-9a-f]{2}){1,20}$/.test(id.serial) || id.serial.startsWith('00')) {
    fail(`serial "${String(id.serial).slice(0, 48)}" is not a canonical serial of 1 to 20 octets`);
  }
}

/**
 * CertID DER. The SHA-1/SHA-256 AlgorithmIdentifier carries NULL parameters, as OpenSSL and
 * most clients send it; matching compares the OID only (RFC 5754 §2 allows either form).
 */
export function encodeCertId(id: CertId): Buffer {
  return seq(
    seq(oid(HASH_OIDS[id.hashAlgorithm]), NULL),
    octetString(id.issuerNameHash),
    octetString(id.issuerKeyHash),
    unsignedInteger(serialToBytes(id.serial)),
  );
}

function malformed(what: string): PkiError {
  return new PkiError('der_malformed', `malformed DER: ${what}`);
}

/**
 * Decodes a CertID at `tlv`. Throws der_malformed on any fault; the request and response parsers
 * rewrap it into their own codes.
 */
export function decodeCertId(buf: Uint8Array, tlv: Tlv): CertId {
  const [algTlv, nameTlv, keyTlv, serialTlv, extra] = children(buf, expectTag(tlv, Tag.SEQUENCE, 'CertID'));
  if (extra) throw malformed('CertID has extra fields');
  const [algOidTlv, params, extraAlg] = children(buf, expectTag(algTlv, Tag.SEQUENCE, 'hashAlgorithm'));
  const algOid = decodeOid(buf, expectTag(algOidTlv, Tag.OID, 'hashAlgorithm'));
  // RFC 5754 §2: parameters absent or NULL.
  if (extraAlg || (params && (params.tag !== Tag.NULL || params.end !== params.contentStart))) {
    throw malformed('CertID hashAlgorithm parameters must be absent or NULL');
  }
  const hashAlgorithm = algOid === OID.sha1 ? 'sha1' : algOid === OID.sha256 ? 'sha256' : null;
  if (!hashAlgorithm) throw malformed(`CertID hash algorithm ${algOid} is not supported (use SHA-1 or SHA-256)`);
  const length = HASH_LENGTHS[hashAlgorithm];
  const issuerNameHash = Buffer.from(content(buf, expectTag(nameTlv, Tag.OCTET_STRING, 'issuerNameHash')));
  const issuerKeyHash = Buffer.from(content(buf, expectTag(keyTlv, Tag.OCTET_STRING, 'issuerKeyHash')));
  if (issuerNameHash.length !== length || issuerKeyHash.length !== length) {
    throw malformed(`CertID hashes must be ${length} bytes for ${hashAlgorithm}`);
  }
  const magnitude = decodeUnsignedInteger(buf, expectTag(serialTlv, Tag.INTEGER, 'serialNumber'), 'serialNumber');
  const serial = serialFromBytes(magnitude);
  // RFC 5280 §4.1.2.2: serials are positive and at most 20 octets; nothing else can be ours.
  if (serial === '' || magnitude.length > 20) throw malformed('CertID serial is zero or longer than 20 octets');
  return { hashAlgorithm, issuerNameHash, issuerKeyHash, serial };
}

/** RFC 6960 §4.4.1 / RFC 8954: the nonce extension, extnValue = OCTET STRING (SIZE(1..32)). */
export function nonceExtension(nonce: Uint8Array): Buffer {
  return extension(OID.ocspNonce, false, octetString(nonce));
}

/** The nonce inside a nonce extension's value, or der_malformed. */
export function decodeNonce(ext: RawExtension): Buffer {
  const t = readTlv(ext.value, 0, ext.value.length);
  if (t.end !== ext.value.length || t.tag !== Tag.OCTET_STRING) {
    throw malformed('the nonce extension value must be one OCTET STRING (RFC 8954 §2.1)');
  }
  return Buffer.from(content(ext.value, t));
}
