/** Durations in words: "45 s", "10 min", "1 h", "1 day". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${+(seconds / 3600).toFixed(1)} h`;
  const days = +(seconds / 86400).toFixed(1);
  return `${days} ${days === 1 ? 'day' : 'days'}`;
}
