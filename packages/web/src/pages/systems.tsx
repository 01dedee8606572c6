/**
 * Systems, components and packages: admins create them, download a provisioning package (with
 * the warning that it holds a secret) and revoke one, and manage the system's pairing codes and
 * enrollment tokens (enrollment-secrets.tsx); approvers and auditors read.
 */
import { type FormEvent, useCallback, useEffect, useState } from 'react';
import { call, getJson, patchJson, postJson, saveFile, type Session } from '../api';
import { CliCommand, ErrorBox, sh, StateBadge, When } from '../widgets';
import { EnrollmentSecrets } from './enrollment-secrets';

interface ComponentInfo { name: string; keyTypes: string[]; validityDays: number }
interface SystemInfo { name: string; allowMock: boolean; separationOfDuties: boolean; components: ComponentInfo[] }
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
          <MockSetting system={s.name} allowMock={s.allowMock} canSet={isAdmin} onDone={done} />
          <p className="muted" data-testid={`duties-${s.name}`}>
            {s.separationOfDuties ? 'Separation of duties: the person who uploads a request may not approve it.' : 'Separation of duties is off: the person who uploads a request may approve it too.'}
          </p>
          {isAdmin ? <CliCommand command={`provisio system update ${sh(s.name)} --separation-of-duties ${s.separationOfDuties ? 'off' : 'on'}`} /> : null}
          <h3>Approval policy of the system</h3>
          <Policy system={s.name} canSet={isAdmin} onDone={done} />
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
          <EnrollmentSecrets system={s.name} components={s.components.map((c) => c.name)} isAdmin={isAdmin} onDone={setStatus} />
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

interface PolicyRules { deviceIdPattern?: string; serialAllowList?: string[]; transports?: string[]; maxPerHour?: number; packageIds?: string[] }
interface PolicyAnswer {
  policy: { mode: 'manual' | 'automatic'; rules: PolicyRules } | null;
  effectiveMode: 'manual' | 'automatic';
  effective: { scope: 'system' | 'component'; rules: PolicyRules } | null;
}

const TRANSPORTS = ['upload', 'connected', 'proxy'] as const;
/** A list typed as "a, b" or one per line. */
const listOf = (text: string) => text.split(/[\s,]+/).filter(Boolean);

