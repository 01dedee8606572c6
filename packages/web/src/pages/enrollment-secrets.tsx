/**
 * A system's pairing codes and one-time enrollment tokens on the System page (docs/web.md
 * "Systems"): admins create one (the code or token and its setup QR code are shown ONCE, with
 * the warning that they are secrets), revoke one, and reset a pairing locked by wrong codes;
 * approvers and auditors see the list with each one's state.
 */
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { getJson, postJson } from '../api';
import { QrImage } from '../qr-image';
import { CliCommand, ErrorBox, sh, StateBadge, When } from '../widgets';

interface PairingInfo { deviceId: string; deviceLabel: string; component: string | null; state: string; failedAttempts: number; expiresAt: string; usedAt: string | null }
interface TokenInfo { id: string; component: string | null; deviceId: string | null; devicePattern: string | null; state: string; uses: number; maxUses: number; expiresAt: string }
interface Created { kind: 'code' | 'token'; secret: string; setup: string; deviceId: string }

export function EnrollmentSecrets({ system, components, isAdmin, onDone }: { system: string; components: readonly string[]; isAdmin: boolean; onDone: (m: string) => void }) {
  const [pairings, setPairings] = useState<PairingInfo[]>([]);
  const [tokens, setTokens] = useState<TokenInfo[]>([]);
  const [created, setCreated] = useState<Created | null>(null);
  const [error, setError] = useState<unknown>(null);
  const q = `?system=${encodeURIComponent(system)}`;

  const load = useCallback(async () => {
    try {
      setPairings((await getJson<{ items: PairingInfo[] }>(`/api/v1/pairings${q}`)).items);
      setTokens((await getJson<{ items: TokenInfo[] }>(`/api/v1/tokens${q}`)).items);
    } catch (e) {
      setError(e);
    }
  }, [q]);
  useEffect(() => {
    void load();
  }, [load]);

  const act = async (path: string, message: string) => {
    try {
      await postJson(path);
      setError(null);
      onDone(message);
      await load();
    } catch (e) {
      setError(e);
    }
  };
  const made = async (c: Created) => {
    setCreated(c);
    onDone(`Created ${c.kind === 'code' ? 'a pairing code' : 'an enrollment token'} for ${c.deviceId}.`);
    await load();
  };

  return (
    <div className="secrets">
      <h3>Pairing codes</h3>
      <ErrorBox error={error} />
      {pairings.length === 0 ? <p>No pairing code for this system.</p> : (
        <table className="table" data-testid={`pairings-${system}`}>
          <caption className="sr-only">Pairing codes of {system}</caption>
          <thead><tr><th scope="col">Device</th><th scope="col">Label</th><th scope="col">State</th><th scope="col">Wrong codes</th><th scope="col">Expires</th>{isAdmin ? <th scope="col">Actions</th> : null}</tr></thead>
          <tbody>
            {pairings.map((p) => (
              <tr key={p.deviceId} data-pairing={p.deviceId}>
                <td><code>{p.deviceId}</code></td><td>{p.deviceLabel}</td><td><StateBadge state={p.state} /></td><td>{p.failedAttempts}</td><td><When at={p.expiresAt} /></td>
                {isAdmin ? (
                  <td>
                    {p.state === 'locked' || p.failedAttempts > 0 ? (
                      <button type="button" className="secondary small" onClick={() => void act(`/api/v1/pairings/${encodeURIComponent(p.deviceId)}/reset`, `Reset the wrong codes of ${p.deviceId}.`)}>
                        Reset lock<span className="sr-only"> of {p.deviceId}</span>
                      </button>
                    ) : null}{' '}
                    {p.state === 'active' || p.state === 'locked' ? (
                      <button type="button" className="danger small" onClick={() => void act(`/api/v1/pairings/${encodeURIComponent(p.deviceId)}/revoke`, `Revoked the pairing code of ${p.deviceId}.`)}>
                        Revoke<span className="sr-only"> the pairing code of {p.deviceId}</span>
                      </button>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Enrollment tokens</h3>
      {tokens.length === 0 ? <p>No enrollment token for this system.</p> : (
        <table className="table" data-testid={`tokens-${system}`}>
          <caption className="sr-only">Enrollment tokens of {system}</caption>
          <thead><tr><th scope="col">Token</th><th scope="col">Bound to</th><th scope="col">State</th><th scope="col">Uses</th><th scope="col">Expires</th>{isAdmin ? <th scope="col">Revoke</th> : null}</tr></thead>
          <tbody>
            {tokens.map((t) => (
              <tr key={t.id} data-token={t.id}>
                <td><code>{t.id}</code></td><td><code>{t.deviceId ?? t.devicePattern}</code></td><td><StateBadge state={t.state} /></td>
                <td>{t.uses}/{t.maxUses}</td><td><When at={t.expiresAt} /></td>
                {isAdmin ? (
                  <td>{t.state === 'active' ? (
                    <button type="button" className="danger small" onClick={() => void act(`/api/v1/tokens/${encodeURIComponent(t.id)}/revoke`, `Revoked enrollment token ${t.id}.`)}>
                      Revoke<span className="sr-only"> token {t.id}</span>
                    </button>
                  ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {created ? <ShownOnce created={created} onHide={() => setCreated(null)} /> : null}
      {isAdmin && components.length > 0 ? (
        <>
          <NewPairing system={system} components={components} onCreated={(c) => void made(c)} />
          <NewToken system={system} components={components} onCreated={(c) => void made(c)} />
        </>
      ) : null}
    </div>
  );
}

/** The secret and its QR code, once: the service keeps only a hash of it. */
function ShownOnce({ created, onHide }: { created: Created; onHide: () => void }) {
  const name = created.kind === 'code' ? 'pairing code' : 'enrollment token';
  return (
    <div className="card shown-once" role="region" aria-label={`New ${name}`}>
      <p className="warning" role="note">
        <strong>Secret, shown once:</strong> this {name} and its QR code let a device enroll as {created.deviceId}.
        Print or hand it to the device, then hide it; the service keeps only a hash.
      </p>
      <p>The {name}: <code className="code" data-testid="new-secret">{created.secret}</code></p>
      <QrImage text={created.setup} label={`QR code of the setup payload for the new ${name}`} />
      <details><summary>Setup payload</summary><code className="wrap" data-testid="new-setup">{created.setup}</code></details>
      <button type="button" className="secondary small" onClick={onHide}>Hide it</button>
    </div>
  );
}

function ComponentSelect({ components, value, onChange }: { components: readonly string[]; value: string; onChange: (v: string) => void }) {
  return <label>Component <select value={value} onChange={(e) => onChange(e.target.value)}>{components.map((c) => <option key={c} value={c}>{c}</option>)}</select></label>;
}

function NewPairing({ system, components, onCreated }: { system: string; components: readonly string[]; onCreated: (c: Created) => void }) {
  const [component, setComponent] = useState(components[0] ?? '');
  const [deviceId, setDeviceId] = useState('');
  const [label, setLabel] = useState('');
  const [hours, setHours] = useState(72);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const r = await postJson<{ code: string; setup: string }>('/api/v1/pairings', { system, component, deviceId, deviceLabel: label, expiresInSeconds: hours * 3600 });
      setError(null);
      setDeviceId('');
      setLabel('');
      onCreated({ kind: 'code', secret: r.code, setup: r.setup, deviceId });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label={`New pairing code for ${system}`}>
      <ComponentSelect components={components} value={component} onChange={setComponent} />
      <label>Device id <input value={deviceId} required maxLength={64} onChange={(e) => setDeviceId(e.target.value)} /></label>
      <label>Device label <input value={label} required maxLength={128} onChange={(e) => setLabel(e.target.value)} /></label>
      <label>Valid (hours) <input type="number" min={1} max={720} value={hours} onChange={(e) => setHours(Number(e.target.value))} /></label>
      <button type="submit">Create pairing code</button>
      <ErrorBox error={error} />
      <CliCommand command={`provisio pairing create --system ${sh(system)} --component ${sh(component)} --id ${sh(deviceId || 'DEVICE-ID')} --label ${sh(label || 'LABEL')} --expires ${hours}h --qr setup.png`} />
    </form>
  );
}

function NewToken({ system, components, onCreated }: { system: string; components: readonly string[]; onCreated: (c: Created) => void }) {
  const [component, setComponent] = useState(components[0] ?? '');
  const [deviceId, setDeviceId] = useState('');
  const [uses, setUses] = useState(1);
  const [hours, setHours] = useState(24);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const r = await postJson<{ token: string; setup: string }>('/api/v1/tokens', { system, component, deviceId, maxUses: uses, expiresInSeconds: hours * 3600 });
      setError(null);
      setDeviceId('');
      onCreated({ kind: 'token', secret: r.token, setup: r.setup, deviceId });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label={`New enrollment token for ${system}`}>
      <ComponentSelect components={components} value={component} onChange={setComponent} />
      <label>Token for device id <input value={deviceId} required maxLength={64} onChange={(e) => setDeviceId(e.target.value)} /></label>
      <label>Uses <input type="number" min={1} max={1000} value={uses} onChange={(e) => setUses(Number(e.target.value))} /></label>
      <label>Valid (hours) <input type="number" min={1} max={720} value={hours} onChange={(e) => setHours(Number(e.target.value))} /></label>
      <button type="submit">Create enrollment token</button>
      <ErrorBox error={error} />
      <CliCommand command={`provisio token create --system ${sh(system)} --component ${sh(component)} --id ${sh(deviceId || 'DEVICE-ID')} --uses ${uses} --expires ${hours}h --qr setup.png`} />
    </form>
  );
}
