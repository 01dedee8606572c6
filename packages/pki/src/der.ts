/**
 * Strict DER (ITU-T X.690 §10) reading and writing.
 *
 * Why hand-written: every structure Provisio parses arrives from outside (CSRs from devices,
 * certificates from peers, OCSP requests from anyone), and the asn1js-based libraries accept BER
 * (indefinite lengths, non-minimal lengths) and recurse without a depth bound. This reader accepts
 * DER only, bounds size and nesting before looking at content, and never recurses on
 * attacker-chosen depth without a limit. The writer is used on the issuance hot path, where a
 * generic ASN.1 object model costs more than the signature itself (see bench/RESULTS.md).
 */
import { PkiError } from './errors.js';

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One tag-length-value inside a buffer; offsets are absolute positions in that buffer. */
export interface Tlv {
  readonly tag: number;
  /** Offset of the tag byte. */
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  /** Offset one past the last content byte. */
  readonly end: number;
}

export interface DerLimits {
  /** Largest input accepted, in bytes. */
  readonly maxBytes: number;
  /** Deepest nesting of constructed values accepted. */
  readonly maxDepth: number;
}

/** Nothing we parse legitimately nests deeper than ~12; 32 leaves room and stops stack abuse. */
export const DEFAULT_MAX_DEPTH = 32;

function malformed(what: string): PkiError {
  return new PkiError('der_malformed', `malformed DER: ${what}`);
}

/**
 * Reads the TLV starting at `offset`, which must end at or before `limit`.
 * Refuses: high tag numbers (none occur in X.509), indefinite lengths (BER only), non-minimal
 * length encodings, lengths past the enclosing value.
 */
