/** Periodic work: sign an audit checkpoint whenever the chain has grown since the last one. */
import type { ServiceDeps } from '../domain/deps.js';
import { createCheckpoint } from '../audit/create-checkpoint.js';

export const CHECKPOINT_INTERVAL_MS = 10 * 60_000;

export function startCheckpointJob(deps: ServiceDeps, log: (line: string) => void, intervalMs = CHECKPOINT_INTERVAL_MS): { stop(): Promise<void> } {
  let lastSeq = -1;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = running.then(async () => {
      try {
        const newest = (await deps.store.listAudit({ limit: 1, offset: 0 })).items[0];
        if (!newest || newest.seq === lastSeq) return;
        const cp = await createCheckpoint(deps);
        if (cp) lastSeq = cp.seq;
      } catch (e) {
        log(`audit checkpoint failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      tick();
      await running;
    },
  };
}
