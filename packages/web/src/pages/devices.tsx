/**
 * Devices: a server-side paginated, filtered table (filters in the URL), devices with a pending
 * request of any kind first with a "Needs approval — KIND" badge, and the review panel where an
 * approver approves or rejects that request.
 */
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { type DeviceView, getJson, type Page, postJson, type RequestView, type Session, type SystemView } from '../api';
import { Link, navigate, useLocation } from '../router';
import { age, CliCommand, ErrorBox, NeedsApprovalBadge, requestKindText, sh, StateBadge, When } from '../widgets';
import { BulkApprove } from './bulk-approve';

const PAGE_SIZE = 25;
const STATES = ['pending', 'approved', 'provisioned', 'rejected', 'revoked'] as const;
/** The list as `provisio device list` prints it, with the filters the CLI has. */
function listCommand(f: { state: string; system: string; component: string; transport: string; q: string }): string {
  const flags = [
    f.state === NEEDS_APPROVAL ? '--needs-approval' : f.state ? `--state ${sh(f.state)}` : '',
    f.system ? `--system ${sh(f.system)}` : '',
    f.system && f.component ? `--component ${sh(f.component)}` : '',
    f.transport ? `--transport ${sh(f.transport)}` : '',
    f.q ? `--q ${sh(f.q)}` : '',
  ].filter((x) => x !== '');
  return ['provisio device list', ...flags].join(' ');
}

/** The State filter's value for "a pending request of any kind" (the API's needsApproval=true). */
const NEEDS_APPROVAL = 'needs-approval';

interface Review {
  request: RequestView;
  signatures: { status: 'verified' } | { status: 'failed'; code: string; message: string };
  /** A renewal or reprovisioning request: the device certificate it was signed with. */
  signedWithCertificate: string | null;
  ageSeconds: number;
  expired: boolean;
  package: { id: string; status: string; expiresAt: string } | null;
  component: { name: string; keyTypes: string[]; validityDays: number } | null;
}

type Direction = 'asc' | 'desc';
/** The API's device orders (GET /api/v1/devices?sort=&direction=); the server whitelists them too. */
const SORTS = [
  { sort: 'pending-first', title: 'Needs approval first' },
  { sort: 'device-id', title: 'Device' },
  { sort: 'label', title: 'Label' },
  { sort: 'state', title: 'State' },
  { sort: 'updated', title: 'Updated' },
  { sort: 'created', title: 'Created' },
] as const;
type Sort = (typeof SORTS)[number]['sort'];

function defaultDirection(sort: Sort): Direction {
  return sort === 'updated' || sort === 'pending-first' || sort === 'created' ? 'desc' : 'asc';
}

/**
 * A column header that sorts the list on the server: the first click its default direction, the
 * next reverses it. The button is named by the column alone (a screen reader reads the order from
 * aria-sort), so it never collides with the filter of the same name.
 */
