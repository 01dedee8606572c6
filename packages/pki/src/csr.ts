/**
 * PKCS#10 certification requests (RFC 2986). A CSR only proves possession of its key; the
 * names it asks for are shown to people but never copied into a certificate (security.md), and
 * a subjectAltName the certificate would not carry is refused (checkRequestedSubjectAltNames).
 */
import {
  bitString,
  children,
  DEFAULT_MAX_DEPTH,
  decodeBitString,
  decodeOid,
  decodeSmallInteger,
  expectTag,
  oid,
  readRoot,
  readTlv,
  seq,
  smallInteger,
  Tag,
  type Tlv,
  tlv,
  whole,
} from './der.js';
import { PkiError } from './errors.js';
import { type DecodedExtensions, type KeyUsage, decodeExtensions, extKeyUsageExtension, extension, keyUsageExtension, parseExtensionList } from './extensions.js';
import { encodeGeneralName, formatGeneralName, type GeneralName, parseGeneralName } from './general-name.js';
import { type PublicKeyInfo, parseSubjectPublicKeyInfo } from './keys.js';
import { type DistinguishedName, encodeName, type ParsedName, parseName } from './name.js';
import { OID } from './oids.js';
import { toDer } from './pem.js';
import { type SignatureAlgorithm, type Signer, signatureAlgorithmByOid, verifySignature } from './signer.js';

/**
 * 16 KiB: a P-256 CSR is ~250 bytes and an RSA-8192 one ~1.5 KiB; anything past 16 KiB is not a
 * device CSR and is refused before parsing.
 */
export const MAX_CSR_BYTES = 16 * 1024;

export interface ParsedCsr {
  readonly der: Buffer;
  /** The certificationRequestInfo bytes the signature covers, exactly as received. */
  readonly info: Buffer;
  readonly subject: ParsedName;
  readonly publicKey: PublicKeyInfo;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Buffer;
  /** Extensions the requester asked for (shown, never copied). */
  readonly requestedExtensions: DecodedExtensions;
}

export interface CreateCsrOptions {
  readonly subject: DistinguishedName;
  readonly subjectAltName?: readonly GeneralName[];
  /** Asked for in the extensionRequest (shown to people; the profile decides what is issued). */
  readonly keyUsage?: readonly KeyUsage[];
  /** Extended key usage OIDs asked for, e.g. OID.kpClientAuth. */
  readonly extKeyUsage?: readonly string[];
}

export async function createCsr(signer: Signer, options: CreateCsrOptions): Promise<Buffer> {
  const attributes: Buffer[] = [];
  const requested: Buffer[] = [];
  if (options.subjectAltName && options.subjectAltName.length > 0) {
    requested.push(extension(OID.subjectAltName, false, seq(...options.subjectAltName.map(encodeGeneralName))));
  }
  if (options.keyUsage && options.keyUsage.length > 0) requested.push(keyUsageExtension(options.keyUsage));
  if (options.extKeyUsage && options.extKeyUsage.length > 0) requested.push(extKeyUsageExtension(options.extKeyUsage));
  if (requested.length > 0) attributes.push(seq(oid(OID.extensionRequest), tlv(Tag.SET, seq(...requested))));
  const info = seq(smallInteger(0), encodeName(options.subject), signer.publicKey.spki, tlv(0xa0, ...attributes));
  const signature = await signer.sign(info);
  return seq(info, signer.algorithm.der, bitString(signature));
}

