/** Audit: the hash-chained log, filtered by actor, action and target (in the URL), with the chain's status. */
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { getJson, type Page, saveFile } from '../api';
import { navigate, useLocation } from '../router';
import { CliCommand, ErrorBox, sh, When } from '../widgets';

export interface AuditEntry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  details: Record<string, unknown>;
  hash: string;
}

type Verification = { ok: true; count: number; lastSeq: number; lastHash: string } | { ok: false; seq: number; problem: string; message: string };

const PAGE_SIZE = 50;
const FIELDS = ['actor', 'action', 'target'] as const;

export function AuditPage() {
  const { query } = useLocation();
  const filter = Object.fromEntries(FIELDS.map((f) => [f, query.get(f) ?? ''])) as Record<(typeof FIELDS)[number], string>;
  const page = Math.max(1, Number(query.get('page') ?? '1') || 1);
  const [form, setForm] = useState(filter);
  const [data, setData] = useState<Page<AuditEntry> | null>(null);
  const [chain, setChain] = useState<Verification | null>(null);
  const [error, setError] = useState<unknown>(null);

  const params = new URLSearchParams();
  for (const f of FIELDS) if (filter[f]) params.set(f, filter[f]);
  const key = params.toString();

  // Only the newest answer is shown: an older one arriving late must not replace a newer filter's.
  const latest = useRef(0);
  const load = useCallback(async () => {
    const seq = ++latest.current;
    const p = new URLSearchParams(key);
    p.set('limit', String(PAGE_SIZE));
    p.set('offset', String((page - 1) * PAGE_SIZE));
    try {
      const page = await getJson<Page<AuditEntry>>(`/api/v1/audit?${p}`);
      if (seq === latest.current) setData(page);
    } catch (e) {
      setError(e);
    }
  }, [key, page]);
  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    getJson<Verification>('/api/v1/audit/verify').then(setChain, setError);
  }, []);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const f of FIELDS) if (form[f].trim()) next.set(f, form[f].trim());
    navigate(`/audit${next.toString() ? `?${next}` : ''}`, true);
  };
  const exportJson = () => {
    if (data) saveFile('audit.json', new Blob([JSON.stringify(data.items, null, 2)], { type: 'application/json' }));
  };
  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  const cli = ['provisio audit list', ...FIELDS.filter((f) => filter[f]).map((f) => `--${f} ${sh(filter[f])}`)].join(' ');

  return (
    <section>
      <h1>Audit</h1>
      <div className="chain" role="status" data-testid="chain-status">
        {chain === null ? 'Verifying the hash chain…' : chain.ok
          ? `Hash chain verified through entry ${chain.lastSeq} (${chain.count} entries, signed checkpoints checked).`
          : `Hash chain BROKEN at entry ${chain.seq}: ${chain.problem} — ${chain.message}`}
      </div>
      <CliCommand command="provisio audit verify" />
      <form className="filters" onSubmit={apply} aria-label="Filter audit events">
        {FIELDS.map((f) => (
          <label key={f}>
            {f[0]?.toUpperCase()}{f.slice(1)}
            <input value={form[f]} onChange={(e) => setForm({ ...form, [f]: e.target.value })} />
          </label>
        ))}
        <button type="submit" className="secondary">Filter</button>
        <button type="button" className="secondary" onClick={exportJson} disabled={!data}>Export JSON</button>
      </form>
      <CliCommand command={cli} />
      <ErrorBox error={error} />
      {data ? (
        <>
          <p className="muted">{data.total} entr{data.total === 1 ? 'y' : 'ies'}</p>
          <table className="table">
            <thead><tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Details</th></tr></thead>
            <tbody>
              {data.items.map((e) => (
                <tr key={e.seq}>
                  <td>{e.seq}</td><td><When at={e.at} /></td><td>{e.actor}</td><td><code>{e.action}</code></td><td>{e.targetType} {e.targetId}</td>
                  <td><code className="wrap">{JSON.stringify(e.details)}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" className="secondary" disabled={page <= 1} onClick={() => navigate(`/audit?${withPage(key, page - 1)}`, true)}>Previous</button>
            <span>Page {page} of {pages}</span>
            <button type="button" className="secondary" disabled={page >= pages} onClick={() => navigate(`/audit?${withPage(key, page + 1)}`, true)}>Next</button>
          </nav>
        </>
      ) : null}
    </section>
  );
}

function withPage(key: string, page: number): string {
  const p = new URLSearchParams(key);
  p.set('page', String(page));
  return p.toString();
}
