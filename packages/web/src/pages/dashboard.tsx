/** Dashboard: how many devices wait, are approved, provisioned, revoked (each a link to the list), and recent audit events. */
import { useEffect, useState } from 'react';
import { getJson, type Page, type Session } from '../api';
import { Link } from '../router';
import { ErrorBox, When } from '../widgets';
import type { AuditEntry } from './audit';

/** `id` is the Devices page's State filter; `api` the list API's query that counts it. */
const TILES: readonly { id: string; api: string; label: string }[] = [
  // A request of any kind waits: a first provisioning, or a provisioned device's reprovisioning.
  { id: 'needs-approval', api: 'needsApproval=true', label: 'Need approval' },
  { id: 'approved', api: 'state=approved', label: 'Approved, not yet installed' },
  { id: 'provisioned', api: 'state=provisioned', label: 'Provisioned' },
  { id: 'revoked', api: 'state=revoked', label: 'Revoked' },
];

export function DashboardPage({ session }: { session: Session }) {
  const [counts, setCounts] = useState<Partial<Record<string, number>>>({});
  const [expiring, setExpiring] = useState<number | null>(null);
  const [events, setEvents] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const readsAudit = session.role === 'admin' || session.role === 'auditor';

  useEffect(() => {
    Promise.all(TILES.map(async (t) => [t.id, (await getJson<Page<unknown>>(`/api/v1/devices?${t.api}&limit=1`)).total] as const))
      .then((pairs) => setCounts(Object.fromEntries(pairs)), setError);
    getJson<Page<unknown>>('/api/v1/devices?expiresWithinDays=30&limit=1').then((p) => setExpiring(p.total), setError);
    if (readsAudit) getJson<Page<AuditEntry>>('/api/v1/audit?limit=10').then((p) => setEvents(p.items), setError);
  }, [readsAudit]);

  return (
    <section>
      <h1>Dashboard</h1>
      <ErrorBox error={error} />
      <ul className="tiles">
        <li>
          <Link to="/devices?expires=30" className="tile">
            <span className="tile-number" data-testid="count-expiring">{expiring ?? '…'}</span>
            <span className="tile-label">Certificates expiring within 30 days</span>
          </Link>
        </li>
        {TILES.map((t) => (
          <li key={t.id}>
            <Link to={`/devices?state=${t.id}`} className="tile">
              <span className="tile-number" data-testid={`count-${t.id}`}>{counts[t.id] ?? '…'}</span>
              <span className="tile-label">{t.label}</span>
            </Link>
          </li>
        ))}
      </ul>
      {readsAudit ? (
        <>
          <h2>Recent audit events</h2>
          {events ? (
            <table className="table">
              <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th></tr></thead>
              <tbody>
                {events.map((e) => (
                  <tr key={e.seq}><td>{e.seq}</td><td><When at={e.at} /></td><td>{e.actor}</td><td><code>{e.action}</code></td><td>{e.targetType} {e.targetId}</td></tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <p><Link to="/audit">All audit events</Link></p>
        </>
      ) : null}
    </section>
  );
}
