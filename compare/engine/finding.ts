// What a comparison produces: differences as data (Diffy's habit), each with a readable path,
// both values, a kind and a severity that ranks it for the people reading the report.
import type { EffectKind } from '../../core/effect';
import type { ValueType } from '../../core/tagged';

export const FINDING_KINDS = [
  'missing-effect', // legacy did it, the candidate did not
  'extra-effect', // the candidate did it, legacy did not
  'removed', // a field legacy wrote is absent from the candidate's
  'type-changed', // same field, different type (1 vs Long(1), Date vs string)
  'changed', // same field and type, different value
  'added', // a field only the candidate writes
  'too-large', // a value beyond the diff's limits: not compared
  'contract', // the candidate's effect breaks a consumer's declared schema (consumers.ts)
] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

/** `critical`: a field a consumer marked critical reads (consumers.ts); the engine alone ranks high at most. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** Most severe first: for sorting findings and comparing severities. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { critical: 0, high: 1, medium: 2, low: 3 };

export const SEVERITY_OF: Record<FindingKind, Severity> = {
  'missing-effect': 'high',
  'extra-effect': 'high',
  removed: 'high',
  'type-changed': 'high',
  'too-large': 'high',
  contract: 'high',
  changed: 'medium',
  added: 'low',
};

export interface Finding {
  kind: FindingKind;
  severity: Severity;
  effectKind: EffectKind | 'end';
  /** The legacy side's name for the target (the candidate's, for an extra effect on an unmapped target). */
  target: string;
  /** The candidate's name, when rules map it to a different one. */
  candidateTarget?: string;
  op?: string;
  /** The document key (db) or business key of the effect. */
  key?: unknown;
  /** Where in the effect: `items[2].price`; '' for a whole effect. */
  path: string;
  /** The path with indices folded (`items[*].price`): what rollups and noise count by. */
  field: string;
  legacy?: unknown;
  candidate?: unknown;
  legacyType?: ValueType;
  candidateType?: ValueType;
  legacySeq?: number;
  candidateSeq?: number;
  /** The sides started from different pre-states at this path (design decision 4). */
  preStateDiffers?: boolean;
  /** Both values look generated (ids, timestamps): a hint for suggested noise. */
  volatile?: boolean;
  /** Why a value could not be compared (too-large), or what a consumer's schema says (contract). */
  reason?: string;
  /** The declared consumers that read this field (consumers.ts). */
  consumers?: string[];
  /** The target's consumers are declared and none reads this field: ranked one step lower. */
  unread?: boolean;
  /** The engine's severity before the consumers moved it. */
  baseSeverity?: Severity;
  /** contract: where in the consumer's schema the effect failed (`#/properties/refundAmount/type`). */
  schemaPath?: string;
}

/**
 * `inconclusive`: both sides are complete, but the comparison is no evidence about the
 * candidate — the sides did not start from the same pre-state (the handoff could not be
 * relied on, or the candidate read the live side's own write). Never a match, never a mismatch.
 */
export const VERDICTS = ['match', 'mismatch', 'incomplete', 'inconclusive', 'error'] as const;
export type Verdict = (typeof VERDICTS)[number];

export interface SideSummary {
  /** Effects received (distinct seq). */
  effects: number;
  /** Of them, database writes (absent: none). A side that never has any on a route that writes is probably not wired. */
  db?: number;
  /** Effects the side said it emitted (from its end marker). */
  count?: number;
  dropped?: number;
  status?: number;
  ended: boolean;
}

/** How the engine paired effects: legacy seq ↔ candidate seq, for the request view. */
export interface PairRef {
  effectKind: EffectKind;
  target: string;
  legacySeq?: number;
  candidateSeq?: number;
  /** How the pair was made. */
  by: 'key' | 'order' | 'similarity' | 'unpaired';
}

export interface Comparison {
  v: 1;
  runId: string;
  shadowId: string;
  /** `METHOD route-template`, the unit readiness is judged by. */
  route: string;
  /** The request itself, as its end marker names it (the path with its query), where one ended. */
  request?: { method: string; path: string };
  verdict: Verdict;
  findings: Finding[];
  /** Findings suppressed because legacy and secondary differ there too (learned noise). */
  noise: Finding[];
  /** Why the comparison is incomplete: what is missing. */
  incomplete?: string[];
  /** Why the comparison is inconclusive: why its sides' pre-states cannot be trusted to agree. */
  inconclusive?: string[];
  /** Why the comparison failed (verdict `error`). */
  error?: string;
  sides: { legacy: SideSummary; candidate: SideSummary; secondary?: SideSummary };
  pairs: PairRef[];
  /** Generated ids mapped candidate → legacy for this request (canonical JSON → legacy value). */
  idMap?: Record<string, unknown>;
  /** Findings (and noise) beyond what a stored comparison keeps: counted, not listed. */
  omitted?: number;
  /** When the worker compared before both sides were complete: how long it had waited. */
  timedOutAfterMs?: number;
  /**
   * Cutover: the candidate served this request live (its effects happened; legacy's are what it
   * would have done). A mismatch here is a wrong write in production: what corrections list.
   */
  served?: 'candidate';
  comparedAt: string;
}

export const MAX_FINDINGS_KEPT = 500;

/** A comparison bounded for storage: at most MAX_FINDINGS_KEPT findings and noise each. */
export function bounded(c: Comparison): Comparison {
  if (c.findings.length <= MAX_FINDINGS_KEPT && c.noise.length <= MAX_FINDINGS_KEPT) return c;
  const omitted = Math.max(0, c.findings.length - MAX_FINDINGS_KEPT) + Math.max(0, c.noise.length - MAX_FINDINGS_KEPT);
  return { ...c, findings: c.findings.slice(0, MAX_FINDINGS_KEPT), noise: c.noise.slice(0, MAX_FINDINGS_KEPT), omitted };
}

const MAX_VALUE_CHARS = 2_000;

/** A value for a one-line example (an alert, a rollup's example pair): as it is, or its JSON cut to `maxChars` with an ellipsis. */
export function clipJson(value: unknown, maxChars: number): unknown {
  const json = JSON.stringify(value);
  return json === undefined || json.length <= maxChars ? value : `${json.slice(0, maxChars)}…`;
}

/** Bounds a value kept in a finding: a comparison stores differences, not megabytes of payload. */
export function clip(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'string' && value.length > MAX_VALUE_CHARS
      ? { $truncated: true, preview: value.slice(0, MAX_VALUE_CHARS), length: value.length }
      : value;
  }
  const text = JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? { $truncated: true, preview: text.slice(0, MAX_VALUE_CHARS), length: text.length } : value;
}