/** Parses without verifying; `verifyCsr` proves possession. Accepts PEM or DER. */
export function parseCsr(input: Uint8Array | string): ParsedCsr {
  const der = toDer(input, 'CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST');
  const root = readRoot(der, { maxBytes: MAX_CSR_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  const [infoTlv, algTlv, sigTlv, extra] = children(der, expectTag(root, Tag.SEQUENCE, 'CertificationRequest'));
  if (extra) throw new PkiError('csr_invalid', 'CertificationRequest has fields after the signature');
  const [versionTlv, subjectTlv, spkiTlv, attrsTlv, extraInfo] = children(
    der,
    expectTag(infoTlv, Tag.SEQUENCE, 'certificationRequestInfo'),
  );
  if (extraInfo) throw new PkiError('csr_invalid', 'certificationRequestInfo has unexpected trailing fields');
  if (decodeSmallInteger(der, expectTag(versionTlv, Tag.INTEGER, 'version'), 'version') !== 0) {
    throw new PkiError('csr_invalid', 'only version 1 (value 0) PKCS#10 requests exist');
  }
  const subject = parseName(der, expectTag(subjectTlv, Tag.SEQUENCE, 'subject'));
  const publicKey = parseSubjectPublicKeyInfo(der, expectTag(spkiTlv, Tag.SEQUENCE, 'subjectPKInfo'));
  const requestedExtensions = parseAttributes(der, expectTag(attrsTlv, 0xa0, 'attributes'));
  const alg = children(der, expectTag(algTlv, Tag.SEQUENCE, 'signatureAlgorithm'));
  const signatureAlgorithm = signatureAlgorithmByOid(decodeOid(der, expectTag(alg[0], Tag.OID, 'algorithm')));
  const signature = Buffer.from(decodeBitString(der, expectTag(sigTlv, Tag.BIT_STRING, 'signature')).bytes);
  return {
    der,
    info: Buffer.from(whole(der, infoTlv as Tlv)),
    subject,
    publicKey,
    signatureAlgorithm,
    signature,
    requestedExtensions,
  };
}

/**
 * PKCS#9 attributes that are SINGLE VALUE (RFC 2985 §5.4.1, §5.4.2). A second one, or a second
 * value, would let two readers of one CSR take different extensions or passwords from it.
 */
const SINGLE_VALUED_ATTRIBUTES: Readonly<Record<string, string>> = {
  [OID.extensionRequest]: 'extensionRequest',
  [OID.challengePassword]: 'challengePassword',
};

function parseAttributes(der: Buffer, attrs: Tlv): DecodedExtensions {
  const seen = new Set<string>();
  let requested: DecodedExtensions = {};
  for (const attr of children(der, attrs)) {
    const [type, values] = children(der, expectTag(attr, Tag.SEQUENCE, 'Attribute'));
    const typeOid = decodeOid(der, expectTag(type, Tag.OID, 'attribute type'));
    const name = SINGLE_VALUED_ATTRIBUTES[typeOid];
    if (name === undefined) continue;
    if (seen.has(typeOid)) {
      throw new PkiError('csr_invalid', `the CSR carries the ${name} attribute twice; PKCS#9 allows it once`);
    }
    seen.add(typeOid);
    const list = children(der, expectTag(values, Tag.SET, 'attribute values'));
    if (list.length === 0) throw new PkiError('der_malformed', `malformed DER: empty ${name}`);
    if (list.length > 1) throw new PkiError('csr_invalid', `the CSR's ${name} attribute has ${list.length} values; PKCS#9 allows one`);
    // Decoding catches malformed requested extensions early; the result is for display and for
    // refusing names the certificate would not carry (checkRequestedSubjectAltNames).
    const [value] = list as [Tlv];
    if (typeOid === OID.extensionRequest) requested = decodeExtensions(parseExtensionList(der, readTlv(der, value.start, value.end)));
  }
  return requested;
}

/**
 * Refuses a CSR that asks for a subjectAltName the certificate will not carry (`granted`: the
 * names its profile writes). Issuance never copies names from a CSR; silently dropping one would
 * hand the requester a certificate other than the one asked for, so the request is refused
 * instead and says which name to leave out.
 */
export function checkRequestedSubjectAltNames(csr: ParsedCsr, granted: readonly GeneralName[]): void {
  const requested = csr.requestedExtensions.subjectAltName ?? [];
  if (requested.length === 0) return;
  // Compared as each side reads back from DER, so one name has one spelling.
  const allowed = new Set(granted.map((name) => {
    const der = encodeGeneralName(name);
    return formatGeneralName(parseGeneralName(der, readTlv(der, 0, der.length)));
  }));
  const refused = requested.map(formatGeneralName).filter((name) => !allowed.has(name));
  if (refused.length > 0) {
    throw new PkiError(
      'csr_san_not_allowed',
      `the CSR asks for subjectAltName ${refused.map((n) => JSON.stringify(n.slice(0, 120))).join(', ')}, which the certificate would not carry (it carries ${[...allowed].map((n) => JSON.stringify(n.slice(0, 120))).join(', ') || 'none'}); make the CSR without it`,
    );
  }
}

/** Proof of possession: the CSR is signed by the private half of the key it carries. */
export function verifyCsr(csr: ParsedCsr): void {
  if (!verifySignature(csr.signatureAlgorithm, csr.publicKey, csr.info, csr.signature)) {
    throw new PkiError(
      'csr_signature_invalid',
      'the CSR signature does not verify with the key it carries; regenerate the CSR on the device that holds the key',
    );
  }
}

export function parseAndVerifyCsr(input: Uint8Array | string): ParsedCsr {
  const csr = parseCsr(input);
  verifyCsr(csr);
  return csr;
}
