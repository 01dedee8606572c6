/**
 * `simulateFleet`: the fleet simulator (connected delivery only). N simulated devices, each with
 * its own key and keystore directory under `dir`, run `initDevice` then `provisionConnected`
 * against a real service, at most `concurrency` at a time. Returns a summary: how many were
 * provisioned, failures by error code, the rate, and per-device latency (from the start of its
 * submit to the service's confirmation). Key generation and request signing are not timed in the
 * latency, but they are in the overall rate.
 */
import { join } from 'node:path';
import type { Clock, Random } from '@provisio/pki';
import { isProvisioError } from '@provisio/pki';
import { initDevice } from './init-device.js';
import { type HttpTransport, provisionConnected } from './provision-connected.js';

export interface SimulateFleetDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Elapsed-time source (default performance.now). */
  readonly monotonicMs?: () => number;
  /** Tests may inject a transport; by default each device uses HTTPS trusting its root.crt. */
  readonly transport?: HttpTransport;
  readonly confirmTransport?: HttpTransport;
}

export interface SimulateFleetInput {
  readonly packageText: string;
  readonly component: string;
  readonly count: number;
  readonly concurrency: number;
  readonly serviceUrl: string;
  /** Parent directory: device i's keystore is DIR/<idPrefix><i>. */
  readonly dir: string;
  /** deviceId prefix, e.g. "SIM-" gives SIM-00001 … */
  readonly idPrefix: string;
  /** Per device: give up after this long without a confirmed profile. */
  readonly maxWaitMs: number;
  readonly onProgress?: (progress: FleetProgress) => void;
}

export interface FleetProgress {
  readonly done: number;
  readonly provisioned: number;
  readonly failed: number;
  readonly total: number;
}

export interface FleetSummary {
  readonly devices: number;
  readonly concurrency: number;
  readonly provisioned: number;
  /** Failures by error code (`internal` for errors without one). */
  readonly failed: Record<string, number>;
  readonly seconds: number;
  /** Provisioned devices per second over the whole run. */
  readonly perSecond: number;
  /** From the start of a device's submit to its confirmation; null when none was provisioned. */
  readonly latencyMs: { readonly p50: number | null; readonly p99: number | null };
  /** The first simulated device ID (the others count up from it). */
  readonly firstDeviceId: string | null;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] as number;
}

export function simulatedDeviceId(prefix: string, index: number, count: number): string {
  return `${prefix}${String(index + 1).padStart(Math.max(5, String(count).length), '0')}`;
}

export async function simulateFleet(deps: SimulateFleetDeps, input: SimulateFleetInput): Promise<FleetSummary> {
  const { count } = input;
  if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
  if (!Number.isInteger(input.concurrency) || input.concurrency < 1) throw new RangeError('concurrency must be a positive integer');
  const now = deps.monotonicMs ?? (() => performance.now());
  const failed: Record<string, number> = {};
  const latencies: number[] = [];
  let provisioned = 0;
  let failures = 0;
  let next = 0;
  const started = now();

  const one = async (i: number): Promise<void> => {
    const deviceId = simulatedDeviceId(input.idPrefix, i, count);
    const dir = join(input.dir, deviceId);
    try {
      await initDevice(
        { clock: deps.clock, random: deps.random },
        { packageText: input.packageText, component: input.component, deviceId, deviceLabel: `Simulated ${deviceId}`, dir },
      );
      const submitStart = now();
      await provisionConnected(
        {
          clock: deps.clock,
          random: deps.random,
          ...(deps.transport ? { transport: deps.transport } : {}),
          ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}),
          monotonicMs: now,
        },
        { dir, serviceUrl: input.serviceUrl, maxWaitMs: input.maxWaitMs, maxPollIntervalMs: 1_000 },
      );
      latencies.push(now() - submitStart);
      provisioned += 1;
    } catch (e) {
      const code = isProvisioError(e) ? e.code : 'internal';
      failed[code] = (failed[code] ?? 0) + 1;
      failures += 1;
    }
    input.onProgress?.({ done: provisioned + failures, provisioned, failed: failures, total: count });
  };

  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next;
      next += 1;
      await one(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(input.concurrency, count) }, () => worker()));

  const seconds = (now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    devices: count,
    concurrency: input.concurrency,
    provisioned,
    failed,
    seconds: Math.round(seconds * 1000) / 1000,
    perSecond: seconds > 0 ? Math.round((provisioned / seconds) * 10) / 10 : 0,
    latencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
    firstDeviceId: simulatedDeviceId(input.idPrefix, 0, count),
  };
}
