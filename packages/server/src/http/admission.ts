/**
 * Admission control for the expensive routes (RouteSpec `admission: true`): at most `maxInFlight`
 * of them run at once, at most `maxQueued` more wait their turn in arrival order (FIFO), and a
 * request that cannot even queue is refused at once with 503 service_unavailable and a
 * `Retry-After` — before its body is read, so a burst costs the service little and nothing it
 * accepted is dropped (docs/service.md, "Burst handling").
 */

export interface AdmissionOptions {
  /** Admitted requests running at once (default 64). */
  readonly maxInFlight: number;
  /** Admitted requests waiting for a slot (default 256); beyond that, 503. */
  readonly maxQueued: number;
}

export const DEFAULT_ADMISSION: AdmissionOptions = { maxInFlight: 64, maxQueued: 256 };

/** A place taken by one request: `ready` resolves true when it may run, false when released first. */
export interface AdmissionTicket {
  readonly ready: Promise<boolean>;
  /** Frees the slot (or leaves the queue); idempotent. */
  release(): void;
}

interface Waiter {
  readonly grant: (admitted: boolean) => void;
  state: 'queued' | 'running' | 'done';
}

export class AdmissionLimiter {
  readonly maxInFlight: number;
  readonly maxQueued: number;
  #running = 0;
  readonly #queue: Waiter[] = [];

  constructor(options: Partial<AdmissionOptions> = {}) {
    const o = { ...DEFAULT_ADMISSION, ...options };
    if (!Number.isInteger(o.maxInFlight) || o.maxInFlight < 1) throw new RangeError(`admission maxInFlight must be an integer ≥ 1, got ${o.maxInFlight}`);
    if (!Number.isInteger(o.maxQueued) || o.maxQueued < 0) throw new RangeError(`admission maxQueued must be an integer ≥ 0, got ${o.maxQueued}`);
    this.maxInFlight = o.maxInFlight;
    this.maxQueued = o.maxQueued;
  }

  get inFlight(): number {
    return this.#running;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** A ticket (running now or queued), or null when both the slots and the queue are full. */
  tryAdmit(): AdmissionTicket | null {
    if (this.#running >= this.maxInFlight && this.#queue.length >= this.maxQueued) return null;
    let grant!: (admitted: boolean) => void;
    const ready = new Promise<boolean>((resolve) => (grant = resolve));
    const waiter: Waiter = { grant, state: 'queued' };
    if (this.#running < this.maxInFlight && this.#queue.length === 0) {
      this.#running++;
      waiter.state = 'running';
      grant(true);
    } else {
      this.#queue.push(waiter);
    }
    return { ready, release: () => this.#release(waiter) };
  }

  /** Runs `fn` under admission; throws `busy()` when it cannot even queue. Releases on error too. */
  async run<T>(fn: () => Promise<T>, busy: (retryAfterSeconds: number) => Error): Promise<T> {
    const ticket = this.tryAdmit();
    if (!ticket) throw busy(this.retryAfterSeconds());
    try {
      await ticket.ready;
      return await fn();
    } finally {
      ticket.release();
    }
  }

  /** The delay to advertise when refusing: 1–5 s, growing with the queue per slot. */
  retryAfterSeconds(): number {
    return Math.min(5, Math.max(1, Math.ceil(this.#queue.length / this.maxInFlight)));
  }

  #release(waiter: Waiter): void {
    if (waiter.state === 'done') return;
    const wasRunning = waiter.state === 'running';
    waiter.state = 'done';
    if (!wasRunning) {
      const i = this.#queue.indexOf(waiter);
      if (i >= 0) this.#queue.splice(i, 1);
      waiter.grant(false);
      return;
    }
    this.#running--;
    const next = this.#queue.shift();
    if (next) {
      this.#running++;
      next.state = 'running';
      next.grant(true);
    }
  }
}
