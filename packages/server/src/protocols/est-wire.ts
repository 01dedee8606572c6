/**
 * EST's wire formats (RFC 7030): the certs-only CMS answer (§4.1.3, §4.2.3), the CSR attributes
 * answer (§4.5.2), and the base64 transfer encoding both directions use (§4, RFC 8951 §3).
 * Pure functions over bytes, written with the pki package's strict DER encoder.
 */
import { type KeyType, OID, oid, seq, setOf, tlv } from '@provisio/pki';
import { ServiceError } from '../domain/errors.js';

/** RFC 5652 §3, §5.1: id-signedData and id-data. */
const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const ID_DATA = '1.2.840.113549.1.7.1';

/**
 * A degenerate SignedData (RFC 5652 §5.1; RFC 7030 §4.1.3 "certs-only"): no content, no signers,
 * the certificates in its `certificates` [0] IMPLICIT SET. Each entry is a DER certificate.
 */
export function encodeCertsOnly(certificates: readonly Buffer[]): Buffer {
  const signedData = seq(
    tlv(0x02, Buffer.from([1])), // version 1: only certificates, no attribute certificates
    setOf(), // digestAlgorithms: none, nothing is signed
    seq(oid(ID_DATA)), // encapContentInfo: id-data without eContent
    tlv(0xa0, ...[...certificates].sort((a, b) => Buffer.compare(a, b))), // [0] IMPLICIT SET OF, sorted (X.690 §11.6)
    setOf(), // signerInfos: none
  );
  return seq(oid(ID_SIGNED_DATA), tlv(0xa0, signedData));
}

/** RFC 7030 §4 (and RFC 2045 §6.8): base64 in lines of 64 characters, each ending in CRLF. */
export function base64Lines(der: Buffer): string {
  const text = der.toString('base64');
  let out = '';
  for (let i = 0; i < text.length; i += 64) out += `${text.slice(i, i + 64)}\r\n`;
  return out;
}

/**
 * The base64 body of an EST request: any whitespace anywhere is taken out (clients wrap lines
 * with LF, CRLF or not at all), then it must be base64 and nothing else (RFC 8951 §3). Node's
 * decoder skips what it cannot read, so the alphabet and padding are checked first.
 */
export function decodeBase64Body(body: Buffer): Buffer {
  const text = body.toString('latin1').replace(/[\t\n\v\f\r ]+/g, '');
  if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
    throw new ServiceError('est_request_invalid', 'the body is not base64 (RFC 7030 §4.2.1: a base64 DER PKCS#10 CSR, whitespace allowed anywhere)');
  }
  return Buffer.from(text, 'base64');
}

/**
 * CsrAttrs (RFC 7030 §4.5.2): what a CSR should look like here, as OIDs and attributes: the
 * signature algorithms and the key algorithms the component accepts, an EC key with its curves
 * (RFC 5480 §2.1.1). SEQUENCE SIZE (0..MAX) OF AttrOrOID.
 */
export function encodeCsrAttrs(keyTypes: readonly KeyType[]): Buffer {
  const items: Buffer[] = [];
  if (keyTypes.some((k) => k !== 'rsa3072')) items.push(oid(OID.ecdsaWithSha256));
  if (keyTypes.includes('rsa3072')) items.push(oid(OID.sha256WithRsa));
  const curves = keyTypes.filter((k) => k !== 'rsa3072').map((k) => oid(k === 'p384' ? OID.p384 : OID.p256));
  if (curves.length > 0) items.push(seq(oid(OID.ecPublicKey), setOf(...curves)));
  if (keyTypes.includes('rsa3072')) items.push(oid(OID.rsaEncryption));
  return seq(...items);
}
