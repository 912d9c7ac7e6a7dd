// Redaction of captured data before it leaves the process that captured it (design decision
// 11). Shared by the SDK and the proxy, so a path means the same thing in both. A value is
// either removed or replaced by a keyed hash (HMAC-SHA256 with a secret both sides share), so
// a card number never leaves the service yet equal values still compare equal.
import { createHmac } from 'node:crypto';
import { z } from 'zod';
import { sha256 } from './body';
import { isEscapedKey } from './effect-value';
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
    /** Header names, case-insensitive; query parameters of these names are redacted too. */
    headers: z.array(z.string().min(1)).default([]),
    /** Query parameter names, case-insensitive (`token`, `api_key`); `paths` reach them as well, as form fields. */
    query: z.array(z.string().min(1)).default([]),
  })
  .superRefine((r, ctx) => {
    const hashing = r.mode === 'hash' ? r.paths.some((p) => typeof p === 'string' || p.mode === 'hash') || r.headers.length > 0 || r.query.length > 0 : r.paths.some((p) => typeof p !== 'string' && p.mode === 'hash');
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
  /**
   * A path or URL with its query parameters redacted: by name (`query` and `headers`), or by
   * `paths` as a form's fields are (`card[number]=…` is `card.number`).
   */
  url(url: string): string;
  /** The hash of a body that is not kept: keyed with the secret where one is set. */
  digest(bytes: Uint8Array): string;
}

export const HASH_PREFIX = 'hmac:';

export function createRedactor(config: RedactionConfig = {}): Redactor {
  const c = redactionSchema.parse(config);
  const patterns: Pattern[] = c.paths.map((p) => (typeof p === 'string' ? { segments: p.split('.'), mode: c.mode } : { segments: p.path.split('.'), mode: p.mode }));
  const headerNames = new Set(c.headers.map((h) => h.toLowerCase()));
  const queryNames = new Set([...headerNames, ...c.query.map((q) => q.toLowerCase())]);
  const hash = (v: unknown): string => HASH_PREFIX + createHmac('sha256', c.secret ?? '').update(JSON.stringify(v) ?? 'undefined').digest('hex').slice(0, 32);
  const empty = patterns.length === 0 && queryNames.size === 0;
  const secret = c.secret;

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
    url(url) {
      const q = url.indexOf('?');
      if (q === -1 || empty) return url;
      const kept: string[] = [];
      for (const part of url.slice(q + 1).split('&')) {
        const eq = part.indexOf('=');
        const rawName = eq === -1 ? part : part.slice(0, eq);
        const name = decodeQuery(rawName);
        const mode = queryNames.has(name.toLowerCase()) ? c.mode : advance(patterns, formSegments(name)).mode;
        if (mode === undefined) kept.push(part);
        else if (mode === 'hash') kept.push(`${rawName}=${hash(decodeQuery(eq === -1 ? '' : part.slice(eq + 1)))}`);
      }
      return kept.length ? `${url.slice(0, q)}?${kept.join('&')}` : url.slice(0, q);
    },
    digest(bytes) {
      return secret ? HASH_PREFIX + createHmac('sha256', secret).update(bytes).digest('hex') : sha256(bytes);
    },
  };
}

function decodeQuery(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

/**
 * A form field's name as path segments: `card[number]` → card, number; `items[]` and `items[0]`
 * → items (an index is transparent, as arrays are in a body).
 */
function formSegments(name: string): string[] {
  const open = name.indexOf('[');
  if (open <= 0) return name.split('.');
  const out = name.slice(0, open).split('.');
  for (const m of name.slice(open).matchAll(/\[([^\]]*)\]/g)) if (m[1] && !/^\d+$/.test(m[1])) out.push(m[1]);
  return out;
}

/**
 * The patterns stepped through a key's segments: the mode of the first one they complete, or
 * the patterns still open below the key (for its value's keys).
 */
function advance(patterns: readonly Pattern[], segments: readonly string[]): { mode?: RedactionMode; next: readonly Pattern[] } {
  let next = patterns;
  for (const segment of segments) {
    const advanced: Pattern[] = [];
    for (const p of next) step(p, segment, advanced);
    next = advanced;
    const done = next.find((p) => p.segments.length === 0);
    if (done) return { mode: done.mode, next };
    if (!next.length) break;
  }
  return { next };
}

const MAX_DEPTH = 200;

// Arrays and `$`-operator keys ($set, $and, …) are transparent: `card.number` reaches
// `{$set: {"card.number": …}}` in an update, `items.price` every element of `items`, and a form
// field `card[number]` (core/body.ts) as well.
function walk(value: unknown, patterns: readonly Pattern[], hash: (v: unknown) => string, depth: number): void {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (const item of value) walk(item, patterns, hash, depth + 1);
    return;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key.startsWith('$') && !isEscapedKey(key)) {
      walk(obj[key], patterns, hash, depth + 1);
      continue;
    }
    const { mode, next } = advance(patterns, key.includes('[') ? formSegments(key) : key.split('.'));
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
