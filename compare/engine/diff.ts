// The field-level diff: deep-diff over two normalized values, turned into findings with
// readable paths. Only deep-diff's `diff` is used — never `applyChange`, which lets a
// `__proto__` path write to Object.prototype. Inputs are normalized, so they are within the
// size limits that keep deep-diff from overflowing the stack or running for seconds.
import deepDiff from 'deep-diff';
import { isGeneratedId, isTagKey, isTimeLike, tagOf, typeOf } from '../../core/tagged';
import { clip, type Finding, type FindingKind, SEVERITY_OF } from './finding';
import { deepEqual } from './equal';
import { getPath } from './path';
import { fieldOf, formatPath, type Path, type Segment } from './path';
import type { TargetRules } from './rules';

/** A field-level difference, before the engine adds the effect's identity. */
export interface FieldDiff {
  kind: FindingKind;
  path: Path;
  legacy?: unknown;
  candidate?: unknown;
}

/** The differences between two normalized values, legacy on the left. */
export function diffValues(legacy: unknown, candidate: unknown, rules: TargetRules): FieldDiff[] {
  const raw: RawDiff[] = [];
  rawDiff(legacy, candidate, [], raw, rules);
  if (raw.length === 0) return [];
  const out: FieldDiff[] = [];
  const seen = new Set<string>();
  for (const d of raw) {
    const { path } = d;
    // A change inside a typed value ({"$numberLong": "1"} → {"$numberLong": "2"}) is a change
    // of the value itself: report it at the value's path with both whole values.
    if (path.length > 0 && isTagKey(path[path.length - 1])) {
      const parent = path.slice(0, -1);
      const l = getPath(legacy, parent);
      const c = getPath(candidate, parent);
      if (tagOf(l) || tagOf(c)) {
        const id = JSON.stringify(parent);
        if (seen.has(id)) continue;
        seen.add(id);
        out.push(fieldDiff(parent, l, c));
        continue;
      }
    }
    if (d.kind === 'N') out.push({ kind: 'added', path, candidate: d.rhs });
    else if (d.kind === 'D') out.push({ kind: 'removed', path, legacy: d.lhs });
    else out.push(fieldDiff(path, d.lhs, d.rhs));
  }
  // Tolerances apply to same-typed numbers only: a type change is never within tolerance.
  return out.filter((f) => f.kind !== 'changed' || !tolerated(f.path, f.legacy, f.candidate, rules));
}

/** deep-diff's output flattened (array changes folded into their index path), as plain data. */
interface RawDiff {
  kind: 'N' | 'D' | 'E';
  path: Segment[];
  lhs?: unknown;
  rhs?: unknown;
}

/** Objects and same-length arrays larger than this are descended here rather than handed to deep-diff whole. */
const WIDE = 8;

// deep-diff looks each key up with indexOf, quadratic in an object's width (~30 ms for 4,000
// keys), and walks equal subtrees as slowly as differing ones. Larger objects and same-length
// arrays are walked here in linear time, equal children skipped, and deep-diff gets only the
// children that differ, so it still produces every difference, with the path prefixed.
function rawDiff(legacy: unknown, candidate: unknown, prefix: Segment[], out: RawDiff[], rules: TargetRules): void {
  if (Array.isArray(legacy) && Array.isArray(candidate)) {
    const by = keyedBy(prefix, rules);
    if (by && byKey(legacy, candidate, by, prefix, out, rules)) return;
    if (legacy.length === candidate.length && legacy.length > WIDE) {
      for (let i = 0; i < legacy.length; i++) if (!deepEqual(legacy[i], candidate[i])) rawDiff(legacy[i], candidate[i], [...prefix, i], out, rules);
      return;
    }
  }
  // Descend wide objects, and every object when arrays below may be keyed by the rules.
  const descend = rules.unordered.size > 0 ? isPlainObject : isWideObject;
  if (descend(legacy) && descend(candidate)) {
    const l = legacy as Record<string, unknown>;
    const c = candidate as Record<string, unknown>;
    for (const key of Object.keys(l)) {
      if (!Object.prototype.hasOwnProperty.call(c, key)) out.push({ kind: 'D', path: [...prefix, key], lhs: l[key] });
      else if (!deepEqual(l[key], c[key])) rawDiff(l[key], c[key], [...prefix, key], out, rules);
    }
    for (const key of Object.keys(c)) {
      if (!Object.prototype.hasOwnProperty.call(l, key)) out.push({ kind: 'N', path: [...prefix, key], rhs: c[key] });
    }
    return;
  }
  for (const d of deepDiff.diff(legacy, candidate) ?? []) {
    const path = [...prefix, ...((d.path ?? []) as Segment[])];
    const change = d.kind === 'A' ? d.item : d;
    if (d.kind === 'A') path.push(d.index);
    if (change.kind === 'N') out.push({ kind: 'N', path, rhs: change.rhs });
    else if (change.kind === 'D') out.push({ kind: 'D', path, lhs: change.lhs });
    else if (change.kind === 'E') out.push({ kind: 'E', path, lhs: change.lhs, rhs: change.rhs });
  }
}

