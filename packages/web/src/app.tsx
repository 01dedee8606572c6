/** The shell: the session, role-shaped navigation and the pages. */
import { useEffect, useRef, useState } from 'react';
import { ApiError, call, currentSession, type Role, type Session, setCsrfToken } from './api';
import { Link, navigate, useLocation } from './router';
import { SignIn } from './pages/sign-in';
import { DevicesPage } from './pages/devices';
import { DeviceDetailPage } from './pages/device-detail';
import { forgetUploads, ProvisioningPage } from './pages/provisioning';
import { DashboardPage } from './pages/dashboard';
import { AuditPage } from './pages/audit';
import { SystemsPage } from './pages/systems';
import { CaPage } from './pages/ca';
import { OnboardPage } from './pages/onboard';
import { ErrorBox } from './widgets';

interface NavItem {
  readonly to: string;
  readonly label: string;
  readonly roles: readonly Role[];
}

/** Who sees what (docs/web.md): a technician provisions only; an auditor reads only. */
export const NAV: readonly NavItem[] = [
  { to: '/dashboard', label: 'Dashboard', roles: ['admin', 'approver', 'auditor'] },
  { to: '/devices', label: 'Devices', roles: ['admin', 'approver', 'auditor'] },
  { to: '/provisioning', label: 'Provisioning', roles: ['admin', 'technician'] },
  { to: '/systems', label: 'Systems', roles: ['admin', 'approver', 'auditor'] },
  { to: '/ca', label: 'CA', roles: ['admin', 'approver', 'auditor'] },
  { to: '/audit', label: 'Audit', roles: ['admin', 'auditor'] },
  { to: '/onboard', label: 'Onboard', roles: ['admin', 'approver', 'technician'] },
];

export function homeOf(role: Role): string {
  return role === 'technician' ? '/provisioning' : '/dashboard';
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const { path } = useLocation();
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    currentSession().then((s) => {
      setCsrfToken(s?.csrfToken ?? null);
      setSession(s);
    }, (e: unknown) => setError(e));
  }, []);

  // Focus moves to the page's main region on navigation, for keyboard and screen reader users.
  useEffect(() => {
    main.current?.focus();
  }, [path]);

  const signedIn = (s: Session) => {
    setCsrfToken(s.csrfToken);
    setSession(s);
    if (path === '/' || path === '/sign-in') navigate(homeOf(s.role), true);
  };

  const signOut = async () => {
    try {
      await call('DELETE', '/api/v1/session');
    } catch (e) {
      // An ended session is signed out already.
      if (!(e instanceof ApiError && e.status === 401)) {
        setError(e);
        return;
      }
    }
    forgetUploads();
    setCsrfToken(null);
    setSession(null);
    navigate('/', true);
  };

  if (session === undefined) return error ? <ErrorBox error={error} /> : <p className="loading">Loading…</p>;
  if (session === null) return <SignIn onSignedIn={signedIn} />;

  const items = NAV.filter((n) => n.roles.includes(session.role));
  const allowed = (prefix: string) => items.some((n) => n.to === prefix);
  let page;
  if (path === '/' || path === '/sign-in') {
    page = <Redirect to={homeOf(session.role)} />;
  } else if (path === '/dashboard' && allowed('/dashboard')) {
    page = <DashboardPage session={session} />;
  } else if (path === '/systems' && allowed('/systems')) {
    page = <SystemsPage session={session} />;
  } else if (path === '/ca' && allowed('/ca')) {
    page = <CaPage />;
  } else if (path === '/audit' && allowed('/audit')) {
    page = <AuditPage />;
  } else if (path === '/devices' && allowed('/devices')) {
    page = <DevicesPage session={session} />;
  } else if (path.startsWith('/devices/') && allowed('/devices')) {
    page = <DeviceDetailPage session={session} deviceId={decodeURIComponent(path.slice('/devices/'.length))} />;
  } else if (path === '/onboard' && allowed('/onboard')) {
    page = <OnboardPage session={session} />;
  } else if (path === '/provisioning' && allowed('/provisioning')) {
    page = <ProvisioningPage user={session.username} />;
  } else {
    page = (
      <section>
        <h1>Not available</h1>
        <p>This page does not exist or your role ({session.role}) may not use it.</p>
      </section>
    );
  }

  return (
    <div className="shell">
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <span className="brand">Provisio</span>
        <nav aria-label="Main">
          {items.map((n) => (
            <Link key={n.to} to={n.to} aria-current={path === n.to || path.startsWith(`${n.to}/`) ? 'page' : undefined}>{n.label}</Link>
          ))}
        </nav>
        <span className="who" data-testid="who">
          {session.username} <span className="role">({session.role})</span>
        </span>
        <button type="button" className="secondary" onClick={() => void signOut()}>Sign out</button>
      </header>
      <ErrorBox error={error} />
      <main id="main" ref={main} tabIndex={-1}>{page}</main>
    </div>
  );
}

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}
