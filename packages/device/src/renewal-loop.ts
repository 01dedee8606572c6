/**
 * `renewWhenDue`: what the agent does once provisioned (runAgent's `whileProvisioned`,
 * docs/lifecycle.md "The agent"). It reads the installed certificate and the renewal policy of
 * the installed profile, sleeps until the renewal moment (`renewalDue`: fraction of the lifetime
 * with a per-certificate jitter), renews (renewConnected), and starts over with the new
 * certificate. Nothing is kept in memory between rounds: the keystore says what is installed, so
 * a restarted agent computes the same moment and renews once. A failed renewal is retried with
 * exponential backoff (at most an hour apart) for as long as the agent runs: a certificate can
 * still renew after expiry within its component's grace period, and a refusal is reported each
 * time so an operator sees it.
 */
import type { Clock, Random } from '@provisio/pki';
import { parseCertifiedProfile } from '@provisio/protocol';
import { readKeystoreFile } from './keystore.js';
import { loadDevice } from './load-device.js';
import type { HttpTransport } from './provision-connected.js';
import { backoffMs, renewalDue, renewConnected, type RenewConnectedResult, type RenewProgress } from './renew-connected.js';

export type RenewalLoopEvent =
  | { readonly step: 'renewal-scheduled'; readonly serial: string; readonly at: Date }
  | { readonly step: 'renewal-failed'; readonly reason: string; readonly retryInMs: number }
  | { readonly step: 'renewed'; readonly previousSerial: string; readonly serial: string; readonly notAfter: string }
  | RenewProgress;

export interface RenewalLoopDeps {
  readonly clock: Clock;
  readonly random: Random;
  /** Defaults to setTimeout. Tests pass one that moves a fixed clock. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Transports for the renewal call and the confirmation (default: mutual TLS from the keystore). */
  readonly transport?: HttpTransport;
  readonly confirmTransport?: HttpTransport;
}

export interface RenewalLoopInput {
  readonly dir: string;
  readonly serviceUrl: string;
  readonly signal: AbortSignal;
  /** Renew with a new key each time (default false: the same key). */
  readonly rekey?: boolean;
  /**
   * The longest single sleep (default 1 hour): the agent looks at the clock again at least this
   * often, so a clock that jumps (suspend, NTP) does not delay a renewal by much.
   */
  readonly maxSleepMs?: number;
  readonly onEvent?: (event: RenewalLoopEvent) => void;
}

const HOUR_MS = 3_600_000;

/**
 * Sleeps `ms`, or less when `signal` aborts (resolves either way). The default timer is cleared on
 * abort: a stopped agent must exit at once, not when an hour-long timer fires.
 */
function sleepUnlessAborted(sleep: ((ms: number) => Promise<void>) | undefined, ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    if (sleep) void sleep(ms).then(done);
    else timer = setTimeout(done, ms);
  });
}

/** Runs until `signal` aborts; resolves then. */
export async function renewWhenDue(deps: RenewalLoopDeps, input: RenewalLoopInput): Promise<void> {
  const { signal } = input;
  const sleep = deps.sleep;
  const maxSleep = input.maxSleepMs ?? HOUR_MS;
  let failures = 0;
  let announced: string | null = null;
  while (!signal.aborted) {
    const device = loadDevice(input.dir);
    const install = device.install;
    if (!install) return;
    const profile = parseCertifiedProfile(readKeystoreFile(input.dir, 'profile'));
    const due = renewalDue({ serial: install.serial, notBefore: new Date(install.notBefore), notAfter: new Date(install.notAfter) }, profile.payload.config.renewal);
    if (announced !== install.serial) {
      announced = install.serial;
      input.onEvent?.({ step: 'renewal-scheduled', serial: install.serial, at: due });
    }
    const wait = due.getTime() - deps.clock.now().getTime();
    if (wait > 0) {
      await sleepUnlessAborted(sleep, Math.min(wait, maxSleep), signal);
      continue;
    }
    let result: RenewConnectedResult;
    try {
      result = await renewConnected(
        {
          clock: deps.clock,
          random: deps.random,
          ...(deps.transport ? { transport: deps.transport } : {}),
          ...(deps.confirmTransport ? { confirmTransport: deps.confirmTransport } : {}),
          ...(deps.sleep ? { sleep: deps.sleep } : {}),
        },
        { dir: input.dir, serviceUrl: input.serviceUrl, rekey: input.rekey === true, signal, ...(input.onEvent ? { onProgress: input.onEvent } : {}) },
      );
    } catch (e) {
      if (signal.aborted) return;
      const retryInMs = backoffMs(deps.random, failures, 5_000, HOUR_MS);
      failures += 1;
      input.onEvent?.({ step: 'renewal-failed', reason: e instanceof Error ? e.message : String(e), retryInMs });
      await sleepUnlessAborted(sleep, retryInMs, signal);
      continue;
    }
    failures = 0;
    input.onEvent?.({ step: 'renewed', previousSerial: result.previousSerial, serial: result.installed.install.serial, notAfter: result.installed.install.notAfter });
  }
}
