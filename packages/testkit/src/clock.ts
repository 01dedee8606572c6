import type { Clock } from '@provisio/pki';

/** A clock that stands still until a test moves it. */
export interface FixedClock extends Clock {
  set(at: Date | string): void;
  advance(ms: number): void;
}

export function fixedClock(start: Date | string = '2026-06-01T12:00:00Z'): FixedClock {
  let now = new Date(start);
  return {
    now: () => new Date(now),
    set: (at) => {
      now = new Date(at);
    },
    advance: (ms) => {
      now = new Date(now.getTime() + ms);
    },
  };
}

export const DAY = 86_400_000;
