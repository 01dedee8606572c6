/**
 * /visualizer/assessment: every method scored on complexity, security, friction and scalability,
 * with the reason behind each score. /visualizer/guide?connectivity=&installer=&security=&scale=:
 * four questions → a recommended method and why; the answers live in the URL, so it can be shared.
 */
import { Link, navigate, useLocation } from '../router';
import { type Answers, answersFromQuery, answersToQuery, type Assessment, findMethod, type Method, METHODS, type Question, QUESTIONS, recommend, USE_CASES } from './model/index.js';

const DIMENSIONS: { key: keyof Assessment; label: string; better: string }[] = [
  { key: 'security', label: 'Security', better: 'higher is stronger' },
  { key: 'complexity', label: 'Complexity', better: 'higher is more to build' },
  { key: 'friction', label: 'User friction', better: 'higher is more work for people' },
  { key: 'scalability', label: 'Scalability', better: 'higher scales further' },
];

export function AssessmentPage() {
  return (
    <section>
      <h1>Method comparison</h1>
      <p>Scores from 1 to 5; each comes with its reason. <Link to="/visualizer/guide">Not sure? Answer four questions.</Link></p>
      <div className="table-scroll">
        <table className="table assessment" data-testid="assessment">
          <thead>
            <tr>
              <th scope="col">Method</th>
              {DIMENSIONS.map((d) => <th key={d.key} scope="col">{d.label}<br /><span className="muted">{d.better}</span></th>)}
              <th scope="col">Best for</th>
            </tr>
          </thead>
          <tbody>
            {METHODS.map((m) => (
              <tr key={m.id} data-method={m.id}>
                <th scope="row"><Link to={`/visualizer/${m.id}`}>{m.name}</Link></th>
                {DIMENSIONS.map((d) => (
                  <td key={d.key}>
                    <span className="score" aria-label={`${d.label} ${m.assessment[d.key].score} of 5`}>{'●'.repeat(m.assessment[d.key].score)}{'○'.repeat(5 - m.assessment[d.key].score)} {m.assessment[d.key].score}/5</span>
                    <br />{m.assessment[d.key].reason}
                  </td>
                ))}
                <td>{m.bestFor}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The Provisio commands that run a method, in the order of its steps, each once, with the steps it runs. */
export function commandsOf(method: Method): { command: string; steps: string[] }[] {
  const out: { command: string; steps: string[] }[] = [];
  for (const s of method.steps) {
    if (s.command === undefined) continue;
    const known = out.find((c) => c.command === s.command);
    if (known) known.steps.push(s.title);
    else out.push({ command: s.command, steps: [s.title] });
  }
  return out;
}

function Commands({ method }: { method: Method }) {
  const commands = commandsOf(method);
  if (method.kind === 'generic' || commands.length === 0) {
    return <p data-testid="guide-commands" className="muted">A generic method, described for comparison: no Provisio command runs it.</p>;
  }
  return (
    <div data-testid="guide-commands">
      <h3>Run it with</h3>
      <ol>
        {commands.map((c) => <li key={c.command}><code className="wrap">{c.command}</code> <span className="muted">— {c.steps.join(', ')}</span></li>)}
      </ol>
    </div>
  );
}

export function GuidePage() {
  const { query } = useLocation();
  const answers = answersFromQuery(query);
  const result = recommend(answers);
  const method = findMethod(result.method);
  const set = (q: Question, value: string) => navigate(`/visualizer/guide?${answersToQuery({ ...answers, [q]: value } as Answers)}`, true);
  const shareUrl = `${location.origin}/visualizer/guide?${answersToQuery(answers)}`;
  return (
    <section>
      <h1>Which method?</h1>
      <form className="guide" onSubmit={(e) => e.preventDefault()}>
        {(Object.keys(QUESTIONS) as Question[]).map((q) => (
          <label key={q}>
            {QUESTIONS[q].label}
            <select value={answers[q]} onChange={(e) => set(q, e.target.value)}>
              {Object.entries(QUESTIONS[q].options).map(([value, text]) => <option key={value} value={value}>{text}</option>)}
            </select>
          </label>
        ))}
      </form>
      <div className="recommendation" role="status" data-testid="recommendation">
        <h2>Recommended: {method?.name ?? result.method}</h2>
        <ul>{result.reasons.map((r) => <li key={r}>{r}</li>)}</ul>
        {result.alternatives.map((alt) => <p key={alt.method}>Also consider <Link to={`/visualizer/${alt.method}`}>{findMethod(alt.method)?.name ?? alt.method}</Link> {alt.when}.</p>)}
        <p><Link to={`/visualizer/${result.method}`}>See the {method?.name ?? result.method} flow step by step</Link></p>
        {method ? <Commands method={method} /> : null}
      </div>
      <p>Share these answers: <code data-testid="share-url" className="wrap">{shareUrl}</code></p>
      <h2>Use cases</h2>
      <ul data-testid="use-cases">
        {USE_CASES.map((u) => (
          <li key={u.name}>
            <Link to={`/visualizer/guide?${answersToQuery(u.answers)}`}>{u.name}</Link> → {findMethod(recommend(u.answers).method)?.name}
          </li>
        ))}
      </ul>
    </section>
  );
}
