/** X.509 v3 extensions (RFC 5280 §4.2): encoders for issuance, decoders for parsing. */
import {
  children,
  content,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeSmallInteger,
  expectTag,
  explicit,
  implicitPrimitive,
  NULL,
  namedBitString,
  octetString,
  oid,
  readTlv,
  seq,
  smallInteger,
  Tag,
  type Tlv,
  TRUE,
  tlv,
} from './der.js';
import { PkiError } from './errors.js';
import { encodeGeneralName, type GeneralName, type ParsedGeneralName, parseGeneralNames } from './general-name.js';
import { OID } from './oids.js';

export const KEY_USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
] as const;
export type KeyUsage = (typeof KEY_USAGES)[number];

export function extension(oidText: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? seq(oid(oidText), TRUE, octetString(value)) : seq(oid(oidText), octetString(value));
}

/** RFC 5280 §4.2.1.9: critical in CA certificates; we mark it critical in every certificate. */
export function basicConstraintsExtension(ca: boolean, pathLength?: number): Buffer {
  const parts: Buffer[] = [];
  if (ca) parts.push(TRUE);
  if (ca && pathLength !== undefined) parts.push(smallInteger(pathLength));
  return extension(OID.basicConstraints, true, seq(...parts));
}

/** RFC 5280 §4.2.1.3: SHOULD be critical. */
export function keyUsageExtension(usages: readonly KeyUsage[]): Buffer {
  return extension(OID.keyUsage, true, namedBitString(usages.map((u) => KEY_USAGES.indexOf(u))));
}

export function extKeyUsageExtension(purposes: readonly string[]): Buffer {
  return extension(OID.extKeyUsage, false, seq(...purposes.map(oid)));
}

export function subjectKeyIdentifierExtension(keyId: Uint8Array): Buffer {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

/** RFC 5280 §4.2.1.1: keyIdentifier form, [0] IMPLICIT. */
export function authorityKeyIdentifierExtension(keyId: Uint8Array): Buffer {
  return extension(OID.authorityKeyIdentifier, false, seq(implicitPrimitive(0, keyId)));
}

/** RFC 5280 §4.2.1.6: critical when the subject field is empty. */
export function subjectAltNameExtension(names: readonly GeneralName[], critical: boolean): Buffer {
  return extension(OID.subjectAltName, critical, seq(...names.map(encodeGeneralName)));
}

/** RFC 5280 §4.2.1.13: one DistributionPoint with a fullName URI. */
export function crlDistributionPointsExtension(url: string): Buffer {
  const fullName = tlv(0xa0, encodeGeneralName({ type: 'uri', value: url }));
  return extension(OID.crlDistributionPoints, false, seq(seq(explicit(0, fullName))));
}

/** RFC 5280 §4.2.2.1 */
export function authorityInfoAccessExtension(urls: { ocsp?: string; caIssuers?: string }): Buffer {
  const descriptions: Buffer[] = [];
  if (urls.ocsp) descriptions.push(seq(oid(OID.accessOcsp), encodeGeneralName({ type: 'uri', value: urls.ocsp })));
  if (urls.caIssuers) {
    descriptions.push(seq(oid(OID.accessCaIssuers), encodeGeneralName({ type: 'uri', value: urls.caIssuers })));
  }
  return extension(OID.authorityInfoAccess, false, seq(...descriptions));
}

/** RFC 6960 §4.2.2.2.1: id-pkix-ocsp-nocheck, value NULL. */
export function ocspNoCheckExtension(): Buffer {
  return extension(OID.ocspNoCheck, false, NULL);
}

// ---------------------------------------------------------------------------------------------
// Decoding

export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Buffer;
}

/** Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension; duplicates refused (RFC 5280 §4.2). */
export function parseExtensionList(buf: Uint8Array, list: Tlv): RawExtension[] {
  const out: RawExtension[] = [];
  const seen = new Set<string>();
  for (const ext of children(buf, expectTag(list, Tag.SEQUENCE, 'Extensions'))) {
    const parts = children(buf, expectTag(ext, Tag.SEQUENCE, 'Extension'));
    const id = decodeOid(buf, expectTag(parts[0], Tag.OID, 'extnID'));
    let critical = false;
    let valueTlv = parts[1];
    if (valueTlv?.tag === Tag.BOOLEAN) {
      critical = decodeBoolean(buf, valueTlv);
      // X.690 §11.5: a DEFAULT value is never encoded in DER.
      if (!critical) throw new PkiError('der_malformed', 'malformed DER: critical FALSE must be omitted');
      valueTlv = parts[2];
    }
    expectTag(valueTlv, Tag.OCTET_STRING, 'extnValue');
    if (parts.length !== (critical ? 3 : 2)) throw new PkiError('der_malformed', 'malformed DER: Extension');
    if (seen.has(id)) throw new PkiError('certificate_invalid', `extension ${id} appears twice`);
    seen.add(id);
    out.push({ oid: id, critical, value: Buffer.from(content(buf, valueTlv as Tlv)) });
  }
  return out;
}

function root(value: Buffer, what: string): Tlv {
  const t = readTlv(value, 0, value.length);
  if (t.end !== value.length) throw new PkiError('der_malformed', `malformed DER: trailing bytes in ${what}`);
  return t;
}

