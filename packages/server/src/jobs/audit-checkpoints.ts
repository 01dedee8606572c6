/** Periodic work: sign an audit checkpoint whenever the chain has grown since the last one. */
import type { ServiceDeps } from '../domain/deps.js';
import { createCheckpoint } from '../audit/create-checkpoint.js';

/**
 * Every minute, when the chain grew (D30). Between checkpoints only audit_head guards the tail,
 * and an attacker who rewrites it with the tail is not seen: the minute bounds what they can take
 * back unseen. Checking costs one read of the audit_head row.
 */
export const CHECKPOINT_INTERVAL_MS = 60_000;

export function startCheckpointJob(deps: ServiceDeps, log: (line: string) => void, intervalMs = CHECKPOINT_INTERVAL_MS): { stop(): Promise<void> } {
  let lastSeq = -1;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = running.then(async () => {
      try {
        const head = await deps.store.readAuditHead();
        if (!head || head.seq === 0 || head.seq === lastSeq) return;
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
      // A last checkpoint on the way out: the tail written since the last tick is pinned too.
      tick();
      await running;
    },
  };
}
