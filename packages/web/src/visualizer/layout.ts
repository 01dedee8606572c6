/** Geometry of the swimlane drawing: lanes are columns, steps are rows, zones are bands of lanes. */
import type { Flow, Step } from './model/index.js';

export const LANE_WIDTH = 168;
export const MARGIN = 16;
export const HEADER = 78;
export const ROW = 64;

export interface ZoneBand { readonly id: string; readonly name: string; readonly x: number; readonly width: number; readonly index: number }

export function laneIndex(m: Flow, actor: string): number {
  return m.actors.findIndex((a) => a.id === actor);
}

export function laneX(m: Flow, actor: string): number {
  return MARGIN + laneIndex(m, actor) * LANE_WIDTH + LANE_WIDTH / 2;
}

export function stepY(index: number): number {
  return HEADER + index * ROW + ROW / 2 + 8;
}

export function diagramSize(m: Flow): { width: number; height: number } {
  return { width: MARGIN * 2 + m.actors.length * LANE_WIDTH, height: HEADER + m.steps.length * ROW + 24 };
}

export function zoneBands(m: Flow): ZoneBand[] {
  return m.zones.map((z, index) => {
    const lanes = m.actors.map((a, i) => (a.zone === z.id ? i : -1)).filter((i) => i >= 0);
    const first = lanes[0] ?? 0;
    return { id: z.id, name: z.name, index, x: MARGIN + first * LANE_WIDTH, width: lanes.length * LANE_WIDTH };
  });
}

/** The x positions where a step's message crosses from one trust zone into another. */
export function boundaryCrossings(m: Flow, s: Step): number[] {
  const a = laneIndex(m, s.from);
  const b = laneIndex(m, s.to);
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const xs: number[] = [];
  for (let i = lo; i < hi; i++) {
    if (m.actors[i]?.zone !== m.actors[i + 1]?.zone) xs.push(MARGIN + (i + 1) * LANE_WIDTH);
  }
  return xs;
}

export function zoneOf(m: Flow, actor: string): string | undefined {
  return m.actors.find((a) => a.id === actor)?.zone;
}
