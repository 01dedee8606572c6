/**
 * Stepping through a flow: the current step lives in the URL (?step=N, 1-based) so every step can
 * be linked; play advances on a timer at the chosen speed; the keyboard drives it (← → space Home End).
 */
import { useCallback, useEffect, useState } from 'react';
import { navigate } from '../router';

export const SPEEDS = [0.5, 1, 2] as const;
/** Time a step stays on screen while playing at 1×. */
const STEP_MS = 2200;

/** The step from ?step=N, clamped to the flow; 0-based. */
export function stepFromQuery(query: URLSearchParams, count: number): number {
  const n = Number.parseInt(query.get('step') ?? '1', 10);
  if (!Number.isFinite(n)) return 0;
  return Math.min(Math.max(n, 1), count) - 1;
}

export function usePrefersReducedMotion(): boolean {
  const query = '(prefers-reduced-motion: reduce)';
  const [reduced, setReduced] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const list = window.matchMedia(query);
    const update = () => setReduced(list.matches);
    list.addEventListener('change', update);
    return () => list.removeEventListener('change', update);
  }, []);
  return reduced;
}

export interface Player {
  readonly current: number;
  readonly count: number;
  readonly playing: boolean;
  readonly speed: number;
  go(index: number): void;
  next(): void;
  previous(): void;
  restart(): void;
  toggle(): void;
  setSpeed(speed: number): void;
}

/**
 * `current` comes from the URL; `go` rewrites ?step= in place (replace, so stepping does not fill
 * the history) keeping the other parameters.
 */
export function usePlayer(count: number, current: number): Player {
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(1);

  const go = useCallback((index: number) => {
    const clamped = Math.min(Math.max(index, 0), count - 1);
    const query = new URLSearchParams(location.search);
    query.set('step', String(clamped + 1));
    navigate(`${location.pathname}?${query.toString()}`, true);
  }, [count]);

  useEffect(() => {
    if (!playing) return;
    if (current >= count - 1) {
      setPlaying(false);
      return;
    }
    const timer = setTimeout(() => go(current + 1), STEP_MS / speed);
    return () => clearTimeout(timer);
  }, [playing, current, count, speed, go]);

  return {
    current,
    count,
    playing,
    speed,
    go,
    next: () => go(current + 1),
    previous: () => go(current - 1),
    restart: () => {
      setPlaying(false);
      go(0);
    },
    toggle: () => {
      // Play from the last step starts over.
      if (!playing && current >= count - 1) go(0);
      setPlaying(!playing);
    },
    setSpeed,
  };
}

/** ← → space Home End anywhere on the page, except while typing or on a control that uses the key itself. */
export function useStepKeys(player: Player): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      const target = e.target as HTMLElement | null;
      const tag = target?.tagName ?? '';
      if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
      switch (e.key) {
        case 'ArrowRight':
          player.next();
          break;
        case 'ArrowLeft':
          player.previous();
          break;
        case 'Home':
          player.go(0);
          break;
        case 'End':
          player.go(player.count - 1);
          break;
        case ' ':
          // A focused button or link handles space itself.
          if (tag === 'BUTTON' || tag === 'A') return;
          player.toggle();
          break;
        default: return;
      }
      e.preventDefault();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [player]);
}
