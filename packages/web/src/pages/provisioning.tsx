/**
 * Provisioning (seed 000): drop or choose many request files or bundles, see a verdict per file,
 * download each certified profile, then "Complete provisioning" once it is installed.
 */
import { type DragEvent, useEffect, useRef, useState } from 'react';
import { ApiError, call, type DeviceView, getJson, MEDIA, postJson, type RequestView, saveFile } from '../api';
import { CliCommand, ErrorBox, sh, StateBadge } from '../widgets';

type Verdict =
  | { readonly file: string; readonly entry?: string; readonly ok: true; readonly created: boolean; readonly request: RequestView }
  | { readonly file: string; readonly entry?: string; readonly ok: false; readonly code: string; readonly message: string };

interface BundleAnswer {
  entries: ({ name: string; ok: true; created: boolean; request: RequestView } | { name: string; ok: false; code: string; message: string })[];
}

/** A bundle by its name (.pbdl) or, failing that, by its JSON shape. */
function isBundle(name: string, text: string): boolean {
  if (name.endsWith('.pbdl')) return true;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    return typeof v === 'object' && v !== null && 'entries' in v;
  } catch {
    return false;
  }
}

async function upload(file: File): Promise<Verdict[]> {
  const bytes = await file.arrayBuffer();
  const bundle = isBundle(file.name, new TextDecoder().decode(bytes));
  try {
    const response = await call('POST', '/api/v1/requests', { body: bytes, contentType: bundle ? MEDIA.bundle : MEDIA.request });
    if (bundle) {
      const answer = (await response.json()) as BundleAnswer;
      return answer.entries.map((e): Verdict => (e.ok
        ? { file: file.name, entry: e.name, ok: true, created: e.created, request: e.request }
        : { file: file.name, entry: e.name, ok: false, code: e.code, message: e.message }));
    }
    const answer = (await response.json()) as { created: boolean; request: RequestView };
    return [{ file: file.name, ok: true, created: answer.created, request: answer.request }];
  } catch (e) {
    if (e instanceof ApiError) return [{ file: file.name, ok: false, code: e.code, message: e.message }];
    throw e;
  }
}

/**
 * The verdicts of this tab's uploads, kept in sessionStorage so a reload (or a visit to another
 * page) does not forget which profiles to download: a technician may not list requests. Kept per
 * user and forgotten at sign-out; they hold ids and states, nothing secret.
 */
const UPLOADS_KEY = 'provisio.uploads';

function savedUploads(user: string): Verdict[] {
  try {
    const saved = JSON.parse(sessionStorage.getItem(UPLOADS_KEY) ?? 'null') as { user: string; verdicts: Verdict[] } | null;
    return saved?.user === user && Array.isArray(saved.verdicts) ? saved.verdicts : [];
  } catch {
    return [];
  }
}

export function forgetUploads(): void {
  sessionStorage.removeItem(UPLOADS_KEY);
}

