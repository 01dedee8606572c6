/** GeneralName (RFC 5280 §4.2.1.6), the forms Provisio writes and reads. */
import { children, explicit, ia5String, readTlv, type Tlv, tlv } from './der.js';
import { PkiError } from './errors.js';
import { type DistinguishedName, encodeName, type ParsedName, parseName } from './name.js';

export type GeneralName =
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string }
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'ip'; readonly value: string }
  | { readonly type: 'directoryName'; readonly value: DistinguishedName };

export type ParsedGeneralName =
  | { readonly type: 'dns' | 'uri' | 'email' | 'ip'; readonly value: string }
  | { readonly type: 'directoryName'; readonly value: ParsedName }
  | { readonly type: 'other'; readonly tag: number };

const IA5 = /^[\x20-\x7e]+$/;

export function encodeGeneralName(name: GeneralName): Buffer {
  switch (name.type) {
    case 'directoryName':
      // [4] is EXPLICIT because Name is a CHOICE (X.680 §31.2.7).
      return explicit(4, encodeName(name.value));
    case 'ip': {
      const bytes = ipToBytes(name.value);
      return tlv(0x87, bytes);
    }
    default: {
      if (!IA5.test(name.value)) {
        throw new PkiError('identity_invalid', `${name.type} name must be printable ASCII (IA5String)`);
      }
      const tag = name.type === 'email' ? 0x81 : name.type === 'dns' ? 0x82 : 0x86;
      return tlv(tag, ia5String(name.value).subarray(2));
    }
  }
}

function ipToBytes(text: string): Buffer {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.every((p) => p <= 255)) return Buffer.from(parts);
  }
  throw new PkiError('identity_invalid', `"${text}" is not an IPv4 address`);
}

export function parseGeneralName(buf: Uint8Array, t: Tlv): ParsedGeneralName {
  const bytes = Buffer.from(buf.subarray(t.contentStart, t.end));
  switch (t.tag) {
    case 0x81:
      return { type: 'email', value: bytes.toString('latin1') };
    case 0x82:
      return { type: 'dns', value: bytes.toString('latin1') };
    case 0x86:
      return { type: 'uri', value: bytes.toString('latin1') };
    case 0x87:
      return { type: 'ip', value: bytes.length === 4 ? [...bytes].join('.') : bytes.toString('hex') };
    case 0xa4: {
      const inner = readTlv(buf, t.contentStart, t.end);
      if (inner.end !== t.end) throw new PkiError('der_malformed', 'malformed DER: directoryName');
      return { type: 'directoryName', value: parseName(buf, inner) };
    }
    default:
      return { type: 'other', tag: t.tag };
  }
}

export function parseGeneralNames(buf: Uint8Array, seqTlv: Tlv): ParsedGeneralName[] {
  return children(buf, seqTlv).map((c) => parseGeneralName(buf, c));
}

export function formatGeneralName(name: ParsedGeneralName): string {
  if (name.type === 'other') return `other[${name.tag & 0x1f}]`;
  if (name.type === 'directoryName') {
    return `DirName:${name.value.attributes.map((a) => `${a.type}=${a.value}`).join(', ')}`;
  }
  return `${name.type.toUpperCase()}:${name.value}`;
}
