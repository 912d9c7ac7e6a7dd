// Preparing an effect for pairing and diffing: pick what is compared (the post-image of a
// write, the pre-image of a delete, the payload of a message or call) and apply the side's
// canonicalize function. Normalization under the target's rules happens on first use, so a
// pair that the fast path finds equal is never copied at all.
import type { EffectKind, EffectRecord, Side } from '../../core/effect';
import type { IdMap } from './idmap';
import { getPath } from './path';
import { keyString, type Limits, normalize, stableStringify, substituteIds, TooLarge } from './normalize';
import { type CompiledRules, PLAIN_RULES, type TargetRules } from './rules';

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

/** What the engine shares among the effects of one comparison. */
export interface PrepareContext {
  readonly rules: CompiledRules;
  readonly limits: Limits;
  /** The other side's ids → legacy ids, learned from paired creates. */
  readonly ids: IdMap;
  /** Set once the id map is complete: candidate values are read through it from then on. */
  idsFinal: boolean;
}

export class Prepared {
  readonly seq: number;
  readonly kind: EffectKind;
  /** The legacy side's name for the target. */
  readonly target: string;
  readonly rules: TargetRules;
  /** The compared value as recorded (after the side's canonicalize function). */
  readonly raw: unknown;
  /** The document key (db), as recorded. */
  readonly docKey: unknown;
  /** Pairing key (canonical string), set by the engine. */
  key: string | undefined;
  /** Why the value could not be normalized (limits). */
  tooLarge: string | undefined;
  /** The effect the fast path already found this one equal to (paired creates). */
  fastMatch: Prepared | undefined;

  private norm: unknown;
  private normDone = false;
  private substituted = false;
  private before: unknown;
  private beforeDone = false;

  constructor(
    readonly rec: EffectRecord,
    readonly side: Side,
    private readonly ctx: PrepareContext,
  ) {
    this.seq = rec.seq;
    this.kind = rec.kind;
    const target = ctx.rules.canonicalTarget(rec.kind, rec.target);
    this.target = side === 'candidate' ? ctx.rules.legacyTarget(rec.kind, target) : target;
    this.rules = ctx.rules.forTarget(rec.kind, this.target);
    this.raw = this.canonicalized(comparedValue(rec));
    this.docKey = rec.key;
  }

  /** The normalized value (the side compared with legacy: read through the id map once it is complete). */
  get value(): unknown {
    if (!this.normDone) {
      this.norm = this.normalizeOrMark(this.raw);
      this.normDone = true;
    }
    if (this.side !== 'legacy' && this.ctx.idsFinal && !this.substituted) {
      this.substituted = true;
      if (this.ctx.ids.size) this.norm = substituteIds(this.norm, this.ctx.ids);
    }
    return this.norm;
  }

  /** Why the value exceeds the size limits (normalizing it to find out), or undefined. */
  overLimit(): string | undefined {
    void this.value;
    return this.tooLarge;
  }

  /** The document key as a canonical string, read through the id map for the side compared with legacy. */
  docKeyString(): string | undefined {
    if (this.docKey === undefined) return undefined;
    return keyString(this.docKey, this.side !== 'legacy' && this.ctx.ids.size ? this.ctx.ids : undefined);
  }

  /** The normalized pre-image of an update, for deltas; undefined when there is none (or it is too large). */
  get preImage(): unknown {
    if (!isDelta(this.rec)) return undefined;
    if (!this.beforeDone) {
      this.beforeDone = true;
      try {
        const before = normalize(this.canonicalized(this.rec.before), this.rules, this.ctx.limits);
        this.before = this.side !== 'legacy' && this.ctx.ids.size ? substituteIds(before, this.ctx.ids) : before;
      } catch (err) {
        if (!(err instanceof TooLarge)) throw err;
      }
    }
    return this.before;
  }

  /** The business key the rules name, as a canonical string, or undefined. */
  businessKey(): string | undefined {
    const paths = this.rules.key;
    if (!paths || this.tooLarge) return undefined;
    const values = paths.map((path) => getPath(this.raw, path));
    if (values.every((v) => v === undefined)) return undefined;
    // Plain strings and numbers need no canonical form.
    if (values.every((v) => typeof v === 'string' || typeof v === 'number')) return JSON.stringify(values);
    try {
      return stableStringify(normalize(values, PLAIN_RULES, this.ctx.limits));
    } catch {
      return undefined;
    }
  }

  private canonicalized(value: unknown): unknown {
    const canon = this.side === 'candidate' ? this.rules.canonicalize.candidate : this.rules.canonicalize.legacy;
    // The function gets its own copy: a rule must never alter the records themselves.
    return canon ? canon(structuredClone(value), { kind: this.kind, target: this.target, op: this.rec.op, side: this.side }) : value;
  }

  private normalizeOrMark(value: unknown): unknown {
    try {
      return normalize(value, this.rules, this.ctx.limits);
    } catch (err) {
      if (!(err instanceof TooLarge)) throw err;
      this.tooLarge = err.reason;
      return undefined;
    }
  }
}
