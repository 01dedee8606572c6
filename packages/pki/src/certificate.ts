/** X.509 v3 certificates (RFC 5280 §4.1): strict parsing that keeps the bytes that were signed. */

import { createHash } from 'node:crypto';
import {
  children,
  DEFAULT_MAX_DEPTH,
  decodeBitString,
  decodeOid,
  decodeSmallInteger,
  decodeTime,
  decodeUnsignedInteger,
  expectTag,
  readRoot,
  readTlv,
  Tag,
  whole,
} from './der.js';
import { PkiError } from './errors.js';
import { type DecodedExtensions, decodeExtensions, parseExtensionList, type RawExtension } from './extensions.js';
import { type PublicKeyInfo, parseSubjectPublicKeyInfo } from './keys.js';
import { type ParsedName, parseName } from './name.js';
import { toDer } from './pem.js';
import { type SerialNumber, serialFromBytes } from './serial.js';
import { type SignatureAlgorithm, signatureAlgorithmByOid } from './signer.js';

/** 64 KiB: a device certificate is ~700 bytes, a large RSA CA certificate ~2 KiB. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

export interface ParsedCertificate {
  /** The DER exactly as received. */
  readonly der: Buffer;
  /** The TBSCertificate bytes the signature covers (never a re-encoding). */
  readonly tbs: Buffer;
  readonly serial: SerialNumber;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Buffer;
  readonly issuer: ParsedName;
  readonly subject: ParsedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: PublicKeyInfo;
  readonly extensions: readonly RawExtension[];
  readonly decoded: DecodedExtensions;
  /** SHA-256 over the DER, lowercase hex. */
  readonly fingerprint: string;
}

export function parseCertificate(input: Uint8Array | string): ParsedCertificate {
  const der = toDer(input, 'CERTIFICATE');
  const root = readRoot(der, { maxBytes: MAX_CERTIFICATE_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  const [tbsTlv, algTlv, sigTlv, extra] = children(der, expectTag(root, Tag.SEQUENCE, 'Certificate'));
  if (extra) throw new PkiError('certificate_invalid', 'Certificate has fields after the signature');
  const tbsParts = children(der, expectTag(tbsTlv, Tag.SEQUENCE, 'TBSCertificate'));

  let i = 0;
  const versionTlv = tbsParts[0];
  if (versionTlv?.tag !== 0xa0) throw new PkiError('certificate_invalid', 'only X.509 v3 certificates are accepted');
  const versionInner = readTlv(der, versionTlv.contentStart, versionTlv.end);
  if (decodeSmallInteger(der, expectTag(versionInner, Tag.INTEGER, 'version'), 'version') !== 2) {
    throw new PkiError('certificate_invalid', 'only X.509 v3 certificates are accepted');
  }
  i++;
  const serialBytes = decodeUnsignedInteger(der, expectTag(tbsParts[i++], Tag.INTEGER, 'serialNumber'), 'serialNumber');
  if (serialBytes.length > 20)
    throw new PkiError('certificate_invalid', 'serial number longer than 20 octets (RFC 5280 §4.1.2.2)');
  const innerAlg = children(der, expectTag(tbsParts[i++], Tag.SEQUENCE, 'signature'));
  const innerAlgOid = decodeOid(der, expectTag(innerAlg[0], Tag.OID, 'signature algorithm'));
  const issuer = parseName(der, expectTag(tbsParts[i++], Tag.SEQUENCE, 'issuer'));
  const [nb, na, extraValidity] = children(der, expectTag(tbsParts[i++], Tag.SEQUENCE, 'validity'));
  if (!nb || !na || extraValidity) throw new PkiError('der_malformed', 'malformed DER: Validity');
  const subject = parseName(der, expectTag(tbsParts[i++], Tag.SEQUENCE, 'subject'));
  const publicKey = parseSubjectPublicKeyInfo(der, expectTag(tbsParts[i++], Tag.SEQUENCE, 'subjectPublicKeyInfo'));
  let extensions: RawExtension[] = [];
  for (; i < tbsParts.length; i++) {
    const t = tbsParts[i] as (typeof tbsParts)[number];
    if (t.tag === 0x81 || t.tag === 0x82) continue; // issuer/subject unique IDs: ignored
    if (t.tag !== 0xa3)
      throw new PkiError('certificate_invalid', `unexpected field 0x${t.tag.toString(16)} in TBSCertificate`);
    if (i !== tbsParts.length - 1) throw new PkiError('certificate_invalid', 'fields after the extensions in TBSCertificate');
    const list = readTlv(der, t.contentStart, t.end);
    if (list.end !== t.end) throw new PkiError('der_malformed', 'malformed DER: trailing bytes after Extensions');
    extensions = parseExtensionList(der, list);
  }

  const outerAlg = children(der, expectTag(algTlv, Tag.SEQUENCE, 'signatureAlgorithm'));
  const outerAlgOid = decodeOid(der, expectTag(outerAlg[0], Tag.OID, 'signature algorithm'));
  // RFC 5280 §4.1.1.2: the two algorithm fields MUST match.
  if (outerAlgOid !== innerAlgOid) {
    throw new PkiError('certificate_invalid', 'signatureAlgorithm and tbsCertificate.signature differ');
  }
  const signature = Buffer.from(decodeBitString(der, expectTag(sigTlv, Tag.BIT_STRING, 'signatureValue')).bytes);

  return {
    der,
    tbs: Buffer.from(whole(der, tbsTlv as NonNullable<typeof tbsTlv>)),
    serial: serialFromBytes(serialBytes),
    signatureAlgorithm: signatureAlgorithmByOid(outerAlgOid),
    signature,
    issuer,
    subject,
    notBefore: decodeTime(der, nb),
    notAfter: decodeTime(der, na),
    publicKey,
    extensions,
    decoded: decodeExtensions(extensions),
    fingerprint: createHash('sha256').update(der).digest('hex'),
  };
}

export function isSelfIssued(cert: ParsedCertificate): boolean {
  return cert.issuer.der.equals(cert.subject.der);
}

export function isCa(cert: ParsedCertificate): boolean {
  return cert.decoded.basicConstraints?.ca === true;
}
