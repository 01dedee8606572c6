/** Small text formatters shared by the commands' human-readable output. */

const DAY_MS = 86_400_000;

/** RFC 3339 in UTC to the second: `2026-06-01T12:00:00Z`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Whole days from `from` to `to`, rounded toward zero. */
export function daysBetween(from: Date, to: Date): number {
  return Math.trunc((to.getTime() - from.getTime()) / DAY_MS);
}

export type ValidityStatus = 'valid' | 'expired' | 'not_yet_valid';

export function validityStatus(notBefore: Date, notAfter: Date, now: Date): ValidityStatus {
  if (now < notBefore) return 'not_yet_valid';
  if (now > notAfter) return 'expired';
  return 'valid';
}

/** "expires in 1825 d", "expired 3 d ago", "not valid for another 2 d". */
export function describeValidity(notBefore: Date, notAfter: Date, now: Date): string {
  switch (validityStatus(notBefore, notAfter, now)) {
    case 'not_yet_valid':
      return `not valid yet, starts in ${daysBetween(now, notBefore)} d`;
    case 'expired':
      return `expired ${daysBetween(notAfter, now)} d ago`;
    default:
      return `expires in ${daysBetween(now, notAfter)} d`;
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
