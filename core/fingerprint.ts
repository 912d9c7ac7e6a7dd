// Canonical JSON and fingerprints of effect-format values. A dry-run side that read a document
// without a working pre-state handoff records the document's fingerprint; the comparator takes
// the same fingerprint of the live side's recorded images and tells whether the dry-run read
// the live side's own write. Both sides fingerprint redacted effect-format JSON, so they agree.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted: equal values give equal strings whatever their key order. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** 16 hex digits of SHA-256 over the canonical JSON: equal values, equal fingerprints. */
export function fingerprint(value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 16);
}
