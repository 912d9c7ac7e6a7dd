// How numbers and values read in every output (terminal, Markdown, JUnit, the pages), so one
// run shows the same figures wherever it is read.

/** A share as a percentage: one decimal, two below 1% so a rare mismatch never reads 0.0%. */
export const percent = (x: number): string => `${(x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1)}%`;

/** A value as one line of JSON, cut to `max` characters; `missing` for undefined. */
export function preview(v: unknown, max: number, missing = '—'): string {
  if (v === undefined) return missing;
  const t = JSON.stringify(v) ?? String(v);
  return t.length > max ? `${t.slice(0, max - 3)}…` : t;
}