function describeRules(r: PolicyRules): string {
  const parts = [
    r.deviceIdPattern ? `id matches ${r.deviceIdPattern}` : '',
    r.serialAllowList ? `serial in ${r.serialAllowList.length} allowed` : '',
    r.transports ? `by ${r.transports.join(' or ')}` : '',
    r.maxPerHour ? `at most ${r.maxPerHour}/hour` : '',
    r.packageIds ? `packages ${r.packageIds.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'no rules';
}

/**
 * The approval policy in effect for a system or one of its components, and (admins) a form to
 * set that scope's own with every rule (docs/service.md "Approval policies").
 */
function Policy({ system, component, canSet, onDone }: { system: string; component?: string; canSet: boolean; onDone: (m: string) => void }) {
  const base = `/api/v1/systems/${encodeURIComponent(system)}`;
  const path = component === undefined ? `${base}/policy` : `${base}/components/${encodeURIComponent(component)}/policy`;
  const scopeName = component ?? `system ${system}`;
  const [policy, setPolicy] = useState<PolicyAnswer | null>(null);
  const [mode, setMode] = useState<'manual' | 'automatic'>('manual');
  const [pattern, setPattern] = useState('');
  const [serials, setSerials] = useState('');
  const [transports, setTransports] = useState<readonly string[]>([]);
  const [maxPerHour, setMaxPerHour] = useState('');
  const [packageIds, setPackageIds] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    getJson<PolicyAnswer>(path).then((answer) => {
      setPolicy(answer);
      // The form starts from this scope's own policy, so changing one rule keeps the others.
      const own = answer.policy;
      if (own && tick === 0) {
        setMode(own.mode);
        setPattern(own.rules.deviceIdPattern ?? '');
        setSerials((own.rules.serialAllowList ?? []).join(', '));
        setTransports(own.rules.transports ?? []);
        setMaxPerHour(own.rules.maxPerHour ? String(own.rules.maxPerHour) : '');
        setPackageIds((own.rules.packageIds ?? []).join(', '));
      }
    }, setError);
  }, [path, tick]);

  const rules: PolicyRules = {
    ...(pattern ? { deviceIdPattern: pattern } : {}),
    ...(listOf(serials).length ? { serialAllowList: listOf(serials) } : {}),
    ...(transports.length ? { transports: [...transports] } : {}),
    ...(maxPerHour ? { maxPerHour: Number(maxPerHour) } : {}),
    ...(listOf(packageIds).length ? { packageIds: listOf(packageIds) } : {}),
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await postJson(path, { mode, rules });
      setError(null);
      setTick((n) => n + 1);
      onDone(`Set the approval policy of ${system}${component === undefined ? '' : ` / ${component}`} to ${mode}.`);
    } catch (err) {
      setError(err);
    }
  };
  const toggle = (t: string) => setTransports((old) => (old.includes(t) ? old.filter((x) => x !== t) : [...old, t]));

  const cli = [
    `provisio policy set --system ${sh(system)}${component === undefined ? '' : ` --component ${sh(component)}`} --mode ${mode}`,
    rules.deviceIdPattern ? ` --device-id-pattern ${sh(rules.deviceIdPattern)}` : '',
    rules.serialAllowList ? ` --serials ${sh(rules.serialAllowList.join(','))}` : '',
    rules.transports ? ` --transports ${rules.transports.join(',')}` : '',
    rules.maxPerHour ? ` --max-per-hour ${rules.maxPerHour}` : '',
    rules.packageIds ? ` --packages ${sh(rules.packageIds.join(','))}` : '',
  ].join('');
  const testId = component === undefined ? `system-policy-${system}` : `policy-${component}`;
  return (
    <div className="policy">
      <span data-testid={testId}>
        {policy ? (policy.effectiveMode === 'manual' ? 'manual: an approver decides' : `automatic (${policy.effective?.scope ?? ''} policy): ${describeRules(policy.effective?.rules ?? {})}`) : '…'}
      </span>
      {canSet ? (
        <details>
          <summary>Change<span className="sr-only"> the policy of {scopeName}</span></summary>
          <form onSubmit={(e) => void submit(e)} aria-label={`Approval policy of ${scopeName}`} className="policy-form">
            <label>Mode <select value={mode} onChange={(e) => setMode(e.target.value as 'manual' | 'automatic')}><option value="manual">manual</option><option value="automatic">automatic</option></select></label>
            <label>Device id pattern <input value={pattern} placeholder="^ZM-[0-9]{6}$" onChange={(e) => setPattern(e.target.value)} /></label>
            <label>Allowed hardware serials <input value={serials} placeholder="SN-1, SN-2" onChange={(e) => setSerials(e.target.value)} /></label>
            <fieldset>
              <legend>Delivered by</legend>
              {TRANSPORTS.map((t) => <label key={t}><input type="checkbox" checked={transports.includes(t)} onChange={() => toggle(t)} /> {t}</label>)}
            </fieldset>
            <label>At most per hour <input type="number" min={1} value={maxPerHour} onChange={(e) => setMaxPerHour(e.target.value)} /></label>
            <label>Allowed packages <input value={packageIds} placeholder="pkg_…, pkg_…" onChange={(e) => setPackageIds(e.target.value)} /></label>
            <button type="submit" className="small">Set policy</button>
            <ErrorBox error={error} />
            <CliCommand command={cli} />
          </form>
        </details>
      ) : null}
    </div>
  );
}

/** Whether the system accepts mock device files: a switch for admins (PATCH /api/v1/systems/{name}). */
function MockSetting({ system, allowMock, canSet, onDone }: { system: string; allowMock: boolean; canSet: boolean; onDone: (m: string) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const change = async () => {
    setBusy(true);
    try {
      await patchJson(`/api/v1/systems/${encodeURIComponent(system)}`, { allowMock: !allowMock });
      setError(null);
      onDone(`${system} ${allowMock ? 'refuses' : 'accepts'} mock device files now.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <p className="muted" data-testid={`mock-${system}`}>{allowMock ? 'Accepts mock device files.' : 'Refuses mock device files.'}</p>
      {canSet ? (
        <button type="button" className="secondary small" disabled={busy} onClick={() => void change()}>
          {allowMock ? 'Refuse' : 'Accept'} mock device files<span className="sr-only"> for {system}</span>
        </button>
      ) : null}
      {canSet ? <CliCommand command={`provisio system update ${sh(system)} ${allowMock ? '--no-mock' : '--allow-mock'}`} /> : null}
      <ErrorBox error={error} />
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
