/** The legend: line style and icon, never colour alone, tell a secure channel from an insecure one. */
import { CrossingMarker, LockIcon } from './icons';

export function Legend() {
  return (
    <section className="legend" aria-labelledby="legend-heading" data-testid="legend">
      <h2 id="legend-heading">Legend</h2>
      <ul>
        <li>
          <svg width="90" height="28" aria-hidden="true"><line x1="4" y1="10" x2="60" y2="10" className="legend-line channel-secure" /><LockIcon x={76} y={18} secure /></svg>
          <span>Secure channel: solid line, closed padlock (e.g. mutual TLS, offline signed file)</span>
        </li>
        <li>
          <svg width="90" height="28" aria-hidden="true"><line x1="4" y1="10" x2="60" y2="10" className="legend-line channel-insecure" /><LockIcon x={76} y={18} secure={false} /></svg>
          <span>Insecure channel: dashed line, open padlock (e.g. plaintext BLE, printed QR code, unsigned file with a secret)</span>
        </li>
        <li>
          <svg width="90" height="28" aria-hidden="true"><CrossingMarker x={20} y={14} /></svg>
          <span>The message crosses a trust boundary (between the shaded zone bands)</span>
        </li>
      </ul>
    </section>
  );
}
