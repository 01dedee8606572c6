/**
 * The device's own `security_audit_log` (seed 003; docs/device.md "The device's security audit
 * log"; D36): a hash-chained, append-only JSON-lines file in the keystore,
 * `security_audit_log.jsonl`, one entry per line:
 *
 *   {"seq":1,"at":"2026-06-01T12:00:00Z","event":"device.initialized","details":{...},"prevHash":"00…00","hash":"…"}
 *
 * `hash` is the SHA-256 (lower-case hex) of the entry's canonical form: the entry without `hash`
 * as JSON with every object's keys sorted and no whitespace — what `jq -cjS 'del(.hash)'` prints
 * for a line, so anyone can recompute it. `prevHash` is the previous entry's hash (64 zeros for
 * seq 1). `security_audit_head.json` holds the last entry's seq and hash, written after each
 * append, so a log cut after its last entries is noticed too.
 *
 * Details are flat: names of letters and digits, values strings (≤ 512 characters, no control
 * characters), safe integers, booleans or null. Callers pass codes, ids, serials, hashes and URL
 * origins only; never a key, a pairing code, a token, a passphrase or an error message (which may
 * quote input). A string that looks like key material is refused outright.
 *
 * One process appends at a time: an append reads the tail and writes synchronously, so appends
 * in one process never interleave. Two processes appending to one keystore at the same instant
 * could both take the same seq; verification would then report the fork (docs/device.md).
 */
import { createHash } from 'node:crypto';
import { DeviceError } from './errors.js';
import { appendKeystoreFile, directoryMode, fileState, keystorePath, readKeystoreFile, readKeystoreTail, replaceKeystoreFiles } from './keystore.js';
import { rfc3339 } from './time.js';

/** The events the device records (docs/device.md lists what each one's details hold). */
export const DEVICE_AUDIT_EVENTS = [
  'device.initialized',
  'provision.requested',
  'payload.verified',
  'profile.verified',
  'profile.refused',
  'install.completed',
  'install.refused',
  'install.rolled_back',
  'install.confirmed',
  'install.confirm_failed',
  'renewal.requested',
  'renewal.completed',
  'renewal.failed',
  'reprovision.requested',
  'reprovision.completed',
  'reprovision.failed',
  'key.rotated',
  'database.created',
  'database.rekeyed',
  'database.key_read',
  'database.failed',
  'check_in.succeeded',
  'check_in.failed',
] as const;

export type DeviceAuditEventName = (typeof DEVICE_AUDIT_EVENTS)[number];
export type DeviceAuditValue = string | number | boolean | null;
export type DeviceAuditDetails = Readonly<Record<string, DeviceAuditValue>>;

export interface DeviceAuditEvent {
  readonly event: DeviceAuditEventName;
  readonly details?: DeviceAuditDetails;
  /** Defaults to now. */
  readonly at?: Date;
}

export interface DeviceAuditEntry {
  readonly seq: number;
  /** RFC 3339, UTC, to the second (device clock). */
  readonly at: string;
  readonly event: string;
  readonly details: DeviceAuditDetails;
  readonly prevHash: string;
  readonly hash: string;
}

/** What `verifyDeviceAudit` finds first; each is reported as `device_audit_broken` by the CLI. */
export type DeviceAuditFinding =
  /** A line is not an entry as appendDeviceAudit writes it (edited by hand, or torn by a crash). */
  | 'entry_malformed'
  /** An entry's hash is not the hash of its content: the entry was edited. */
  | 'hash_mismatch'
  /** seq does not follow the previous entry's: an entry was deleted, or entries reordered. */
  | 'sequence_broken'
  /** prevHash is not the previous entry's hash: entries were spliced from elsewhere. */
  | 'chain_broken'
  /** The log ends before the entry the head file names: entries were cut from its end. */
  | 'truncated'
  /** The head file is missing, unreadable, or names an entry whose hash differs. */
  | 'head_mismatch';

export interface DeviceAuditVerification {
  readonly ok: boolean;
  readonly entries: number;
  /** The last entry's seq and hash (null for an empty log). */
  readonly head: { readonly seq: number; readonly hash: string } | null;
  /** The first problem, or null. */
  readonly broken: { readonly finding: DeviceAuditFinding; readonly line: number; readonly seq: number | null; readonly message: string } | null;
}

