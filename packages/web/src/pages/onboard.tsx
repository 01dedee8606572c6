/**
 * Onboard (docs/web.md "Onboard", D46): a phone-sized page for the technician at the bedside.
 * Scan the QR code of a pairing (the browser's BarcodeDetector and the camera, where the
 * browser has them) or type the setup payload, or the device id and code; see the device
 * record; confirm the device in front of you — the approval of the request it made with the
 * code, for admins and approvers, with separation of duties — and watch it become provisioned.
 *
 * The code stays in this page's memory: never in the address (history, bookmarks) or storage.
 */
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { postJson, type Session } from '../api';
import { looksLikeSetup, parseSetup } from '../setup-payload';
import { ErrorBox, StateBadge, When } from '../widgets';

interface Lookup {
  pairing: { deviceId: string; deviceLabel: string; system: string | null; component: string | null; state: string; expiresAt: string; failedAttempts: number };
  device: { state: string; provisionedAt: string | null } | null;
  request: { id: string; state: 'pending' | 'approved' | 'rejected' } | null;
}

/** The few members of the Barcode Detection API this page uses (not yet in TypeScript's DOM types). */
interface BarcodeDetectorLike { detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]> }
type BarcodeDetectorCtor = new (options: { formats: string[] }) => BarcodeDetectorLike;

const POLL_MS = 2_000;

