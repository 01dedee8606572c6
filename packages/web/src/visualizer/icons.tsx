/** Channel icons drawn in SVG (no font needed): a closed padlock for a secure channel, an open one for an insecure channel. */
export function LockIcon({ x, y, secure }: { x: number; y: number; secure: boolean }) {
  // The shackle of the open padlock is lifted and off to one side.
  const shackle = secure ? `M${x - 4} ${y - 1} v-4 a4 4 0 0 1 8 0 v4` : `M${x - 4} ${y - 1} v-7 a4 4 0 0 1 8 0 v2`;
  return (
    <g className={secure ? 'icon icon-secure' : 'icon icon-insecure'} aria-hidden="true">
      <rect x={x - 8} y={y - 13} width={16} height={18} rx={3} className="icon-bg" />
      <path d={shackle} className="icon-shackle" />
      <rect x={x - 6} y={y - 2} width={12} height={8} rx={1.5} className="icon-body" />
    </g>
  );
}

/** A small diamond placed where a message crosses a trust boundary. */
export function CrossingMarker({ x, y }: { x: number; y: number }) {
  return <path d={`M${x} ${y - 6} L${x + 6} ${y} L${x} ${y + 6} L${x - 6} ${y} Z`} className="crossing" aria-hidden="true" />;
}
