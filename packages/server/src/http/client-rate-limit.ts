/**
 * Per-client rate limiting (docs/service.md, "Burst handling"): one token bucket per client —
 * the API token for authenticated routes, the IP address for the public device routes and for
 * calls without a token. A call that finds its bucket empty is answered `429 rate_limited` with
 * `Retry-After` (RFC 6585 §4), before admission control, authentication or its body: one client
 * cannot take the service's admission slots from the others.
 *
 * Buckets are kept in memory per process, at most `maxClients` of them; when full, buckets that
 * have refilled completely (idle clients) are dropped first, then the oldest.
 */

export interface ClientRateOptions {
  /** Sustained calls per second per client; 0 turns per-client limiting off. */
  readonly ratePerSecond: number;
  /** Calls a client may make at once before the rate applies (bucket size). */
  readonly burst: number;
  /** Buckets kept at most (default 100 000). */
  readonly maxClients?: number;
}

/**
 * 50 calls/s sustained, bursts of 100: a device needs a handful of calls to provision, so this
 * only stops a runaway or hostile client; a gateway or a simulator carrying a fleet from one
 * address needs more (--rate-per-client), or 0 to turn it off.
 */
export const DEFAULT_CLIENT_RATE: ClientRateOptions = { ratePerSecond: 50, burst: 100 };

interface Bucket {
  tokens: number;
  at: number;
}

export type RateDecision = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number };

export class ClientRateLimiter {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxClients: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: Partial<ClientRateOptions> = {}) {
    const o = { ...DEFAULT_CLIENT_RATE, ...options };
    if (!(Number.isFinite(o.ratePerSecond) && o.ratePerSecond >= 0)) throw new RangeError(`ratePerSecond must be ≥ 0, got ${o.ratePerSecond}`);
    if (!(Number.isInteger(o.burst) && o.burst >= 1)) throw new RangeError(`burst must be an integer ≥ 1, got ${o.burst}`);
    this.ratePerSecond = o.ratePerSecond;
    this.burst = o.burst;
    this.maxClients = o.maxClients ?? 100_000;
  }

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  get clients(): number {
    return this.#buckets.size;
  }

  /** Takes one token from `client`'s bucket at time `nowMs` (a monotonic clock). */
  take(client: string, nowMs: number): RateDecision {
    if (!this.enabled) return { allowed: true };
    let bucket = this.#buckets.get(client);
    if (bucket) {
      bucket.tokens = Math.min(this.burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.ratePerSecond);
      bucket.at = nowMs;
    } else {
      if (this.#buckets.size >= this.maxClients) this.#evict(nowMs);
      bucket = { tokens: this.burst, at: nowMs };
      this.#buckets.set(client, bucket);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true };
    }
    // Whole seconds until one token is back (Retry-After is delta-seconds), at least 1.
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.ratePerSecond)) };
  }

  #evict(nowMs: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + ((nowMs - b.at) / 1000) * this.ratePerSecond >= this.burst) this.#buckets.delete(key);
    }
    // Everyone is active: drop the oldest tenth (Map keeps insertion order).
    if (this.#buckets.size >= this.maxClients) {
      let n = Math.max(1, Math.floor(this.maxClients / 10));
      for (const key of this.#buckets.keys()) {
        if (n-- <= 0) break;
        this.#buckets.delete(key);
      }
    }
  }
}