export function ProvisioningPage({ user }: { user: string }) {
  const [verdicts, setVerdicts] = useState<Verdict[]>(() => savedUploads(user));
  useEffect(() => {
    if (verdicts.length > 0) sessionStorage.setItem(UPLOADS_KEY, JSON.stringify({ user, verdicts }));
  }, [user, verdicts]);
  const [busy, setBusy] = useState(false);
  const [isOver, setOver] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const input = useRef<HTMLInputElement>(null);

  const take = async (files: FileList | null) => {
    if (!files || files.length === 0) return;
    setBusy(true);
    setError(null);
    try {
      const all: Verdict[] = [];
      for (const f of Array.from(files)) all.push(...(await upload(f)));
      setVerdicts((old) => [...all, ...old]);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
      if (input.current) input.current.value = '';
    }
  };

  const drop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    void take(e.dataTransfer.files);
  };

  const accepted = verdicts.filter((v): v is Extract<Verdict, { ok: true }> => v.ok);
  const refused = verdicts.filter((v) => !v.ok).length;
  const requestIds = [...new Set(accepted.map((v) => v.request.id))];
  const [bundleNote, setBundleNote] = useState('');

  // One signed bundle of every profile ready among the accepted requests, for the USB stick.
  const downloadBundle = async () => {
    setError(null);
    try {
      const r = await postJson<{ bundle: string | null; included: unknown[]; notReady: { deviceId: string | null; code: string; message: string }[] }>('/api/v1/profiles/bundle', { requestIds });
      if (r.bundle) saveFile('profiles.pbdl', new Blob([r.bundle], { type: 'application/json' }));
      const waiting = r.notReady.map((n) => `${n.deviceId ?? '?'} (${n.code})`).join(', ');
      setBundleNote(`${r.included.length} profile${r.included.length === 1 ? '' : 's'} in the bundle${waiting ? `; not ready: ${waiting}` : ''}.`);
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section>
      <h1>Provisioning</h1>
      <div
        className={`drop${isOver ? ' over' : ''}`}
        onDragOver={(e) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={drop}
      >
        <label htmlFor="request-files">Request files (.ppr) or bundles (.pbdl)</label>
        <input id="request-files" ref={input} type="file" multiple accept=".ppr,.pbdl,.json,application/json" onChange={(e) => void take(e.target.files)} />
        <p className="muted">Choose files, or drop them here. Each file gets its own verdict; a refused file stores nothing.</p>
        <CliCommand command="provisio request upload FILE…" />
      </div>
      <p role="status" className="status">{busy ? 'Uploading…' : verdicts.length ? `${accepted.length} accepted, ${refused} refused` : ''}</p>
      {verdicts.length > 0 && !busy ? (
        <button
          type="button"
          className="secondary small"
          onClick={() => {
            forgetUploads();
            setVerdicts([]);
          }}
        >
          Clear this list
        </button>
      ) : null}
      <ErrorBox error={error} />
      {requestIds.length > 0 ? (
        <div className="bundle-download">
          <button type="button" className="secondary" onClick={() => void downloadBundle()}>Download all ready profiles as one bundle</button>
          <span data-testid="bundle-note">{bundleNote}</span>
          <CliCommand command={`provisio profile download --bundle profiles.pbdl ${requestIds.join(' ')}`} />
        </div>
      ) : null}
      {verdicts.length ? (
        <table className="table" aria-label="Uploaded requests">
          <thead>
            <tr><th scope="col">File</th><th scope="col">Verdict</th><th scope="col">Device</th><th scope="col">Next step</th></tr>
          </thead>
          <tbody>
            {verdicts.map((v, i) => (
              <tr key={`${v.file}/${v.entry ?? ''}/${i}`} data-file={v.entry ?? v.file}>
                <td>{v.file}{v.entry ? ` › ${v.entry}` : ''}</td>
                {v.ok ? (
                  <>
                    <td><span className="badge badge-approved">{v.created ? 'Accepted' : 'Accepted (already uploaded)'}</span></td>
                    <td>{v.request.deviceId}</td>
                    <td><NextStep request={v.request} /></td>
                  </>
                ) : (
                  <>
                    <td colSpan={3} className="verdict-error" data-testid="verdict-error"><span className="badge badge-rejected">Refused</span> <code className="code">{v.code}</code>: {v.message}</td>
                  </>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

/** Where one accepted request stands, and what the technician does next. */
function NextStep({ request }: { request: RequestView }) {
  const [r, setR] = useState(request);
  const [device, setDevice] = useState<DeviceView | null>(null);
  const [error, setError] = useState<unknown>(null);

  const refresh = async () => {
    try {
      setR(await getJson<RequestView>(`/api/v1/requests/${encodeURIComponent(r.id)}`));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };
  const download = async () => {
    try {
      const response = await call('GET', `/api/v1/requests/${encodeURIComponent(r.id)}/profile`);
      saveFile(`${r.deviceId}.pcp`, await response.blob());
    } catch (e) {
      setError(e);
    }
  };
  const complete = async () => {
    try {
      setDevice(await postJson<DeviceView>(`/api/v1/devices/${encodeURIComponent(r.deviceId)}/complete`));
      setError(null);
    } catch (e) {
      setError(e);
    }
  };

  return (
    <div className="next">
      <StateBadge state={device?.state ?? r.state} />
      {r.state === 'pending' ? <button type="button" className="secondary small" onClick={() => void refresh()}>Check approval<span className="sr-only"> of {r.deviceId}</span></button> : null}
      {r.state === 'approved' && !device ? (
        <>
          <button type="button" className="small" onClick={() => void download()}>Download profile<span className="sr-only"> of {r.deviceId}</span></button>
          <CliCommand command={`provisio profile download ${r.id} --out ${sh(`${r.deviceId}.pcp`)}`} />
          <button type="button" className="small" onClick={() => void complete()}>Complete provisioning<span className="sr-only"> of {r.deviceId}</span></button>
          <CliCommand command={`provisio device complete ${sh(r.deviceId)}`} />
        </>
      ) : null}
      {r.state === 'rejected' ? <span>Rejected: {r.decisionReason}</span> : null}
      <ErrorBox error={error} />
    </div>
  );
}
