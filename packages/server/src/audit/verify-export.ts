/**
 * Offline verification of an audit export (`provisio audit export --out FILE --checkpoints FILE`)
 * against a checkpoint file: no database, no service. The export carries no audit_head, so its
 * end is held only against the checkpoints (docs/audit.md "Verifying offline").
 */
import type { AuditCheckpoint, AuditEntry } from '../domain/model.js';
import { type AuditVerification, verifyAuditChain } from './audit-chain.js';
import { CheckpointFileInvalid, parseCheckpointLines } from './checkpoint-file.js';
import { sameCheckpoint } from './verify-store-audit.js';

/** A line of the export that is not an audit entry as the export writes them. */
export class AuditExportInvalid extends Error {
  constructor(readonly line: number, reason: string) {
    super(`line ${line} of the audit export is not an audit entry: ${reason}`);
  }
}

/** The entries of an export (JSON Lines, newest first, as GET /api/v1/audit/export writes them), oldest first. */
export function parseAuditExport(text: string): AuditEntry[] {
  const entries: AuditEntry[] = [];
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new AuditExportInvalid(i + 1, 'not JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AuditExportInvalid(i + 1, 'not a JSON object');
    if (!Number.isSafeInteger(v.seq)) throw new AuditExportInvalid(i + 1, 'seq is not an integer');
    for (const field of ['at', 'actor', 'action', 'targetType', 'targetId', 'hash', 'prevHash'] as const) {
      if (typeof v[field] !== 'string') throw new AuditExportInvalid(i + 1, `${field} is not a string`);
    }
    if (typeof v.details !== 'object' || v.details === null || Array.isArray(v.details)) throw new AuditExportInvalid(i + 1, 'details is not a JSON object');
    entries.push({
      seq: v.seq as number,
      // An unparseable time stays an invalid Date: the chain check reports that entry as edited.
      at: new Date(v.at as string),
      actor: v.actor as string,
      action: v.action as string,
      targetType: v.targetType as string,
      targetId: v.targetId as string,
      details: v.details as Record<string, unknown>,
      hash: v.hash as string,
      prevHash: v.prevHash as string,
    });
  });
  return entries.reverse();
}

/**
 * Verifies an export's chain against the checkpoints in `checkpointsText` (the checkpoint file):
 * every checkpoint must verify, and the chain must reach it with the hash it signed.
 * Throws AuditExportInvalid for an export line that is not an entry.
 */
export async function verifyAuditExport(
  exportText: string,
  checkpointsText: string,
  verifyCheckpointSignature?: (checkpoint: AuditCheckpoint) => boolean,
): Promise<AuditVerification> {
  const entries = parseAuditExport(exportText);
  let checkpoints: AuditCheckpoint[];
  try {
    checkpoints = parseCheckpointLines(checkpointsText);
  } catch (e) {
    if (e instanceof CheckpointFileInvalid) return { ok: false, seq: 0, problem: 'checkpoint_file_invalid', message: e.message };
    throw e;
  }
  const bySeq = new Map<number, AuditCheckpoint>();
  for (const cp of checkpoints) {
    const before = bySeq.get(cp.seq);
    if (before && !sameCheckpoint(before, cp)) {
      return { ok: false, seq: cp.seq, problem: 'checkpoint_file_invalid', message: `the checkpoint file holds two different checkpoints at entry ${cp.seq}` };
    }
    bySeq.set(cp.seq, cp);
  }
  const result = await verifyAuditChain(entries, [...bySeq.values()], verifyCheckpointSignature);
  return result.ok ? { ...result, keptCheckpoints: bySeq.size } : result;
}
