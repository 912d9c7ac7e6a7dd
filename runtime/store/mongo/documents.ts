// The store's collections and their documents. Captured payloads are arbitrary JSON (keys with
// `.` or a leading `$`), so they are stored as JSON text beside the few fields queried.
import type { Collection, Db } from 'mongodb';
import type { Alert, CutoverEvent, ReevaluationJob, RunInfo, StoredRules } from '../store';

export interface ComparisonDoc {
  /** comparisonId(runId, shadowId). */
  _id: string;
  runId: string;
  shadowId: string;
  route: string;
  verdict: string;
  comparedAt: Date;
  /** Targets, and `target\nfield`, with findings: what the report filters by. */
  tf: string[];
  /** What a value search finds it by (searchValues). */
  vals: string[];
  expireAt: Date;
  /** The comparison, as JSON. */
  c: string;
}

export interface RollupDoc {
  /** `<runId>#<v>`. */
  _id: string;
  runId: string;
  v: number;
  rollup: string;
  /** Comparisons folded in whose `rolled` markers may not be written, nor inbox entries cleared, yet. */
  applied: string[];
}

export interface RawDoc {
  _id: string;
  runId: string;
  shadowId: string;
  at: Date;
  expireAt: Date;
  body: string;
}

/** Stored, not yet in the rollup. */
export interface UnfoldedDoc {
  /** The comparison's `_id`. */
  _id: string;
  runId: string;
  /** The comparison as stored (JSON), when the entry was written with it. */
  c?: string;
  /** Written for a comparison that was stored before (a redelivery): it may be folded already. */
  recheck?: true;
}

/** The layout version, and the background flush lease. */
export interface MetaDoc {
  _id: string;
  layout?: number;
  owner?: string;
  until?: Date;
}

export interface Collections {
  runs: Collection<RunInfo & { _id: string }>;
  comparisons: Collection<ComparisonDoc>;
  effects: Collection<RawDoc>;
  exchanges: Collection<RawDoc>;
  rollups: Collection<RollupDoc>;
  alerts: Collection<Alert>;
  rules: Collection<StoredRules>;
  /** Cutover timelines: `_id` is run, time, kind and route, so an event put twice is kept once. */
  cutover: Collection<CutoverEvent & { _id: string }>;
  /** One marker per comparison folded into its run's rollup. */
  rolled: Collection<{ _id: string; runId: string; expireAt: Date }>;
  unfolded: Collection<UnfoldedDoc>;
  meta: Collection<MetaDoc>;
  /** Re-evaluation jobs, one per run (`_id`: the run id). */
  jobs: Collection<ReevaluationJob & { _id: string }>;
}

export function collectionsOf(db: Db): Collections {
  const c = <T extends object>(name: string) => db.collection<T>(name);
  return {
    runs: c('runs'),
    comparisons: c('comparisons'),
    effects: c('effects'),
    exchanges: c('exchanges'),
    rollups: c('rollups'),
    alerts: c('alerts'),
    rules: c('rules'),
    cutover: c('cutover'),
    rolled: c('rolled'),
    unfolded: c('unfolded'),
    meta: c('meta'),
    jobs: c('jobs'),
  };
}

/** The collections whose documents expire. */
export function retained(c: Collections): Collection[] {
  return [c.comparisons, c.effects, c.exchanges, c.rolled] as unknown as Collection[];
}

export function comparisonId(runId: string, shadowId: string): string {
  return JSON.stringify([runId, shadowId]);
}

/** A counter name safe as a MongoDB field name. */
export function fieldName(key: string): string {
  return key.replace(/\./g, '_').replace(/^\$/, '_') || '_';
}
