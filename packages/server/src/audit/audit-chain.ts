/**
 * The hash-chained audit log (docs/audit.md): each entry's hash covers its content, its seq and
 * the previous entry's hash, so editing, deleting, inserting or reordering entries breaks the
 * chain; signed checkpoints pin the chain at a seq, so truncating or rewriting it is found too.
 */
import { createHash } from 'node:crypto';
import type { AuditCheckpoint, AuditEntry, AuditEvent } from '../domain/model.js';

/** The prevHash of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with sorted keys and no whitespace (RFC 8785 style: keys ordered by UTF-16 code units,
 * numbers and strings as ECMAScript serializes them). Only JSON data is accepted: non-finite
 * numbers, undefined, functions, symbols, bigints and non-plain objects (Date, Buffer, Map …)
 * throw, so what is hashed is exactly what JSON.parse gives back from the stored text.
 */
export function canonicalJson(value: unknown): string {
  return serialize(value, '$', new Set());
}

function serialize(value: unknown, path: string, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is ${value}; only finite numbers are JSON`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: ${path} is ${typeof value}; only JSON values (null, boolean, number, string, array, plain object) are accepted`);
  }
  if (seen.has(value)) throw new TypeError(`canonicalJson: ${path} is a circular reference`);
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      return `[${value.map((item, i) => serialize(item, `${path}[${i}]`, seen)).join(',')}]`;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new TypeError(`canonicalJson: ${path} is a ${kind}; convert it to a string, number or plain object first`);
    }
    const record = value as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
    const keys = Object.keys(record).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${serialize(record[key], `${path}.${key}`, seen)}`).join(',')}}`;
  } finally {
    seen.delete(value);
  }
}

/** SHA-256 (hex) over canonicalJson({ seq, prevHash, at (ISO 8601), actor, action, targetType, targetId, details }). */
export function hashAuditEntry(prevHash: string, seq: number, event: AuditEvent): string {
  if (!(event.at instanceof Date) || Number.isNaN(event.at.getTime())) {
    throw new TypeError('hashAuditEntry: event.at must be a valid Date');
  }
  const body = canonicalJson({
    seq,
    prevHash,
    at: event.at.toISOString(),
    actor: event.actor,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    details: event.details,
  });
  return createHash('sha256').update(body, 'utf8').digest('hex');
}

export type AuditProblem =
  | 'edited'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'truncated'
  | 'head_mismatch'
  | 'checkpoint_mismatch'
  | 'checkpoint_signature_invalid'
  | 'checkpoint_missing'
  | 'checkpoint_differs'
  | 'checkpoint_file_invalid';

export type AuditVerification =
  | {
    readonly ok: true;
    readonly count: number;
    readonly lastSeq: number;
    readonly lastHash: string;
    /** How many signed checkpoints the chain was held against, and the newest one's seq. */
    readonly checkpoints: number;
    readonly newestCheckpointSeq: number | null;
    /** How many of them the checkpoint file (outside the database) holds, when one was read. */
    readonly keptCheckpoints?: number;
  }
  | { readonly ok: false; readonly seq: number; readonly problem: AuditProblem; readonly message: string };

/** The end of the chain as the store records it (audit_head). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

export interface ChainEnd {
  /**
   * audit_head read before the chain: the chain must reach its seq, with its hash there. null:
   * the row is gone. Leave both out when there is no head (an export file).
   */
  readonly head?: ChainHead | null;
  /**
   * Reads audit_head again once the chain is read (a live service appends meanwhile): the chain
   * must not go past that. Without it, past `head`.
   */
  readonly readHeadAfter?: () => Promise<ChainHead | null>;
}

/**
 * How far from its position an entry's own hash is searched for the seq it was written with
 * (classifies a moved entry as reordered/deleted/inserted rather than edited). Only on failure.
 */
const MOVED_ENTRY_WINDOW = 256;

