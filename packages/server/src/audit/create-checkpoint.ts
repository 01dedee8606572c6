import type { ServiceDeps } from '../domain/deps.js';
import { StoreConflict } from '../domain/store.js';
import { signCheckpoint } from './checkpoint.js';

/** Signs a checkpoint over the newest audit entry with the profile signer. */
export async function createCheckpoint(deps: Pick<ServiceDeps, 'store' | 'authority' | 'clock'>) {
  const newest = (await deps.store.listAudit({ limit: 1, offset: 0 })).items[0];
  if (!newest) return null;
  const checkpoint = await signCheckpoint(newest, deps.authority.profileSigner, deps.authority.profileSignerChain[0] as Buffer, deps.clock.now());
  try {
    await deps.store.insertCheckpoint(checkpoint);
  } catch (e) {
    // Nothing was appended since the last checkpoint: that one still covers the head.
    if (!(e instanceof StoreConflict)) throw e;
  }
  return { seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at.toISOString() };
}