export interface DecodedExtensions {
  basicConstraints?: { ca: boolean; pathLength?: number };
  keyUsage?: ReadonlySet<KeyUsage>;
  extKeyUsage?: readonly string[];
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  subjectAltName?: readonly ParsedGeneralName[];
  crlDistributionPoints?: readonly string[];
  ocspUrls?: readonly string[];
  caIssuersUrls?: readonly string[];
  ocspNoCheck?: boolean;
}

/** The extensions this code understands; a critical extension not listed here fails path validation. */
export const UNDERSTOOD_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.subjectAltName,
  OID.crlDistributionPoints,
  OID.authorityInfoAccess,
  OID.ocspNoCheck,
]);

export function decodeExtensions(exts: readonly RawExtension[]): DecodedExtensions {
  const out: DecodedExtensions = {};
  for (const ext of exts) {
    const v = ext.value;
    switch (ext.oid) {
      case OID.basicConstraints: {
        const parts = children(v, expectTag(root(v, 'basicConstraints'), Tag.SEQUENCE, 'BasicConstraints'));
        let i = 0;
        let ca = false;
        if (parts[i]?.tag === Tag.BOOLEAN) {
          ca = decodeBoolean(v, parts[i] as Tlv);
          if (!ca) throw new PkiError('der_malformed', 'malformed DER: cA FALSE must be omitted');
          i++;
        }
        const pl = parts[i];
        const pathLength = pl
          ? decodeSmallInteger(v, expectTag(pl, Tag.INTEGER, 'pathLenConstraint'), 'pathLenConstraint')
          : undefined;
        out.basicConstraints = pathLength === undefined ? { ca } : { ca, pathLength };
        break;
      }
      case OID.keyUsage: {
        const { bytes } = decodeBitString(v, expectTag(root(v, 'keyUsage'), Tag.BIT_STRING, 'KeyUsage'), true);
        const set = new Set<KeyUsage>();
        KEY_USAGES.forEach((name, bit) => {
          if (((bytes[bit >> 3] ?? 0) & (0x80 >> (bit & 7))) !== 0) set.add(name);
        });
        out.keyUsage = set;
        break;
      }
      case OID.extKeyUsage: {
        const list = children(v, expectTag(root(v, 'extKeyUsage'), Tag.SEQUENCE, 'ExtKeyUsageSyntax'));
        // ExtKeyUsageSyntax is SIZE (1..MAX): an empty list is invalid (step-ca's 2026 crash).
        if (list.length === 0) throw new PkiError('certificate_invalid', 'extKeyUsage must not be empty');
        out.extKeyUsage = list.map((t) => decodeOid(v, expectTag(t, Tag.OID, 'KeyPurposeId')));
        break;
      }
      case OID.subjectKeyIdentifier:
        out.subjectKeyId = Buffer.from(content(v, expectTag(root(v, 'SKI'), Tag.OCTET_STRING, 'KeyIdentifier')));
        break;
      case OID.authorityKeyIdentifier: {
        const parts = children(v, expectTag(root(v, 'AKI'), Tag.SEQUENCE, 'AuthorityKeyIdentifier'));
        const keyId = parts.find((p) => p.tag === 0x80);
        if (keyId) out.authorityKeyId = Buffer.from(content(v, keyId));
        break;
      }
      case OID.subjectAltName: {
        const names = parseGeneralNames(v, expectTag(root(v, 'SAN'), Tag.SEQUENCE, 'GeneralNames'));
        if (names.length === 0) throw new PkiError('certificate_invalid', 'subjectAltName must not be empty');
        out.subjectAltName = names;
        break;
      }
      case OID.crlDistributionPoints: {
        const urls: string[] = [];
        for (const dp of children(v, expectTag(root(v, 'CDP'), Tag.SEQUENCE, 'CRLDistributionPoints'))) {
          for (const field of children(v, expectTag(dp, Tag.SEQUENCE, 'DistributionPoint'))) {
            if (field.tag !== 0xa0) continue;
            const fullName = readTlv(v, field.contentStart, field.end);
            if (fullName.tag !== 0xa0) continue;
            for (const gn of parseGeneralNames(v, fullName)) if (gn.type === 'uri') urls.push(gn.value);
          }
        }
        out.crlDistributionPoints = urls;
        break;
      }
      case OID.authorityInfoAccess: {
        const ocsp: string[] = [];
        const issuers: string[] = [];
        for (const ad of children(v, expectTag(root(v, 'AIA'), Tag.SEQUENCE, 'AuthorityInfoAccessSyntax'))) {
          const [method, location] = children(v, expectTag(ad, Tag.SEQUENCE, 'AccessDescription'));
          const methodOid = decodeOid(v, expectTag(method, Tag.OID, 'accessMethod'));
          if (!location) throw new PkiError('der_malformed', 'malformed DER: accessLocation missing');
          const [gn] = parseGeneralNames(v, {
            tag: Tag.SEQUENCE,
            start: location.start,
            contentStart: location.start,
            end: location.end,
          });
          if (gn?.type !== 'uri') continue;
          if (methodOid === OID.accessOcsp) ocsp.push(gn.value);
          else if (methodOid === OID.accessCaIssuers) issuers.push(gn.value);
        }
        out.ocspUrls = ocsp;
        out.caIssuersUrls = issuers;
        break;
      }
      case OID.ocspNoCheck:
        out.ocspNoCheck = true;
        break;
      default:
        break;
    }
  }
  return out;
}