export function OnboardPage({ session }: { session: Session }) {
  const [text, setText] = useState('');
  const [deviceIdText, setDeviceIdText] = useState('');
  const [secret, setSecret] = useState<{ deviceId: string; code: string } | null>(null);
  const [found, setFound] = useState<Lookup | null>(null);
  const [note, setNote] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const canConfirm = session.role === 'admin' || session.role === 'approver';

  const lookUp = useCallback(async (s: { deviceId: string; code: string }) => {
    const answer = await postJson<Lookup>('/api/v1/onboard/lookup', s);
    setFound(answer);
    return answer;
  }, []);

  const start = async (raw: string, typedId: string) => {
    setError(null);
    setNote('');
    setFound(null);
    setSecret(null);
    try {
      let s: { deviceId: string; code: string };
      if (looksLikeSetup(raw)) {
        const setup = parseSetup(raw);
        if (!('code' in setup)) {
          setNote(`This QR code holds an enrollment token${setup.deviceId ? ` for device ${setup.deviceId}` : ''}, not a pairing code: the device enrolls with it by itself ("provisio device enroll"); there is nothing to confirm here.`);
          return;
        }
        s = { deviceId: setup.deviceId, code: setup.code };
      } else {
        if (!typedId.trim()) throw new Error('type the device id beside its code, or paste the whole setup payload');
        s = { deviceId: typedId.trim(), code: raw.trim() };
      }
      setBusy(true);
      await lookUp(s);
      setSecret(s);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  // Polls while the device is on its way: until it is provisioned, or its pairing can do no more.
  const settled = found !== null && (found.device?.state === 'provisioned' || found.request?.state === 'rejected' || ['revoked', 'expired', 'locked'].includes(found.pairing.state));
  useEffect(() => {
    if (!secret || settled) return;
    const timer = setInterval(() => {
      lookUp(secret).catch((e: unknown) => setError(e));
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [secret, settled, lookUp]);

  const confirm = async () => {
    if (!secret) return;
    setBusy(true);
    try {
      setFound(await postJson<Lookup>('/api/v1/onboard/confirm', secret));
      setError(null);
      setNote(`Confirmed ${secret.deviceId}: its certificate is issued; the device installs it now.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void start(text, deviceIdText);
  };

  return (
    <section className="onboard">
      <h1>Onboard a device</h1>
      <p className="muted">Scan the QR code printed for the device in front of you, or type its setup payload or its id and pairing code.</p>
      <Scanner onScanned={(value) => {
        setText(value);
        void start(value, '');
      }}
      />
      <form onSubmit={submit} aria-label="Look up a device" className="onboard-form">
        <label>Setup payload or pairing code
          <input value={text} autoComplete="off" autoCapitalize="characters" spellCheck={false} onChange={(e) => setText(e.target.value)} placeholder="provisio-setup:?v=1&… or ABCD-2345" />
        </label>
        {text && !looksLikeSetup(text) ? (
          <label>Device id <input value={deviceIdText} autoComplete="off" spellCheck={false} onChange={(e) => setDeviceIdText(e.target.value)} placeholder="DEV-001" /></label>
        ) : null}
        <button type="submit" disabled={busy || !text.trim()}>Look up</button>
      </form>
      <p role="status" className="status">{note}</p>
      <ErrorBox error={error} />
      {found ? (
        <article className="card" aria-labelledby="onboard-device">
          <h2 id="onboard-device">Device {found.pairing.deviceId}</h2>
          <dl className="facts">
            <dt>Label</dt><dd data-testid="onboard-label">{found.pairing.deviceLabel}</dd>
            <dt>System / component</dt><dd>{found.pairing.system} / {found.pairing.component}</dd>
            <dt>Pairing code</dt><dd data-testid="onboard-pairing-state"><StateBadge state={found.pairing.state} /></dd>
            <dt>Code valid until</dt><dd><When at={found.pairing.expiresAt} /></dd>
            <dt>Device</dt><dd data-testid="onboard-device-state">{found.device ? <StateBadge state={found.device.state} /> : 'has not asked yet'}</dd>
          </dl>
          <Next found={found} canConfirm={canConfirm} busy={busy} onConfirm={() => void confirm()} />
        </article>
      ) : null}
    </section>
  );
}

function Next({ found, canConfirm, busy, onConfirm }: { found: Lookup; canConfirm: boolean; busy: boolean; onConfirm: () => void }) {
  if (found.device?.state === 'provisioned') return <p className="done" data-testid="onboard-done">✔ Provisioned: the device installed its certificate and confirmed it over mutual TLS.</p>;
  if (!found.request) return <p>Waiting for the device: start <code>provisio device pair</code> on it with this code. This page follows it.</p>;
  if (found.request.state === 'rejected') return <p>Its request was rejected.</p>;
  if (found.request.state === 'approved') return <p>Approved: waiting for the device to install its certificate…</p>;
  if (!canConfirm) return <p>Its request waits for an approver: an admin or approver confirms it here or on the Devices page.</p>;
  return (
    <div>
      <p>Is this the device in front of you, with this label? Confirming approves its request.</p>
      <button type="button" disabled={busy} onClick={onConfirm}>Confirm {found.pairing.deviceId}</button>
    </div>
  );
}

/** The camera and the browser's BarcodeDetector, offered only where both exist. */
function Scanner({ onScanned }: { onScanned: (value: string) => void }) {
  const Detector = (globalThis as { BarcodeDetector?: BarcodeDetectorCtor }).BarcodeDetector;
  const video = useRef<HTMLVideoElement>(null);
  const [on, setOn] = useState(false);
  const [error, setError] = useState<unknown>(null);
  // The newest callback, without restarting the camera when the page re-renders.
  const scanned = useRef(onScanned);
  scanned.current = onScanned;

  useEffect(() => {
    if (!on || !Detector) return;
    let stream: MediaStream | null = null;
    let timer: ReturnType<typeof setInterval> | undefined;
    const detector = new Detector({ formats: ['qr_code'] });
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(async (s) => {
      stream = s;
      if (!video.current) return;
      video.current.srcObject = s;
      await video.current.play();
      timer = setInterval(() => {
        if (!video.current) return;
        detector.detect(video.current).then((codes) => {
          const value = codes[0]?.rawValue;
          if (value) {
            setOn(false);
            scanned.current(value);
          }
        }, () => undefined);
      }, 300);
    }, (e: unknown) => {
      setError(e);
      setOn(false);
    });
    return () => {
      clearInterval(timer);
      for (const track of stream?.getTracks() ?? []) track.stop();
    };
  }, [on, Detector]);

  if (!Detector || !navigator.mediaDevices) return <p className="muted" data-testid="no-scanner">This browser cannot read QR codes with the camera: type the code below.</p>;
  return (
    <div className="scanner">
      <button type="button" className="secondary" onClick={() => setOn(!on)}>{on ? 'Stop the camera' : 'Scan the QR code'}</button>
      {on ? <video ref={video} muted playsInline aria-label="Camera view for the QR code" /> : null}
      <ErrorBox error={error} />
    </div>
  );
}