/** The `by` field of an unordered rule covering the array at this path. */
function keyedBy(path: Path, rules: TargetRules): Path | undefined {
  if (rules.unordered.size === 0) return undefined;
  const i = rules.unordered.test(path);
  return i < 0 ? undefined : rules.unorderedBy[i];
}

// Arrays compared by key: elements pair by their `by` field, so one missing line item is one
// `removed` finding rather than every later position `changed`. Both arrays are normalized,
// hence sorted by that field; paths use each side's own index. False when keys are missing
// or repeat (then the arrays are diffed by position).
function byKey(legacy: unknown[], candidate: unknown[], by: Path, prefix: Segment[], out: RawDiff[], rules: TargetRules): boolean {
  const index = (arr: unknown[]) => {
    const m = new Map<string, number>();
    for (let i = 0; i < arr.length; i++) {
      const k = getPath(arr[i], by);
      if (k === undefined) return undefined;
      const id = JSON.stringify(k);
      if (m.has(id)) return undefined;
      m.set(id, i);
    }
    return m;
  };
  const li = index(legacy);
  const ci = li && index(candidate);
  if (!li || !ci) return false;
  for (const [k, i] of li) {
    const j = ci.get(k);
    if (j === undefined) out.push({ kind: 'D', path: [...prefix, i], lhs: legacy[i] });
    else if (!deepEqual(legacy[i], candidate[j])) rawDiff(legacy[i], candidate[j], [...prefix, i], out, rules);
  }
  for (const [k, j] of ci) if (!li.has(k)) out.push({ kind: 'N', path: [...prefix, j], rhs: candidate[j] });
  return true;
}

function isPlainObject(v: unknown): boolean {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !tagOf(v);
}

function isWideObject(v: unknown): boolean {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || tagOf(v)) return false;
  let n = 0;
  for (const _ in v) if (++n > WIDE) return true;
  return false;
}

function fieldDiff(path: Path, legacy: unknown, candidate: unknown): FieldDiff {
  if (legacy === undefined) return { kind: 'added', path, candidate };
  if (candidate === undefined) return { kind: 'removed', path, legacy };
  const kind: FindingKind = typeOf(legacy) === typeOf(candidate) ? 'changed' : 'type-changed';
  return { kind, path, legacy, candidate };
}

function tolerated(path: Path, legacy: unknown, candidate: unknown, rules: TargetRules): boolean {
  if (rules.tolerances.length === 0) return false;
  const i = rules.tolerance.test(path);
  if (i < 0) return false;
  const a = numeric(legacy);
  const b = numeric(candidate);
  if (a === undefined || b === undefined) return false;
  const { absolute, relative } = rules.tolerances[i]!;
  const delta = Math.abs(a - b);
  return delta <= absolute || delta <= relative * Math.max(Math.abs(a), Math.abs(b));
}

function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  const tag = tagOf(v);
  if (tag === 'decimal') return Number((v as { $numberDecimal: string }).$numberDecimal);
  if (tag === 'long') return Number((v as { $numberLong: string }).$numberLong);
  return undefined;
}

/**
 * Both values look generated (an id or a timestamp) and differ: the "differs every time" kind of
 * noise. A value present on one side only is never volatile: a field the candidate adds or
 * drops is a difference in what it writes, whatever the value looks like.
 */
export function isVolatile(f: { legacy?: unknown; candidate?: unknown }): boolean {
  if (f.legacy === undefined || f.candidate === undefined) return false;
  const vol = (v: unknown) => isGeneratedId(v) || isTimeLike(v);
  return vol(f.legacy) && vol(f.candidate);
}

/** The finding fields that describe a field-level difference. */
export function describe(f: FieldDiff): Pick<Finding, 'path' | 'field' | 'severity' | 'legacy' | 'candidate' | 'legacyType' | 'candidateType'> {
  const out: ReturnType<typeof describe> = { path: formatPath(f.path), field: fieldOf(f.path), severity: SEVERITY_OF[f.kind] };
  if (f.legacy !== undefined) out.legacy = clip(f.legacy);
  if (f.candidate !== undefined) out.candidate = clip(f.candidate);
  if (f.kind === 'type-changed') {
    out.legacyType = typeOf(f.legacy);
    out.candidateType = typeOf(f.candidate);
  }
  return out;
}
