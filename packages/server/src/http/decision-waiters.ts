/**
 * Long-poll support for `GET /api/v1/device/requests/:id/profile?wait=N` (docs/service.md,
 * "Connected delivery"): a device's poll is held until its request is decided or N seconds pass.
 * The domain calls `decided(id)` after an approval or rejection is committed; every held poll for
 * that id wakes and reads the decision from the store.
 *
 * These are this process's polls; with several nodes on one PostgreSQL, decisions made elsewhere
 * arrive through store/pg-decision-fan-out.ts. Correctness never depends on a wake-up arriving:
 * a poll not woken runs to its timeout and the device asks again at once (Retry-After: 1).
 *
 * The number of held polls is bounded (`maxHeld`): beyond it a poll is answered at once, as if
 * no wait had been asked, so long-polls cannot pin an unbounded number of sockets and timers.
 */
import type { RequestDecisions } from '../domain/deps.js';

export interface LongPollOptions {
  /** Polls held at once (default 1024); beyond it, a poll is answered immediately. */
  readonly maxHeld: number;
}

export const DEFAULT_LONG_POLL: LongPollOptions = { maxHeld: 1024 };

/** The longest hold a device may ask for (seconds): below common proxy idle timeouts (60 s). */
export const MAX_WAIT_SECONDS = 30;

interface Held {
  readonly wake: (decided: boolean) => void;
}

export class DecisionWaiters implements RequestDecisions {
  readonly maxHeld: number;
  readonly #byId = new Map<string, Set<Held>>();
  #held = 0;
  #closed = false;

  constructor(options: Partial<LongPollOptions> = {}) {
    const o = { ...DEFAULT_LONG_POLL, ...options };
    if (!Number.isInteger(o.maxHeld) || o.maxHeld < 0) throw new RangeError(`long-poll maxHeld must be an integer ≥ 0, got ${o.maxHeld}`);
    this.maxHeld = o.maxHeld;
  }

  get held(): number {
    return this.#held;
  }

  /**
   * Registers a wait for `id` BEFORE the caller reads the request's state (a decision committed
   * between the read and the registration would otherwise be missed). Null when no place is free
   * or the service is closing. `promise` resolves true when woken by a decision, false at timeout
   * or on close; `cancel` ends the wait early (the state read showed it was already decided).
   */
  register(id: string, ms: number): { readonly promise: Promise<boolean>; cancel(): void } | null {
    if (this.#closed || this.#held >= this.maxHeld || ms <= 0) return null;
    let settle!: (decided: boolean) => void;
    const promise = new Promise<boolean>((resolve) => (settle = resolve));
    let done = false;
    const entry: Held = {
      wake: (decided) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const set = this.#byId.get(id);
        set?.delete(entry);
        if (set?.size === 0) this.#byId.delete(id);
        this.#held--;
        settle(decided);
      },
    };
    let set = this.#byId.get(id);
    if (!set) this.#byId.set(id, (set = new Set()));
    set.add(entry);
    this.#held++;
    const timer = setTimeout(() => entry.wake(false), ms);
    return { promise, cancel: () => entry.wake(false) };
  }

  decided(id: string): void {
    for (const entry of [...(this.#byId.get(id) ?? [])]) entry.wake(true);
  }

  /** Answers every held poll now (shutdown must not wait for their timeouts) and holds no more. */
  close(): void {
    this.#closed = true;
    for (const set of [...this.#byId.values()]) for (const entry of [...set]) entry.wake(false);
  }
}
