import type { ServiceDeps } from '../domain/deps.js';
import { ServiceError } from '../domain/errors.js';
import { StoreConflict } from '../domain/store.js';
import { signCheckpoint } from './checkpoint.js';

/**
 * Signs a checkpoint over the audit chain's head with the profile signer, stores it, then appends
 * it to the checkpoint file: the file never holds a checkpoint the database did not commit.
 */
export async function createCheckpoint(deps: Pick<ServiceDeps, 'store' | 'authority' | 'clock' | 'auditCheckpointFile'>) {
  // The head the store keeps, not the newest row: when the entry at the head's seq is gone or
  // different (the tail was cut, the head rewritten) nothing is signed and the job says so.
  const head = await deps.store.readAuditHead();
  if (!head) throw new ServiceError('audit_chain_broken', 'the audit_head row is missing: no checkpoint signed; run provisio audit verify');
  if (head.seq === 0) return null;
  const [entry] = await deps.store.readAudit(head.seq, 1);
  if (!entry || entry.seq !== head.seq || entry.hash !== head.hash) {
    throw new ServiceError('audit_chain_broken', `audit_head records entry ${head.seq} but the log ${entry?.seq === head.seq ? 'has another hash there' : 'has no such entry'}: no checkpoint signed; run provisio audit verify`);
  }
  const checkpoint = await signCheckpoint(head, deps.authority.profileSigner, deps.authority.profileSignerChain[0] as Buffer, deps.clock.now());
  try {
    await deps.store.insertCheckpoint(checkpoint);
    deps.auditCheckpointFile?.append(checkpoint);
  } catch (e) {
    // Nothing was appended since the last checkpoint: that one still covers the head.
    if (!(e instanceof StoreConflict)) throw e;
  }
  return { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at.toISOString() };
}