/**
 * Walks the chain in the order given (oldest first) and reports the first problem.
 *
 * For each entry, with `prev` the last entry accepted:
 * - seq must be prev.seq + 1 (1 for the first): a jump is `deleted` (at the first missing seq),
 *   a step back or repeat is `reordered`;
 * - the entry must hash to its stored hash and its prevHash must be prev's hash. When not:
 *   - it names the same predecessor as prev → prev was `inserted` (reported at prev's seq);
 *   - its hash is right for another seq (it was written elsewhere): if the next entry is shifted
 *     by the same amount the run was renumbered → `deleted` (shifted up) or `inserted` (down),
 *     else `reordered`; an entry whose content belongs to the next position (columns swapped,
 *     hashes left in place) is `reordered` too;
 *   - otherwise its content does not match its hash → `edited`;
 *   - its hash is right but it does not follow prev → prev was `edited` and its hash recomputed.
 * - at a checkpoint's seq the entry's hash must equal the checkpoint's (`checkpoint_mismatch`),
 *   after the checkpoint's signature is checked (`checkpoint_signature_invalid`);
 * - the chain must reach the newest checkpoint (`truncated`);
 * - with `end.head`: the entry at the head's seq must have the head's hash (`head_mismatch`), the
 *   chain must reach the head (`truncated`) and not go past the head read after it (`head_mismatch`).
 * Without checkpoints a chain rewritten from some seq on with every hash recomputed cannot be
 * seen; without checkpoints after it, a removed tail is seen only through audit_head, and not at
 * all when audit_head was rewritten with it (docs/audit.md).
 */
