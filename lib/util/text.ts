// Quoting user-supplied text in messages: at most a short prefix, so a bad 100 MB value cannot
// flood a log.

/** `s` as a JSON string of at most `max` characters, with the full length when it was cut. */
export function preview(s: string, max = 60): string {
  if (s.length <= max) return JSON.stringify(s);
  return `${JSON.stringify(s.slice(0, max))}... (${s.length} characters)`;
}
