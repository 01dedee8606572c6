/**
 * Slows password guessing at the sign-in route (docs/web.md "Sessions and CSRF"): failures are
 * counted per username and per client IP address; after FREE_FAILURES of either, the next try
 * must wait 2 s, then 4, 8, … up to MAX_DELAY_MS after the latest failure (OWASP authentication
 * guidance: a growing delay, not a lock-out an attacker could use against the real user forever).
 * A success clears the username's count (not the address's: one address guessing many names
 * stays slowed). Counts are forgotten FORGET_MS after their latest failure. Kept in memory like
 * the sessions, bounded by MAX_KEYS (the oldest are dropped first).
 */

/** Failures allowed before any delay: enough for a few typos. */
export const FREE_FAILURES = 5;
/** The longest wait: 15 minutes. */
export const MAX_DELAY_MS = 15 * 60_000;
/** A count unused this long starts again at zero. */
export const FORGET_MS = 60 * 60_000;
const MAX_KEYS = 100_000;

interface Count {
  failures: number;
  lastFailureAt: number;
}

export type ThrottleVerdict = { readonly allowed: true } | { readonly allowed: false; readonly retryAfterSeconds: number; readonly by: 'username' | 'address' };

export class SignInThrottle {
  readonly #counts = new Map<string, Count>();

  /** Whether a sign-in may be checked now (before the password's scrypt work is spent). */
  check(username: string, address: string, now: number): ThrottleVerdict {
    let wait = 0;
    let by: 'username' | 'address' = 'username';
    for (const [key, kind] of [[userKey(username), 'username'], [`ip:${address}`, 'address']] as const) {
      const left = this.#waitFor(key, now);
      if (left > wait) {
        wait = left;
        by = kind;
      }
    }
    return wait > 0 ? { allowed: false, retryAfterSeconds: Math.ceil(wait / 1000), by } : { allowed: true };
  }

  recordFailure(username: string, address: string, now: number): void {
    for (const key of [userKey(username), `ip:${address}`]) {
      const count = this.#fresh(key, now) ?? { failures: 0, lastFailureAt: now };
      count.failures += 1;
      count.lastFailureAt = now;
      this.#counts.delete(key); // re-inserted last: the Map's order is oldest failure first
      this.#counts.set(key, count);
    }
    while (this.#counts.size > MAX_KEYS) this.#counts.delete(this.#counts.keys().next().value as string);
  }

  recordSuccess(username: string): void {
    this.#counts.delete(userKey(username));
  }

  #fresh(key: string, now: number): Count | null {
    const count = this.#counts.get(key);
    if (!count) return null;
    if (now - count.lastFailureAt >= FORGET_MS) {
      this.#counts.delete(key);
      return null;
    }
    return count;
  }

  #waitFor(key: string, now: number): number {
    const count = this.#fresh(key, now);
    if (!count || count.failures < FREE_FAILURES) return 0;
    const delay = Math.min(MAX_DELAY_MS, 2000 * 2 ** (count.failures - FREE_FAILURES));
    return Math.max(0, count.lastFailureAt + delay - now);
  }
}

/** Usernames compare as typed, but case must not give an attacker fresh counts. */
function userKey(username: string): string {
  return `user:${username.toLowerCase()}`;
}
