// Preparing an effect for pairing and diffing: pick what is compared (the post-image of a
// write, the pre-image of a delete, the payload of a message or call), apply the side's
// canonicalize function, then normalize under the target's rules.
import type { EffectKind, EffectRecord, Side } from '../../core/effect';
import { DEFAULT_LIMITS, type Limits, normalize, TooLarge } from './normalize';
import type { CompiledRules, TargetRules } from './rules';

export interface Prepared {
  readonly rec: EffectRecord;
  readonly seq: number;
  readonly kind: EffectKind;
  /** The legacy side's name for the target. */
  readonly target: string;
  readonly rules: TargetRules;
  /** Normalized value compared. */
  value: unknown;
  /** Normalized pre-image, for updates compared as deltas. */
  before: unknown;
  /** Normalized document key (db). */
  docKey: unknown;
  /** Pairing key (canonical string), set by the engine. */
  key: string | undefined;
  /** Why the value could not be normalized (limits). */
  tooLarge?: string;
}

/** True for a db write that created its document (an insert, or an upsert that inserted). */
export function isCreate(rec: EffectRecord): boolean {
  return rec.kind === 'db' && (rec.op === 'insert' || ((rec.op === 'update' || rec.op === 'replace') && rec.before === null && rec.after != null));
}

/** True for an update or replace carrying both images: compared as a delta (decision 4). */
export function isDelta(rec: EffectRecord): boolean {
  return rec.kind === 'db' && (rec.op === 'update' || rec.op === 'replace') && rec.before != null && rec.after !== undefined;
}

function comparedValue(rec: EffectRecord): unknown {
  if (rec.kind !== 'db') return rec.payload;
  if (rec.op === 'delete') return rec.before ?? rec.key;
  if (rec.after !== undefined) return rec.after;
  // Image mode "none": all there is to compare is what was asked for.
  return rec.meta?.update ?? rec.meta?.replacement ?? rec.key;
}

export function prepare(rec: EffectRecord, side: Side, rules: CompiledRules, limits: Limits = DEFAULT_LIMITS): Prepared {
  const target = side === 'candidate' ? rules.legacyTarget(rec.kind, rec.target) : rec.target;
  const tr = rules.forTarget(rec.kind, target);
  const canon = side === 'candidate' ? tr.canonicalize.candidate : tr.canonicalize.legacy;
  const ctx = { kind: rec.kind, target, op: rec.op, side };
  const p: Prepared = { rec, seq: rec.seq, kind: rec.kind, target, rules: tr, value: undefined, before: undefined, docKey: undefined, key: undefined };
  try {
    let value = comparedValue(rec);
    let before = isDelta(rec) ? rec.before : undefined;
    if (canon) {
      // The function gets its own copy: a rule must never alter the records themselves.
      value = canon(structuredClone(value), ctx);
      if (before !== undefined) before = canon(structuredClone(before), ctx);
    }
    p.value = normalize(value, tr, limits);
    p.before = before === undefined ? undefined : normalize(before, tr, limits);
    p.docKey = rec.key === undefined ? undefined : normalize(rec.key, tr, limits);
  } catch (err) {
    if (!(err instanceof TooLarge)) throw err;
    p.tooLarge = err.reason;
  }
  return p;
}
