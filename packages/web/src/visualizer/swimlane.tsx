/** The swimlane drawing of one method: lanes, trust-zone bands, one arrow per step, the current one animated. */
import type { Flow, Step } from './model/index.js';
import { boundaryCrossings, diagramSize, HEADER, LANE_WIDTH, laneIndex, laneX, MARGIN, stepY, zoneBands } from './layout';
import { CrossingMarker, LockIcon } from './icons';

interface Props {
  readonly method: Flow;
  /** The current step, 0-based; steps after it are faded. */
  readonly current: number;
  readonly speed: number;
  readonly reducedMotion: boolean;
  readonly onSelect: (index: number) => void;
  /** Print view: every step drawn in full. */
  readonly showAll?: boolean;
}

export function Swimlane({ method, current, speed, reducedMotion, onSelect, showAll = false }: Props) {
  const { width, height } = diagramSize(method);
  const idPrefix = `sl-${method.id}`;
  return (
    <svg
      className="swimlane"
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-labelledby={`${idPrefix}-title`}
      data-testid="swimlane"
    >
      <title id={`${idPrefix}-title`}>{`${method.name}: ${method.steps.length} steps between ${method.actors.map((a) => a.name).join(', ')}`}</title>
      <defs>
        <marker id={`${idPrefix}-head`} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse">
          <path d="M0 0 L10 5 L0 10 z" className="arrow-head" />
        </marker>
      </defs>
      {zoneBands(method).map((z) => (
        <g key={z.id} className={`zone zone-${z.index % 4}`} data-zone={z.id}>
          <rect x={z.x + 2} y={4} width={z.width - 4} height={height - 8} rx={6} />
          <text x={z.x + z.width / 2} y={22} textAnchor="middle" className="zone-name">{z.name}</text>
        </g>
      ))}
      {method.actors.map((a) => {
        const x = laneX(method, a.id);
        return (
          <g key={a.id} className="lane" data-lane={a.id}>
            <rect x={x - LANE_WIDTH / 2 + 14} y={32} width={LANE_WIDTH - 28} height={30} rx={4} className="actor-box" />
            <text x={x} y={52} textAnchor="middle" className="actor-name">{a.name}</text>
            <line x1={x} y1={HEADER - 14} x2={x} y2={height - 12} className="lifeline" />
          </g>
        );
      })}
      {method.steps.map((s, i) => (
        <Arrow key={s.id} method={method} step={s} index={i} state={showAll || i < current ? 'past' : i === current ? 'current' : 'future'} speed={speed} reducedMotion={reducedMotion} onSelect={onSelect} prefix={idPrefix} />
      ))}
    </svg>
  );
}

function Arrow(props: { method: Flow; step: Step; index: number; state: 'past' | 'current' | 'future'; speed: number; reducedMotion: boolean; onSelect: (i: number) => void; prefix: string }) {
  const { method, step, index, state, speed, reducedMotion, onSelect, prefix } = props;
  const y = stepY(index);
  const x1 = laneX(method, step.from);
  const x2 = laneX(method, step.to);
  const local = step.from === step.to;
  const cls = `arrow arrow-${state} ${step.channel.secure ? 'channel-secure' : 'channel-insecure'}`;
  const path = local ? `M${x1} ${y - 12} h34 v24 h-34` : `M${x1} ${y} L${x2 + (x2 > x1 ? -4 : 4)} ${y}`;
  const mid = (x1 + x2) / 2;
  // A local step's label goes on the side of its lane that has room.
  const labelLeft = local && laneIndex(method, step.from) >= method.actors.length / 2;
  const dir = x2 >= x1 ? 1 : -1;
  const label = `Step ${index + 1}: ${step.title} (${step.channel.secure ? 'secure' : 'insecure'}: ${step.channel.label})`;
  return (
    <g
      className={cls}
      data-step={index + 1}
      data-secure={step.channel.secure ? 'yes' : 'no'}
      onClick={() => onSelect(index)}
    >
      <title>{label}</title>
      <rect x={MARGIN} y={y - 30} width={diagramSize(method).width - 2 * MARGIN} height={ROW_HIT} className="arrow-hit" />
      <text x={local ? (labelLeft ? x1 - 8 : x1 + 40) : mid} y={local ? y + 4 : y - 10} textAnchor={local ? (labelLeft ? 'end' : 'start') : 'middle'} className="arrow-title">{`${index + 1}. ${step.title}`}</text>
      <path d={path} className="arrow-line" markerEnd={`url(#${prefix}-head)`} fill="none" />
      {boundaryCrossings(method, step).map((x) => <CrossingMarker key={x} x={x} y={y} />)}
      <LockIcon x={local ? x1 + 48 : x1 + dir * 26} y={local ? y + 8 : y + 20} secure={step.channel.secure} />
      {state === 'current' && !reducedMotion && !local && (
        <circle r={5} className="packet" data-testid="packet">
          <animateMotion key={`${index}-${speed}`} dur={`${(0.9 / speed).toFixed(2)}s`} fill="freeze" path={`M${x1} ${y} L${x2} ${y}`} />
        </circle>
      )}
    </g>
  );
}

const ROW_HIT = 52;
