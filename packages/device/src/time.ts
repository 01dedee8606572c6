/** RFC 3339 in UTC to the second: `2026-06-01T12:00:00Z` (the form every Provisio format uses). */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
