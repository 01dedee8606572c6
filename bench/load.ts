/**
 * The load generator's two pieces shared by the benchmarks: one HTTP(S) call resolved with any
 * status, and a closed-loop runner (C workers, each starting its next item when the last one
 * finished) that reports the rate and the latency percentiles measured at the client.
 */
import { type Agent as HttpAgent, request as httpRequest } from 'node:http';
import { type Agent, request as httpsRequest, type RequestOptions } from 'node:https';

export interface Reply {
  readonly status: number;
  readonly body: Buffer;
}

/** One call over `agent` (or its own connection with `agent: false`); rejects only on network errors. */
export function send(url: string, options: Omit<RequestOptions, 'agent'> & { agent: Agent | HttpAgent | false }, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = { ...(options.headers ?? {}), ...(body ? { 'content-length': String(body.length) } : {}) };
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { ...options, headers } as RequestOptions, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface Figures {
  readonly count: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

/** Runs `fn` over every item with `concurrency` in flight; stops at the first failure (a figure with failures would mean nothing). */
export async function closedLoop<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      const t0 = performance.now();
      await fn(item);
      latencies.push(performance.now() - t0);
    }
  }));
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  // Nearest rank.
  const at = (p: number) => latencies[Math.max(0, Math.ceil(p * latencies.length) - 1)] ?? NaN;
  return { count: items.length, perSecond: items.length / seconds, p50: at(0.5), p99: at(0.99) };
}

export const ms = (x: number): string => `${x.toFixed(1)} ms`.padStart(9);
