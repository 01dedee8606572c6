/**
 * Certificate revocation lists (RFC 5280 §5): building v2 CRLs, strict parsing, verification.
 *
 *   CertificateList  ::=  SEQUENCE  {
 *        tbsCertList          TBSCertList,
 *        signatureAlgorithm   AlgorithmIdentifier,
 *        signatureValue       BIT STRING  }
 *
 *   TBSCertList  ::=  SEQUENCE  {
 *        version                 Version OPTIONAL,  -- if present, MUST be v2
 *        signature               AlgorithmIdentifier,
 *        issuer                  Name,
 *        thisUpdate              Time,
 *        nextUpdate              Time OPTIONAL,
 *        revokedCertificates     SEQUENCE OF SEQUENCE  {
 *             userCertificate         CertificateSerialNumber,
 *             revocationDate          Time,
 *             crlEntryExtensions      Extensions OPTIONAL  }  OPTIONAL,
 *        crlExtensions           [0]  EXPLICIT Extensions OPTIONAL  }
 *
 * Same shape as issuance: a typed plan, linted, encoded, then signed over exactly those bytes.
 */
import type { ParsedCertificate } from './certificate.js';
import {
  bitString,
  children,
  DEFAULT_MAX_DEPTH,
  decodeBitString,
  decodeOid,
  decodeSmallInteger,
  decodeTime,
  decodeUnsignedInteger,
  enumerated,
  expectTag,
  explicit,
  readRoot,
  readTlv,
  seq,
  smallInteger,
  Tag,
  type Tlv,
  time,
  unsignedInteger,
  whole,
} from './der.js';
import { PkiError } from './errors.js';
import { authorityKeyIdentifierExtension, decodeExtensions, extension, parseExtensionList } from './extensions.js';
import { keyIdentifier } from './keys.js';
import { formatName, type ParsedName, parseName } from './name.js';
import { OID } from './oids.js';
import { toDer } from './pem.js';
import { type SerialNumber, serialFromBytes, serialToBytes } from './serial.js';
import { type SignatureAlgorithm, type Signer, signatureAlgorithmByOid, verifySignature } from './signer.js';

// ---------------------------------------------------------------------------------------------
// Revocation reasons

/** RFC 5280 §5.3.1 CRLReason, codes 0-10 (7 is not used). */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

/** Every CRLReason, in code order. `removeFromCRL` exists only for delta CRLs (see buildCrl). */
export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

const REASON_CODES: Readonly<Record<RevocationReason, number>> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  // 7 is not used (RFC 5280 §5.3.1).
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};
const REASONS_BY_CODE = new Map<number, RevocationReason>(
  Object.entries(REASON_CODES).map(([name, code]) => [code, name as RevocationReason]),
);

export function isRevocationReason(value: string): value is RevocationReason {
  return Object.hasOwn(REASON_CODES, value);
}

export function revocationReasonCode(reason: RevocationReason): number {
  if (!isRevocationReason(reason)) {
    throw new PkiError(
      'revocation_reason_invalid',
      `revocation reason "${String(reason).slice(0, 40)}" is not one of ${REVOCATION_REASONS.join(', ')}`,
    );
  }
  return REASON_CODES[reason];
}

export function revocationReasonFromCode(code: number): RevocationReason {
  const reason = REASONS_BY_CODE.get(code);
  if (reason === undefined) {
    throw new PkiError(
      'revocation_reason_invalid',
      `CRLReason ${code} is not defined by RFC 5280 §5.3.1 (codes 0-6 and 8-10)`,
    );
  }
  return reason;
}

/**
 * Reasons a CA may state for a certificate it revokes. `removeFromCRL` only un-revokes a
 * certificateHold in a delta CRL (RFC 5280 §5.3.1); Provisio issues complete CRLs only, and an
 * OCSP responder answers "good" for a released hold instead.
 */
