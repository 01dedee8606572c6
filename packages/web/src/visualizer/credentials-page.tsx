/** /visualizer/credentials: credential types, their lifecycle, attacks, rotation and revocation, linked to the steps where they matter. */
import { Link } from '../router';
import { CHECKLIST, CREDENTIALS, findMethod } from './model/index.js';

export function CredentialsPage() {
  return (
    <section>
      <h1>Credential types and best practices</h1>
      {CREDENTIALS.map((c) => (
        <article key={c.id} className="credential" data-testid={`credential-${c.id}`} aria-labelledby={`cred-${c.id}`}>
          <h2 id={`cred-${c.id}`}>{c.name}</h2>
          <p>{c.what}</p>
          <p><strong>Lifecycle:</strong> {c.lifecycle.join(' → ')}</p>
          <table className="table">
            <thead><tr><th scope="col">Attack</th><th scope="col">Mitigation</th></tr></thead>
            <tbody>{c.attacks.map((a) => <tr key={a.attack}><td>{a.attack}</td><td>{a.mitigation}</td></tr>)}</tbody>
          </table>
          <p><strong>Rotation:</strong> {c.rotation}</p>
          <p><strong>Revocation:</strong> {c.revocation}</p>
          <p><strong>Where it matters:</strong></p>
          <ul>
            {c.steps.map((ref) => {
              const m = findMethod(ref.method);
              const index = m?.steps.findIndex((s) => s.id === ref.step) ?? -1;
              return (
                <li key={`${ref.method}-${ref.step}`}>
                  <Link to={`/visualizer/${ref.method}?step=${index + 1}`}>{m?.name}, step {index + 1}: {m?.steps[index]?.title}</Link>
                </li>
              );
            })}
          </ul>
        </article>
      ))}
      <h2>Checklist</h2>
      <ul className="checklist" data-testid="checklist">{CHECKLIST.map((c) => <li key={c}>{c}</li>)}</ul>
    </section>
  );
}