const GENESIS = '0'.repeat(64);
const NAME = /^[a-z][A-Za-z0-9]{0,39}$/;
const EVENT = /^[a-z_]+\.[a-z_]+$/;
/**
 * No control characters (C0, DEL, C1) and no lone surrogates: for the rest JSON.stringify and jq
 * write the same bytes, so the hash is reproducible with jq.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const HEX64 = /^[0-9a-f]{64}$/;
const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
/** Key material must never reach the log, whatever a caller passes. */
const SECRET_LOOKING = /PRIVATE KEY|-----BEGIN/;
/** Entries are a few hundred bytes; the tail read to find the last one is far larger. */
const TAIL_BYTES = 64 * 1024;

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function sortedDetails(details: DeviceAuditDetails): Record<string, DeviceAuditValue> {
  const out: Record<string, DeviceAuditValue> = {};
  for (const k of Object.keys(details).sort()) out[k] = details[k] as DeviceAuditValue;
  return out;
}

/** The canonical form that is hashed: keys sorted at every level, no whitespace, no `hash`. */
export function canonicalDeviceAuditEntry(entry: Omit<DeviceAuditEntry, 'hash'>): string {
  return JSON.stringify({ at: entry.at, details: sortedDetails(entry.details), event: entry.event, prevHash: entry.prevHash, seq: entry.seq });
}

/** One line of the file: the fields in their documented order, details keys sorted. */
function serializeEntry(entry: DeviceAuditEntry): string {
  return JSON.stringify({ seq: entry.seq, at: entry.at, event: entry.event, details: sortedDetails(entry.details), prevHash: entry.prevHash, hash: entry.hash });
}

function checkDetails(details: DeviceAuditDetails): void {
  const names = Object.keys(details);
  if (names.length > 32) throw new TypeError('device audit details: at most 32 names');
  for (const name of names) {
    const v = details[name];
    if (!NAME.test(name)) throw new TypeError(`device audit details: bad name ${JSON.stringify(name)}`);
    if (typeof v === 'string') {
      if (v.length > 512 || CONTROL.test(v)) throw new TypeError(`device audit details: ${name} must be at most 512 characters without control characters`);
      if (SECRET_LOOKING.test(v)) throw new TypeError(`device audit details: ${name} looks like key material; it is never logged`);
    } else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new TypeError(`device audit details: ${name} must be an integer`);
    } else if (typeof v !== 'boolean' && v !== null) {
      throw new TypeError(`device audit details: ${name} has an unsupported type`);
    }
  }
}

/** The last complete entry, or null for an empty log; a torn last line is skipped (see append). */
function lastEntry(dir: string): { entry: DeviceAuditEntry | null; torn: boolean } {
  const tail = readKeystoreTail(dir, 'auditLog', TAIL_BYTES).toString('utf8');
  if (tail.length === 0) return { entry: null, torn: false };
  const torn = !tail.endsWith('\n');
  const lines = tail.split('\n');
  lines.pop(); // after the last '\n': empty, or the torn fragment
  const last = lines.pop();
  if (last === undefined || (lines.length === 0 && tail.length === TAIL_BYTES)) {
    throw new DeviceError('device_audit_broken', `${keystorePath(dir, 'auditLog')} does not end with a complete entry`, 'run "provisio device audit --verify --dir DIR" to find where it is broken');
  }
  const parsed = parseEntry(last);
  if (typeof parsed === 'string') {
    throw new DeviceError('device_audit_broken', `the last entry of ${keystorePath(dir, 'auditLog')} is not readable: ${parsed}`, 'run "provisio device audit --verify --dir DIR" to find where it is broken');
  }
  return { entry: parsed, torn };
}

/**
 * Appends one entry to the keystore's security audit log and returns it. The keystore directory
 * must exist (the log lives in it); the file is created 0600 on the first entry. A crash that
 * tore the last line is not repaired silently: the new entry starts on a line of its own after
 * the fragment, which verification then reports as `entry_malformed` at that line.
 */