interface SortHeaderProps { column: Sort; title: string; sort: Sort; direction: Direction; onSort: (changes: Record<string, string>) => void }
function SortHeader({ column, title, sort, direction, onSort }: SortHeaderProps) {
  const active = sort === column;
  const next: Direction = active ? (direction === 'asc' ? 'desc' : 'asc') : defaultDirection(column);
  return (
    <th scope="col" aria-sort={active ? (direction === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort" title={`Sort ${next === 'asc' ? 'ascending' : 'descending'}`} onClick={() => onSort({ sort: column, direction: next })}>
        {title}<span aria-hidden="true">{active ? (direction === 'asc' ? ' ▲' : ' ▼') : ''}</span>
      </button>
    </th>
  );
}

export function DevicesPage({ session }: { session: Session }) {
  const { query } = useLocation();
  const state = query.get('state') ?? '';
  const system = query.get('system') ?? '';
  const component = query.get('component') ?? '';
  const q = query.get('q') ?? '';
  const transport = query.get('transport') ?? '';
  const expires = query.get('expires') ?? '';
  const sort = SORTS.find((c) => c.sort === query.get('sort'))?.sort ?? 'pending-first';
  const asked = query.get('direction');
  const direction: Direction = asked === 'asc' || asked === 'desc' ? asked : defaultDirection(sort);
  const page = Math.max(1, Number(query.get('page') ?? '1') || 1);
  const reviewing = query.get('review');

  const [systems, setSystems] = useState<SystemView[]>([]);
  const [data, setData] = useState<Page<DeviceView> | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');
  const [text, setText] = useState(q);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [bulk, setBulk] = useState<RequestView[] | null>(null);
  const canDecide = session.role === 'admin' || session.role === 'approver';

  const setFilter = (changes: Record<string, string>) => {
    const next = new URLSearchParams(location.search);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!('page' in changes)) next.delete('page');
    const s = next.toString();
    navigate(`/devices${s ? `?${s}` : ''}`, true);
  };

  // Only the newest answer is shown: an older one arriving late must not replace a newer filter's.
  const latest = useRef(0);
  const load = useCallback(async () => {
    const seq = ++latest.current;
    const params = new URLSearchParams({ sort, direction, limit: String(PAGE_SIZE), offset: String((page - 1) * PAGE_SIZE) });
    if (state === NEEDS_APPROVAL) params.set('needsApproval', 'true');
    else if (state) params.set('state', state);
    if (system) params.set('system', system);
    if (system && component) params.set('component', component);
    if (q) params.set('q', q);
    if (transport) params.set('transport', transport);
    if (expires) params.set('expiresWithinDays', expires);
    try {
      const found = await getJson<Page<DeviceView>>(`/api/v1/devices?${params}`);
      if (seq !== latest.current) return;
      setData(found);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [state, system, component, q, transport, expires, page, sort, direction]);

  useEffect(() => {
    void load();
  }, [load]);
  useEffect(() => {
    getJson<{ items: SystemView[] }>('/api/v1/systems').then((r) => setSystems(r.items), setError);
  }, []);

  const components = systems.find((s) => s.name === system)?.components ?? [];
  const pages = data ? Math.max(1, Math.ceil(data.total / PAGE_SIZE)) : 1;
  const toggle = (requestId: string) => setSelected((old) => {
    const next = new Set(old);
    if (next.has(requestId)) next.delete(requestId);
    else next.add(requestId);
    return next;
  });
  // Selections are request ids: the pending request of each device, whatever its kind.
  const pendingOnPage = (data?.items ?? []).flatMap((d) => (d.pendingRequest ? [d.pendingRequest.id] : []));
  const allOnPage = pendingOnPage.length > 0 && pendingOnPage.every((id) => selected.has(id));

  const reviewSelected = async () => {
    try {
      setBulk(await Promise.all([...selected].map((id) => getJson<RequestView>(`/api/v1/requests/${encodeURIComponent(id)}`))));
    } catch (e) {
      setError(e);
    }
  };
  // Everything pending that matches the filter (the first 500: the most one call approves).
  const reviewMatching = async () => {
    const params = new URLSearchParams({ state: 'pending', limit: '500' });
    if (system) params.set('system', system);
    if (system && component) params.set('component', component);
    if (q) params.set('q', q);
    try {
      const found = await getJson<Page<RequestView>>(`/api/v1/requests?${params}`);
      setBulk(found.items);
      if (found.total > found.items.length) setStatus(`${found.total} pending match; the first ${found.items.length} are in this approval.`);
    } catch (e) {
      setError(e);
    }
  };

  const search = (e: FormEvent) => {
    e.preventDefault();
    setFilter({ q: text.trim() });
  };

  return (
    <section className={reviewing ? 'with-panel' : ''}>
      <div>
        <h1>Devices</h1>
        <form className="filters" onSubmit={search} aria-label="Filter devices">
          <label>
            State
            <select value={state} onChange={(e) => setFilter({ state: e.target.value })}>
              <option value="">any</option>
              <option value={NEEDS_APPROVAL}>needs approval (any request)</option>
              {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </label>
          <label>
            System
            <select value={system} onChange={(e) => setFilter({ system: e.target.value, component: '' })}>
              <option value="">any</option>
              {systems.map((s) => <option key={s.name} value={s.name}>{s.name}</option>)}
            </select>
          </label>
          <label>
            Component
            <select value={component} disabled={!system} onChange={(e) => setFilter({ component: e.target.value })}>
              <option value="">any</option>
              {components.map((c) => <option key={c.name} value={c.name}>{c.name}</option>)}
            </select>
          </label>
          <label>
            Delivered by
            <select value={transport} onChange={(e) => setFilter({ transport: e.target.value })}>
              <option value="">any</option>
              <option value="upload">upload (technician)</option>
              <option value="connected">connected (device)</option>
              <option value="proxy">proxy gateway</option>
            </select>
          </label>
          <label>
            Certificate expires
            <select value={expires} onChange={(e) => setFilter({ expires: e.target.value })}>
              <option value="">any time</option>
              <option value="30">within 30 days</option>
              <option value="90">within 90 days</option>
              <option value="365">within a year</option>
            </select>
          </label>
          <label>
            Search
            <input type="search" value={text} placeholder="id, label, serial" onChange={(e) => setText(e.target.value)} />
          </label>
          <button type="submit" className="secondary">Search</button>
        </form>
        <CliCommand command={listCommand({ state, system, component, transport, q })} />
        {expires ? <CliCommand command={`provisio device list --expiring ${expires}d   # certificates expiring, without the other filters`} /> : null}
        <p role="status" className="status">{status}</p>
        <ErrorBox error={error} />
        {canDecide && (!state || state === 'pending' || state === NEEDS_APPROVAL) ? (
          <div className="bulk">
            <button type="button" className="secondary" disabled={selected.size === 0} onClick={() => void reviewSelected()}>Approve selected ({selected.size})</button>
            <button type="button" className="secondary" onClick={() => void reviewMatching()}>Approve all pending matching these filters</button>
          </div>
        ) : null}
        {bulk ? (
          bulk.length === 0 ? <p role="status">Nothing pending matches these filters. <button type="button" className="secondary small" onClick={() => setBulk(null)}>Close</button></p> : (
            <BulkApprove
              requests={bulk}
              onCancel={() => setBulk(null)}
              onDone={(message) => {
                setBulk(null);
                setSelected(new Set());
                setStatus(message);
                void load();
              }}
            />
          )
        ) : null}
        {data && (
          <>
            <p className="muted" data-testid="device-count">{data.total} device{data.total === 1 ? '' : 's'}</p>
            <table className="table">
              <caption className="sr-only">{sort === 'pending-first' ? 'Devices, those needing approval first' : `Devices by ${SORTS.find((c) => c.sort === sort)?.title ?? sort}, ${direction === 'asc' ? 'ascending' : 'descending'}`}</caption>
              <thead>
                <tr>
                  {canDecide ? (
                    <th scope="col">
                      <input
                        type="checkbox"
                        aria-label="Select every device needing approval on this page"
                        checked={allOnPage}
                        disabled={pendingOnPage.length === 0}
                        onChange={() => setSelected(allOnPage ? new Set() : new Set([...selected, ...pendingOnPage]))}
                      />
                    </th>
                  ) : null}
                  <SortHeader column="device-id" title="Device" sort={sort} direction={direction} onSort={setFilter} />
                  <SortHeader column="label" title="Label" sort={sort} direction={direction} onSort={setFilter} />
                  <th scope="col">System / component</th>
                  <SortHeader column="state" title="State" sort={sort} direction={direction} onSort={setFilter} />
                  <SortHeader column="updated" title="Updated" sort={sort} direction={direction} onSort={setFilter} />
                  <th scope="col"><span className="sr-only">Actions</span></th>
                </tr>
              </thead>
              <tbody>
                {data.items.map(({ pendingRequest: pending, ...d }) => (
                  <tr key={d.deviceId} data-device={d.deviceId}>
                    {canDecide ? (
                      <td>
                        {pending ? <input type="checkbox" aria-label={`Select ${d.deviceId}`} checked={selected.has(pending.id)} onChange={() => toggle(pending.id)} /> : null}
                      </td>
                    ) : null}
                    <td><Link to={`/devices/${encodeURIComponent(d.deviceId)}`}>{d.deviceId}</Link>{d.mock ? <span className="badge badge-mock">mock</span> : null}</td>
                    <td>{d.label}</td>
                    <td>{d.system} / {d.component}</td>
                    <td>
                      {/* A pending device's state is its request; any other device shows both. */}
                      {d.state === 'pending' && pending ? null : <StateBadge state={d.state} />}
                      {pending ? <> <NeedsApprovalBadge kind={pending.kind} expiresAt={pending.expiresAt} /></> : null}
                    </td>
                    <td><When at={d.updatedAt} /></td>
                    <td>
                      {pending ? (
                        <button type="button" className="small" onClick={() => setFilter({ review: pending.id, page: String(page) })}>Review<span className="sr-only"> {d.deviceId}</span></button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {data.items.length === 0 ? <p>No device matches these filters.</p> : null}
            <nav className="pager" aria-label="Pages">
              <button type="button" className="secondary" disabled={page <= 1} onClick={() => setFilter({ page: String(page - 1) })}>Previous</button>
              <span>Page {page} of {pages}</span>
              <button type="button" className="secondary" disabled={page >= pages} onClick={() => setFilter({ page: String(page + 1) })}>Next</button>
            </nav>
          </>
        )}
      </div>
      {reviewing ? (
        <ReviewPanel
          key={reviewing}
          requestId={reviewing}
          canDecide={session.role === 'admin' || session.role === 'approver'}
          onClose={() => setFilter({ review: '', page: String(page) })}
          onDecided={(message) => {
            setStatus(message);
            setFilter({ review: '', page: String(page) });
            void load();
          }}
        />
      ) : null}
    </section>
  );
}

function ReviewPanel(props: { requestId: string; canDecide: boolean; onClose: () => void; onDecided: (message: string) => void }) {
  const [review, setReview] = useState<Review | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    getJson<Review>(`/api/v1/requests/${encodeURIComponent(props.requestId)}/review`).then(setReview, setError);
  }, [props.requestId]);

  const decide = async (action: 'approve' | 'reject') => {
    setBusy(true);
    setError(null);
    try {
      const path = `/api/v1/requests/${encodeURIComponent(props.requestId)}/${action}`;
      if (action === 'approve') {
        const r = await postJson<{ request: RequestView; certificate: { serial: string } }>(path);
        props.onDecided(`Approved ${r.request.deviceId}: certificate ${r.certificate.serial} issued.`);
      } else {
        const r = await postJson<RequestView>(path, { reason });
        props.onDecided(`Rejected ${r.deviceId}.`);
      }
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const r = review?.request;
  return (
    <aside className="panel" aria-labelledby="review-title">
      <div className="panel-head">
        <h2 id="review-title">Review {r ? r.deviceId : 'request'}</h2>
        <button type="button" className="secondary small" onClick={props.onClose}>Close</button>
      </div>
      <ErrorBox error={error} />
      {review && r ? (
        <>
          <dl className="facts">
            <dt>Request</dt>
            <dd data-testid="request-kind">
              {r.kind === 'reprovision'
                ? 'Reprovisioning: the provisioned device asks for a fresh certified profile; it stays provisioned with its current certificate until it installs the new one'
                : r.kind === 'renewal' ? 'Renewal of the device certificate' : 'Provisioning'}
            </dd>
            <dt>Device</dt><dd>{r.deviceId} — {r.deviceLabel}</dd>
            <dt>Hardware serial</dt><dd>{r.hardwareSerial ?? '—'}</dd>
            <dt>Firmware</dt><dd>{r.firmwareVersion ?? '—'}</dd>
            <dt>Key algorithm</dt><dd>{r.keyAlgorithm}</dd>
            <dt>Key fingerprint (SHA-256)</dt><dd><code className="wrap">{r.publicKeySha256}</code></dd>
            <dt>Request signatures</dt>
            <dd data-testid="signatures">
              {review.signatures.status !== 'verified'
                ? `Not verified: ${review.signatures.code}: ${review.signatures.message}`
                : r.kind
                  ? `Verified: signed with the key of the device's certificate ${review.signedWithCertificate ?? ''} (chained to the root), CSR proof of possession`
                  : 'Verified: device key, CSR proof of possession, package bootstrap credential chained to the root'}
            </dd>
            <dt>Request age</dt><dd>{age(r.createdAt)} (created <When at={r.createdAt} />)</dd>
            <dt>Expires</dt><dd><When at={r.expiresAt} />{review.expired ? ' — expired' : ''}</dd>
            <dt>Delivered by</dt><dd>{r.transport}{r.gateway ? ` via gateway ${r.gateway}` : ''}</dd>
            <dt>Uploaded by</dt>
            <dd data-testid="submitted-by">{r.submittedBy ?? 'no person (sent by the device or a gateway)'}</dd>
            <dt>Package</dt><dd>{review.package ? `${review.package.id} (${review.package.status})` : r.packageId}</dd>
            <dt>System / component</dt><dd>{r.system} / {r.component}</dd>
            <dt>Certificate template</dt>
            <dd>{review.component ? `keys ${review.component.keyTypes.join(', ')}; valid ${review.component.validityDays} days` : '—'}</dd>
            <dt>Policy verdict</dt>
            <dd>{r.policyDecision ? `${r.policyDecision}${r.policyRule ? ` (${r.policyRule})` : ''}${r.policyReason ? `: ${r.policyReason}` : ''}` : 'manual approval (no policy)'}</dd>
            <dt>State</dt><dd><StateBadge state={r.state} /></dd>
          </dl>
          {props.canDecide && r.state === 'pending' ? (
            <div className="decide">
              <button type="button" disabled={busy} onClick={() => void decide('approve')}>Approve {r.deviceId}{r.kind ? ` (${requestKindText(r.kind)})` : ''}</button>
              <CliCommand command={`provisio request approve ${r.id}`} />
              <label htmlFor="reject-reason">Reason for rejecting</label>
              <textarea id="reject-reason" value={reason} maxLength={500} onChange={(e) => setReason(e.target.value)} />
              <button type="button" className="danger" disabled={busy || reason.trim() === ''} onClick={() => void decide('reject')}>Reject</button>
              <CliCommand command={`provisio request reject ${r.id} --reason ${sh(reason.trim() || 'REASON')}`} />
            </div>
          ) : (
            <p className="muted">{r.state === 'pending' ? `Your role may review but not decide.` : `Decided: ${r.state}.`}</p>
          )}
        </>
      ) : !error ? <p>Loading…</p> : null}
    </aside>
  );
}
