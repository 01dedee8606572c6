/** /visualizer/<method>?step=N: the animated swimlanes of one method with its controls and step panel. */
import { Link, useLocation } from '../router';
import type { Flow } from './model/index.js';
import { MermaidExport } from './export';
import { Legend } from './legend';
import { SPEEDS, stepFromQuery, usePlayer, usePrefersReducedMotion, useStepKeys } from './player';
import { StepPanel } from './step-panel';
import { Swimlane } from './swimlane';

export function FlowPage({ method }: { method: Flow }) {
  const { query } = useLocation();
  const current = stepFromQuery(query, method.steps.length);
  const player = usePlayer(method.steps.length, current);
  const reducedMotion = usePrefersReducedMotion();
  useStepKeys(player);

  return (
    <section className="flow-page">
      <h1>{method.name}</h1>
      <p className="summary">{method.summary} <span className="muted">Best for: {method.bestFor}</span></p>
      {method.kind === 'generic' && <p className="note">A generic method, shown for comparison: Provisio does not implement it.</p>}
      <p className="views">
        <Link to={`/visualizer/timeline/${method.id}`}>Timeline</Link>
        {' · '}<Link to={`/visualizer/security/${method.id}`}>Security analysis</Link>
        {' · '}<Link to={`/visualizer/print/${method.id}`}>Print view</Link>
        {' · '}<Link to={`/visualizer/compare?a=${method.id}&b=${method.id === 'zero-touch' ? 'provisio-connected' : 'zero-touch'}`}>Compare with another method</Link>
      </p>
      <Controls player={player} />
      <p className="sr-only" role="status" data-testid="step-status">Step {current + 1} of {method.steps.length}: {method.steps[current]?.title}</p>
      <div className="flow-layout">
        <div className="diagram-scroll">
          <Swimlane method={method} current={current} speed={player.speed} reducedMotion={reducedMotion} onSelect={player.go} />
        </div>
        <StepPanel method={method} index={current} />
      </div>
      <nav aria-label="Steps" className="step-list">
        <ol>
          {method.steps.map((s, i) => (
            <li key={s.id}>
              <Link to={`/visualizer/${method.id}?step=${i + 1}`} aria-current={i === current ? 'page' : undefined}>{s.title}</Link>
            </li>
          ))}
        </ol>
      </nav>
      <Legend />
      <MermaidExport method={method} />
      <p className="muted">Keyboard: ← previous, → next, space play/pause, Home first step, End last step.</p>
    </section>
  );
}

export function Controls({ player }: { player: ReturnType<typeof usePlayer> }) {
  const { current, count, playing } = player;
  return (
    <div className="controls" role="group" aria-label="Playback">
      <button type="button" className="secondary" onClick={player.restart} aria-label="Restart">Restart</button>
      <button type="button" className="secondary" onClick={player.previous} disabled={current === 0} aria-label="Previous step">◀ Previous</button>
      <button type="button" onClick={player.toggle} aria-label={playing ? 'Pause' : 'Play'}>{playing ? 'Pause' : 'Play'}</button>
      <button type="button" className="secondary" onClick={player.next} disabled={current >= count - 1} aria-label="Next step">Next ▶</button>
      <label className="speed">
        Speed{' '}
        <select value={player.speed} onChange={(e) => player.setSpeed(Number(e.target.value))}>
          {SPEEDS.map((s) => <option key={s} value={s}>{s}×</option>)}
        </select>
      </label>
      <span className="position" data-testid="position">Step {current + 1} / {count}</span>
    </div>
  );
}