export function appendDeviceAudit(dir: string, event: DeviceAuditEvent): DeviceAuditEntry {
  if (!(DEVICE_AUDIT_EVENTS as readonly string[]).includes(event.event)) throw new TypeError(`unknown device audit event ${event.event}`);
  const details = event.details ?? {};
  checkDetails(details);
  if (directoryMode(dir) === null) {
    throw new DeviceError('keystore_not_found', `${dir} does not exist; the security audit log lives in the keystore`, 'run "provisio device init" first, or check --dir');
  }
  const { entry: previous, torn } = lastEntry(dir);
  const body = {
    seq: previous ? previous.seq + 1 : 1,
    at: rfc3339(event.at ?? new Date()),
    event: event.event,
    details: sortedDetails(details),
    prevHash: previous ? previous.hash : GENESIS,
  };
  const entry: DeviceAuditEntry = { ...body, hash: sha256Hex(canonicalDeviceAuditEntry(body)) };
  appendKeystoreFile(dir, 'auditLog', `${torn ? '\n' : ''}${serializeEntry(entry)}\n`);
  replaceKeystoreFiles(dir, [{ file: 'auditHead', data: `${JSON.stringify({ seq: entry.seq, hash: entry.hash })}\n` }]);
  return entry;
}

/**
 * Appends an entry and never throws: for a failure the caller is about to throw, which matters
 * more than a log that could not be written (a full disk, a read-only keystore), and for the
 * agent's loop, which keeps running.
 */
export function appendDeviceAuditQuietly(dir: string, event: DeviceAuditEvent): void {
  try {
    appendDeviceAudit(dir, event);
  } catch {
    // the caller's error is thrown next; verification shows the entry is missing
  }
}

/** The stable code of an error for the log: a ProvisioError's code, else `internal_error`. */
export function auditCodeOf(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? (e as { code: unknown }).code : undefined;
  return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : 'internal_error';
}

/** The origin of a URL (scheme, host, port): never a path, query or user info that could hold a secret. */
export function auditOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'invalid-url';
  }
}

function isDetails(v: unknown): v is DeviceAuditDetails {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  try {
    checkDetails(v as DeviceAuditDetails);
    return true;
  } catch {
    return false;
  }
}

/** An entry, or what is wrong with the line. */
function parseEntry(line: string): DeviceAuditEntry | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof v !== 'object' || v === null) return 'not an object';
  const e = v as Record<string, unknown>;
  if (!Number.isSafeInteger(e.seq) || (e.seq as number) < 1) return 'seq is not a positive integer';
  if (typeof e.at !== 'string' || !AT.test(e.at)) return 'at is not an RFC 3339 UTC time';
  if (typeof e.event !== 'string' || !EVENT.test(e.event)) return 'event is not an event name';
  if (!isDetails(e.details)) return 'details are not flat printable values';
  if (typeof e.prevHash !== 'string' || !HEX64.test(e.prevHash)) return 'prevHash is not a SHA-256';
  if (typeof e.hash !== 'string' || !HEX64.test(e.hash)) return 'hash is not a SHA-256';
  const entry: DeviceAuditEntry = { seq: e.seq as number, at: e.at, event: e.event, details: e.details, prevHash: e.prevHash, hash: e.hash };
  // Exactly the bytes appendDeviceAudit writes: an extra field, a duplicate name or reordered
  // fields mean the line was not written by it.
  if (serializeEntry(entry) !== line) return 'not in the form the device writes (extra, duplicate or reordered fields)';
  return entry;
}

/** Every entry, in file order; refuses a log that does not verify. */
export function readDeviceAudit(dir: string): DeviceAuditEntry[] {
  const { entries, verification } = scan(dir);
  if (!verification.ok && verification.broken) {
    const b = verification.broken;
    throw new DeviceError('device_audit_broken', b.message, 'the log was altered or damaged; keep a copy as evidence and investigate');
  }
  return entries;
}

/**
 * Checks the whole chain and the head file; reports the first problem found, reading from the
 * start. An absent log with no head is an empty, valid log.
 */
export function verifyDeviceAudit(dir: string): DeviceAuditVerification {
  return scan(dir).verification;
}

/** The verification and the entries before the first broken one (all of them when it verifies). */
export function listDeviceAudit(dir: string): { readonly entries: readonly DeviceAuditEntry[]; readonly verification: DeviceAuditVerification } {
  return scan(dir);
}