export function checkRevocationReason(reason: RevocationReason): void {
  revocationReasonCode(reason);
  if (reason === 'removeFromCRL') {
    throw new PkiError(
      'revocation_reason_invalid',
      'removeFromCRL is only meaningful in delta CRLs (RFC 5280 §5.3.1); to release a hold, drop the entry instead',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Building

export interface RevokedEntry {
  readonly serial: SerialNumber;
  readonly revokedAt: Date;
  readonly reason: RevocationReason;
}

export interface CrlInput {
  /** The CA certificate whose key signs the CRL; its subject becomes the CRL issuer. */
  readonly issuer: ParsedCertificate;
  readonly signer: Signer;
  /** RFC 5280 §5.2.3: monotonically increasing; the caller keeps the counter (security.md I6). */
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: readonly RevokedEntry[];
}

/** RFC 5280 §5.2.3: a CRL number fits in 20 octets, so it is below 2^159 (the sign bit is 0). */
export const MAX_CRL_NUMBER = (1n << 159n) - 1n;

/** The typed TBSCertList that lint checks and the encoder writes. Times are whole seconds. */
interface CrlPlan {
  readonly issuer: ParsedCertificate;
  readonly signer: Signer;
  readonly authorityKeyId: Buffer;
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: readonly RevokedEntry[];
}

/** Time fields carry whole seconds (RFC 5280 §5.1.2.4); lint compares what will be encoded. */
function wholeSeconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

function isValidDate(date: unknown): date is Date {
  return date instanceof Date && !Number.isNaN(date.getTime());
}

function planCrl(input: CrlInput): CrlPlan {
  const lint = (message: string): never => {
    throw new PkiError('profile_violation', `CRL: ${message}`);
  };
  const { issuer, signer } = input;
  if (!issuer.publicKey.spki.equals(signer.publicKey.spki)) {
    lint(`the signer key does not match the issuer certificate "${formatName(issuer.subject)}"`);
  }
  // RFC 5280 §4.2.1.3: the key that signs CRLs must be allowed to (cRLSign).
  const ku = issuer.decoded.keyUsage;
  if (ku && !ku.has('cRLSign')) lint(`issuer "${formatName(issuer.subject)}" lacks cRLSign in its key usage`);
  if (!isValidDate(input.thisUpdate) || !isValidDate(input.nextUpdate)) lint('thisUpdate and nextUpdate must be dates');
  const thisUpdate = wholeSeconds(input.thisUpdate);
  const nextUpdate = wholeSeconds(input.nextUpdate);
  // RFC 5280 §5.1.2.5: nextUpdate MUST be present and later than thisUpdate.
  if (!(nextUpdate > thisUpdate)) {
    lint(`nextUpdate ${nextUpdate.toISOString()} must be later than thisUpdate ${thisUpdate.toISOString()}`);
  }
  // A CRL signed outside the issuer's validity speaks for a key that is not (or no longer) vouched for.
  if (thisUpdate < wholeSeconds(issuer.notBefore) || thisUpdate > issuer.notAfter) {
    lint(
      `thisUpdate ${thisUpdate.toISOString()} is outside the issuer's validity ` +
        `(${issuer.notBefore.toISOString()} to ${issuer.notAfter.toISOString()})`,
    );
  }
  if (typeof input.crlNumber !== 'bigint' || input.crlNumber < 0n || input.crlNumber > MAX_CRL_NUMBER) {
    lint(`crlNumber must be an integer from 0 to 2^159-1 (RFC 5280 §5.2.3: at most 20 octets)`);
  }
  const seen = new Set<string>();
  const entries: RevokedEntry[] = [];
  for (const entry of input.entries) {
    const serial = entry.serial;
    // RFC 5280 §4.1.2.2: positive, at most 20 octets; one canonical spelling (serial.ts).
    if (typeof serial !== 'string' || !/^(?:[0-9a-f]{2}){1,20}$/.test(serial) || serial.startsWith('00')) {
      lint(`revoked serial "${String(serial).slice(0, 48)}" is not a canonical serial of 1 to 20 octets`);
    }
    if (seen.has(serial)) lint(`serial ${serial} is listed twice`);
    seen.add(serial);
    if (!isValidDate(entry.revokedAt)) lint(`serial ${serial}: revokedAt must be a date`);
    checkRevocationReason(entry.reason);
    entries.push({ serial, revokedAt: wholeSeconds(entry.revokedAt), reason: entry.reason });
  }
  return {
    issuer,
    signer,
    authorityKeyId: issuer.decoded.subjectKeyId ?? keyIdentifier(issuer.publicKey),
    crlNumber: input.crlNumber,
    thisUpdate,
    nextUpdate,
    entries,
  };
}

const VERSION_2 = smallInteger(1);

/** INTEGER from a non-negative bigint. */
function bigintInteger(n: bigint): Buffer {
  const hex = n.toString(16);
  return unsignedInteger(Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex'));
}

function encodeEntry(entry: RevokedEntry): Buffer {
  const fields = [unsignedInteger(serialToBytes(entry.serial)), time(entry.revokedAt)];
  // RFC 5280 §5.3.1: reasonCode is non-critical, and SHOULD be absent rather than unspecified (0).
  if (entry.reason !== 'unspecified') {
    fields.push(seq(extension(OID.crlReason, false, enumerated(revocationReasonCode(entry.reason)))));
  }
  return seq(...fields);
}

function encodeTbsCertList(plan: CrlPlan): Buffer {
  const fields = [
    VERSION_2,
    plan.signer.algorithm.der,
    plan.issuer.subject.der,
    time(plan.thisUpdate),
    time(plan.nextUpdate),
  ];
  // RFC 5280 §5.1.2.6: when there are no revoked certificates the list MUST be absent, not empty.
  if (plan.entries.length > 0) fields.push(seq(...plan.entries.map(encodeEntry)));
  // RFC 5280 §5.2.1 and §5.2.3: AKI and cRLNumber are REQUIRED, both non-critical.
  fields.push(
    explicit(
      0,
      seq(
        authorityKeyIdentifierExtension(plan.authorityKeyId),
        extension(OID.crlNumber, false, bigintInteger(plan.crlNumber)),
      ),
    ),
  );
  return seq(...fields);
}

/** Builds, lints and signs a complete v2 CRL; returns its DER. */
export async function buildCrl(input: CrlInput): Promise<Buffer> {
  const plan = planCrl(input);
  const tbs = encodeTbsCertList(plan);
  const signature = await plan.signer.sign(tbs);
  return seq(tbs, plan.signer.algorithm.der, bitString(signature));
}

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * 16 MiB: an entry costs ~40 bytes, so this holds ~400,000 revoked certificates, well past what
 * a device CA accumulates within a CRL's life; anything larger is refused before parsing.
 */
export const MAX_CRL_BYTES = 16 * 1024 * 1024;

export interface ParsedCrl {
  /** The DER exactly as received. */
  readonly der: Buffer;
  /** The TBSCertList bytes the signature covers (never a re-encoding). */
  readonly tbs: Buffer;
  readonly issuer: ParsedName;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | null;
  readonly crlNumber: bigint | null;
  readonly authorityKeyId: Buffer | null;
  /** In the order listed; a missing reasonCode reads as 'unspecified'. */
  readonly entries: RevokedEntry[];
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Buffer;
}

/** CRL extensions we process (RFC 5280 §5.2); any other critical one makes the CRL unusable. */
const UNDERSTOOD_CRL_EXTENSIONS: ReadonlySet<string> = new Set([OID.authorityKeyIdentifier, OID.crlNumber]);
/** CRL entry extensions we process (RFC 5280 §5.3). */
const UNDERSTOOD_ENTRY_EXTENSIONS: ReadonlySet<string> = new Set([OID.crlReason]);

function invalid(message: string): PkiError {
  return new PkiError('crl_invalid', message);
}

function isTime(t: Tlv | undefined): t is Tlv {
  return t !== undefined && (t.tag === Tag.UTC_TIME || t.tag === Tag.GENERALIZED_TIME);
}

/** The single value inside `value` (an extnValue), with no trailing bytes. */
function single(value: Buffer, what: string): Tlv {
  const t = readTlv(value, 0, value.length);
  if (t.end !== value.length) throw new PkiError('der_malformed', `malformed DER: trailing bytes in ${what}`);
  return t;
}

function decodeCrlNumber(value: Buffer): bigint {
  const magnitude = decodeUnsignedInteger(
    value,
    expectTag(single(value, 'cRLNumber'), Tag.INTEGER, 'CRLNumber'),
    'CRLNumber',
  );
  // RFC 5280 §5.2.3: at most 20 octets.
  if (magnitude.length > 20) throw invalid('cRLNumber is longer than 20 octets (RFC 5280 §5.2.3)');
  return BigInt(`0x${Buffer.from(magnitude).toString('hex')}`);
}

function decodeReason(value: Buffer): RevocationReason {
  const code = decodeSmallInteger(
    value,
    expectTag(single(value, 'reasonCode'), Tag.ENUMERATED, 'CRLReason'),
    'CRLReason',
  );
  try {
    return revocationReasonFromCode(code);
  } catch (e) {
    if (e instanceof PkiError) throw invalid(e.message);
    throw e;
  }
}

function parseEntry(der: Buffer, entryTlv: Tlv): RevokedEntry {
  const [serialTlv, dateTlv, extsTlv, extra] = children(der, expectTag(entryTlv, Tag.SEQUENCE, 'revoked certificate'));
  if (extra) throw invalid('a revoked certificate entry has fields after crlEntryExtensions');
  const magnitude = decodeUnsignedInteger(der, expectTag(serialTlv, Tag.INTEGER, 'userCertificate'), 'userCertificate');
  const serial = serialFromBytes(magnitude);
  if (serial === '' || magnitude.length > 20) {
    throw invalid('a revoked serial number is zero or longer than 20 octets (RFC 5280 §4.1.2.2)');
  }
  if (!isTime(dateTlv)) throw invalid('a revoked certificate entry lacks its revocationDate');
  const revokedAt = decodeTime(der, dateTlv);
  let reason: RevocationReason = 'unspecified';
  if (extsTlv) {
    for (const ext of parseExtensionList(der, extsTlv)) {
      if (ext.oid === OID.crlReason) reason = decodeReason(ext.value);
      else if (ext.critical && !UNDERSTOOD_ENTRY_EXTENSIONS.has(ext.oid)) {
        // RFC 5280 §5.3: e.g. certificateIssuer (indirect CRLs), which we do not process.
        throw invalid(`entry for serial ${serial} has critical extension ${ext.oid}, which is not processed`);
      }
    }
  }
  return { serial, revokedAt, reason };
}

function parseCrlDer(der: Buffer): ParsedCrl {
  const root = readRoot(der, { maxBytes: MAX_CRL_BYTES, maxDepth: DEFAULT_MAX_DEPTH });
  const [tbsTlv, algTlv, sigTlv, extra] = children(der, expectTag(root, Tag.SEQUENCE, 'CertificateList'));
  if (extra) throw invalid('CertificateList has fields after the signature');
  const parts = children(der, expectTag(tbsTlv, Tag.SEQUENCE, 'TBSCertList'));
  let i = 0;
  // RFC 5280 §5.1.2.1: v2 (value 1); a v1 CRL cannot carry the required AKI and cRLNumber.
  const versionTlv = parts[i];
  if (versionTlv?.tag !== Tag.INTEGER || decodeSmallInteger(der, versionTlv, 'version') !== 1) {
    throw invalid('only version 2 CRLs are accepted (RFC 5280 §5.1.2.1)');
  }
  i++;
  const innerAlg = children(der, expectTag(parts[i++], Tag.SEQUENCE, 'signature'));
  const innerAlgOid = decodeOid(der, expectTag(innerAlg[0], Tag.OID, 'signature algorithm'));
  const issuer = parseName(der, expectTag(parts[i++], Tag.SEQUENCE, 'issuer'));
  const thisUpdateTlv = parts[i++];
  if (!isTime(thisUpdateTlv)) throw invalid('thisUpdate is missing or not a Time');
  const thisUpdate = decodeTime(der, thisUpdateTlv);
  let nextUpdate: Date | null = null;
  if (isTime(parts[i])) nextUpdate = decodeTime(der, parts[i++] as Tlv);
  const entries: RevokedEntry[] = [];
  if (parts[i]?.tag === Tag.SEQUENCE) {
    const list = children(der, parts[i++] as Tlv);
    // RFC 5280 §5.1.2.6: an empty list is absent, never encoded empty.
    if (list.length === 0) throw invalid('revokedCertificates is present but empty (RFC 5280 §5.1.2.6)');
    const seen = new Set<string>();
    for (const entryTlv of list) {
      const entry = parseEntry(der, entryTlv);
      if (seen.has(entry.serial)) throw invalid(`serial ${entry.serial} is listed twice`);
      seen.add(entry.serial);
      entries.push(entry);
    }
  }
  let crlNumber: bigint | null = null;
  let authorityKeyId: Buffer | null = null;
  const extsTlv = parts[i];
  if (extsTlv?.tag === 0xa0) {
    i++;
    const list = readTlv(der, extsTlv.contentStart, extsTlv.end);
    if (list.end !== extsTlv.end) throw new PkiError('der_malformed', 'malformed DER: trailing bytes in crlExtensions');
    const exts = parseExtensionList(der, list);
    for (const ext of exts) {
      if (ext.critical && !UNDERSTOOD_CRL_EXTENSIONS.has(ext.oid)) {
        // RFC 5280 §5.2: e.g. deltaCRLIndicator or issuingDistributionPoint. A delta or partial
        // CRL read as a complete one would report revoked certificates as good.
        throw invalid(`CRL has critical extension ${ext.oid}, which is not processed`);
      }
      if (ext.oid === OID.crlNumber) crlNumber = decodeCrlNumber(ext.value);
    }
    authorityKeyId = decodeExtensions(exts.filter((e) => e.oid === OID.authorityKeyIdentifier)).authorityKeyId ?? null;
  }
  if (i !== parts.length) throw invalid(`unexpected field 0x${(parts[i] as Tlv).tag.toString(16)} in TBSCertList`);

  const outerAlg = children(der, expectTag(algTlv, Tag.SEQUENCE, 'signatureAlgorithm'));
  const outerAlgOid = decodeOid(der, expectTag(outerAlg[0], Tag.OID, 'signature algorithm'));
  // RFC 5280 §5.1.1.2: the two algorithm fields MUST match.
  if (outerAlgOid !== innerAlgOid) throw invalid('signatureAlgorithm and tbsCertList.signature differ');
  const signature = Buffer.from(decodeBitString(der, expectTag(sigTlv, Tag.BIT_STRING, 'signatureValue')).bytes);
  return {
    der,
    tbs: Buffer.from(whole(der, tbsTlv as Tlv)),
    issuer,
    thisUpdate,
    nextUpdate,
    crlNumber,
    authorityKeyId,
    entries,
    signatureAlgorithm: signatureAlgorithmByOid(outerAlgOid),
    signature,
  };
}

/**
 * Parses a CRL (PEM "X509 CRL" or DER) without verifying it; `verifyCrl` checks the signature.
 * Refuses BER, inputs over MAX_CRL_BYTES, v1 CRLs and CRLs with critical extensions we do not
 * process (RFC 5280 §5.2: such a CRL must not be used).
 */
export function parseCrl(input: Uint8Array | string): ParsedCrl {
  // Base64 is 4/3 of the DER plus line breaks: refuse huge text before decoding it.
  if (input.length > MAX_CRL_BYTES * 2) {
    throw new PkiError('input_too_large', `CRL input is ${input.length} bytes; the limit is ${MAX_CRL_BYTES} bytes`);
  }
  const der = toDer(input, 'X509 CRL');
  try {
    return parseCrlDer(der);
  } catch (e) {
    // parseExtensionList speaks of certificates; inside a CRL the same fault is a CRL fault.
    if (e instanceof PkiError && e.code === 'certificate_invalid') throw invalid(e.message);
    throw e;
  }
}

/**
 * Checks that `issuer` issued `crl`: name chaining, AKI against the issuer's SKI, cRLSign when
 * the issuer has a keyUsage extension (RFC 5280 §6.3.3 (f)), and the signature over the received
 * TBSCertList. Freshness (nextUpdate against now) is the caller's policy.
 */
export function verifyCrl(crl: ParsedCrl, issuer: ParsedCertificate): void {
  const fail = (message: string): never => {
    throw new PkiError('crl_signature_invalid', message);
  };
  const issuerName = formatName(issuer.subject);
  if (!crl.issuer.der.equals(issuer.subject.der)) {
    fail(`the CRL was issued by "${formatName(crl.issuer)}", not by "${issuerName}"`);
  }
  const ski = issuer.decoded.subjectKeyId;
  if (crl.authorityKeyId && ski && !crl.authorityKeyId.equals(ski)) {
    fail(`the CRL's authority key identifier does not match the key of "${issuerName}"`);
  }
  const ku = issuer.decoded.keyUsage;
  if (ku && !ku.has('cRLSign')) fail(`"${issuerName}" lacks cRLSign in its key usage and cannot sign CRLs`);
  let valid: boolean;
  try {
    valid = verifySignature(crl.signatureAlgorithm, issuer.publicKey, crl.tbs, crl.signature);
  } catch (e) {
    if (!(e instanceof PkiError)) throw e;
    valid = false; // e.g. an RSA algorithm claimed for an EC issuer key
  }
  if (!valid) fail(`the CRL signature does not verify with the key of "${issuerName}"`);
}
