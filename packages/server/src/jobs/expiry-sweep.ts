/**
 * Periodic expiry health: at start and then every hour, a `certificate.expiring` audit entry for
 * each certificate that entered the notice window (domain/expiry.ts; at most one per certificate).
 */
import type { ServiceDeps } from '../domain/deps.js';
import { noteExpiringCertificates } from '../domain/expiry.js';

export const EXPIRY_SWEEP_INTERVAL_MS = 3_600_000;

export async function startExpiryJob(
  deps: Pick<ServiceDeps, 'store' | 'clock'>,
  log: (line: string) => void,
  options: { windowMs: number; intervalMs?: number },
): Promise<{ stop(): Promise<void> }> {
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = running.then(async () => {
      try {
        const written = await noteExpiringCertificates(deps, options.windowMs);
        if (written > 0) log(`${written} certificate(s) expire within ${Math.round(options.windowMs / 86_400_000)} days (audit certificate.expiring)`);
      } catch (e) {
        log(`expiry sweep failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    return running;
  };
  await tick();
  const timer = setInterval(tick, options.intervalMs ?? EXPIRY_SWEEP_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
