/**
 * Publishing the issuing CA's CRL (RFC 5280 §5; docs/service.md "CRL"). A CRL is published
 * inside the transaction of every revocation, so no revocation is ever committed without a CRL
 * that lists it, and by the CRL job at least every interval. The number is reserved first, under
 * the CRL state row's lock: a concurrent publisher (another server on the same PostgreSQL) waits,
 * then reads the revocations this one committed, so a higher number never lists less.
 */
import type { ServiceDeps } from './deps.js';
import type { CrlRecord } from './model.js';
import type { StoreTx } from './store.js';

const MINUTE_MS = 60_000;

/**
 * nextUpdate allows this much beyond the interval: a job that runs a little late (a busy
 * machine, a restart) still publishes before relying parties treat the CRL as stale. A quarter
 * of the interval, at most 15 minutes: 1 h → 1 h 15 min.
 */
export function crlGraceMs(intervalMs: number): number {
  return Math.min(Math.floor(intervalMs / 4), 15 * MINUTE_MS);
}

/** Signs and stores a new CRL in `tx`; returns it. */
export async function publishCrl(tx: StoreTx, deps: Pick<ServiceDeps, 'clock' | 'authority' | 'revocation'>): Promise<CrlRecord> {
  const { authority } = deps;
  const crlNumber = await tx.reserveCrlNumber(authority.issuerFingerprint);
  const entries = await tx.listRevokedCertificates(authority.issuerFingerprint);
  // Whole seconds: what the CRL encodes is what the store and the HTTP headers say.
  const thisUpdate = new Date(Math.floor(deps.clock.now().getTime() / 1000) * 1000);
  const intervalMs = deps.revocation.crlIntervalMs;
  const nextUpdate = new Date(thisUpdate.getTime() + intervalMs + crlGraceMs(intervalMs));
  const der = await authority.signCrl({ crlNumber: BigInt(crlNumber), thisUpdate, nextUpdate, entries });
  const crl: CrlRecord = { issuerFingerprint: authority.issuerFingerprint, crlNumber, thisUpdate, nextUpdate, der };
  await tx.saveCrl(crl);
  return crl;
}

/**
 * The CRL job's step: publishes a new CRL when there is none yet or the newest is at least one
 * interval old (so several servers sharing a database do not each publish one per interval), or
 * is dated in the future — made while the clock ran ahead and since corrected: relying parties
 * refuse a CRL whose thisUpdate has not come yet (RFC 5280 §6.3.3 (a)), so it is replaced at once
 * (at start, and at the next check while running). Returns the CRL published, or null when the
 * current one is still fresh.
 */
export async function refreshCrl(deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>): Promise<CrlRecord | null> {
  const current = await deps.store.findCrl(deps.authority.issuerFingerprint);
  const now = deps.clock.now().getTime();
  const age = current ? now - current.thisUpdate.getTime() : -1;
  const isFresh = current !== null && age >= 0 && age < deps.revocation.crlIntervalMs && current.nextUpdate.getTime() > now;
  if (isFresh) return null;
  return deps.store.transaction((tx) => publishCrl(tx, deps));
}

/** The newest CRL, publishing the first one if there is none yet. */
export async function currentCrl(deps: Pick<ServiceDeps, 'store' | 'clock' | 'authority' | 'revocation'>): Promise<CrlRecord> {
  return (await deps.store.findCrl(deps.authority.issuerFingerprint)) ?? deps.store.transaction((tx) => publishCrl(tx, deps));
}
