/** One device: its state, every certificate it had (PEM download), reprovisioning and revocation. */
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { type CertificateView, type DeviceView, type EnrollmentView, getJson, methodText, postJson, type RequestView, saveFile, type Session } from '../api';
import type { AuditEntry } from './audit';
import { Link } from '../router';
import { CliCommand, ErrorBox, StateBadge, When } from '../widgets';
import { ReprovisionPanel } from './reprovision-panel';

type Detail = DeviceView & { certificates: CertificateView[]; enrollment: EnrollmentView | null };
/** GET /api/v1/devices/{id}/history: every request (newest first), the audit entries about them (oldest first). */
interface History { requests: RequestView[]; events: AuditEntry[]; truncated: boolean }

/** The reasons an operator may give (RFC 5280 §5.3.1; docs/cli.md "Revocation commands"). */
const REASONS = ['keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged', 'privilegeWithdrawn', 'unspecified'] as const;

export function DeviceDetailPage({ session, deviceId }: { session: Session; deviceId: string }) {
  const [device, setDevice] = useState<Detail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');
  const [history, setHistory] = useState<History | null>(null);
  const [inspected, setInspected] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      const path = `/api/v1/devices/${encodeURIComponent(deviceId)}`;
      const [d, h] = await Promise.all([getJson<Detail>(path), getJson<History>(`${path}/history`)]);
      setDevice(d);
      setHistory(h);
    } catch (e) {
      setError(e);
    }
  }, [deviceId]);
  useEffect(() => {
    void load();
  }, [load]);

  const decides = session.role === 'admin' || session.role === 'approver';
  const canRevoke = decides && (device?.state === 'approved' || device?.state === 'provisioned');

  return (
    <section>
      <p><Link to="/devices">← Devices</Link></p>
      <h1>Device {deviceId}</h1>
      <p role="status" className="status">{status}</p>
      <ErrorBox error={error} />
      {device ? (
        <>
          <dl className="facts">
            <dt>State</dt><dd data-testid="device-state"><StateBadge state={device.state} /></dd>
            <dt>Label</dt><dd>{device.label}</dd>
            <dt>System / component</dt><dd>{device.system} / {device.component}</dd>
            <dt>Request</dt><dd><code>{device.requestId}</code> · <Link to={`/visualizer/replay/${encodeURIComponent(deviceId)}`}>Replay in the flow visualizer</Link></dd>
            <dt>Enrolled with</dt>
            <dd data-testid="device-enrollment">{device.enrollment ? `${methodText(device.enrollment.method)} (${device.enrollment.transport})` : '—'}</dd>
            <dt>Created</dt><dd><When at={device.createdAt} /></dd>
            <dt>Provisioned</dt><dd><When at={device.provisionedAt} /></dd>
          </dl>
          <h2>Certificates</h2>
          {device.certificates.length === 0 ? <p>No certificate was issued to this device.</p> : (
            <table className="table">
              <thead>
                <tr><th scope="col">Serial</th><th scope="col">Valid from</th><th scope="col">Valid until</th><th scope="col">Status</th><th scope="col">Issued by</th><th scope="col"><span className="sr-only">Download</span></th></tr>
              </thead>
              <tbody>
                {device.certificates.map((c) => (
                  <tr key={c.serial}>
                    <td><code>{c.serial}</code></td>
                    <td><When at={c.notBefore} /></td>
                    <td><When at={c.notAfter} /></td>
                    <td><StateBadge state={c.status} />{c.revocationReason ? ` (${c.revocationReason})` : ''}</td>
                    <td>{c.method ? methodText(c.method) : '—'}</td>
                    <td>
                      <button type="button" className="secondary small" aria-expanded={inspected === c.serial} onClick={() => setInspected(inspected === c.serial ? null : c.serial)}>
                        Details<span className="sr-only"> of {c.serial}</span>
                      </button>{' '}
                      <button type="button" className="secondary small" onClick={() => saveFile(`${device.deviceId}-${c.serial}.crt`, new Blob([c.pem], { type: 'application/x-pem-file' }))}>
                        Download PEM<span className="sr-only"> of {c.serial}</span>
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {inspected ? <CertificateDetails deviceId={device.deviceId} serial={inspected} /> : null}
          {history ? (
            <>
              <h2>Requests</h2>
              <table className="table" data-testid="requests">
                <thead>
                  <tr><th scope="col">Request</th><th scope="col">Made</th><th scope="col">Transport</th><th scope="col">Key</th><th scope="col">State</th><th scope="col">Decided</th><th scope="col">Replay</th></tr>
                </thead>
                <tbody>
                  {history.requests.map((r) => (
                    <tr key={r.id} data-request={r.id}>
                      <td><code>{r.id}</code>{r.kind ? ` (${r.kind})` : ''}{r.id === device.requestId ? ' (current)' : ''}</td>
                      <td><When at={r.createdAt} /></td>
                      <td>{r.transport}</td>
                      <td>{r.keyAlgorithm}</td>
                      <td><StateBadge state={r.state} /></td>
                      <td><When at={r.decidedAt} />{r.decisionReason ? ` — ${r.decisionReason}` : ''}</td>
                      <td><Link to={`/visualizer/replay/${encodeURIComponent(device.deviceId)}?request=${encodeURIComponent(r.id)}`} aria-label={`Replay request ${r.id}`}>Replay</Link></td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <h2>History</h2>
              <ol className="history" data-testid="history">
                {history.events.map((e) => (
                  <li key={e.seq}><When at={e.at} /> — <code>{e.action}</code> by {e.actor}{e.targetId !== device.deviceId ? <> (request <code>{e.targetId}</code>)</> : null}</li>
                ))}
              </ol>
              {history.truncated ? <p>Only the newest 1,000 requests and entries are shown.</p> : null}
            </>
          ) : null}
          <ReprovisionPanel
            device={device}
            canAsk={decides}
            onDone={(message) => {
              setStatus(message);
              void load();
            }}
          />
          {canRevoke ? (
            <RevokeForm
              deviceId={device.deviceId}
              onRevoked={(message) => {
                setStatus(message);
                void load();
              }}
            />
          ) : null}
        </>
      ) : null}
    </section>
  );
}

interface Decoded {
  subject: string; issuer: string; serial: string; notBefore: string; notAfter: string; publicKey: string; signatureAlgorithm: string;
  subjectAltNames: string[]; keyUsage: string[]; extKeyUsage: string[]; ca: boolean; crlUrls: string[]; ocspUrls: string[]; sha256: string;
}
interface Inspection {
  status: string;
  revocationReason: string | null;
  verification: { status: 'verified' } | { status: 'failed'; code: string; message: string };
  chain: Decoded[];
}

/** A certificate and its chain decoded (like `provisio inspect`), the chain verified to the root now. */
function CertificateDetails({ deviceId, serial }: { deviceId: string; serial: string }) {
  const [data, setData] = useState<Inspection | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    getJson<Inspection>(`/api/v1/devices/${encodeURIComponent(deviceId)}/certificates/${encodeURIComponent(serial)}`).then(setData, setError);
  }, [deviceId, serial]);
  const list = (xs: string[]) => (xs.length ? xs.join(', ') : '—');
  return (
    <section aria-labelledby="cert-title" className="card" data-testid="certificate-details">
      <h2 id="cert-title">Certificate {serial}</h2>
      <ErrorBox error={error} />
      {data ? (
        <>
          <p className="status">
            {data.verification.status === 'verified' ? 'Chain verified to the root now.' : `Chain NOT verified: ${data.verification.code}: ${data.verification.message}`}
            {data.status === 'revoked' ? ` Revoked (${data.revocationReason ?? 'unspecified'}).` : ''}
          </p>
          {data.chain.map((c, i) => (
            <div key={c.sha256}>
              <h3>{i === 0 ? 'Certificate' : c.subject === c.issuer ? 'Root' : 'Issuing CA'}</h3>
              <dl className="facts">
                <dt>Subject</dt><dd>{c.subject}</dd>
                <dt>Issuer</dt><dd>{c.issuer}</dd>
                <dt>Serial</dt><dd><code className="wrap">{c.serial}</code></dd>
                <dt>Valid</dt><dd><When at={c.notBefore} /> to <When at={c.notAfter} /></dd>
                <dt>Public key</dt><dd>{c.publicKey}</dd>
                <dt>Signature</dt><dd>{c.signatureAlgorithm}</dd>
                <dt>Subject alt names</dt><dd>{list(c.subjectAltNames)}</dd>
                <dt>Key usage</dt><dd>{list(c.keyUsage)}</dd>
                <dt>Extended key usage</dt><dd>{list(c.extKeyUsage)}</dd>
                <dt>CA</dt><dd>{c.ca ? 'yes' : 'no'}</dd>
                <dt>CRL</dt><dd>{list(c.crlUrls)}</dd>
                <dt>OCSP</dt><dd>{list(c.ocspUrls)}</dd>
                <dt>SHA-256</dt><dd><code className="wrap">{c.sha256}</code></dd>
              </dl>
            </div>
          ))}
          <CliCommand command={`provisio inspect ${deviceId}-${serial}.crt`} />
        </>
      ) : null}
    </section>
  );
}

function RevokeForm({ deviceId, onRevoked }: { deviceId: string; onRevoked: (message: string) => void }) {
  const [reason, setReason] = useState<string>('cessationOfOperation');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (confirm !== deviceId) return;
    setBusy(true);
    setError(null);
    try {
      const r = await postJson<{ revoked: { serial: string }[]; crlNumber: number | null }>(`/api/v1/devices/${encodeURIComponent(deviceId)}/revoke`, { reason });
      onRevoked(`Revoked ${deviceId}: ${r.revoked.length} certificate${r.revoked.length === 1 ? '' : 's'} revoked${r.crlNumber !== null ? `, CRL ${r.crlNumber} published` : ''}.`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="danger-zone" onSubmit={(e) => void submit(e)} aria-labelledby="revoke-title">
      <h2 id="revoke-title">Revoke this device</h2>
      <p>Revocation is final: its certificates are listed on the CRL and answered as revoked by OCSP.</p>
      <label htmlFor="revoke-reason">Reason</label>
      <select id="revoke-reason" value={reason} onChange={(e) => setReason(e.target.value)}>
        {REASONS.map((r) => <option key={r} value={r}>{r}</option>)}
      </select>
      <label htmlFor="revoke-confirm">Type the device id <code>{deviceId}</code> to confirm</label>
      <input id="revoke-confirm" value={confirm} autoComplete="off" onChange={(e) => setConfirm(e.target.value)} />
      <ErrorBox error={error} />
      <button type="submit" className="danger" disabled={busy || confirm !== deviceId}>Revoke {deviceId}</button>
      <CliCommand command={`provisio device revoke ${deviceId} --reason ${reason}`} />
    </form>
  );
}
