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
const FIELDS = ['actor', 'action', 'target', 'since', 'until'] as const;
const TIMES: ReadonlySet<string> = new Set(['since', 'until']);

/** An ISO time as the value of a datetime-local input (the browser's time zone), and back. */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
function fromLocalInput(value: string): string {
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

export function AuditPage() {
  const { query } = useLocation();
  const filter = Object.fromEntries(FIELDS.map((f) => [f, query.get(f) ?? ''])) as Record<(typeof FIELDS)[number], string>;
  const page = Math.max(1, Number(query.get('page') ?? '1') || 1);
  const [form, setForm] = useState({ ...filter, since: toLocalInput(filter.since), until: toLocalInput(filter.until) });
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
    for (const f of FIELDS) {
      const value = TIMES.has(f) ? fromLocalInput(form[f]) : form[f].trim();
      if (value) next.set(f, value);
    }
    navigate(`/audit${next.toString() ? `?${next}` : ''}`, true);
  };
  const exportJson = () => {
    if (data) saveFile('audit.json', new Blob([JSON.stringify(data.items, null, 2)], { type: 'application/json' }));
  };
  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  const flags = FIELDS.filter((f) => filter[f]).map((f) => ` --${f} ${sh(filter[f])}`).join('');

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
            {f === 'since' ? 'From' : f === 'until' ? 'Before' : `${f[0]?.toUpperCase()}${f.slice(1)}`}
            <input type={TIMES.has(f) ? 'datetime-local' : 'text'} value={form[f]} onChange={(e) => setForm({ ...form, [f]: e.target.value })} />
          </label>
        ))}
        <button type="submit" className="secondary">Filter</button>
        <button type="button" className="secondary" onClick={exportJson} disabled={!data}>Export this page (JSON)</button>
        <a className="button secondary" href={`/api/v1/audit/export?${key}`} download="audit.jsonl">Export all matching (JSON Lines)</a>
      </form>
      <CliCommand command={`provisio audit list${flags}`} />
      <CliCommand command={`provisio audit export${flags} --out audit.jsonl`} />
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
