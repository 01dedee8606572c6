/**
 * Reprovisioning asked for by an admin, on the Device page (docs/lifecycle.md "Reprovisioning
 * asked for by an admin"): the outstanding ask (who, when, why) for everyone who may read the
 * device; for admins and approvers, the ask with a required reason, or Cancel while one is
 * outstanding, each with its CLI command.
 */
import { type FormEvent, useState } from 'react';
import { type DeviceView, postJson } from '../api';
import { CliCommand, ErrorBox, sh, When } from '../widgets';

export function ReprovisionPanel({ device, canAsk, onDone }: { device: DeviceView; canAsk: boolean; onDone: (message: string) => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const ask = device.reprovisionRequest ?? null;
  const path = `/api/v1/devices/${encodeURIComponent(device.deviceId)}/reprovision`;
  // Only a provisioned device can be asked; an outstanding ask is shown whatever the state.
  if (!ask && (!canAsk || device.state !== 'provisioned')) return null;

  const send = async (cancel: boolean) => {
    setBusy(true);
    setError(null);
    try {
      await postJson(cancel ? `${path}/cancel` : path, cancel ? undefined : { reason: reason.trim() });
      setReason('');
      onDone(cancel ? `Reprovisioning of ${device.deviceId} cancelled.` : `Reprovisioning of ${device.deviceId} asked for: the device reprovisions at its next check-in.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (reason.trim() !== '') void send(false);
  };

  if (ask) {
    return (
      <section className="action-zone" aria-labelledby="reprovision-title" data-testid="reprovision-ask">
        <h2 id="reprovision-title">Reprovisioning asked for</h2>
        <p>
          Asked by <strong>{ask.requestedBy}</strong> at <When at={ask.requestedAt} />: {ask.reason}
        </p>
        <p className="muted">The device reprovisions at its next check-in at the central station; its request counts as approved by {ask.requestedBy}.</p>
        {canAsk ? (
          <>
            <ErrorBox error={error} />
            <button type="button" className="secondary" disabled={busy} onClick={() => void send(true)}>Cancel the reprovisioning</button>
            <CliCommand command={`provisio device request-reprovision ${sh(device.deviceId)} --cancel`} />
          </>
        ) : null}
      </section>
    );
  }
  return (
    <form className="action-zone" onSubmit={submit} aria-labelledby="reprovision-title">
      <h2 id="reprovision-title">Reprovision this device</h2>
      <p>The device gets a fresh certified profile with its current identity at its next check-in at the central station, approved by you.</p>
      <label htmlFor="reprovision-reason">Why (required)</label>
      <input id="reprovision-reason" value={reason} maxLength={500} autoComplete="off" onChange={(e) => setReason(e.target.value)} />
      <ErrorBox error={error} />
      <button type="submit" disabled={busy || reason.trim() === ''}>Reprovision {device.deviceId}</button>
      <CliCommand command={`provisio device request-reprovision ${sh(device.deviceId)} --reason ${sh(reason.trim() || 'REASON')}`} />
    </form>
  );
}
