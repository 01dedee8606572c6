/**
 * /visualizer/timeline/<method>: each step's nominal duration. Machine steps are drawn on a
 * logarithmic scale; a step where a person acts (approval, carrying a stick) is drawn as a break,
 * because at true scale it would hide every other step.
 */
import { Link } from '../router';
import type { Flow } from './model/index.js';
import { formatDuration } from './format';

const ROW = 34;
const LABEL = 250;
const BREAK = 70;

/** Drawn width of a machine step: log scale so 1 s and 30 s are both visible. */
function barWidth(seconds: number): number {
  return 10 + 40 * Math.log10(1 + seconds);
}

export function TimelinePage({ method }: { method: Flow }) {
  let x = LABEL;
  const bars = method.steps.map((s, i) => {
    const w = s.duration.humanWait ? BREAK : barWidth(s.duration.seconds);
    const bar = { step: s, index: i, x, w };
    x += w + 4;
    return bar;
  });
  const width = x + 120;
  const height = method.steps.length * ROW + 40;
  const human = method.steps.filter((s) => s.duration.humanWait).reduce((sum, s) => sum + s.duration.seconds, 0);
  const machine = method.steps.filter((s) => !s.duration.humanWait).reduce((sum, s) => sum + s.duration.seconds, 0);
  return (
    <section>
      <h1>Timeline: {method.name}</h1>
      <p>
        <Link to={`/visualizer/${method.id}`}>Back to the swimlanes</Link>. Nominal times: <strong data-testid="machine-time">{formatDuration(machine)}</strong> of machine work and
        {' '}<strong data-testid="human-time">{formatDuration(human)}</strong> waiting for people. Machine steps use a logarithmic scale; a person&apos;s step is drawn as a break (not to scale).
      </p>
      <div className="diagram-scroll">
        <svg className="timeline" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Timeline of ${method.name}`} data-testid="timeline">
          {bars.map(({ step, index, x: bx, w }) => {
            const y = 20 + index * ROW;
            return (
              <g key={step.id} data-step={index + 1} data-human={step.duration.humanWait ? 'yes' : 'no'}>
                <text x={8} y={y + 20} className="timeline-label">{`${index + 1}. ${step.title}`}</text>
                {step.duration.humanWait ? (
                  <g className="timeline-break">
                    <rect x={bx} y={y + 6} width={w} height={20} rx={3} />
                    <path d={`M${bx + w / 2 - 8} ${y + 30} l6 -28 M${bx + w / 2 + 2} ${y + 30} l6 -28`} />
                  </g>
                ) : (
                  <rect x={bx} y={y + 6} width={w} height={20} rx={3} className="timeline-bar" />
                )}
                <text x={bx + w + 6} y={y + 20} className="timeline-duration">{formatDuration(step.duration.seconds)}{step.duration.humanWait ? ' (person)' : ''}</text>
              </g>
            );
          })}
        </svg>
      </div>
      <table className="table">
        <thead><tr><th scope="col">Step</th><th scope="col">Duration</th><th scope="col">Who waits</th></tr></thead>
        <tbody>
          {method.steps.map((s, i) => (
            <tr key={s.id}><td>{i + 1}. {s.title}</td><td>{formatDuration(s.duration.seconds)}</td><td>{s.duration.humanWait ? 'a person acts (drawn as a break)' : 'machine'}</td></tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
