/** X.501 distinguished names (RFC 5280 §4.1.2.4), one attribute per RDN. */
import {
  children,
  decodeOid,
  decodeString,
  expectTag,
  oid,
  printableString,
  seq,
  setOf,
  Tag,
  type Tlv,
  utf8String,
  whole,
} from './der.js';
import { PkiError } from './errors.js';
import { OID } from './oids.js';

export type AttributeName = 'CN' | 'OU' | 'O' | 'C' | 'serialNumber' | 'description' | 'role';

const ATTRIBUTE_OIDS: Record<AttributeName, string> = {
  CN: OID.commonName,
  OU: OID.organizationalUnit,
  O: OID.organization,
  C: OID.country,
  serialNumber: OID.serialNumber,
  description: '2.5.4.13',
  role: OID.role,
};
const NAMES_BY_OID = new Map(Object.entries(ATTRIBUTE_OIDS).map(([k, v]) => [v, k]));

/** X.520 upper bounds (ub-common-name 64, ub-organizational-unit-name 64, ...). */
const UPPER_BOUNDS: Record<AttributeName, number> = {
  CN: 64,
  OU: 64,
  O: 64,
  C: 2,
  serialNumber: 64,
  description: 1024,
  // X.520 sets no upper bound for role; a component name is at most 64 characters.
  role: 64,
};

export interface NameAttribute {
  readonly type: AttributeName;
  readonly value: string;
}

export type DistinguishedName = readonly NameAttribute[];

/** A parsed Name: the exact bytes (for chaining and signatures) and a readable form. */
export interface ParsedName {
  readonly der: Buffer;
  /** Attribute type short names where known, dotted OIDs otherwise. */
  readonly attributes: ReadonlyArray<{ readonly type: string; readonly value: string }>;
}

// C0/C1 controls, DEL, and Unicode line/paragraph separators never belong in a name.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
/**
 * Bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) and zero-width
 * characters (U+200B-U+200D, U+2060, U+FEFF): they make a name read differently from what it is
 * ("Trojan Source"), so one name can pass for another in a certificate viewer (D29).
 */
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/;
const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

export function checkNameAttribute(attr: NameAttribute): void {
  const bound = UPPER_BOUNDS[attr.type];
  if (attr.value.length === 0 || attr.value.length > bound) {
    throw new PkiError('identity_invalid', `${attr.type} must be 1 to ${bound} characters; got ${attr.value.length}`);
  }
  if (FORBIDDEN.test(attr.value) || attr.value !== attr.value.normalize('NFC')) {
    throw new PkiError(
      'identity_invalid',
      `${attr.type} "${escapeForMessage(attr.value)}" contains control characters or is not NFC-normalized`,
    );
  }
  const invisible = INVISIBLE.exec(attr.value);
  if (invisible) {
    throw new PkiError(
      'text_invalid',
      `${attr.type} "${escapeForMessage(attr.value)}" contains U+${(invisible[0].codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}, a bidirectional control or zero-width character; names in a certificate must read as they are`,
    );
  }
  if ((attr.type === 'C' || attr.type === 'serialNumber') && !PRINTABLE.test(attr.value)) {
    throw new PkiError('identity_invalid', `${attr.type} must use PrintableString characters only`);
  }
}

function escapeForMessage(value: string): string {
  return JSON.stringify(value).slice(1, -1).slice(0, 80);
}

/**
 * DER Name. RFC 5280 §4.1.2.6: DirectoryString values are UTF8String; country and serialNumber
 * are PrintableString by definition (X.520).
 */
export function encodeName(name: DistinguishedName): Buffer {
  return seq(
    ...name.map((attr) => {
      checkNameAttribute(attr);
      const value =
        attr.type === 'C' || attr.type === 'serialNumber' ? printableString(attr.value) : utf8String(attr.value);
      return setOf(seq(oid(ATTRIBUTE_OIDS[attr.type]), value));
    }),
  );
}

export function parseName(buf: Uint8Array, tlv: Tlv): ParsedName {
  expectTag(tlv, Tag.SEQUENCE, 'Name');
  const attributes: Array<{ type: string; value: string }> = [];
  for (const rdn of children(buf, tlv)) {
    const members = children(buf, expectTag(rdn, Tag.SET, 'RelativeDistinguishedName'));
    if (members.length === 0) throw new PkiError('der_malformed', 'malformed DER: empty RelativeDistinguishedName');
    for (const atv of members) {
      const [type, value, extra] = children(buf, expectTag(atv, Tag.SEQUENCE, 'AttributeTypeAndValue'));
      if (extra || !value) throw new PkiError('der_malformed', 'malformed DER: AttributeTypeAndValue');
      const typeOid = decodeOid(buf, expectTag(type, Tag.OID, 'attribute type'));
      attributes.push({ type: NAMES_BY_OID.get(typeOid) ?? typeOid, value: decodeString(buf, value) });
    }
  }
  return { der: Buffer.from(whole(buf, tlv)), attributes };
}

const ESCAPE = /[,+"\\<>;=]/g;

/** A one-line readable form, e.g. `CN=DEV-001, OU=ZMonitor, role=bedside monitor`. */
export function formatName(name: ParsedName | DistinguishedName): string {
  const attrs = 'der' in name ? name.attributes : name;
  return attrs.map((a) => `${a.type}=${a.value.replace(ESCAPE, (c) => `\\${c}`)}`).join(', ');
}

/** The first value of an attribute, if present. */
export function nameAttribute(name: ParsedName, type: AttributeName): string | undefined {
  return name.attributes.find((a) => a.type === type)?.value;
}