export async function verifyAuditChain(
  entries: Iterable<AuditEntry> | AsyncIterable<AuditEntry>,
  checkpoints: readonly AuditCheckpoint[],
  verifyCheckpointSignature?: (checkpoint: AuditCheckpoint) => boolean,
  end: ChainEnd = {},
): Promise<AuditVerification> {
  const bySeq = new Map<number, AuditCheckpoint>();
  for (const cp of checkpoints) bySeq.set(cp.seq, cp);
  const hasHead = end.head !== undefined;
  if (hasHead && end.head === null) return fail(0, 'head_mismatch', 'the audit_head row is missing: the chain\'s end cannot be checked');
  const head = end.head ?? null;

  const checkCheckpoint = (cp: AuditCheckpoint): AuditVerification | null => {
    if (verifyCheckpointSignature && !verifyCheckpointSignature(cp)) {
      return fail(cp.seq, 'checkpoint_signature_invalid', `checkpoint at seq ${cp.seq} has a signature that does not verify`);
    }
    return null;
  };

  let prev: AuditEntry | null = null;
  let count = 0;
  let pending: AuditEntry | null = null;

  const judge = (e: AuditEntry, next: AuditEntry | null): AuditVerification | null => {
    const expectedSeq = prev ? prev.seq + 1 : 1;
    if (!Number.isSafeInteger(e.seq) || e.seq < 1) {
      return fail(e.seq, 'inserted', `entry ${e.seq} has a seq no append can produce (seqs are 1, 2, 3, …)`);
    }
    if (e.seq < expectedSeq) {
      return fail(e.seq, 'reordered', `entry ${e.seq} comes after entry ${prev?.seq ?? 0}; entries must be in increasing seq order`);
    }
    if (e.seq > expectedSeq) {
      const missing = e.seq - 1 === expectedSeq ? `${expectedSeq}` : `${expectedSeq} to ${e.seq - 1}`;
      return fail(expectedSeq, 'deleted', `entries ${missing} are missing (the next entry present is ${e.seq})`);
    }
    const expectedPrev = prev ? prev.hash : GENESIS_HASH;
    const links = e.prevHash === expectedPrev;
    const selfValid = recompute(e.prevHash, e.seq, e) === e.hash;
    if (!(links && selfValid)) return classify(e, next, links, selfValid);

    const cp = bySeq.get(e.seq);
    if (cp) {
      const bad = checkCheckpoint(cp);
      if (bad) return bad;
      if (cp.hash !== e.hash) {
        return fail(e.seq, 'checkpoint_mismatch', `entry ${e.seq} has hash ${e.hash} but the checkpoint signed ${cp.hash}; the chain was rewritten up to here`);
      }
    }
    if (head && head.seq === e.seq && head.hash !== e.hash) {
      return fail(e.seq, 'head_mismatch', `audit_head records hash ${head.hash} for entry ${e.seq} but the entry has ${e.hash}: the chain or its head was rewritten`);
    }
    prev = e;
    count++;
    return null;
  };

  const classify = (e: AuditEntry, next: AuditEntry | null, links: boolean, selfValid: boolean): AuditVerification => {
    if (prev && !links && e.prevHash === prev.prevHash) {
      return fail(prev.seq, 'inserted', `entries ${prev.seq} and ${e.seq} both claim to follow the same entry: ${prev.seq} was inserted`);
    }
    if (next && next.seq === e.seq + 1 && next.prevHash === e.prevHash) {
      return fail(e.seq, 'inserted', `entries ${e.seq} and ${next.seq} both claim to follow the same entry: ${e.seq} was inserted`);
    }
    if (!selfValid) {
      const shift = writtenAt(e);
      if (shift !== 0) {
        const nextShifted = next !== null && next.seq > 0 && writtenAt(next, shift) === shift;
        if (nextShifted && shift > 0) {
          return fail(e.seq, 'deleted', `entry ${e.seq} was written as entry ${e.seq + shift}: entries before it were deleted and the rest renumbered`);
        }
        if (nextShifted && shift < 0) {
          return fail(e.seq, 'inserted', `entry ${e.seq} was written as entry ${e.seq + shift}: entries were inserted before it and the rest renumbered`);
        }
        return fail(e.seq, 'reordered', `entry ${e.seq} was written as entry ${e.seq + shift}: entries were moved`);
      }
      if (links && next && next.seq === e.seq + 1 && recompute(e.hash, next.seq, e) === next.hash) {
        return fail(e.seq, 'reordered', `entry ${e.seq} holds the content that entry ${next.seq}'s hash was computed over: entries were swapped`);
      }
      return fail(e.seq, 'edited', links
        ? `entry ${e.seq} does not match its hash: its content was changed`
        : `entry ${e.seq} matches neither its hash nor the previous entry's hash`);
    }
    if (prev) {
      return fail(prev.seq, 'edited', `entry ${e.seq} does not follow entry ${prev.seq}: entry ${prev.seq} was rewritten and its hash recomputed`);
    }
    return fail(e.seq, 'edited', `entry ${e.seq} is the first entry but does not start from the genesis hash`);
  };

  for await (const entry of entries) {
    if (pending) {
      const bad = judge(pending, entry);
      if (bad) return bad;
    }
    pending = entry;
  }
  if (pending) {
    const bad = judge(pending, null);
    if (bad) return bad;
  }

  const lastSeq: number = (prev as AuditEntry | null)?.seq ?? 0;
  const lastHash: string = (prev as AuditEntry | null)?.hash ?? GENESIS_HASH;
  const beyond = [...bySeq.values()].filter((cp) => cp.seq > lastSeq).sort((a, b) => a.seq - b.seq);
  for (const cp of beyond) {
    const bad = checkCheckpoint(cp);
    if (bad) return bad;
  }
  const newest = beyond.at(-1);
  if (newest) {
    return fail(lastSeq + 1, 'truncated', `the chain ends at entry ${lastSeq} but a signed checkpoint covers entry ${newest.seq}: entries ${lastSeq + 1} to ${newest.seq} or more were removed`);
  }
  if (head && head.seq > lastSeq) {
    return fail(lastSeq + 1, 'truncated', `the chain ends at entry ${lastSeq} but audit_head records entry ${head.seq}: the newest entries (${lastSeq + 1} to ${head.seq}) were removed`);
  }
  if (head && head.seq === 0 && head.hash !== GENESIS_HASH) {
    return fail(0, 'head_mismatch', 'audit_head records no entry but a hash other than the genesis hash');
  }
  const headAfter = end.readHeadAfter ? await end.readHeadAfter() : head;
  if (hasHead && headAfter === null) return fail(0, 'head_mismatch', 'the audit_head row is missing: the chain\'s end cannot be checked');
  if (headAfter && lastSeq > headAfter.seq) {
    return fail(headAfter.seq + 1, 'head_mismatch', `the chain goes on to entry ${lastSeq} but audit_head records entry ${headAfter.seq} as the last: entries were added past the head, or the head was set back`);
  }
  const newestCheckpointSeq = checkpoints.reduce<number | null>((n, cp) => (n === null || cp.seq > n ? cp.seq : n), null);
  return { ok: true, count, lastSeq, lastHash, checkpoints: bySeq.size, newestCheckpointSeq };
}

/**
 * The offset from its position of the seq an entry's hash was computed with (0 when none is
 * found within MOVED_ENTRY_WINDOW). `only` tests one offset.
 */
function writtenAt(e: AuditEntry, only?: number): number {
  const offsets = only !== undefined ? [only] : windowOffsets();
  for (const d of offsets) {
    const seq = e.seq + d;
    if (seq >= 1 && recompute(e.prevHash, seq, e) === e.hash) return d;
  }
  return 0;
}

/** hashAuditEntry, or null for an entry that cannot be hashed (a stored time that is not a time). */
function recompute(prevHash: string, seq: number, event: AuditEvent): string | null {
  try {
    return hashAuditEntry(prevHash, seq, event);
  } catch {
    return null;
  }
}

function windowOffsets(): number[] {
  const out: number[] = [];
  for (let d = 1; d <= MOVED_ENTRY_WINDOW; d++) out.push(d, -d);
  return out;
}

function fail(seq: number, problem: AuditProblem, message: string): AuditVerification {
  return { ok: false, seq, problem, message };
}
