/**
 * Systems, components and packages: admins create them, download a provisioning package (with
 * the warning that it holds a secret) and revoke one; approvers and auditors read.
 */
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { call, getJson, postJson, saveFile, type Session } from '../api';
import { CliCommand, ErrorBox, sh, StateBadge, When } from '../widgets';

interface ComponentInfo { name: string; keyTypes: string[]; validityDays: number }
interface SystemInfo { name: string; allowMock: boolean; components: ComponentInfo[] }
interface PackageInfo { id: string; system: string; status: 'active' | 'revoked'; createdAt: string; expiresAt: string; revokedAt: string | null }

const KEY_TYPES = ['p256', 'p384', 'rsa3072'] as const;
const PACKAGE_REASONS = ['unspecified', 'keyCompromise', 'superseded', 'cessationOfOperation', 'affiliationChanged', 'privilegeWithdrawn'] as const;

export function SystemsPage({ session }: { session: Session }) {
  const isAdmin = session.role === 'admin';
  const [systems, setSystems] = useState<SystemInfo[]>([]);
  const [packages, setPackages] = useState<PackageInfo[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [status, setStatus] = useState('');

  const load = useCallback(async () => {
    try {
      setSystems((await getJson<{ items: SystemInfo[] }>('/api/v1/systems')).items);
      setPackages((await getJson<{ items: PackageInfo[] }>('/api/v1/packages')).items);
    } catch (e) {
      setError(e);
    }
  }, []);
  useEffect(() => {
    void load();
  }, [load]);
  const done = (message: string) => {
    setStatus(message);
    void load();
  };

  return (
    <section>
      <h1>Systems and packages</h1>
      <p role="status" className="status">{status}</p>
      <ErrorBox error={error} />
      {isAdmin ? <NewSystem onDone={done} /> : null}
      {systems.map((s) => (
        <article key={s.name} className="card" aria-labelledby={`system-${s.name}`}>
          <h2 id={`system-${s.name}`}>{s.name}</h2>
          <p className="muted">{s.allowMock ? 'Accepts mock device files.' : 'Refuses mock device files.'}</p>
          <table className="table">
            <caption className="sr-only">Components of {s.name}</caption>
            <thead><tr><th scope="col">Component</th><th scope="col">Key types</th><th scope="col">Certificate validity</th><th scope="col">Approval policy</th></tr></thead>
            <tbody>
              {s.components.map((c) => (
                <tr key={c.name}>
                  <td>{c.name}</td><td>{c.keyTypes.join(', ')}</td><td>{c.validityDays} days</td>
                  <td><Policy system={s.name} component={c.name} canSet={isAdmin} onDone={done} /></td>
                </tr>
              ))}
            </tbody>
          </table>
          {s.components.length === 0 ? <p>No component yet: devices of this system cannot be provisioned.</p> : null}
          {isAdmin ? <NewComponent system={s.name} onDone={done} /> : null}
          {isAdmin ? <NewPackage system={s.name} onDone={done} /> : null}
        </article>
      ))}
      <h2>Provisioning packages</h2>
      <table className="table">
        <thead><tr><th scope="col">Package</th><th scope="col">System</th><th scope="col">Status</th><th scope="col">Created</th><th scope="col">Expires</th>{isAdmin ? <th scope="col">Revoke</th> : null}</tr></thead>
        <tbody>
          {packages.map((p) => (
            <tr key={p.id} data-package={p.id}>
              <td><code>{p.id}</code></td><td>{p.system}</td><td><StateBadge state={p.status} /></td><td><When at={p.createdAt} /></td><td><When at={p.expiresAt} /></td>
              {isAdmin ? <td>{p.status === 'active' ? <RevokePackage id={p.id} onDone={done} /> : <When at={p.revokedAt} />}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface PolicyAnswer {
  effectiveMode: 'manual' | 'automatic';
  effective: { scope: 'system' | 'component'; rules: Record<string, unknown> } | null;
}

/** A component's approval policy in effect, and (admins) a form to set the component's own. */
function Policy({ system, component, canSet, onDone }: { system: string; component: string; canSet: boolean; onDone: (m: string) => void }) {
  const path = `/api/v1/systems/${encodeURIComponent(system)}/components/${encodeURIComponent(component)}/policy`;
  const [policy, setPolicy] = useState<PolicyAnswer | null>(null);
  const [mode, setMode] = useState<'manual' | 'automatic'>('manual');
  const [pattern, setPattern] = useState('');
  const [maxPerHour, setMaxPerHour] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    getJson<PolicyAnswer>(path).then(setPolicy, setError);
  }, [path, tick]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const rules: Record<string, unknown> = {};
    if (pattern) rules.deviceIdPattern = pattern;
    if (maxPerHour) rules.maxPerHour = Number(maxPerHour);
    try {
      await postJson(path, { mode, rules });
      setError(null);
      setTick((n) => n + 1);
      onDone(`Set the approval policy of ${system} / ${component} to ${mode}.`);
    } catch (err) {
      setError(err);
    }
  };

  const cli = `provisio policy set --system ${sh(system)} --component ${sh(component)} --mode ${mode}${pattern ? ` --device-id-pattern ${sh(pattern)}` : ''}${maxPerHour ? ` --max-per-hour ${maxPerHour}` : ''}`;
  return (
    <div className="policy">
      <span data-testid={`policy-${component}`}>
        {policy ? (policy.effectiveMode === 'manual' ? 'manual: an approver decides' : `automatic (${policy.effective?.scope ?? ''} policy): ${JSON.stringify(policy.effective?.rules ?? {})}`) : '…'}
      </span>
      {canSet ? (
        <details>
          <summary>Change<span className="sr-only"> the policy of {component}</span></summary>
          <form onSubmit={(e) => void submit(e)} aria-label={`Approval policy of ${component}`}>
            <label>Mode <select value={mode} onChange={(e) => setMode(e.target.value as 'manual' | 'automatic')}><option value="manual">manual</option><option value="automatic">automatic</option></select></label>
            <label>Device id pattern <input value={pattern} placeholder="^ZM-[0-9]{6}$" onChange={(e) => setPattern(e.target.value)} /></label>
            <label>At most per hour <input type="number" min={1} value={maxPerHour} onChange={(e) => setMaxPerHour(e.target.value)} /></label>
            <button type="submit" className="small">Set policy</button>
            <ErrorBox error={error} />
            <CliCommand command={cli} />
          </form>
        </details>
      ) : null}
    </div>
  );
}

function NewSystem({ onDone }: { onDone: (m: string) => void }) {
  const [name, setName] = useState('');
  const [allowMock, setAllowMock] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await postJson('/api/v1/systems', { name, allowMock });
      setError(null);
      setName('');
      onDone(`Created system ${name}.`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label="New system">
      <label>New system <input value={name} required maxLength={64} onChange={(e) => setName(e.target.value)} /></label>
      <label className="check"><input type="checkbox" checked={allowMock} onChange={(e) => setAllowMock(e.target.checked)} /> accept mock device files</label>
      <button type="submit">Create system</button>
      <ErrorBox error={error} />
      <CliCommand command={`provisio system create ${sh(name || 'NAME')}${allowMock ? '' : ' --no-mock'}`} />
    </form>
  );
}

function NewComponent({ system, onDone }: { system: string; onDone: (m: string) => void }) {
  const [name, setName] = useState('');
  const [keyTypes, setKeyTypes] = useState<string[]>(['p256']);
  const [days, setDays] = useState(365);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await postJson(`/api/v1/systems/${encodeURIComponent(system)}/components`, { name, keyTypes, validityDays: days });
      setError(null);
      setName('');
      onDone(`Created component ${name} of ${system}.`);
    } catch (err) {
      setError(err);
    }
  };
  const toggle = (k: string) => setKeyTypes((old) => (old.includes(k) ? old.filter((x) => x !== k) : [...old, k]));
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label={`New component of ${system}`}>
      <label>New component <input value={name} required maxLength={64} onChange={(e) => setName(e.target.value)} /></label>
      <fieldset>
        <legend>Key types</legend>
        {KEY_TYPES.map((k) => <label key={k} className="check"><input type="checkbox" checked={keyTypes.includes(k)} onChange={() => toggle(k)} /> {k}</label>)}
      </fieldset>
      <label>Validity (days) <input type="number" min={1} max={825} value={days} onChange={(e) => setDays(Number(e.target.value))} /></label>
      <button type="submit">Create component</button>
      <ErrorBox error={error} />
      <CliCommand command={`provisio component create --system ${sh(system)} ${sh(name || 'NAME')} --key-type ${keyTypes.join(',') || 'p256'} --validity-days ${days}`} />
    </form>
  );
}

function NewPackage({ system, onDone }: { system: string; onDone: (m: string) => void }) {
  const [days, setDays] = useState(30);
  const [error, setError] = useState<unknown>(null);
  const file = `${system.toLowerCase().replace(/[^a-z0-9._-]+/g, '-')}.ppkg`;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const response = await call('POST', '/api/v1/packages', { json: { system, days } });
      saveFile(file, await response.blob());
      setError(null);
      onDone(`Created package ${response.headers.get('x-package-id') ?? ''} for ${system}; saved as ${file}.`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="inline-form" onSubmit={(e) => void submit(e)} aria-label={`New package for ${system}`}>
      <p className="warning" role="note">
        <strong>Secret:</strong> a provisioning package holds the bootstrap key that signs requests. It is shown once: keep the file
        on the provisioning station only (mode 0600), never in e-mail or a ticket; revoke it if it leaks.
      </p>
      <label>Package lifetime (days) <input type="number" min={1} max={365} value={days} onChange={(e) => setDays(Number(e.target.value))} /></label>
      <button type="submit">Create and download package</button>
      <ErrorBox error={error} />
      <CliCommand command={`provisio package create --system ${sh(system)} --days ${days} --out ${sh(file)}`} />
    </form>
  );
}

function RevokePackage({ id, onDone }: { id: string; onDone: (m: string) => void }) {
  const [reason, setReason] = useState<string>('unspecified');
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await postJson(`/api/v1/packages/${encodeURIComponent(id)}/revoke`, { reason });
      onDone(`Revoked package ${id}.`);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="revoke-package" onSubmit={(e) => void submit(e)} aria-label={`Revoke package ${id}`}>
      <label>Reason <select value={reason} onChange={(e) => setReason(e.target.value)}>{PACKAGE_REASONS.map((r) => <option key={r} value={r}>{r}</option>)}</select></label>
      <label>Type the package id to confirm <input value={confirm} autoComplete="off" onChange={(e) => setConfirm(e.target.value)} /></label>
      <button type="submit" className="danger small" disabled={confirm !== id}>Revoke</button>
      <ErrorBox error={error} />
      <CliCommand command={`provisio package revoke ${id} --reason ${reason}`} />
    </form>
  );
}
