import type { AuditCheckpoint, AuditEntry } from '../domain/model.js';
import type { Store } from '../domain/store.js';
import { type AuditVerification, verifyAuditChain } from './audit-chain.js';

/** Entries read per query: memory stays flat however long the log is. */
export const AUDIT_PAGE_SIZE = 1000;

/** Verifies the store's whole audit chain against its checkpoints, reading it page by page. */
export async function verifyStoreAudit(
  store: Pick<Store, 'readAudit' | 'listCheckpoints'>,
  verifyCheckpointSignature?: (checkpoint: AuditCheckpoint) => boolean,
): Promise<AuditVerification> {
  const checkpoints = await store.listCheckpoints();
  return verifyAuditChain(readAll(store), checkpoints, verifyCheckpointSignature);
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