export function readTlv(buf: Uint8Array, offset: number, limit: number = buf.length): Tlv {
  if (offset >= limit) throw malformed('unexpected end of data');
  const tag = buf[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag numbers are not used in X.509');
  if (offset + 1 >= limit) throw malformed('missing length');
  const first = buf[offset + 1] as number;
  let length: number;
  let contentStart: number;
  if (first < 0x80) {
    length = first;
    contentStart = offset + 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) throw malformed('indefinite length is BER, not DER');
    // 4 length octets address 4 GiB; anything larger is hostile by construction.
    if (count > 4) throw malformed('length field too long');
    if (offset + 2 + count > limit) throw malformed('truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (buf[offset + 2 + i] as number);
    if (buf[offset + 2] === 0) throw malformed('length has a leading zero octet');
    if (length < 0x80) throw malformed('long-form length used for a short length');
    contentStart = offset + 2 + count;
  }
  const end = contentStart + length;
  if (end > limit) throw malformed('value runs past the end of its container');
  return { tag, start: offset, contentStart, end };
}

/** Reads exactly one TLV spanning all of `buf` (no trailing bytes). */
export function readRoot(buf: Uint8Array, limits: DerLimits): Tlv {
  if (buf.length > limits.maxBytes) {
    throw new PkiError('input_too_large', `input is ${buf.length} bytes; the limit is ${limits.maxBytes} bytes`);
  }
  const root = readTlv(buf, 0, buf.length);
  if (root.end !== buf.length) throw malformed(`${buf.length - root.end} trailing bytes`);
  checkNesting(buf, root, limits.maxDepth);
  return root;
}

/**
 * Walks every constructed value to prove the whole tree is well-formed DER within the depth
 * limit, iteratively so hostile nesting cannot exhaust the stack.
 */
function checkNesting(buf: Uint8Array, root: Tlv, maxDepth: number): void {
  const stack: Array<{ tlv: Tlv; depth: number }> = [{ tlv: root, depth: 1 }];
  while (stack.length > 0) {
    const { tlv, depth } = stack.pop() as { tlv: Tlv; depth: number };
    if (depth > maxDepth) throw malformed(`nesting deeper than ${maxDepth}`);
    if ((tlv.tag & 0x20) === 0) continue;
    let p = tlv.contentStart;
    while (p < tlv.end) {
      const child = readTlv(buf, p, tlv.end);
      stack.push({ tlv: child, depth: depth + 1 });
      p = child.end;
    }
  }
}

/** The direct children of a constructed value. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = parent.contentStart;
  while (p < parent.end) {
    const child = readTlv(buf, p, parent.end);
    out.push(child);
    p = child.end;
  }
  return out;
}

export function expectTag(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv === undefined) throw malformed(`${what} is missing`);
  if (tlv.tag !== tag) {
    throw malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${tlv.tag.toString(16)}`);
  }
  return tlv;
}

export function content(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.contentStart, tlv.end);
}

export function whole(buf: Uint8Array, tlv: Tlv): Uint8Array {
  return buf.subarray(tlv.start, tlv.end);
}

// ---------------------------------------------------------------------------------------------
// Primitive decoders

const oidTextCache = new Map<string, string>();

export function decodeOid(buf: Uint8Array, tlv: Tlv): string {
  const bytes = content(buf, tlv);
  if (bytes.length === 0 || bytes.length > 64) throw malformed('object identifier length');
  const key = Buffer.from(bytes).toString('latin1');
  const cached = oidTextCache.get(key);
  if (cached !== undefined) return cached;
  // Arcs past 2^53 (the UUID arcs under 2.25, ITU-T X.667) continue as bigint; 64 content bytes
  // bound them to 448 bits.
  const arcs: Array<number | bigint> = [];
  let value = 0;
  let big: bigint | null = null;
  let inArc = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    if (!inArc && b === 0x80) throw malformed('object identifier arc has a leading zero');
    if (big !== null) big = big * 128n + BigInt(b & 0x7f);
    else if (value > Number.MAX_SAFE_INTEGER / 128) big = BigInt(value) * 128n + BigInt(b & 0x7f);
    else value = value * 128 + (b & 0x7f);
    inArc = (b & 0x80) !== 0;
    if (!inArc) {
      arcs.push(big ?? value);
      value = 0;
      big = null;
    }
  }
  if (inArc) throw malformed('object identifier is truncated');
  const firstArc = arcs[0] as number | bigint;
  const head =
    typeof firstArc === 'bigint'
      ? [2, firstArc - 80n]
      : firstArc < 40
        ? [0, firstArc]
        : firstArc < 80
          ? [1, firstArc - 40]
          : [2, firstArc - 80];
  const text = [...head, ...arcs.slice(1)].join('.');
  if (oidTextCache.size < 4096) oidTextCache.set(key, text);
  return text;
}

/** INTEGER content as an unsigned big-endian magnitude; refuses negatives and non-minimal forms. */
export function decodeUnsignedInteger(buf: Uint8Array, tlv: Tlv, what: string): Uint8Array {
  const bytes = content(buf, tlv);
  if (bytes.length === 0) throw malformed(`${what}: empty INTEGER`);
  const b0 = bytes[0] as number;
  if (b0 & 0x80) throw malformed(`${what}: negative INTEGER`);
  if (bytes.length > 1 && b0 === 0 && ((bytes[1] as number) & 0x80) === 0) {
    throw malformed(`${what}: INTEGER is not minimally encoded`);
  }
  return b0 === 0 && bytes.length > 1 ? bytes.subarray(1) : bytes;
}

export function decodeSmallInteger(buf: Uint8Array, tlv: Tlv, what: string): number {
  const magnitude = decodeUnsignedInteger(buf, tlv, what);
  if (magnitude.length > 6) throw malformed(`${what}: INTEGER too large`);
  let n = 0;
  for (const b of magnitude) n = n * 256 + b;
  return n;
}

export function decodeBoolean(buf: Uint8Array, tlv: Tlv): boolean {
  const bytes = content(buf, tlv);
  // X.690 §11.1: DER encodes TRUE as 0xFF only.
  if (bytes.length !== 1 || (bytes[0] !== 0 && bytes[0] !== 0xff)) throw malformed('BOOLEAN');
  return bytes[0] === 0xff;
}

/** BIT STRING payload; `unusedBits` must be 0 unless `allowUnused`. */
export function decodeBitString(
  buf: Uint8Array,
  tlv: Tlv,
  allowUnused = false,
): { bytes: Uint8Array; unusedBits: number } {
  const bytes = content(buf, tlv);
  if (bytes.length === 0) throw malformed('empty BIT STRING');
  const unusedBits = bytes[0] as number;
  if (unusedBits > 7 || (unusedBits > 0 && bytes.length === 1)) throw malformed('BIT STRING');
  if (unusedBits !== 0 && !allowUnused) throw malformed('BIT STRING has unused bits');
  return { bytes: bytes.subarray(1), unusedBits };
}

const STRING_TAGS = new Set<number>([
  Tag.UTF8_STRING,
  Tag.PRINTABLE_STRING,
  Tag.IA5_STRING,
  Tag.T61_STRING,
  Tag.BMP_STRING,
]);

export function decodeString(buf: Uint8Array, tlv: Tlv): string {
  if (!STRING_TAGS.has(tlv.tag)) throw malformed(`tag 0x${tlv.tag.toString(16)} is not a string`);
  const bytes = content(buf, tlv);
  if (tlv.tag === Tag.BMP_STRING) {
    if (bytes.length % 2 !== 0) throw malformed('BMPString has odd length');
    const swapped = Buffer.from(bytes);
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  const text = Buffer.from(bytes).toString(tlv.tag === Tag.UTF8_STRING ? 'utf8' : 'latin1');
  if (tlv.tag === Tag.UTF8_STRING && !Buffer.from(text, 'utf8').equals(bytes)) {
    throw malformed('UTF8String is not valid UTF-8');
  }
  return text;
}

/** UTCTime (RFC 5280 §4.1.2.5.1: YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ). */
export function decodeTime(buf: Uint8Array, tlv: Tlv): Date {
  const text = Buffer.from(content(buf, tlv)).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (tlv.tag === Tag.UTC_TIME) {
    m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) throw malformed(`UTCTime "${text}"`);
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (tlv.tag === Tag.GENERALIZED_TIME) {
    m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
    if (!m) throw malformed(`GeneralizedTime "${text}"`);
    year = Number(m[1]);
  } else {
    throw malformed('expected a time');
  }
  const date = new Date(Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  if (Number.isNaN(date.getTime()) || date.getUTCDate() !== Number(m[3])) {
    throw malformed(`time "${text}" is not a valid date`);
  }
  return date;
}

// ---------------------------------------------------------------------------------------------
// Writer

function lengthHeader(tag: number, length: number): Buffer {
  if (length < 0x80) return Buffer.from([tag, length]);
  if (length < 0x100) return Buffer.from([tag, 0x81, length]);
  if (length < 0x10000) return Buffer.from([tag, 0x82, length >> 8, length & 0xff]);
  if (length < 0x1000000) {
    return Buffer.from([tag, 0x83, length >> 16, (length >> 8) & 0xff, length & 0xff]);
  }
  return Buffer.from([tag, 0x84, length >>> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff]);
}

/** Encodes one TLV whose content is the concatenation of `parts`. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  return Buffer.concat([lengthHeader(tag, length), ...parts]);
}

export const seq = (...parts: Uint8Array[]): Buffer => tlv(Tag.SEQUENCE, ...parts);

/** SET OF: X.690 §11.6 requires the encodings sorted. */
export function setOf(...parts: Uint8Array[]): Buffer {
  return tlv(Tag.SET, ...[...parts].sort((a, b) => Buffer.compare(a, b)));
}

/** [n] EXPLICIT, constructed context-specific. */
export const explicit = (n: number, ...parts: Uint8Array[]): Buffer => tlv(0xa0 | n, ...parts);

/** [n] IMPLICIT on a primitive value. */
export const implicitPrimitive = (n: number, bytes: Uint8Array): Buffer => tlv(0x80 | n, bytes);

const oidCache = new Map<string, Buffer>();

export function oid(text: string): Buffer {
  const cached = oidCache.get(text);
  if (cached) return cached;
  if (!/^\d+(\.\d+)+$/.test(text)) throw new PkiError('der_malformed', `invalid object identifier "${text}"`);
  // bigint arcs: the UUID arcs under 2.25 (ITU-T X.667) are 128-bit numbers.
  const arcs = text.split('.').map(BigInt);
  const values = [(arcs[0] as bigint) * 40n + (arcs[1] as bigint), ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const v of values) {
    const groups: number[] = [];
    let x = v;
    do {
      groups.unshift(Number(x % 128n));
      x /= 128n;
    } while (x > 0n);
    for (let i = 0; i < groups.length; i++) {
      bytes.push((groups[i] as number) | (i < groups.length - 1 ? 0x80 : 0));
    }
  }
  const encoded = tlv(Tag.OID, Buffer.from(bytes));
  oidCache.set(text, encoded);
  return encoded;
}

/** INTEGER from an unsigned big-endian magnitude (a leading 0x00 is added when needed). */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  if (trimmed.length === 0) return tlv(Tag.INTEGER, Buffer.from([0]));
  return (trimmed[0] as number) & 0x80 ? tlv(Tag.INTEGER, Buffer.from([0]), trimmed) : tlv(Tag.INTEGER, trimmed);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`integer ${n}`);
  const bytes: number[] = [];
  let x = n;
  do {
    bytes.unshift(x % 256);
    x = Math.floor(x / 256);
  } while (x > 0);
  return unsignedInteger(Buffer.from(bytes));
}

export const octetString = (bytes: Uint8Array): Buffer => tlv(Tag.OCTET_STRING, bytes);
export const bitString = (bytes: Uint8Array): Buffer => tlv(Tag.BIT_STRING, Buffer.from([0]), bytes);
export const utf8String = (text: string): Buffer => tlv(Tag.UTF8_STRING, Buffer.from(text, 'utf8'));
export const printableString = (text: string): Buffer => tlv(Tag.PRINTABLE_STRING, Buffer.from(text, 'latin1'));
export const ia5String = (text: string): Buffer => tlv(Tag.IA5_STRING, Buffer.from(text, 'latin1'));
export const NULL = Buffer.from([Tag.NULL, 0]);
export const TRUE = Buffer.from([Tag.BOOLEAN, 1, 0xff]);
export const enumerated = (n: number): Buffer => tlv(Tag.ENUMERATED, Buffer.from([n]));

/**
 * A KeyUsage-style named BIT STRING from bit positions (bit 0 = most significant bit of the first
 * octet). X.690 §11.2.2: trailing zero bits are removed and counted as unused.
 */
export function namedBitString(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(Tag.BIT_STRING, Buffer.from([0]));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
  const unused = 7 - (highest & 7);
  return tlv(Tag.BIT_STRING, Buffer.from([unused]), bytes);
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Z. */
export function time(date: Date): Buffer {
  const y = date.getUTCFullYear();
  const rest =
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    'Z';
  if (y >= 1950 && y < 2050) return tlv(Tag.UTC_TIME, Buffer.from(pad(y % 100, 2) + rest, 'latin1'));
  return generalizedTime(date);
}

/** GeneralizedTime, whole seconds (RFC 5280 §4.1.2.5.2; RFC 6960 uses it throughout). */
export function generalizedTime(date: Date): Buffer {
  const text =
    pad(date.getUTCFullYear(), 4) +
    pad(date.getUTCMonth() + 1, 2) +
    pad(date.getUTCDate(), 2) +
    pad(date.getUTCHours(), 2) +
    pad(date.getUTCMinutes(), 2) +
    pad(date.getUTCSeconds(), 2) +
    'Z';
  return tlv(Tag.GENERALIZED_TIME, Buffer.from(text, 'latin1'));
}
