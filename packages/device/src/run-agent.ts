/**
 * `runAgent`: the long-running device agent (docs/device.md, "The agent"). It takes the keystore
 * from whatever step it is at (connectedState) and runs the same step machine as `device
 * provision` (provisionConnected) until the device is provisioned, without a time limit: a
 * service that is down or busy is waited for, with backoff. Each step is persisted before the
 * next, so the process can be killed and restarted anywhere and ends provisioned exactly once.
 *
 * Once provisioned it stays running until `signal` aborts (SIGINT/SIGTERM in the CLI), in
 * `whileProvisioned`: the hook where renewal will run (a later step of the lifecycle); by default
 * it only waits. It ends with the error of a step that cannot succeed by waiting: a rejection, a
 * refusal, a damaged keystore.
 */
import { type ProvisionConnectedDeps, type ProvisionConnectedInput, type ProvisionConnectedResult, provisionConnected } from './provision-connected.js';

export interface RunAgentInput extends Omit<ProvisionConnectedInput, 'maxWaitMs' | 'signal'> {
  /** Stops the agent: at any step (it resumes there on the next start) or while idle. */
  readonly signal: AbortSignal;
  /** Give up after this long without a profile (default: never; the agent waits for the service). */
  readonly maxWaitMs?: number;
  /**
   * Runs once the device is provisioned, until `signal` aborts. The place for renewal (watching
   * the certificate's renewal window from the profile's config) when it is added; the default
   * resolves when the signal aborts.
   */
  readonly whileProvisioned?: (provisioned: ProvisionConnectedResult, signal: AbortSignal) => Promise<void>;
}

export interface RunAgentResult {
  /** The provisioned state the agent reached, or null when stopped before. */
  readonly provisioned: ProvisionConnectedResult | null;
}

/**
 * Resolves when `signal` aborts. A timer keeps the process alive meanwhile: a signal listener
 * alone does not, and an idle agent must not simply exit.
 */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const keepAlive = setInterval(() => {}, 3_600_000);
    signal.addEventListener('abort', () => {
      clearInterval(keepAlive);
      resolve();
    }, { once: true });
  });
}

export async function runAgent(deps: ProvisionConnectedDeps, input: RunAgentInput): Promise<RunAgentResult> {
  const { signal, whileProvisioned, maxWaitMs, ...rest } = input;
  let provisioned: ProvisionConnectedResult;
  try {
    provisioned = await provisionConnected(deps, { ...rest, maxWaitMs: maxWaitMs ?? Number.POSITIVE_INFINITY, signal });
  } catch (e) {
    if (signal.aborted) return { provisioned: null };
    throw e;
  }
  await (whileProvisioned ?? ((_p: ProvisionConnectedResult, s: AbortSignal) => untilAborted(s)))(provisioned, signal);
  // A hook may return early; the agent still runs until it is stopped.
  await untilAborted(signal);
  return { provisioned };
}
