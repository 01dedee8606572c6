/**
 * /visualizer/replay/<deviceId> (signed in): the flow that really happened on this server, from
 * the device, its request, its certificates and the audit log — real timestamps, who approved,
 * how the request travelled, and each audit entry's chain hash. Only public data and
 * fingerprints are shown; the API's roles decide what may be read.
 */
import { useEffect, useState } from 'react';
import { ApiError, type CertificateView, type DeviceView, getJson, type Page, type RequestView } from '../api';
import { Link } from '../router';
import { ErrorBox } from '../widgets';
import { findMethod, type Method } from './model/index.js';
import { formatDuration } from './format';
import { Swimlane } from './swimlane';

interface AuditEntry { seq: number; at: string; actor: string; action: string; targetId: string; hash: string }
interface Trace { device: DeviceView & { certificates: CertificateView[] }; request: RequestView; audit: AuditEntry[] | null }

const METHOD_OF_TRANSPORT: Record<string, string> = { connected: 'provisio-connected', upload: 'provisio-disconnected', proxy: 'provisio-proxy' };
/** Which model step each audit action is, per method. */
const STEP_OF_ACTION: Record<string, Record<string, string>> = {
  'provisio-connected': { 'request.submit': 'submit', 'request.approve': 'approve', 'device.confirm': 'confirm' },
  'provisio-disconnected': { 'request.submit': 'upload', 'request.approve': 'approve', 'device.complete': 'complete' },
  'provisio-proxy': { 'request.submit': 'forward', 'request.approve': 'approve', 'device.confirm': 'confirm-forward' },
};

/** As `openssl x509 -noout -serial` prints it. */
export function opensslSerial(serial: string): string {
  return serial.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** As `openssl x509 -noout -fingerprint -sha256` prints it. */
export function opensslFingerprint(sha256: string): string {
  return (sha256.replace(/[^0-9a-fA-F]/g, '').toUpperCase().match(/../g) ?? []).join(':');
}

export function ReplayPage({ deviceId }: { deviceId: string }) {
  const [trace, setTrace] = useState<Trace | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    (async () => {
      const device = await getJson<Trace['device']>(`/api/v1/devices/${encodeURIComponent(deviceId)}`);
      const request = await getJson<RequestView>(`/api/v1/requests/${encodeURIComponent(device.requestId)}`);
      let audit: AuditEntry[] | null = null;
      try {
        const pages = await Promise.all([device.deviceId, device.requestId].map((target) => getJson<Page<AuditEntry>>(`/api/v1/audit?target=${encodeURIComponent(target)}&limit=100`)));
        audit = pages.flatMap((p) => p.items).sort((a, b) => a.seq - b.seq);
      } catch (e) {
        // An approver may not read the audit log: the replay goes on without it.
        if (!(e instanceof ApiError && e.status === 403)) throw e;
      }
      setTrace({ device, request, audit });
    })().catch(setError);
  }, [deviceId]);

  if (error instanceof ApiError && (error.status === 401)) {
    return (
      <section>
        <h1>Replay: {deviceId}</h1>
        <p>Replaying a real provisioning needs a signed-in session. <a href="/">Sign in</a>, then open the device and choose &quot;Replay in the flow visualizer&quot;.</p>
        <ErrorBox error={error} />
      </section>
    );
  }
  if (error) return <ErrorBox error={error} />;
  if (!trace) return <p className="loading">Loading…</p>;
  const method = findMethod(METHOD_OF_TRANSPORT[trace.request.transport] ?? '') as Method;
  return <Replay trace={trace} method={method} />;
}

function Replay({ trace, method }: { trace: Trace; method: Method }) {
  const { device, request, audit } = trace;
  const cert = device.certificates.find((c) => c.kind === 'device' && c.status === 'active') ?? device.certificates[0];
  const at = (action: string) => audit?.find((e) => e.action === action);
  const approval = at('request.approve');
  const submitted = at('request.submit');
  const steps = STEP_OF_ACTION[method.id] ?? {};
  const stepNumber = (action: string) => {
    const id = steps[action];
    const i = id ? method.steps.findIndex((s) => s.id === id) : -1;
    return i >= 0 ? i + 1 : null;
  };
  const seconds = (from: string, to: string) => Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
  return (
    <section>
      <h1>Replay: {device.deviceId}</h1>
      <p>What happened on this server, following the <Link to={`/visualizer/${method.id}`}>{method.name}</Link> flow.</p>
      <dl className="facts" data-testid="replay-facts">
        <dt>Transport</dt><dd>{request.transport}{request.gateway ? ` through gateway ${request.gateway}` : ''}</dd>
        <dt>Request</dt><dd><code>{request.id}</code> ({request.state}), SHA-256 <code className="wrap">{request.contentSha256}</code></dd>
        <dt>Key</dt><dd>{request.keyAlgorithm}, public key SHA-256 <code className="wrap">{request.publicKeySha256}</code></dd>
        <dt>Hardware serial</dt><dd>{request.hardwareSerial ?? '—'}</dd>
        <dt>Submitted</dt><dd>{request.createdAt}</dd>
        <dt>Decided</dt><dd>{request.decidedAt ?? 'not yet'}{approval ? ` by ${approval.actor}` : request.policyDecision ? ` (policy: ${request.policyDecision})` : ''}</dd>
        {submitted && approval && <><dt>Approval waited</dt><dd data-testid="approval-wait">{formatDuration(seconds(submitted.at, approval.at))}</dd></>}
        <dt>Certificate serial</dt><dd><code data-testid="replay-serial">{cert ? `serial=${opensslSerial(cert.serial)}` : '—'}</code></dd>
        <dt>Certificate fingerprint</dt><dd><code className="wrap" data-testid="replay-fingerprint">{cert ? `sha256 Fingerprint=${opensslFingerprint(cert.sha256)}` : '—'}</code></dd>
        <dt>Valid</dt><dd>{cert ? `${cert.notBefore} to ${cert.notAfter} (${cert.status})` : '—'}</dd>
        <dt>Device state</dt><dd>{device.state}{device.provisionedAt ? ` since ${device.provisionedAt}` : ''}</dd>
      </dl>
      <h2>Audit entries</h2>
      {audit === null ? <p>Your role may not read the audit log; the entries are not shown.</p> : (
        <table className="table" data-testid="replay-events">
          <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">After</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Flow step</th><th scope="col">Chain hash</th></tr></thead>
          <tbody>
            {audit.map((e, i) => {
              const n = stepNumber(e.action);
              const previous = audit[i - 1];
              return (
                <tr key={e.seq} data-action={e.action}>
                  <td>{e.seq}</td>
                  <td>{e.at}</td>
                  <td>{previous ? formatDuration(seconds(previous.at, e.at)) : '—'}</td>
                  <td><code>{e.action}</code></td>
                  <td>{e.actor}</td>
                  <td>{n ? <Link to={`/visualizer/${method.id}?step=${n}`}>step {n}: {method.steps[n - 1]?.title}</Link> : '—'}</td>
                  <td><code className="wrap">{e.hash}</code></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <h2>The flow</h2>
      <div className="diagram-scroll">
        <Swimlane method={method} current={method.steps.length} speed={1} reducedMotion onSelect={() => undefined} showAll />
      </div>
    </section>
  );
}
