// Redaction of captured data before it leaves the process that captured it (design decision
// 11). Shared by the SDK and the proxy, so a path means the same thing in both. A value is
// either removed or replaced by a keyed hash (HMAC-SHA256 with a secret both sides share), so
// a card number never leaves the service yet equal values still compare equal.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { secretSchema } from './settings';

export const REDACTION_MODES = ['remove', 'hash'] as const;
export type RedactionMode = (typeof REDACTION_MODES)[number];

const pathEntry = z.union([z.string().min(1), z.object({ path: z.string().min(1), mode: z.enum(REDACTION_MODES) })]);

export const redactionSchema = z
  .object({
    /** What happens to a matched value unless its entry says otherwise. */
    mode: z.enum(REDACTION_MODES).default('hash'),
    /** The HMAC key for `hash`; the same on every side, or equal values stop comparing equal. */
    secret: secretSchema.optional(),
    /** JSON paths: `card.number`, `*.password` (one level), `**.phone` (any depth). */
    paths: z.array(pathEntry).default([]),
    /** Header names, case-insensitive. */
    headers: z.array(z.string().min(1)).default([]),
  })
  .superRefine((r, ctx) => {
    const hashing = r.mode === 'hash' ? r.paths.some((p) => typeof p === 'string' || p.mode === 'hash') || r.headers.length > 0 : r.paths.some((p) => typeof p !== 'string' && p.mode === 'hash');
    if (hashing && !r.secret) {
      ctx.addIssue({ code: 'custom', path: ['secret'], message: 'is required to hash values: set the same secret on every side (e.g. SHADOWDIFF_REDACT_SECRET)' });
    }
  });

export type RedactionConfig = z.input<typeof redactionSchema>;

interface Pattern {
  readonly segments: readonly string[];
  readonly mode: RedactionMode;
}

export interface Redactor {
  /** True when nothing is configured: callers may skip the walk entirely. */
  readonly empty: boolean;
  /** Redacts configured paths in a freshly built JSON value, in place; returns it. */
  value<T>(value: T): T;
  /** A copy of the headers with configured ones removed or hashed (names lower-cased). */
  headers(headers: Record<string, unknown>): Record<string, unknown>;
}

export const HASH_PREFIX = 'hmac:';

export function createRedactor(config: RedactionConfig = {}): Redactor {
  const c = redactionSchema.parse(config);
  const patterns: Pattern[] = c.paths.map((p) => (typeof p === 'string' ? { segments: p.split('.'), mode: c.mode } : { segments: p.path.split('.'), mode: p.mode }));
  const headerNames = new Set(c.headers.map((h) => h.toLowerCase()));
  const hash = (v: unknown): string => HASH_PREFIX + createHmac('sha256', c.secret ?? '').update(JSON.stringify(v) ?? 'undefined').digest('hex').slice(0, 32);
  const empty = patterns.length === 0 && headerNames.size === 0;

  return {
    empty,
    value<T>(value: T): T {
      if (patterns.length) walk(value, patterns, hash, 0);
      return value;
    },
    headers(headers) {
      const out: Record<string, unknown> = {};
      for (const [name, v] of Object.entries(headers)) {
        const lower = name.toLowerCase();
        if (!headerNames.has(lower)) out[lower] = v;
        else if (c.mode === 'hash') out[lower] = hash(v);
      }
      return out;
    },
  };
}

const MAX_DEPTH = 200;

// Arrays and `$`-operator keys ($set, $and, …) are transparent: `card.number` reaches
// `{$set: {"card.number": …}}` in an update and `items.price` every element of `items`.
function walk(value: unknown, patterns: readonly Pattern[], hash: (v: unknown) => string, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (const item of value) walk(item, patterns, hash, depth + 1);
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key.startsWith('$')) {
      walk(obj[key], patterns, hash, depth + 1);
      continue;
    }
    let next: Pattern[] = patterns as Pattern[];
    let mode: RedactionMode | undefined;
    for (const segment of key.split('.')) {
      const advanced: Pattern[] = [];
      for (const p of next) step(p, segment, advanced);
      next = advanced;
      const done = next.find((p) => p.segments.length === 0);
      if (done) {
        mode = done.mode;
        break;
      }
      if (!next.length) break;
    }
    if (mode === 'remove') delete obj[key];
    else if (mode === 'hash') obj[key] = hash(obj[key]);
    else if (next.length) walk(obj[key], next, hash, depth + 1);
  }
}

function step(p: Pattern, segment: string, out: Pattern[]): void {
  const [head, ...tail] = p.segments;
  if (head === '**') {
    out.push(p); // stays open for deeper keys
    if (tail.length) step({ segments: tail, mode: p.mode }, segment, out);
    else out.push({ segments: [], mode: p.mode });
  } else if (head === '*' || head === segment) {
    out.push({ segments: tail, mode: p.mode });
  }
}
