/** Small text formatters shared by the commands' human-readable output. */

const DAY_MS = 86_400_000;

/** RFC 3339 in UTC to the second: `2026-06-01T12:00:00Z`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export type ValidityStatus = 'valid' | 'expired' | 'not_yet_valid';

export function validityStatus(notBefore: Date, notAfter: Date, now: Date): ValidityStatus {
  if (now < notBefore) return 'not_yet_valid';
  if (now > notAfter) return 'expired';
  return 'valid';
}

/** A span for people: whole days from two days up, hours below that, minutes below an hour. */
export function humanDuration(from: Date, to: Date): string {
  const ms = Math.abs(to.getTime() - from.getTime());
  if (ms >= 2 * DAY_MS) return `${Math.trunc(ms / DAY_MS)} d`;
  if (ms >= 3_600_000) return `${Math.trunc(ms / 3_600_000)} h`;
  return `${Math.trunc(ms / 60_000)} min`;
}

/** "expires in 1825 d", "expired 3 d ago", "not valid yet, starts in 2 h". */
export function describeValidity(notBefore: Date, notAfter: Date, now: Date): string {
  switch (validityStatus(notBefore, notAfter, now)) {
    case 'not_yet_valid':
      return `not valid yet, starts in ${humanDuration(now, notBefore)}`;
    case 'expired':
      return `expired ${humanDuration(notAfter, now)} ago`;
    default:
      return `expires in ${humanDuration(now, notAfter)}`;
  }
}

/** `label   value` lines with the labels padded to one column; empty values are left out. */
export function fieldLines(fields: ReadonlyArray<readonly [string, string | readonly string[] | null]>): string[] {
  const shown = fields.filter(([, v]) => v !== null && (typeof v === 'string' ? v !== '' : v.length > 0));
  const width = Math.max(0, ...shown.map(([label]) => label.length)) + 2;
  const lines: string[] = [];
  for (const [label, value] of shown) {
    const values = typeof value === 'string' ? [value] : (value as readonly string[]);
    values.forEach((v, i) => {
      lines.push(`  ${(i === 0 ? label : '').padEnd(width)}${v}`);
    });
  }
  return lines;
}

/** Shell-quotes a path for a suggested command line, only when it needs it. */
export function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
