/**
 * /visualizer/replay/<deviceId>?request=ID&step=N (signed in): the flow that really happened on
 * this server for one request of the device (its current one without ?request=), played on the
 * same swimlanes and player as the explanatory flows. The flow is the request's kind (a renewal,
 * a reprovisioning), else the one-time secret it enrolled with (a pairing confirmed in person on
 * the Onboard page is the QR flow), else its transport's method. The steps are the audit entries of that
 * request in chain order, each drawn as the model step it is, with
 * its real time, the real wait before it, who acted, the entry's chain hash, and the real message
 * of that step in the byte view. The data is one read, GET /api/v1/devices/{id}/trace: public
 * bytes and fingerprints only; the API's roles decide whether the audit entries are included.
 */
import { useEffect, useMemo, useState } from 'react';
import { ApiError, type CertificateView, type DeviceView, getJson, type RequestView } from '../api';
import { Link, useLocation } from '../router';
import { ErrorBox } from '../widgets';
import { ByteView } from './bytes/byte-view';
import { fromBase64, JwsView } from './bytes/jws-view';
import { Controls } from './flow-page';
import { type Flow, type Step } from './model/index.js';
import { confirmedInPerson, flowOf } from './replay-flow';
import { formatDuration } from './format';
import { stepFromQuery, usePlayer, usePrefersReducedMotion, useStepKeys } from './player';
import { Swimlane } from './swimlane';

interface AuditEntry { seq: number; at: string; actor: string; action: string; targetId: string; details: unknown; hash: string; prevHash: string }
export interface Trace {
  device: DeviceView;
  /** `enrollment`: how a first request without a package authenticated (a pairing code or a token); its `file` is then the CSR's base64. */
  request: RequestView & { decidedBy: string | null; file: string; enrollment?: { kind: string; id: string } };
  csr: string;
  certificates: (CertificateView & { der: string })[];
  profile: { createdAt: string; file: string } | null;
  events: AuditEntry[];
  truncated: boolean;
}

