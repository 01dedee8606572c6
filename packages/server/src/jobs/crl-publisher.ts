/**
 * Periodic revocation publishing: a fresh CRL at least every `--crl-interval` (revocations publish
 * one at once, in their own transaction), and pre-signed OCSP answers re-signed before they
 * expire. It checks several times per interval and publishes only when the newest CRL (made by
 * this server or another on the same database) is an interval old, so nextUpdate's grace
 * (domain/crl.ts) covers a late check. A CRL dated in the future (the clock was set back) is
 * replaced at the first check, at start. OCSP answers are kept in memory only, so a restart
 * never serves one signed before a clock correction; while running, one dated in the future is
 * signed afresh (ca/ocsp-responder.ts).
 */
import type { OcspResponderService } from '../ca/ocsp-responder.js';
import { refreshCrl } from '../domain/crl.js';
import type { ServiceDeps } from '../domain/deps.js';

const MAX_CHECK_MS = 5 * 60_000;

export async function startCrlJob(deps: ServiceDeps, ocsp: OcspResponderService, log: (line: string) => void): Promise<{ stop(): Promise<void> }> {
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = running.then(async () => {
      try {
        const before = await deps.store.findCrl(deps.authority.issuerFingerprint);
        const published = await refreshCrl(deps);
        if (published && before && before.thisUpdate > published.thisUpdate) {
          log(`CRL number ${before.crlNumber} was dated in the future (thisUpdate ${before.thisUpdate.toISOString()}; the clock was set back?): replaced`);
        }
        if (published) log(`published CRL number ${published.crlNumber} (next update ${published.nextUpdate.toISOString()})`);
        await ocsp.refreshDue();
      } catch (e) {
        log(`CRL publishing failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    return running;
  };
  // At start: a first CRL, or a fresh one when the newest is stale (the service was down).
  await tick();
  const timer = setInterval(tick, Math.max(1000, Math.min(Math.floor(deps.revocation.crlIntervalMs / 8), MAX_CHECK_MS)));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
