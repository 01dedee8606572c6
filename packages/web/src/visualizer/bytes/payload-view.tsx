/**
 * The signed provisioning payload of the pairing-code flow (docs/formats.md "Pairing payload"):
 * its fields as JSON, the detached JWS signature's protected header and bytes, and the
 * certificates inside it (clientCertificate, caCertificate, the header's x5c) in the byte view.
 * Display only: the device verifies (protocol/pairing-payload.ts); this shows.
 */
import { hex } from './der-tree';
import { EmbeddedBytes, type EmbeddedDer, fromBase64 } from './jws-view';

/** The DER of a PEM certificate (its base64 body). */
export function pemToDer(pem: string): Uint8Array {
  return fromBase64(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, ''));
}

export function PairingPayloadView({ payload }: { payload: Record<string, string> }) {
  const [protectedPart = '', , signature = ''] = (payload.signature ?? '').split('.');
  let header: Record<string, unknown> = {};
  try {
    header = JSON.parse(new TextDecoder().decode(fromBase64(protectedPart))) as Record<string, unknown>;
  } catch {
    return <p className="note">The payload&apos;s signature is not a JWS this view can decode.</p>;
  }
  const sig = fromBase64(signature);
  const items: EmbeddedDer[] = [];
  if (payload.clientCertificate) items.push({ label: 'clientCertificate (device certificate)', structure: 'certificate', der: pemToDer(payload.clientCertificate) });
  if (payload.caCertificate) items.push({ label: 'caCertificate (issuing CA)', structure: 'certificate', der: pemToDer(payload.caCertificate) });
  if (Array.isArray(header.x5c)) header.x5c.forEach((c, i) => typeof c === 'string' && items.push({ label: `signature header x5c[${i}] (${i === 0 ? 'profile signer' : 'issuing CA'})`, structure: 'certificate', der: fromBase64(c) }));
  return (
    <div className="jws-view" data-testid="payload-view">
      <h5>The payload (JSON; every field but signature is signed, in its canonical form: members sorted, no whitespace, RFC 8785)</h5>
      <pre className="json" data-testid="payload-json">{JSON.stringify(payload, null, 2)}</pre>
      <h5>signature: a JWS with a detached payload (RFC 7515 Appendix F)</h5>
      <p className="muted">Protected header:</p>
      <pre className="json" data-testid="payload-header">{JSON.stringify(header, null, 2)}</pre>
      <p className="muted">Signature, {sig.length} bytes{sig.length === 64 || sig.length === 96 ? ' (r ‖ s, RFC 7518 §3.4)' : ''}:</p>
      <code className="wrap">{hex(sig)}</code>
      <EmbeddedBytes items={items} label="payload" />
    </div>
  );
}