function scan(dir: string): { entries: DeviceAuditEntry[]; verification: DeviceAuditVerification } {
  const path = keystorePath(dir, 'auditLog');
  const text = fileState(dir, 'auditLog').present ? readKeystoreFile(dir, 'auditLog').toString('utf8') : '';
  const entries: DeviceAuditEntry[] = [];
  const fail = (finding: DeviceAuditFinding, line: number, seq: number | null, message: string) => ({
    entries,
    verification: { ok: false, entries: entries.length, head: headOf(entries), broken: { finding, line, seq, message } },
  });
  const lines = text.length === 0 ? [] : text.split('\n');
  // A complete log ends with '\n', which leaves one empty string after the split. A torn last
  // line is judged after the head check: cut entries are `truncated`, a lone torn append (a
  // crash before its head was written) is `entry_malformed`.
  const tornLine = lines.length > 0 && lines.pop() !== '' ? lines.length + 1 : null;
  let previous: DeviceAuditEntry | null = null;
  for (const [i, line] of lines.entries()) {
    const n = i + 1;
    const parsed = parseEntry(line);
    if (typeof parsed === 'string') return fail('entry_malformed', n, null, `${path} line ${n}: ${parsed}`);
    const expectedSeq = previous ? previous.seq + 1 : 1;
    if (parsed.seq !== expectedSeq) {
      return fail('sequence_broken', n, parsed.seq, `${path} line ${n} has seq ${parsed.seq} where ${expectedSeq} was expected: an entry was deleted or entries were reordered`);
    }
    if (parsed.prevHash !== (previous ? previous.hash : GENESIS)) {
      return fail('chain_broken', n, parsed.seq, `${path} entry ${parsed.seq}: prevHash is not the hash of entry ${expectedSeq - 1}`);
    }
    if (sha256Hex(canonicalDeviceAuditEntry(parsed)) !== parsed.hash) {
      return fail('hash_mismatch', n, parsed.seq, `${path} entry ${parsed.seq} (${parsed.event}) does not match its hash: it was edited`);
    }
    entries.push(parsed);
    previous = parsed;
  }

  const headPath = keystorePath(dir, 'auditHead');
  let head: { seq: number; hash: string } | null = null;
  if (fileState(dir, 'auditHead').present) {
    try {
      const h = JSON.parse(readKeystoreFile(dir, 'auditHead').toString('utf8')) as { seq?: unknown; hash?: unknown };
      if (!Number.isSafeInteger(h.seq) || typeof h.hash !== 'string' || !HEX64.test(h.hash)) throw new Error('shape');
      head = { seq: h.seq as number, hash: h.hash };
    } catch {
      return fail('head_mismatch', entries.length, null, `${headPath} is not a head record ({"seq":N,"hash":"…"})`);
    }
  }
  const last = entries.at(-1) ?? null;
  if (head === null) {
    // Only a crash between the first append and the head write leaves a log without a head.
    if (last && last.seq > 1) return fail('head_mismatch', entries.length, last.seq, `${headPath} is missing, but the log holds ${entries.length} entries`);
  } else {
    if (!last || last.seq < head.seq) {
      return fail('truncated', entries.length, last?.seq ?? null, `${path} ends at entry ${last?.seq ?? 0}, but ${headPath} names entry ${head.seq}: entries were cut from its end`);
    }
    const named = entries[head.seq - 1];
    // The head is written after the line, so a crash between leaves it one entry behind.
    if (!named || named.hash !== head.hash || last.seq > head.seq + 1) {
      return fail('head_mismatch', head.seq, head.seq, `${headPath} names entry ${head.seq} with another hash than the log's, or lags it by more than one entry`);
    }
  }
  if (tornLine !== null) {
    return fail('entry_malformed', tornLine, null, `${path} line ${tornLine} is torn (no newline at the end): a crash during a write, or the file was cut`);
  }
  return { entries, verification: { ok: true, entries: entries.length, head: headOf(entries), broken: null } };
}

function headOf(entries: readonly DeviceAuditEntry[]): { seq: number; hash: string } | null {
  const last = entries.at(-1);
  return last ? { seq: last.seq, hash: last.hash } : null;
}
