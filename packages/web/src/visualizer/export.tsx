/** Export: the flow as Mermaid text (shown and copied), and the print view with every step expanded. */
import { useState } from 'react';
import { Link } from '../router';
import { type Flow, toMermaid } from './model/index.js';
import { StepPanel } from './step-panel';
import { Swimlane } from './swimlane';

export function MermaidExport({ method }: { method: Flow }) {
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  const source = toMermaid(method);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(source);
      setCopied('yes');
    } catch {
      // Without clipboard permission the text below can still be selected by hand.
      setCopied('failed');
    }
  };
  return (
    <details className="export">
      <summary>Mermaid sequence diagram</summary>
      <button type="button" className="secondary small" onClick={() => void copy()}>Copy as Mermaid</button>
      <span role="status" className="status">{copied === 'yes' ? ' Copied' : copied === 'failed' ? ' Copy refused by the browser: select the text below' : ''}</span>
      <pre data-testid="mermaid">{source}</pre>
    </details>
  );
}

/** /visualizer/print/<method>: the whole flow on paper. */
export function PrintPage({ method }: { method: Flow }) {
  return (
    <section className="print-view">
      <p className="no-print"><Link to={`/visualizer/${method.id}`}>Back to the swimlanes</Link> · Use the browser&apos;s Print command.</p>
      <h1>{method.name}</h1>
      <p>{method.summary}</p>
      <Swimlane method={method} current={method.steps.length} speed={1} reducedMotion onSelect={() => undefined} showAll />
      {method.steps.map((s, i) => <StepPanel key={s.id} method={method} index={i} headingId={`step-heading-${i + 1}`} />)}
    </section>
  );
}
