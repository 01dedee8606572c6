/**
 * Strict field checks shared by the format parsers. Every check takes the error code of the
 * format it serves, so a bad field in a request is `pr_malformed` and in a profile `cp_malformed`.
 * Inputs are `unknown` (what JSON.parse returned): nothing is trusted by type.
 */
import { checkNameAttribute, isProvisioError, PkiError } from '@provisio/pki';
import { ProtocolError, type ProtocolErrorCode } from './errors.js';
import { DuplicateMemberError, parseStrictJson } from './strict-json.js';

export type MalformedCode = Extract<ProtocolErrorCode, 'pr_malformed' | 'cp_malformed' | 'package_malformed' | 'jws_malformed' | 'bundle_malformed' | 'confirm_proof_malformed' | 'renewal_malformed'>;

/** A short, quoted, control-free rendering of untrusted text for an error message. */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export class Fields {
  constructor(readonly code: MalformedCode) {}

  fail(message: string): never {
    throw new ProtocolError(this.code, message);
  }

  /** A JSON object, any members. */
  record(value: unknown, what: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(`${what} must be a JSON object; got ${typeName(value)}`);
    }
    return value as Record<string, unknown>;
  }

  /** A JSON object with exactly `keys` (no more, no fewer). */
  object(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
    const record = this.record(value, what);
    const present = Object.keys(record);
    for (const key of present) {
      if (!keys.includes(key)) this.fail(`${what} has an unknown field ${quote(key)}; expected only ${keys.join(', ')}`);
    }
    for (const key of keys) {
      if (!Object.hasOwn(record, key)) this.fail(`${what} lacks the field "${key}"`);
    }
    return record;
  }

  array(value: unknown, what: string, min: number, max: number): unknown[] {
    if (!Array.isArray(value)) this.fail(`${what} must be an array; got ${typeName(value)}`);
    if (value.length < min || value.length > max) {
      this.fail(`${what} must have ${min === max ? min : `${min} to ${max}`} entries; got ${value.length}`);
    }
    return value;
  }

  string(value: unknown, what: string, min = 1, max = 1024): string {
    if (typeof value !== 'string') this.fail(`${what} must be a string; got ${typeName(value)}`);
    if (value.length < min || value.length > max) {
      this.fail(`${what} must be ${min} to ${max} characters; got ${value.length}`);
    }
    return value;
  }

  literal<T extends string>(value: unknown, what: string, expected: T): T {
    if (value !== expected) this.fail(`${what} must be "${expected}"; got ${typeof value === 'string' ? quote(value) : typeName(value)}`);
    return expected;
  }

  boolean(value: unknown, what: string): boolean {
    if (typeof value !== 'boolean') this.fail(`${what} must be true or false; got ${typeName(value)}`);
    return value;
  }

  integer(value: unknown, what: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      this.fail(`${what} must be a whole number from ${min} to ${max}; got ${typeof value === 'number' ? value : typeName(value)}`);
    }
    return value;
  }

  /** A finite number in [min, max]. */
  number(value: unknown, what: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.fail(`${what} must be a number from ${min} to ${max}; got ${typeof value === 'number' ? value : typeName(value)}`);
    }
    return value;
  }

  /** Server-made ids such as "pkg_<hex>" or "req_<hex>": 1-128 of A-Z a-z 0-9 . _ : - */
  identifier(value: unknown, what: string): string {
    const text = this.string(value, what, 1, 128);
    if (!IDENTIFIER.test(text)) {
      this.fail(`${what} ${quote(text)} must be 1-128 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit`);
    }
    return text;
  }

  /**
   * A system or component name: the device certificate's OU and role, so each follows the X.520
   * rules (1-64 characters, no controls, NFC); no "/" (certificates before D34 joined them as
   * OU "<system>/<component>", and names appear in URL paths).
   */
  name(value: unknown, what: string): string {
    const text = this.string(value, what, 1, 64);
    this.pki(what, () => checkNameAttribute({ type: 'OU', value: text }));
    if (text.includes('/')) this.fail(`${what} ${quote(text)} must not contain "/"`);
    return text;
  }

  /** Free text for people (deviceLabel): 1-1024 characters, no control characters, NFC. */
  label(value: unknown, what: string): string {
    const text = this.string(value, what, 1, 1024);
    this.pki(what, () => checkNameAttribute({ type: 'description', value: text }));
    return text;
  }

  /** null, or 1-128 printable ASCII characters (hardware serials, firmware versions). */
  printableOrNull(value: unknown, what: string): string | null {
    if (value === null) return null;
    const text = this.string(value, what, 1, 128);
    if (!PRINTABLE_ASCII.test(text)) this.fail(`${what} ${quote(text)} must be printable ASCII (or null when unknown)`);
    return text;
  }

  /** RFC 3339 date-time (§5.6), upper-case T and Z, calendar fields checked (no Feb 30). */
  timestamp(value: unknown, what: string): Date {
    const text = this.string(value, what, 20, 40);
    const date = parseTimestamp(text);
    if (!date) this.fail(`${what} ${quote(text)} must be an RFC 3339 date-time such as 2026-06-01T12:00:00Z`);
    return date;
  }

  /** An http(s) URL of at most 2048 characters. */
  url(value: unknown, what: string): string {
    const text = this.string(value, what, 1, 2048);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      this.fail(`${what} ${quote(text)} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') this.fail(`${what} ${quote(text)} must be an http or https URL`);
    if (url.username || url.password) this.fail(`${what} must not carry credentials`);
    return text;
  }

  urlOrNull(value: unknown, what: string): string | null {
    return value === null ? null : this.url(value, what);
  }

  /** RFC 4648 §4 base64 with padding, canonical (re-encodes to the same text). */
  base64(value: unknown, what: string, maxBytes: number): Buffer {
    const text = this.string(value, what, 1, Math.ceil(maxBytes / 3) * 4);
    const bytes = decodeBase64Strict(text);
    if (!bytes) this.fail(`${what} is not canonical base64`);
    return bytes;
  }

  /**
   * base64 of DER whose outer tag is a SEQUENCE. pki parsers also accept PEM; the wire formats
   * carry DER only, so PEM text (or anything else) is refused before it reaches them.
   */
  base64Der(value: unknown, what: string, maxBytes: number): Buffer {
    const der = this.base64(value, what, maxBytes);
    if (der[0] !== 0x30) this.fail(`${what} must be base64 of DER (a SEQUENCE), not PEM or other data`);
    return der;
  }

  /** RFC 4648 §5 base64url without padding, canonical. */
  base64url(value: unknown, what: string, maxBytes: number): Buffer {
    const text = this.string(value, what, 0, Math.ceil((maxBytes * 4) / 3));
    const bytes = decodeBase64urlStrict(text);
    if (!bytes) this.fail(`${what} is not canonical base64url without padding`);
    return bytes;
  }

  /** Runs a PKI parser; its structural failures become this format's malformed code. */
  pki<T>(what: string, run: () => T): T {
    try {
      return run();
    } catch (e) {
      if (e instanceof PkiError && PASS_THROUGH.has(e.code)) throw e;
      if (isProvisioError(e)) this.fail(`${what}: ${e.message}`);
      throw e;
    }
  }
}

/**
 * PKI codes that say something a device maker can act on (the key itself is refused by policy, or
 * a name holds an invisible character) and so keep their own code instead of becoming "malformed".
 */
const PASS_THROUGH: ReadonlySet<string> = new Set(['key_unsupported', 'key_too_weak', 'key_invalid', 'text_invalid']);

const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  // Non-zero bits in the last character's padding would let two texts mean the same bytes.
  return bytes.toString('base64') === text ? bytes : null;
}

export function decodeBase64urlStrict(text: string): Buffer | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 §5.6 `date-time`, or null. Leap seconds (:60) are refused: Date cannot hold them. */
export function parseTimestamp(text: string): Date | null {
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) return null;
  if (m[8] !== 'Z' && (Number(m[9]) > 23 || Number(m[10]) > 59)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 (no BOM, no invalid sequences) then JSON naming each member once (`json_duplicate_key`). */
export function parseJson(bytes: Uint8Array, what: string, fields: Fields): unknown {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    fields.fail(`${what} is not UTF-8 text`);
  }
  try {
    return parseStrictJson(text, what);
  } catch (e) {
    if (e instanceof DuplicateMemberError) throw e;
    fields.fail(`${what} is not valid JSON`);
  }
}

/** The bytes of a file given as text or bytes, refused before decoding when over `max`. */
export function fileBytes(input: string | Uint8Array, max: number, tooLarge: (size: number) => never): Buffer {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > max) tooLarge(size);
  return typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
}
