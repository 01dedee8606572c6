/**
 * Bulk approval: a confirmation that counts what will be approved and flags outliers before
 * anything is signed — a key algorithm unlike the rest, a hardware serial of another shape, an
 * expired request — then one verdict per request.
 */
import { useEffect, useRef, useState } from 'react';
import { postJson, type RequestView } from '../api';
import { CliCommand, ErrorBox } from '../widgets';

/** A serial's shape: letters become A, digits 9 ("SN-0042" → "AA-9999"). */
function shapeOf(serial: string | null): string {
  return serial === null ? '(none)' : serial.replace(/[A-Za-z]/g, 'A').replace(/[0-9]/g, '9');
}

function mostCommon(values: readonly string[]): string | null {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | null = null;
  for (const [v, n] of counts) if (best === null || n > (counts.get(best) ?? 0)) best = v;
  return best;
}

export interface Outlier {
  readonly deviceId: string;
  readonly why: string;
}

export function findOutliers(requests: readonly RequestView[], now = Date.now()): Outlier[] {
  const key = mostCommon(requests.map((r) => r.keyAlgorithm));
  const shape = mostCommon(requests.map((r) => shapeOf(r.hardwareSerial)));
  const out: Outlier[] = [];
  for (const r of requests) {
    if (r.keyAlgorithm !== key) out.push({ deviceId: r.deviceId, why: `key ${r.keyAlgorithm}, unlike the others' ${key}` });
    if (shapeOf(r.hardwareSerial) !== shape) out.push({ deviceId: r.deviceId, why: `hardware serial ${r.hardwareSerial ?? '(none)'} has another pattern than ${shape}` });
    if (Date.parse(r.expiresAt) <= now) out.push({ deviceId: r.deviceId, why: 'the request has expired (it will be refused)' });
    if (r.mock) out.push({ deviceId: r.deviceId, why: 'a mock device file' });
  }
  return out;
}

interface Answer {
  approved: number;
  refused: number;
  items: ({ requestId: string; ok: true; request: RequestView } | { requestId: string; ok: false; code: string; message: string })[];
}

export function BulkApprove(props: { requests: readonly RequestView[]; onCancel: () => void; onDone: (message: string) => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [answer, setAnswer] = useState<Answer | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const outliers = findOutliers(props.requests);
  const n = props.requests.length;

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      const a = await postJson<Answer>('/api/v1/requests/approve', { requestIds: props.requests.map((r) => r.id) });
      setAnswer(a);
      if (a.refused === 0) props.onDone(`Approved ${a.approved} request${a.approved === 1 ? '' : 's'}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="confirm" aria-labelledby="bulk-title" role="region">
      <h2 id="bulk-title" ref={heading} tabIndex={-1}>Approve {n} request{n === 1 ? '' : 's'}?</h2>
      <p>Each gets its certificate and certified profile now. Devices: {props.requests.slice(0, 10).map((r) => r.deviceId).join(', ')}{n > 10 ? `, and ${n - 10} more` : ''}.</p>
      {outliers.length ? (
        <div className="warning" data-testid="outliers">
          <strong>{outliers.length} outlier{outliers.length === 1 ? '' : 's'} — check before approving:</strong>
          <ul>{outliers.map((o, i) => <li key={i}>{o.deviceId}: {o.why}</li>)}</ul>
        </div>
      ) : <p data-testid="outliers">No outliers: same key algorithm and serial pattern throughout.</p>}
      <ErrorBox error={error} />
      {answer ? (
        <div role="status">
          <p>{answer.approved} approved, {answer.refused} refused.</p>
          <ul>{answer.items.filter((i) => !i.ok).map((i) => <li key={i.requestId}>{i.requestId}: <code className="code">{!i.ok ? i.code : ''}</code> {!i.ok ? i.message : ''}</li>)}</ul>
          <button type="button" className="secondary" onClick={() => props.onDone(`${answer.approved} approved, ${answer.refused} refused.`)}>Close</button>
        </div>
      ) : (
        <div className="row">
          <button type="button" disabled={busy} onClick={() => void confirm()}>Confirm: approve {n}</button>
          <button type="button" className="secondary" disabled={busy} onClick={props.onCancel}>Cancel</button>
        </div>
      )}
      <CliCommand command={`provisio request approve ${props.requests.map((r) => r.id).join(' ')}`} />
    </section>
  );
}