/** Which model step each audit action is, per method. */
const STEP_OF_ACTION: Record<string, Record<string, string>> = {
  'provisio-connected': { 'request.submit': 'submit', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.confirm': 'confirm' },
  'provisio-disconnected': { 'request.submit': 'upload', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.complete': 'complete' },
  // The secret's making and spending are audited; the code is spent and the request stored in the one pair call.
  'provisio-pairing': { 'pairing.create': 'register', 'pairing.use': 'pair', 'request.submit': 'pair', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.confirm': 'confirm' },
  // The QR flow's approval is the Onboard page's confirmation; the lookups are not audited.
  'qr-app': { 'pairing.create': 'register', 'pairing.use': 'pair', 'request.submit': 'pair', 'request.approve': 'approve', 'device.confirm': 'confirm' },
  'token-psk': { 'token.create': 'create', 'token.use': 'enroll', 'request.submit': 'enroll', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.confirm': 'confirm' },
  // The standard protocols: the token spent and the request stored in one call; EST's first use over mutual TLS and CMP's certConf confirm.
  'protocol-est': { 'token.create': 'create', 'token.use': 'enroll', 'request.submit': 'enroll', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.confirm': 'first-use' },
  'protocol-cmp': { 'token.create': 'create', 'token.use': 'ir', 'request.submit': 'ir', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.confirm': 'certconf' },
  'protocol-scep': { 'token.create': 'create', 'token.use': 'pkcsreq', 'request.submit': 'pkcsreq', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve' },
  'provisio-proxy': { 'request.submit': 'forward', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'device.confirm': 'confirm-forward' },
  // Renewal: the request, its certificate and profile are one transaction (certificate.renew).
  'provisio-renewal': { 'certificate.renew': 'renew', 'certificate.install': 'confirm' },
  'provisio-reprovision': { 'request.submit': 'submit', 'request.approve': 'approve', 'request.auto_approve': 'approve', 'request.reject': 'approve', 'certificate.install': 'confirm' },
};

/** A replay URL: the device's current request, or the one asked for, at a step. */
function replayUrl(deviceId: string, requestId: string | null, step?: number): string {
  const q = new URLSearchParams();
  if (requestId) q.set('request', requestId);
  if (step !== undefined) q.set('step', String(step));
  const text = q.toString();
  return `/visualizer/replay/${encodeURIComponent(deviceId)}${text ? `?${text}` : ''}`;
}

/** What a request asked for, in words. */
const KIND_WORDS: Record<string, string> = {
  renewal: 'renewal: a new certificate asked for with the current one',
  reprovision: 'reprovisioning: a fresh profile asked for with the current certificate',
};

/** What authenticated a first request without a package, in words. */
const ENROLLMENT_WORDS: Record<string, string> = {
  'pairing-code': 'a pairing code of the pre-registered device',
  'token': 'a one-time enrollment token',
};

/** The standard protocol a request came by, in words. */
const PROTOCOL_WORDS: Record<string, string> = {
  est: 'EST (RFC 7030): /.well-known/est/simpleenroll',
  cmp: 'CMP (RFC 4210): /.well-known/cmp, ir',
  scep: 'SCEP (RFC 8894): /scep, PKIOperation PKCSReq',
};

/** How a request travelled, in words. */
const TRANSPORT_WORDS: Record<string, string> = {
  connected: 'connected: the device reached the service itself',
  upload: 'upload: the files were carried by a technician (a USB stick) and uploaded',
  proxy: 'proxy: through a gateway on the device\'s site',
};

/** As `openssl x509 -noout -serial` prints it. */
export function opensslSerial(serial: string): string {
  return serial.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** As `openssl x509 -noout -fingerprint -sha256` prints it. */
export function opensslFingerprint(sha256: string): string {
  return (sha256.replace(/[^0-9a-fA-F]/g, '').toUpperCase().match(/../g) ?? []).join(':');
}

/** One step that happened: the model step it is, when, who, and its audit entry. */
interface Happened {
  readonly modelIndex: number;
  readonly action: string;
  readonly at: string;
  readonly actor: string;
  readonly entry: AuditEntry;
}

/** A rejection is drawn as the model's decision step, under its own name. */
const titleOf = (h: Happened, step: Step) => (h.action === 'request.reject' ? 'Reject' : step.title);

const seconds = (from: string, to: string) => Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

/** The steps in the order of the audit entries. */
function happenedSteps(trace: Trace, method: Flow): Happened[] {
  const map = STEP_OF_ACTION[method.id] ?? {};
  const index = (action: string) => method.steps.findIndex((s) => s.id === map[action]);
  return trace.events
    .map((e) => ({ action: e.action, at: e.at, actor: e.actor, entry: e, modelIndex: index(e.action) }))
    .filter((h) => h.modelIndex >= 0);
}

export function ReplayPage({ deviceId }: { deviceId: string }) {
  const [trace, setTrace] = useState<Trace | null>(null);
  const [error, setError] = useState<unknown>(null);
  const requestId = useLocation().query.get('request');
  useEffect(() => {
    setTrace(null);
    setError(null);
    getJson<Trace>(`/api/v1/devices/${encodeURIComponent(deviceId)}/trace${requestId ? `?request=${encodeURIComponent(requestId)}` : ''}`).then(setTrace, setError);
  }, [deviceId, requestId]);

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
  const method = flowOf(trace.request, trace.events) as Flow;
  return <Replay trace={trace} method={method} requestId={requestId} />;
}

function Replay({ trace, method, requestId }: { trace: Trace; method: Flow; requestId: string | null }) {
  const { device, request, events } = trace;
  const happened = useMemo(() => happenedSteps(trace, method), [trace, method]);
  // The swimlanes draw the steps that happened, each as its model step.
  const replayed: Flow = useMemo(() => ({
    ...method,
    id: `replay-${method.id}`,
    steps: happened.map((h, i): Step => {
      const s = method.steps[h.modelIndex] as Step;
      return { ...s, id: `${s.id}-${i}`, title: titleOf(h, s), duration: { seconds: Math.max(1, i === 0 ? 1 : seconds(happened[i - 1]?.at ?? h.at, h.at)), humanWait: s.duration.humanWait } };
    }),
  }), [method, happened]);
  const { query } = useLocation();
  const count = Math.max(1, happened.length);
  const current = stepFromQuery(query, count);
  const player = usePlayer(count, current);
  const reducedMotion = usePrefersReducedMotion();
  useStepKeys(player);

  const cert = trace.certificates.find((c) => c.kind === 'device' && c.status === 'active') ?? trace.certificates[0];
  const submitted = happened.find((h) => h.action === 'request.submit');
  const decided = happened.find((h) => h.action.startsWith('request.') && h.action !== 'request.submit');
  const stepNumber = (action: string) => {
    const id = STEP_OF_ACTION[method.id]?.[action];
    const i = id ? method.steps.findIndex((s) => s.id === id) : -1;
    return i >= 0 ? i + 1 : null;
  };
  return (
    <section className="flow-page">
      <h1>Replay: {device.deviceId}</h1>
      <p>What happened on this server, step by step, following the <Link to={`/visualizer/${method.id}`}>{method.name}</Link> flow: real times and waits, who acted, the real messages and the audit entries with their chain hashes.</p>
      <p>{requestId ? <>This is request <code>{request.id}</code>{request.id === device.requestId ? ', the device\'s current one' : <>, an earlier one: <Link to={replayUrl(device.deviceId, null)}>replay the current request</Link></>}.</> : 'This is the device\'s current request; the Device page lists every request it made, each with its replay.'}</p>
      <dl className="facts" data-testid="replay-facts">
        <dt>Kind</dt><dd data-testid="replay-kind">{KIND_WORDS[request.kind ?? ''] ?? 'provisioning: the device\'s first identity'}</dd>
        <dt>Transport</dt><dd>{TRANSPORT_WORDS[request.transport] ?? request.transport}{request.gateway ? ` (gateway ${request.gateway})` : ''}</dd>
        {request.protocol && <><dt>Protocol</dt><dd data-testid="replay-protocol">{PROTOCOL_WORDS[request.protocol] ?? request.protocol}</dd></>}
        {request.enrollment && <><dt>Enrolled with</dt><dd data-testid="replay-enrollment">{ENROLLMENT_WORDS[request.enrollment.kind] ?? request.enrollment.kind} <code>{request.enrollment.id}</code>{confirmedInPerson(request, events) ? ', confirmed in person on the Onboard page' : ''}</dd></>}
        <dt>Request</dt><dd><code>{request.id}</code> ({request.state}), SHA-256 <code className="wrap">{request.contentSha256}</code></dd>
        <dt>Key</dt><dd>{request.keyAlgorithm}, public key SHA-256 <code className="wrap">{request.publicKeySha256}</code></dd>
        <dt>Hardware serial</dt><dd>{request.hardwareSerial ?? '—'}</dd>
        <dt>Submitted</dt><dd>{request.createdAt}</dd>
        <dt>Decided</dt><dd>{request.decidedAt ?? 'not yet'}{request.decidedBy ? ` by ${request.decidedBy}` : request.policyDecision ? ` (policy: ${request.policyDecision})` : ''}</dd>
        {submitted && decided && <><dt>Approval waited</dt><dd data-testid="approval-wait">{formatDuration(seconds(submitted.at, decided.at))} (a person or the policy decided)</dd></>}
        <dt>Certificate serial</dt><dd><code data-testid="replay-serial">{cert ? `serial=${opensslSerial(cert.serial)}` : '—'}</code></dd>
        <dt>Certificate fingerprint</dt><dd><code className="wrap" data-testid="replay-fingerprint">{cert ? `sha256 Fingerprint=${opensslFingerprint(cert.sha256)}` : '—'}</code></dd>
        <dt>Valid</dt><dd>{cert ? `${cert.notBefore} to ${cert.notAfter} (${cert.status})` : '—'}</dd>
        <dt>Device state</dt><dd>{device.state}{device.provisionedAt ? ` since ${device.provisionedAt}` : ''}</dd>
      </dl>

      <h2>The flow as it happened</h2>
      {happened.length === 0 ? <p>No step of this provisioning is recorded yet.</p> : (
        <>
          <Controls player={player} />
          <p className="sr-only" role="status" data-testid="step-status">Step {current + 1} of {happened.length}: {replayed.steps[current]?.title}</p>
          <div className="flow-layout replay-layout">
            <div className="diagram-scroll">
              <Swimlane method={replayed} current={current} speed={player.speed} reducedMotion={reducedMotion} onSelect={player.go} />
            </div>
            <ReplayStepPanel trace={trace} method={method} happened={happened} index={current} />
          </div>
          <nav aria-label="Steps that happened" className="step-list">
            <ol>
              {happened.map((h, i) => {
                const previous = happened[i - 1];
                const step = method.steps[h.modelIndex] as Step;
                return (
                  <li key={`${h.action}-${h.at}-${i}`}>
                    <Link to={replayUrl(device.deviceId, requestId, i + 1)} aria-current={i === current ? 'page' : undefined}>{titleOf(h, step)}</Link>
                    {' '}<span className="muted">at {h.at}{previous ? `, ${formatDuration(seconds(previous.at, h.at))} later${step.duration.humanWait ? ' (waiting for a person)' : ''}` : ''}</span>
                  </li>
                );
              })}
            </ol>
          </nav>
          <p className="muted">Keyboard: ← previous, → next, space play/pause, Home first step, End last step. Playing shows each step in turn; the real waits are written beside them.</p>
        </>
      )}

      <h2>Audit entries</h2>
      <table className="table" data-testid="replay-events">
        <thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">After</th><th scope="col">Action</th><th scope="col">Actor</th><th scope="col">Flow step</th><th scope="col">Chain hash</th></tr></thead>
        <tbody>
          {events.map((e, i) => {
            const n = stepNumber(e.action);
            const previous = events[i - 1];
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
      {trace.truncated && <p className="note">More entries exist about this device than the trace reads (it reads the newest): entries of an old request may be missing here; the Audit page has them all.</p>}
    </section>
  );
}

/** The panel of one replayed step: what it is in the model, when and who, its entry, its message. */
function ReplayStepPanel({ trace, method, happened, index }: { trace: Trace; method: Flow; happened: readonly Happened[]; index: number }) {
  const h = happened[index];
  if (!h) return null;
  const step = method.steps[h.modelIndex] as Step;
  const previous = happened[index - 1];
  const actor = (id: string) => method.actors.find((a) => a.id === id)?.name ?? id;
  const { request } = trace;
  return (
    <section className="step-panel" aria-labelledby="replay-step-heading" data-testid="step-panel">
      <h2 id="replay-step-heading">Step {index + 1} of {happened.length}: {titleOf(h, step)}</h2>
      <p className="sentence">{step.sentence}</p>
      <dl className="facts" data-testid="replay-step-facts">
        <dt>In the flow</dt><dd><Link to={`/visualizer/${method.id}?step=${h.modelIndex + 1}`}>step {h.modelIndex + 1} of {method.name}</Link></dd>
        <dt>When</dt><dd data-testid="replay-step-at">{h.at}</dd>
        <dt>Wait before it</dt><dd data-testid="replay-step-wait">{previous ? `${formatDuration(seconds(previous.at, h.at))}${step.duration.humanWait ? ' — a person acted: this is a human wait, not machine time' : ''}` : 'the first recorded step'}</dd>
        <dt>Who acted</dt><dd data-testid="replay-step-actor">{h.actor}</dd>
        <dt>From → to</dt><dd>{step.from === step.to ? `${actor(step.from)} (inside)` : `${actor(step.from)} → ${actor(step.to)}`}</dd>
        <dt>Channel</dt><dd data-testid="channel">{step.channel.label} — <strong>{step.channel.secure ? 'secure' : 'insecure'}</strong>; transport <code>{request.transport}</code>{request.gateway ? ` through gateway ${request.gateway}` : ''}</dd>
      </dl>
      <h3>Audit entry</h3>
      <dl className="facts" data-testid="replay-entry">
        <dt>Entry</dt><dd>#{h.entry.seq} <code>{h.entry.action}</code> on {h.entry.targetId}</dd>
        <dt>Chain hash</dt><dd><code className="wrap" data-testid="replay-entry-hash">{h.entry.hash}</code></dd>
        <dt>Previous hash</dt><dd><code className="wrap">{h.entry.prevHash}</code></dd>
        <dt>Details</dt><dd><code className="wrap">{JSON.stringify(h.entry.details)}</code></dd>
      </dl>
      <h3>The message</h3>
      <StepMessage trace={trace} action={h.action} />
    </section>
  );
}

/** The certificate issued for the request, in the byte view, and the certified profile as delivered. */
function Issued({ trace, cert, when }: { trace: Trace; cert: Trace['certificates'][number] | undefined; when: string }) {
  return (
    <>
      {cert ? (
        <>
          <p>The certificate issued {when}: serial <code>{opensslSerial(cert.serial)}</code>.</p>
          <ByteView der={fromBase64(cert.der)} structure="certificate" label="device certificate" />
        </>
      ) : <p>No certificate is recorded for this request.</p>}
      {trace.profile ? (
        <>
          <p>The certified profile as signed and delivered ({trace.profile.createdAt}):</p>
          <JwsView text={trace.profile.file} label="profile" />
        </>
      ) : null}
    </>
  );
}

function StepMessage({ trace, action }: { trace: Trace; action: string }) {
  const cert = trace.certificates[0];
  if (action === 'certificate.renew') {
    return (
      <div data-testid="replay-message" data-message="renewal">
        <p>The renewal request exactly as the service received it over mutual TLS with the current certificate ({trace.request.file.length} bytes, SHA-256 <code className="wrap">{trace.request.contentSha256}</code>): a compact JWS signed by the device&apos;s current key; the CSR it carries is the first DER value below.</p>
        <JwsView text={trace.request.file} label="renewal request" />
        <Issued trace={trace} cert={cert} when="in the same transaction, answered on the same call" />
      </div>
    );
  }
  if (action === 'pairing.create' || action === 'token.create') {
    return <p data-testid="replay-message" data-message="secret-created">{action === 'pairing.create' ? 'A PKI admin pre-registered the device with a pairing code. The code was printed once and is kept only as a scrypt hash: it is in no entry and no trace.' : 'An administrator made the enrollment token. It was printed once and only its SHA-256 is kept: the entry names its id, never the secret.'}</p>;
  }
  if (action === 'pairing.use' || action === 'token.use') {
    return <p data-testid="replay-message" data-message="secret-used">{action === 'pairing.use' ? 'The device\'s code was checked against the record and spent, in the transaction that stored the request below.' : 'The token was checked (its binding, uses and expiry) and one use spent, in the transaction that stored the request below.'}</p>;
  }
  if (action === 'request.submit' && trace.request.enrollment) {
    return (
      <div data-testid="replay-message" data-message="csr">
        <p>No request file: the device sent {trace.request.enrollment.kind === 'token' ? 'the token' : 'its pairing code'} with a PKCS#10 CSR, which is stored as received ({fromBase64(trace.csr).length} bytes, SHA-256 <code className="wrap">{trace.request.contentSha256}</code>).</p>
        <ByteView der={fromBase64(trace.csr)} structure="csr" label="CSR" />
      </div>
    );
  }
  if (action === 'request.submit') {
    return (
      <div data-testid="replay-message" data-message="request">
        <p>The signed request exactly as the service received it ({trace.request.file.length} bytes, SHA-256 <code className="wrap">{trace.request.contentSha256}</code>); the CSR it carries is the first DER value below.</p>
        <JwsView text={trace.request.file} label="request" />
      </div>
    );
  }
  if (action === 'request.reject') return <p data-testid="replay-message">Rejected: {trace.request.decisionReason ?? 'no reason given'}. No certificate was issued.</p>;
  if (action.startsWith('request.')) {
    return (
      <div data-testid="replay-message" data-message="issued">
        <Issued trace={trace} cert={cert} when="at approval" />
      </div>
    );
  }
  const confirmed = action === 'device.complete'
    ? 'A person marked the device Provisioned: the service did not hear from the device itself.'
    : action === 'certificate.install'
      ? 'The device confirmed the install over mutual TLS with the new certificate below, which the service then made its current one (its proof is checked and not kept; the audit entry records the serial and the previous one).'
      : 'The device confirmed the install over mutual TLS with the certificate below (its proof is checked and not kept; the audit entry records the serial and transport).';
  return (
    <div data-testid="replay-message" data-message="confirmation">
      <p>{confirmed}</p>
      {cert ? <ByteView der={fromBase64(cert.der)} structure="certificate" label="confirmed certificate" /> : null}
    </div>
  );
}
