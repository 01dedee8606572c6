/**
 * `heartbeatAtStation`: the agent's check-ins at the central station (docs/station.md), at once
 * and then every interval, until `signal` aborts. The service cannot call a device, so what it
 * asks of the device rides on the check-in answer: when an admin asked for a reprovisioning
 * (docs/lifecycle.md "Reprovisioning asked for by an admin"), the device reprovisions at once
 * (reprovisionConnected: its request counts as approved by that admin), installs and confirms the
 * fresh profile, and checks in again with the new certificate. A refused or unreachable station,
 * or a failed reprovisioning, is reported and tried again at the next beat: the agent keeps
 * running.
 */
import { type CheckInResult, type CheckInTelemetry, checkInAtStation } from './check-in.js';
import { appendDeviceAuditQuietly, auditCodeOf, auditOrigin } from './device-audit-log.js';
import { type ReprovisionConnectedResult, type ReprovisionProgress, reprovisionConnected } from './reprovision-connected.js';
import type { RenewConnectedDeps } from './renew-connected.js';

export type HeartbeatEvent =
  | { readonly step: 'checked-in'; readonly result: CheckInResult }
  | { readonly step: 'check-in-failed'; readonly reason: string; readonly retryInMs: number }
  | { readonly step: 'reprovision-asked'; readonly requestedAt: string }
  | { readonly step: 'reprovisioned'; readonly result: ReprovisionConnectedResult }
  | { readonly step: 'reprovision-failed'; readonly reason: string; readonly retryInMs: number }
  | ReprovisionProgress;

export interface HeartbeatInput {
  readonly dir: string;
  readonly stationUrl: string;
  /** Where the device reprovisions (the service URL of its keystore). */
  readonly serviceUrl: string;
  readonly intervalMs: number;
  readonly signal: AbortSignal;
  /** Telemetry for each check-in (read again each beat: the firmware may change). */
  readonly telemetry?: () => CheckInTelemetry;
  /**
   * How long one reprovisioning waits for its profile (default 10 minutes): under an admin's ask
   * it is approved at once, so a long wait means something is wrong; the next beat tries again.
   */
  readonly reprovisionMaxWaitMs?: number;
  readonly onEvent?: (event: HeartbeatEvent) => void;
}

const DEFAULT_REPROVISION_WAIT_MS = 10 * 60_000;

function reasonOf(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${e.message}` : e.message;
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs until `signal` aborts; resolves then. */
export async function heartbeatAtStation(deps: Pick<RenewConnectedDeps, 'clock' | 'random'>, input: HeartbeatInput): Promise<void> {
  const { dir, stationUrl, signal } = input;
  const checkIn = () => checkInAtStation({}, { dir, stationUrl, record: false, ...(input.telemetry ? { telemetry: input.telemetry() } : {}) });
  // The security audit log gets the first outcome and every change (ok → a code, a code → ok,
  // another serial), not every beat.
  let lastRecorded: string | null = null;
  const record = (outcome: string, write: () => void) => {
    if (outcome === lastRecorded) return;
    lastRecorded = outcome;
    write();
  };
  // The ask this agent already answered with a fresh profile: never answered twice in a loop.
  let answeredAsk: string | null = null;
  while (!signal.aborted) {
    let answer: CheckInResult | null = null;
    try {
      answer = await checkIn();
      const ok = answer;
      record(`ok ${ok.serial}`, () =>
        appendDeviceAuditQuietly(dir, {
          event: 'check_in.succeeded',
          details: { station: auditOrigin(stationUrl), serial: ok.serial, revocationSource: ok.revocationSource, mutualTls: true },
          at: deps.clock.now(),
        }));
      input.onEvent?.({ step: 'checked-in', result: answer });
    } catch (e) {
      const code = auditCodeOf(e);
      record(code, () => appendDeviceAuditQuietly(dir, { event: 'check_in.failed', details: { code, station: auditOrigin(stationUrl) }, at: deps.clock.now() }));
      input.onEvent?.({ step: 'check-in-failed', reason: reasonOf(e), retryInMs: input.intervalMs });
    }
    if (answer?.reprovisionRequestedAt && answer.reprovisionRequestedAt !== answeredAsk && !signal.aborted) {
      input.onEvent?.({ step: 'reprovision-asked', requestedAt: answer.reprovisionRequestedAt });
      try {
        const result = await reprovisionConnected(deps, {
          dir,
          serviceUrl: input.serviceUrl,
          maxWaitMs: input.reprovisionMaxWaitMs ?? DEFAULT_REPROVISION_WAIT_MS,
          signal,
          ...(input.onEvent ? { onProgress: input.onEvent } : {}),
        });
        answeredAsk = answer.reprovisionRequestedAt;
        input.onEvent?.({ step: 'reprovisioned', result });
        // Show the station the fresh certificate at once; the service no longer asks.
        continue;
      } catch (e) {
        if (signal.aborted) return;
        input.onEvent?.({ step: 'reprovision-failed', reason: reasonOf(e), retryInMs: input.intervalMs });
      }
    }
    await sleepUnlessAborted(input.intervalMs, signal);
  }
}
