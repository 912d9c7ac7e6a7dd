// Normalization: one walk over a value that returns a copy fit for diffing: typed values in
// canonical form, ignored paths removed, strings folded and unordered arrays sorted, as the
// target's rules say. The same walk enforces the size limits that keep a hostile or huge
// record from overflowing the stack or blocking the event loop in the diff.
import { stableStringify } from '../../core/fingerprint';
import { canonicalTagged, tagOf } from '../../core/tagged';

export { stableStringify };
import { getPath, type Path, type State } from './path';
import type { TargetRules } from './rules';
import type { IdMap } from './idmap';

export interface Limits {
  /** Deepest nesting compared (MongoDB itself stops at 100). */
  readonly maxDepth: number;
  /** Most keys in one object (the diff is quadratic in an object's key count). */
  readonly maxKeys: number;
  /** Most values (nodes) in one effect's compared value. */
  readonly maxNodes: number;
}

export const DEFAULT_LIMITS: Limits = { maxDepth: 200, maxKeys: 5_000, maxNodes: 50_000 };

/** Thrown by the walk when a value exceeds a limit; the engine turns it into a `too-large` finding. */
export class TooLarge extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

interface Walk {
  readonly rules: TargetRules;
  readonly limits: Limits;
  nodes: number;
}

export function normalize(value: unknown, rules: TargetRules, limits: Limits = DEFAULT_LIMITS): unknown {
  const walk: Walk = { rules, limits, nodes: 0 };
  return visit(walk, value, rules.ignore.start(), rules.unordered.start(), rules.strings.start(), 0);
}

function visit(w: Walk, value: unknown, ign: State, uno: State, str: State, depth: number): unknown {
  if (++w.nodes > w.limits.maxNodes) throw new TooLarge(`more than ${w.limits.maxNodes} values`);
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'string' && str.length > 0) return foldString(w.rules, value, str);
    return value;
  }
  if (depth >= w.limits.maxDepth) throw new TooLarge(`nested deeper than ${w.limits.maxDepth} levels`);
  const { ignore, unordered, strings } = w.rules;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const ci = ignore.step(ign, i);
      if (ci.match >= 0) continue;
      out.push(visit(w, value[i], ci, unordered.step(uno, i), strings.step(str, i), depth + 1));
    }
    if (uno.length > 0) {
      const rule = unordered.matches(uno);
      if (rule >= 0) sortUnordered(out, w.rules.unorderedBy[rule]);
    }
    return out;
  }
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const tag = tagOf(value);
    if (tag) return canonicalTagged(value as Record<string, unknown>, tag);
  }
  if (keys.length > w.limits.maxKeys) throw new TooLarge(`an object with more than ${w.limits.maxKeys} keys`);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const ci = ignore.step(ign, key);
    if (ci.match >= 0) continue;
    const v = visit(w, (value as Record<string, unknown>)[key], ci, unordered.step(uno, key), strings.step(str, key), depth + 1);
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out;
}

function foldString(rules: TargetRules, value: string, state: State): string {
  const i = rules.strings.matches(state);
  if (i < 0) return value;
  const r = rules.stringRules[i]!;
  let s = value;
  if (r.trim) s = s.trim();
  if (r.caseInsensitive) s = s.toLowerCase();
  return s;
}

// Sort a normalized array so that order no longer matters: by the `by` field, then by the
// whole element in a key-order-independent serialization — computed only to break ties.
function sortUnordered(items: unknown[], by: Path | undefined): void {
  const keyed = items.map((item) => ({ item, k: by ? sortKey(getPath(item, by)) : '', whole: undefined as string | undefined }));
  const whole = (x: { item: unknown; whole: string | undefined }) => (x.whole ??= stableStringify(x.item));
  keyed.sort((a, b) => {
    if (a.k !== b.k) return a.k < b.k ? -1 : 1;
    const wa = whole(a);
    const wb = whole(b);
    return wa < wb ? -1 : wa > wb ? 1 : 0;
  });
  for (let i = 0; i < items.length; i++) items[i] = keyed[i]!.item;
}

function sortKey(v: unknown): string {
  if (typeof v === 'string') return `s${v}`;
  if (typeof v === 'number') return `n${v}`;
  return `j${stableStringify(v)}`;
}


/**
 * A document key as a canonical string: typed values in canonical form, object keys sorted,
 * the other side's generated ids read through the id map. Rules do not apply to keys: a key
 * identifies the document. Keys are small; their nesting is bounded all the same.
 */
export function keyString(value: unknown, ids?: IdMap, depth = 0): string {
  if (depth > 32) return JSON.stringify('(key nested too deep)');
  if (value === null || typeof value !== 'object') {
    const mapped = ids && typeof value === 'string' ? ids.lookup(value) : value;
    return mapped === value ? (JSON.stringify(value) ?? 'undefined') : keyString(mapped, undefined, depth + 1);
  }
  const tag = tagOf(value);
  if (tag) {
    const canonical = canonicalTagged(value as Record<string, unknown>, tag);
    return JSON.stringify(ids ? ids.lookup(canonical) : canonical);
  }
  if (Array.isArray(value)) return `[${value.map((v) => keyString(v, ids, depth + 1)).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${keyString((value as Record<string, unknown>)[k], ids, depth + 1)}`).join(',')}}`;
}

/**
 * Replaces, anywhere in a normalized value, the candidate's generated ids with the legacy ids
 * they were paired with. Copies only along the paths that change.
 */
export function substituteIds(value: unknown, ids: IdMap): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' ? ids.lookup(value) : value;
  }
  if (tagOf(value)) return ids.lookup(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = substituteIds(value[i], ids);
      if (v !== value[i]) (out ??= value.slice())[i] = v;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const old = (value as Record<string, unknown>)[key];
    const v = substituteIds(old, ids);
    if (v !== old) {
      out ??= { ...(value as Record<string, unknown>) };
      out[key] = v;
    }
  }
  return out ?? value;
}
