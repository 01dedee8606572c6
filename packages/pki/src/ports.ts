/** The world as the PKI core sees it: passed in, so tests can fix time and randomness. */
export interface Clock {
  now(): Date;
}

export interface Random {
  /** `n` bytes from a CSPRNG (a seeded generator only in tests). */
  bytes(n: number): Uint8Array;
}

export const systemClock: Clock = { now: () => new Date() };
