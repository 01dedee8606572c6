/**
 * The provisioning flow visualizer (docs/visualizer.md): public pages under /visualizer that need no
 * session and call no API — everything is drawn from the models in ./model — except the replay
 * of a real provisioning, which reads the signed-in user's API.
 */
import { useEffect, useRef } from 'react';
import { Link, useLocation } from '../router';
import { ComparePage } from './compare-page';
import { CredentialsPage } from './credentials-page';
import { PrintPage } from './export';
import { FlowPage } from './flow-page';
import { AssessmentPage, GuidePage } from './guide-page';
import { ReplayPage } from './replay-page';
import { SecurityPage, StandardsPage } from './security-page';
import { TimelinePage } from './timeline-page';
import { findFlow, type Flow, LIFECYCLE_FLOWS, METHODS, PROTOCOL_FLOWS } from './model/index.js';
import './visualizer.css';

export function VisualizerApp() {
  const { path } = useLocation();
  const main = useRef<HTMLElement>(null);
  const rest = path.replace(/^\/visualizer\/?/, '');
  useEffect(() => {
    main.current?.focus();
  }, [path]);

  let page;
  if (rest === '') {
    page = <MethodIndex />;
  } else if (rest === 'compare') {
    page = <ComparePage />;
  } else if (rest === 'assessment') {
    page = <AssessmentPage />;
  } else if (rest === 'guide') {
    page = <GuidePage />;
  } else if (rest.startsWith('replay/')) {
    page = <ReplayPage deviceId={decodeURIComponent(rest.slice('replay/'.length))} />;
  } else if (rest.startsWith('print/')) {
    const method = findFlow(decodeURIComponent(rest.slice('print/'.length)));
    page = method ? <PrintPage method={method} /> : <NotFound />;
  } else if (rest === 'credentials') {
    page = <CredentialsPage />;
  } else if (rest === 'standards') {
    page = <StandardsPage />;
  } else if (rest.startsWith('security/')) {
    const method = findFlow(decodeURIComponent(rest.slice('security/'.length)));
    page = method ? <SecurityPage method={method} /> : <NotFound />;
  } else if (rest.startsWith('timeline/')) {
    const method = findFlow(decodeURIComponent(rest.slice('timeline/'.length)));
    page = method ? <TimelinePage method={method} /> : <NotFound />;
  } else {
    const method = findFlow(decodeURIComponent(rest));
    page = method ? <FlowPage key={method.id} method={method} /> : <NotFound />;
  }
  return (
    <div className="shell visualizer">
      <a className="skip" href="#main">Skip to content</a>
      <header className="top no-print">
        <span className="brand">Provisio · flow visualizer</span>
        <nav aria-label="Visualizer">
          <Link to="/visualizer" aria-current={rest === '' ? 'page' : undefined}>Methods</Link>
          <Link to="/visualizer/compare" aria-current={rest === 'compare' ? 'page' : undefined}>Compare</Link>
          <Link to="/visualizer/assessment" aria-current={rest === 'assessment' ? 'page' : undefined}>Method comparison</Link>
          <Link to="/visualizer/guide" aria-current={rest === 'guide' ? 'page' : undefined}>Which method?</Link>
          <Link to="/visualizer/credentials" aria-current={rest === 'credentials' ? 'page' : undefined}>Credentials</Link>
          <Link to="/visualizer/standards" aria-current={rest === 'standards' ? 'page' : undefined}>Standards</Link>
        </nav>
        <a href="/">Admin UI</a>
      </header>
      <main id="main" ref={main} tabIndex={-1}>{page}</main>
    </div>
  );
}

function MethodIndex() {
  return (
    <section>
      <h1>Provisioning flows</h1>
      <p>
        How a device gets its identity, step by step: who sends what to whom, over which channel, why at that point, and what can go wrong.
        Provisio&apos;s own flows are drawn from what the service and the device SDK really do; the others are generic methods for comparison.
      </p>
      <h2>Provisioning methods</h2>
      <FlowCards flows={METHODS} testId="method-cards" />
      <h2>After provisioning: lifecycle flows</h2>
      <p>What a provisioned device does later with its identity. These are not ways to provision, so the comparison, the guide and the assessment leave them out.</p>
      <FlowCards flows={LIFECYCLE_FLOWS} testId="lifecycle-cards" />
      <h2>Standard protocols: EST, CMP and SCEP</h2>
      <p>A first enrollment by an unmodified client with a one-time token; each step names the route and the client command that runs it.</p>
      <FlowCards flows={PROTOCOL_FLOWS} testId="protocol-cards" />
    </section>
  );
}

function FlowCards({ flows, testId }: { flows: readonly Flow[]; testId: string }) {
  return (
    <ul className="method-cards" data-testid={testId}>
      {flows.map((m) => (
        <li key={m.id}>
          <h3><Link to={`/visualizer/${m.id}`}>{m.name}</Link></h3>
          <p>{m.summary}</p>
          <p className="muted">{m.steps.length} steps · {m.kind === 'provisio' ? 'implemented by Provisio' : 'generic'}</p>
        </li>
      ))}
    </ul>
  );
}

function NotFound() {
  return (
    <section>
      <h1>No such flow</h1>
      <p><Link to="/visualizer">See every flow</Link>.</p>
    </section>
  );
}
