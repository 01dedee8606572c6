/**
 * /visualizer/security/<method>: the attack surface step by step (threats, mitigations, residual
 * risk, trust boundaries crossed), the trust anchors every verification rests on, and the
 * standards the method's steps cite, each at the level it supports.
 */
import { Link } from '../router';
import { CLAIM_LEVELS, type Flow, FLOWS, STANDARDS, type StandardId } from './model/index.js';

function zoneName(m: Flow, actor: string): string {
  const zone = m.actors.find((a) => a.id === actor)?.zone;
  return m.zones.find((z) => z.id === zone)?.name ?? '?';
}

export function SecurityPage({ method }: { method: Flow }) {
  const anchors = new Map<string, { step: number; by: string; checks: string }[]>();
  method.steps.forEach((s, i) => {
    for (const v of s.verifies) {
      const list = anchors.get(v.anchor) ?? [];
      list.push({ step: i + 1, by: method.actors.find((a) => a.id === v.by)?.name ?? v.by, checks: v.checks });
      anchors.set(v.anchor, list);
    }
  });
  return (
    <section>
      <h1>Security analysis: {method.name}</h1>
      <p><Link to={`/visualizer/${method.id}`}>Back to the swimlanes</Link> · <Link to="/visualizer/standards">Standards across all flows</Link></p>
      <h2>Attack surface by step</h2>
      <table className="table" data-testid="attack-surface">
        <thead><tr><th scope="col">Step</th><th scope="col">Channel</th><th scope="col">Trust boundary</th><th scope="col">Threats</th><th scope="col">Mitigations</th><th scope="col">Residual risk</th></tr></thead>
        <tbody>
          {method.steps.map((s, i) => {
            const from = zoneName(method, s.from);
            const to = zoneName(method, s.to);
            return (
              <tr key={s.id} data-step={i + 1}>
                <td><Link to={`/visualizer/${method.id}?step=${i + 1}`}>{i + 1}. {s.title}</Link></td>
                <td>{s.channel.label} ({s.channel.secure ? 'secure' : 'insecure'})</td>
                <td>{from === to ? `within ${from}` : `crosses ${from} → ${to}`}</td>
                <td>{s.threats.length === 0 ? 'none specific' : <ul>{s.threats.map((t) => <li key={t}>{t}</li>)}</ul>}</td>
                <td>{s.mitigations.length === 0 ? '—' : <ul>{s.mitigations.map((t) => <li key={t}>{t}</li>)}</ul>}</td>
                <td>{s.residualRisk}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <h2>Trust anchors</h2>
      <p>Every verification in the flow, grouped by the anchor it ultimately rests on: compromise of an anchor defeats each check listed under it.</p>
      <ul data-testid="trust-anchors">
        {[...anchors.entries()].map(([anchor, uses]) => (
          <li key={anchor}>
            <strong>{anchor}</strong>
            <ul>{uses.map((u) => <li key={`${u.step}-${u.checks}`}>step {u.step}: {u.by} checks {u.checks}</li>)}</ul>
          </li>
        ))}
      </ul>
      <h2>Standards</h2>
      <StandardsTable methods={[method]} />
    </section>
  );
}

/**
 * /visualizer/standards: every cited standard, where and at which level — in every flow, the
 * lifecycle flows included: a claim is about what a step does, whatever the flow is for.
 */
export function StandardsPage() {
  return (
    <section>
      <h1>Standards mapping</h1>
      <p>Each reference says what a step does with the standard, at the level it truly supports:</p>
      <ul>{Object.entries(CLAIM_LEVELS).map(([level, meaning]) => <li key={level}><strong>{level}</strong>: {meaning}</li>)}</ul>
      <p>Nothing here is a certification or a conformity statement for a whole product.</p>
      <StandardsTable methods={FLOWS} />
    </section>
  );
}

function StandardsTable({ methods }: { methods: readonly Flow[] }) {
  const rows: { id: StandardId; method: Flow; step: number; title: string; level: string; claim: string }[] = [];
  for (const m of methods) {
    m.steps.forEach((s, i) => {
      for (const r of s.standards) rows.push({ id: r.id, method: m, step: i + 1, title: s.title, level: r.level, claim: r.claim });
    });
  }
  rows.sort((a, b) => a.id.localeCompare(b.id));
  return (
    <table className="table" data-testid="standards-table">
      <thead><tr><th scope="col">Standard</th><th scope="col">Where</th><th scope="col">Level</th><th scope="col">Claim</th></tr></thead>
      <tbody>
        {rows.map((r) => (
          <tr key={`${r.id}-${r.method.id}-${r.step}`}>
            <td><a href={STANDARDS[r.id].url} rel="noreferrer">{r.id}</a><br /><span className="muted">{STANDARDS[r.id].title}</span></td>
            <td><Link to={`/visualizer/${r.method.id}?step=${r.step}`}>{r.method.name}, step {r.step}: {r.title}</Link></td>
            <td>{r.level}</td>
            <td>{r.claim}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
