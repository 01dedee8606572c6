import type { AuditCheckpoint, AuditEntry } from '../domain/model.js';
import type { Store } from '../domain/store.js';
import { type AuditVerification, verifyAuditChain } from './audit-chain.js';
import { CheckpointFileInvalid } from './checkpoint-file.js';

/** Entries read per query: memory stays flat however long the log is. */
export const AUDIT_PAGE_SIZE = 1000;

/** Where checkpoints kept outside the database come from (a CheckpointFile, or one read from an export). */
export interface CheckpointSource {
  /** Throws CheckpointFileInvalid when the file holds something that is not a checkpoint. */
  read(): readonly AuditCheckpoint[];
}

/**
 * Verifies the store's whole audit chain, reading it page by page: against its checkpoint rows,
 * the checkpoints in `file` (each must still be in the database, unchanged), and audit_head.
 *
 * Read in this order so a service appending and checkpointing meanwhile raises no false alarm:
 * the file (a checkpoint reaches it only after its row committed), the checkpoint rows, the
 * head, the chain, the head again (the chain may have grown past the first, not the second).
 */
export async function verifyStoreAudit(
  store: Pick<Store, 'readAudit' | 'listCheckpoints' | 'readAuditHead'>,
  verifyCheckpointSignature?: (checkpoint: AuditCheckpoint) => boolean,
  file?: CheckpointSource,
): Promise<AuditVerification> {
  let kept: readonly AuditCheckpoint[] = [];
  if (file) {
    try {
      kept = file.read();
    } catch (e) {
      if (e instanceof CheckpointFileInvalid) return { ok: false, seq: 0, problem: 'checkpoint_file_invalid', message: e.message };
      throw e;
    }
  }
  const stored = await store.listCheckpoints();
  const fileProblem = compareKeptCheckpoints(kept, stored, verifyCheckpointSignature);
  if (fileProblem) return fileProblem;
  const head = await store.readAuditHead();
  const result = await verifyAuditChain(readAll(store), stored, verifyCheckpointSignature, { head, readHeadAfter: () => store.readAuditHead() });
  return result.ok && file ? { ...result, keptCheckpoints: new Set(kept.map((cp) => cp.seq)).size } : result;
}

/**
 * Each checkpoint kept outside the database must verify and still be in the database as it was
 * signed: a row deleted is `checkpoint_missing`, a row replaced is `checkpoint_differs`.
 */
export function compareKeptCheckpoints(
  kept: readonly AuditCheckpoint[],
  stored: readonly AuditCheckpoint[],
  verifyCheckpointSignature?: (checkpoint: AuditCheckpoint) => boolean,
): AuditVerification | null {
  const bySeq = new Map(stored.map((cp) => [cp.seq, cp]));
  const seen = new Map<number, AuditCheckpoint>();
  for (const cp of kept) {
    const before = seen.get(cp.seq);
    if (before && !sameCheckpoint(before, cp)) {
      return { ok: false, seq: cp.seq, problem: 'checkpoint_file_invalid', message: `the checkpoint file holds two different checkpoints at entry ${cp.seq}` };
    }
    seen.set(cp.seq, cp);
    if (verifyCheckpointSignature && !verifyCheckpointSignature(cp)) {
      return { ok: false, seq: cp.seq, problem: 'checkpoint_signature_invalid', message: `the checkpoint at entry ${cp.seq} in the checkpoint file has a signature that does not verify` };
    }
    const row = bySeq.get(cp.seq);
    if (!row) {
      return { ok: false, seq: cp.seq, problem: 'checkpoint_missing', message: `the checkpoint file holds a signed checkpoint at entry ${cp.seq} (${cp.at.toISOString()}) that the database no longer has: checkpoint rows were deleted` };
    }
    if (!sameCheckpoint(row, cp)) {
      return { ok: false, seq: cp.seq, problem: 'checkpoint_differs', message: `the database's checkpoint at entry ${cp.seq} is not the one in the checkpoint file (${describeDifference(row, cp)}): checkpoint rows were replaced` };
    }
  }
  return null;
}

export function sameCheckpoint(a: AuditCheckpoint, b: AuditCheckpoint): boolean {
  return describeDifference(a, b) === '';
}

function describeDifference(a: AuditCheckpoint, b: AuditCheckpoint): string {
  const fields = [
    a.hash !== b.hash ? 'hash' : '',
    a.at.getTime() !== b.at.getTime() ? 'time' : '',
    !a.signature.equals(b.signature) ? 'signature' : '',
    !a.signerCertificate.equals(b.signerCertificate) ? 'signer certificate' : '',
  ].filter((f) => f !== '');
  return fields.length === 0 ? '' : `different ${fields.join(', ')}`;
}

async function* readAll(store: Pick<Store, 'readAudit'>): AsyncGenerator<AuditEntry> {
  // From the lowest possible seq, not 1: a row planted at seq 0 or below is shown by listAudit, so
  // verification must see it too.
  let from = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = await store.readAudit(from, AUDIT_PAGE_SIZE);
    yield* page;
    const last = page.at(-1);
    if (!last || page.length < AUDIT_PAGE_SIZE) return;
    from = last.seq + 1;
  }
}
