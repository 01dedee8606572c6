/**
 * The gateway's forwarder (docs/proxy.md): a loop that sends queued requests to the service in
 * batches, then asks for the profiles of those the service holds, in batches. While the service
 * cannot be reached it waits with exponential backoff and full jitter; when it returns, the queue
 * drains at the next attempt. A refusal of one item (its stable code) is kept for the device; a
 * transient one ('unavailable') leaves the item queued.
 */
import type { Clock, Random } from '@provisio/pki';
import type { HttpReply, HttpTransport } from '../provision-connected.js';
import type { GatewayQueue, QueueError } from './gateway-queue.js';

/** The service takes at most 100 items per call (server domain/gateways.ts MAX_BATCH). */
export const BATCH_SIZE = 100;

export type ForwarderEvent =
  | { readonly step: 'forwarded'; readonly accepted: number; readonly refused: number }
  | { readonly step: 'profiles'; readonly approved: number; readonly refused: number; readonly pending: number }
  | { readonly step: 'upstream-down'; readonly reason: string; readonly retryInMs: number }
  | { readonly step: 'upstream-up' };

export interface ForwarderOptions {
  readonly upstream: string;
  readonly transport: HttpTransport;
  readonly queue: GatewayQueue;
  readonly clock: Clock;
  readonly random: Random;
  /** Between rounds while requests wait for approval (default 5 s). */
  readonly pollIntervalMs?: number;
  /** First backoff step and its ceiling while the service is down (default 1 s and 60 s). */
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  readonly onEvent?: (event: ForwarderEvent) => void;
}

class UpstreamDown extends Error {}

type SubmitResult = { id: string; state: string } | { error: QueueError };
type ProfileResult = { id: string; state: 'pending' } | { id: string; state: 'approved'; profile: string } | { id: string; error: QueueError };

export class Forwarder {
  private stopped = false;
  private failures = 0;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private down = false;

  constructor(private readonly o: ForwarderOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Something arrived: forward it now unless the service is known to be down (keep the backoff). */
  wake(): void {
    if (!this.down) this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let delay: number;
      try {
        await this.round();
        if (this.down) this.o.onEvent?.({ step: 'upstream-up' });
        this.down = false;
        this.failures = 0;
        delay = this.o.pollIntervalMs ?? 5_000;
      } catch (e) {
        // Any failure of a round (the service down or refusing this gateway, a disk error) is
        // retried later: the loop itself must not die while the gateway runs.
        this.down = true;
        delay = this.backoff();
        this.o.onEvent?.({ step: 'upstream-down', reason: e instanceof Error ? e.message : String(e), retryInMs: delay });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }

  /** Uniform in [base/2, min(max, base * 2^n)]: spread out, but never a busy loop. */
  private backoff(): number {
    const base = this.o.backoffBaseMs ?? 1_000;
    const ceiling = Math.min(this.o.backoffMaxMs ?? 60_000, base * 2 ** Math.min(this.failures, 20));
    this.failures += 1;
    const r = Buffer.from(this.o.random.bytes(4)).readUInt32BE(0) / 0x1_0000_0000;
    return Math.floor(base / 2 + (ceiling - base / 2) * r);
  }

  private async post<T>(path: string, json: unknown): Promise<T> {
    let reply: HttpReply;
    try {
      reply = await this.o.transport.request('POST', `${this.o.upstream}${path}`, { bytes: Buffer.from(JSON.stringify(json)), contentType: 'application/json' });
    } catch (e) {
      throw new UpstreamDown(`network: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (reply.status !== 200) {
      // Whatever the status (busy, down, or this gateway refused: revoked, unknown), nothing in
      // the batch was decided; keep everything and try again later.
      let code = `http_${reply.status}`;
      try {
        code = (JSON.parse(reply.body.toString('utf8')) as { error: { code: string } }).error.code ?? code;
      } catch {
        // not an API error body
      }
      throw new UpstreamDown(`${reply.status} ${code}`);
    }
    return JSON.parse(reply.body.toString('utf8')) as T;
  }

  /** One round: every queued request forwarded, every pending one asked about. */
  async round(): Promise<void> {
    const { queue, clock } = this.o;
    for (let batch = queue.inState('queued', BATCH_SIZE); batch.length > 0; batch = queue.inState('queued', BATCH_SIZE)) {
      const { results } = await this.post<{ results: SubmitResult[] }>('/api/v1/gateway/requests', { requests: batch.map((e) => e.request) });
      let accepted = 0;
      let refused = 0;
      let transient = 0;
      batch.forEach((entry, i) => {
        const r = results[i];
        if (!r) throw new UpstreamDown(`the service answered ${results.length} results for ${batch.length} requests`);
        if ('error' in r) {
          if (r.error.category === 'unavailable') {
            transient += 1;
            return;
          }
          refused += 1;
          queue.update(entry.id, { state: 'refused', error: r.error }, clock.now());
        } else {
          accepted += 1;
          queue.update(entry.id, { state: 'pending', upstreamId: r.id }, clock.now());
        }
      });
      this.o.onEvent?.({ step: 'forwarded', accepted, refused });
      if (transient > 0) throw new UpstreamDown(`${transient} request(s) could not be taken now`);
    }
    const waiting = queue.inState('pending');
    for (let i = 0; i < waiting.length; i += BATCH_SIZE) {
      const batch = waiting.slice(i, i + BATCH_SIZE);
      const { results } = await this.post<{ results: ProfileResult[] }>('/api/v1/gateway/profiles', { ids: batch.map((e) => e.upstreamId) });
      const counts = { approved: 0, refused: 0, pending: 0 };
      batch.forEach((entry, j) => {
        const r = results[j];
        if (!r || r.id !== entry.upstreamId) throw new UpstreamDown('the service answered profiles out of order');
        if ('error' in r) {
          if (r.error.category === 'unavailable') return;
          counts.refused += 1;
          queue.update(entry.id, { state: 'refused', error: r.error }, clock.now());
        } else if (r.state === 'approved') {
          counts.approved += 1;
          queue.update(entry.id, { state: 'approved', profile: r.profile }, clock.now());
        } else {
          counts.pending += 1;
        }
      });
      if (counts.approved + counts.refused > 0) this.o.onEvent?.({ step: 'profiles', ...counts });
    }
  }
}
