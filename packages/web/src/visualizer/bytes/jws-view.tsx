/**
 * A signed Provisio file decoded (docs/formats.md): each signature's protected header, the
 * payload as JSON, the signature bytes in hex; and the DER inside it (the CSR, the x5c and chain
 * certificates) in the byte view. Display only: the service and the device verify; this shows.
 */
import { useState } from 'react';
import { ByteView } from './byte-view';
import { hex } from './der-tree';
import type { Structure } from './der-tree';

interface Jws { payload: string; signatures: { protected: string; signature: string }[] }
export interface EmbeddedDer { readonly label: string; readonly structure: Structure; readonly der: Uint8Array }

export function fromBase64(text: string): Uint8Array {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const utf8 = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** The general JSON serialization (a request, a profile) or a compact one (a renewal, a proof). */
export function parseJws(text: string): Jws {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as Jws;
  const [protectedPart = '', payload = '', signature = ''] = trimmed.split('.');
  return { payload, signatures: [{ protected: protectedPart, signature }] };
}

/** The DER values a request or profile carries, by where they sit. */
export function embeddedDer(headers: readonly Record<string, unknown>[], payload: Record<string, unknown>): EmbeddedDer[] {
  const out: EmbeddedDer[] = [];
  if (typeof payload.csr === 'string') out.push({ label: 'payload.csr (CSR)', structure: 'csr', der: fromBase64(payload.csr) });
  if (Array.isArray(payload.certificateChain)) {
    payload.certificateChain.forEach((c, i) => typeof c === 'string' && out.push({ label: `payload.certificateChain[${i}] (${i === 0 ? 'device certificate' : 'CA certificate'})`, structure: 'certificate', der: fromBase64(c) }));
  }
  headers.forEach((h, s) => {
    if (Array.isArray(h.x5c)) h.x5c.forEach((c, i) => typeof c === 'string' && out.push({ label: `signatures[${s}] header x5c[${i}] (certificate)`, structure: 'certificate', der: fromBase64(c) }));
  });
  return out;
}

export function JwsView({ text, label }: { text: string; label: string }) {
  let jws: Jws;
  let payload: Record<string, unknown>;
  let headers: Record<string, unknown>[];
  try {
    jws = parseJws(text);
    payload = JSON.parse(utf8(fromBase64(jws.payload))) as Record<string, unknown>;
    headers = jws.signatures.map((s) => JSON.parse(utf8(fromBase64(s.protected))) as Record<string, unknown>);
  } catch {
    return <p className="note">{label}: not a JWS this view can decode.</p>;
  }
  return (
    <div className="jws-view" data-testid="jws-view">
      <h5>Payload (JSON, signed by every signature)</h5>
      <pre className="json" data-testid="jws-payload">{JSON.stringify(payload, null, 2)}</pre>
      {jws.signatures.map((s, i) => {
        const sig = fromBase64(s.signature);
        return (
          <div key={s.signature} className="jws-signature">
            <h5>Signature {i + 1} of {jws.signatures.length}{typeof headers[i]?.kid === 'string' ? ` (${headers[i]?.kid as string})` : ''}</h5>
            <p className="muted">Protected header:</p>
            <pre className="json" data-testid="jws-header">{JSON.stringify(headers[i], null, 2)}</pre>
            <p className="muted">Signature, {sig.length} bytes{sig.length === 64 || sig.length === 96 ? ' (r ‖ s, RFC 7518 §3.4)' : ''}:</p>
            <code className="wrap" data-testid="jws-signature">{hex(sig)}</code>
          </div>
        );
      })}
      <EmbeddedBytes items={embeddedDer(headers, payload)} label={label} />
    </div>
  );
}

export function EmbeddedBytes({ items, label }: { items: readonly EmbeddedDer[]; label: string }) {
  const [index, setIndex] = useState(0);
  const item = items[index] ?? items[0];
  if (!item) return null;
  return (
    <div className="embedded-der">
      <label>
        DER inside the {label}{' '}
        <select value={index} onChange={(e) => setIndex(Number(e.target.value))} data-testid="der-choice">
          {items.map((d, i) => <option key={d.label} value={i}>{d.label}</option>)}
        </select>
      </label>
      <ByteView key={item.label} der={item.der} structure={item.structure} label={item.label} />
    </div>
  );
}
