/** What one step does, why it comes here, the message's labelled fields, and its security analysis. */
import { CLAIM_LEVELS, type Flow, STANDARDS } from './model/index.js';
import { formatDuration } from './format';
import { ExampleBytes } from './bytes/example-bytes';
import { EXAMPLE_STEPS } from './bytes/example-steps';

export function StepPanel({ method, index, headingId = 'step-heading' }: { method: Flow; index: number; headingId?: string }) {
  const step = method.steps[index];
  if (!step) return null;
  const actor = (id: string) => method.actors.find((a) => a.id === id)?.name ?? id;
  return (
    <section className="step-panel" aria-labelledby={headingId} data-testid="step-panel">
      <h2 id={headingId}>Step {index + 1} of {method.steps.length}: {step.title}</h2>
      <p className="sentence">{step.sentence}</p>
      <dl className="facts">
        <dt>From → to</dt>
        <dd>{step.from === step.to ? `${actor(step.from)} (inside)` : `${actor(step.from)} → ${actor(step.to)}`}</dd>
        <dt>Channel</dt>
        <dd data-testid="channel">{step.channel.label} — <strong>{step.channel.secure ? 'secure' : 'insecure'}</strong></dd>
        <dt>Duration</dt>
        <dd>{formatDuration(step.duration.seconds)}{step.duration.humanWait ? ' (a person acts)' : ''}</dd>
        <dt>State after</dt>
        <dd>{step.stateChange ?? 'nothing persistent changes'}</dd>
        {step.command !== undefined && (
          <>
            <dt>Run by</dt>
            <dd data-testid="command"><code className="wrap">{step.command}</code></dd>
          </>
        )}
      </dl>
      <h3>Why here</h3>
      <p data-testid="why">{step.why}</p>
      {step.carries.length > 0 && (
        <>
          <h3>The message</h3>
          {method.kind === 'generic' && <p className="muted" data-testid="illustrative">The values are illustrative: a generic method, not an exchange Provisio makes.</p>}
          <table className="table fields" data-testid="fields">
            <thead><tr><th scope="col">Field</th><th scope="col">{method.kind === 'generic' ? 'Illustrative value' : 'Example'}</th></tr></thead>
            <tbody>
              {step.carries.map((f) => (
                <tr key={f.name}>
                  <th scope="row"><code>{f.name}</code></th>
                  <td><code className="wrap">{f.example}</code>{f.note ? <span className="muted"> — {f.note}</span> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <ExampleBytes artifacts={EXAMPLE_STEPS[method.id]?.[step.id] ?? []} />
      <h3>Security</h3>
      <dl className="facts" data-testid="security">
        <dt>Threats</dt>
        <dd>{step.threats.length === 0 ? 'none specific to this step' : <ul>{step.threats.map((t) => <li key={t}>{t}</li>)}</ul>}</dd>
        <dt>Mitigations</dt>
        <dd>{step.mitigations.length === 0 ? '—' : <ul>{step.mitigations.map((t) => <li key={t}>{t}</li>)}</ul>}</dd>
        <dt>Residual risk</dt>
        <dd>{step.residualRisk}</dd>
        {step.verifies.length > 0 && (
          <>
            <dt>Verifies</dt>
            <dd><ul>{step.verifies.map((v) => <li key={v.checks}>{actor(v.by)} checks {v.checks} — trust anchor: <strong>{v.anchor}</strong></li>)}</ul></dd>
          </>
        )}
      </dl>
      {step.standards.length > 0 && (
        <>
          <h3>Standards</h3>
          <ul className="standards">
            {step.standards.map((r) => (
              <li key={r.id}>
                <a href={STANDARDS[r.id].url} rel="noreferrer">{r.id}</a> <span className="badge">{r.level}</span> {r.claim}
                <span className="sr-only"> ({CLAIM_LEVELS[r.level]})</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
