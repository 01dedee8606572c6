/** /visualizer/compare?a=<method>&b=<method>&step=N: two methods side by side, stepped together. */
import { navigate, useLocation } from '../router';
import { Controls } from './flow-page';
import { findMethod, type Method, METHODS } from './model/index.js';
import { formatDuration } from './format';
import { stepFromQuery, usePlayer, usePrefersReducedMotion, useStepKeys } from './player';
import { Swimlane } from './swimlane';

export function ComparePage() {
  const { query } = useLocation();
  const a = findMethod(query.get('a') ?? '') ?? (METHODS[0] as Method);
  const b = findMethod(query.get('b') ?? '') ?? (METHODS[3] as Method);
  const count = Math.max(a.steps.length, b.steps.length);
  const current = stepFromQuery(query, count);
  const player = usePlayer(count, current);
  const reducedMotion = usePrefersReducedMotion();
  useStepKeys(player);

  const choose = (side: 'a' | 'b', id: string) => {
    const q = new URLSearchParams(location.search);
    q.set(side, id);
    q.set('step', '1');
    navigate(`/visualizer/compare?${q.toString()}`, true);
  };

  return (
    <section>
      <h1>Compare two methods</h1>
      <div className="filters">
        {(['a', 'b'] as const).map((side) => (
          <label key={side}>
            {side === 'a' ? 'Left method' : 'Right method'}
            <select value={(side === 'a' ? a : b).id} onChange={(e) => choose(side, e.target.value)}>
              {METHODS.map((m) => <option key={m.id} value={m.id}>{m.name}</option>)}
            </select>
          </label>
        ))}
      </div>
      <Controls player={player} />
      <div className="compare">
        {[a, b].map((m, i) => <CompareSide key={`${i}-${m.id}`} method={m} current={current} speed={player.speed} reducedMotion={reducedMotion} testId={i === 0 ? 'left' : 'right'} />)}
      </div>
    </section>
  );
}

function CompareSide(props: { method: Method; current: number; speed: number; reducedMotion: boolean; testId: string }) {
  const { method, current, speed, reducedMotion, testId } = props;
  // The shorter flow stays on its last step while the longer one goes on.
  const index = Math.min(current, method.steps.length - 1);
  const step = method.steps[index];
  const done = current >= method.steps.length;
  const total = method.steps.reduce((sum, s) => sum + s.duration.seconds, 0);
  return (
    <div className="compare-side" data-testid={`compare-${testId}`}>
      <h2>{method.name}</h2>
      <p className="muted">{method.steps.length} steps · nominal {formatDuration(total)} in all</p>
      <p className="compare-step" data-testid={`compare-${testId}-step`}>
        {done ? `Finished (${method.steps.length} steps)` : `Step ${index + 1} of ${method.steps.length}: ${step?.title ?? ''}`}
      </p>
      <p>{done ? 'This method has no more steps.' : step?.sentence}</p>
      <div className="diagram-scroll">
        <Swimlane method={method} current={done ? method.steps.length : index} speed={speed} reducedMotion={reducedMotion} onSelect={() => undefined} />
      </div>
    </div>
  );
}
