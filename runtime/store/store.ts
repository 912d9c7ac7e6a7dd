// The store port: runs, exchanges, effects kept for drill-down, comparisons, rollups, rules and
// alerts. Adapters: MongoDB (mongo.ts) and in-memory saved to a directory (memory.ts); both
// pass the same contract suite. Comparisons are written once per (runId, shadowId): a second
// write of the same id is a no-op, which is what makes redelivery and worker crashes harmless.
import type { AlertField, AlertReason } from '../../compare/alerts';
import type { ExchangeRecord, SideRecord } from '../../core/effect';
import type { Comparison, Rollup, Verdict } from '../../compare/engine';

export interface RunInfo {
  runId: string;
  createdAt: string;
  label?: string;
  /** Where the run's traffic came from. */
  source?: 'proxy' | 'replay' | 'ingest' | 'demo';
  /** Requests the run did not compare, by reason (sampled out, body too large, mirror failed…). */
  coverage?: Record<string, number>;
  /** What each proxy process in front of the run saw, by its source id: its latest totals. */
  proxies?: Record<string, ProxyCoverage>;
}

/** A proxy's totals for a run (a coverage record, docs/effect-format.md). */
export interface ProxyCoverage {
  at: string;
  seen: number;
  mirrored: number;
  notMirrored: Record<string, number>;
  dropped: number;
}

/** One mirrored request as the proxy or replay saw it (already redacted). */
export type Exchange = Omit<ExchangeRecord, 'v' | 'type'>;

export interface Alert {
  runId: string;
  route: string;
  at: string;
  window: { seconds: number; compared: number; mismatched: number; rate: number };
  threshold: number;
  examples: string[];
  /** Why it alerted (absent in alerts stored before there was more than the rate). */
  reason?: AlertReason;
  streak?: number;
  /** The fields that differed, with example values. */
  fields?: AlertField[];
}

/**
 * One entry of a cutover's timeline (docs/cutover.md): a step of the ramp plan began (with the
 * last step's figures), a gate held the ramp, the guard rolled a route back (with its evidence),
 * the plan ended.
 */
export interface CutoverEvent {
  runId: string;
  at: string;
  kind: 'step' | 'hold' | 'rollback' | 'done' | 'stopped';
  /** The cutover rule (`POST /orders`) or `*`. */
  route: string;
  /** The live share from this event on. */
  percent: number;
  by: string;
  reason: string;
  /** The step that ended here: what it served and compared while it lasted. */
  ended?: { index: number; percent: number; startedAt: string; compared: number; mismatched: number; served: number; servedMismatched: number; critical: number };
  /** The step that begins here (1-based) of how many. */
  step?: { index: number; of: number };
  evidence?: unknown;
}

/** Documents of one run in the store, by kind. */
export interface RunDataCounts {
  run: number;
  comparisons: number;
  records: number;
  exchanges: number;
  rollups: number;
  alerts: number;
  rules: number;
  jobs: number;
  /** Cutover timeline entries. */
  cutover: number;
}

export interface StoredRules {
  runId: string;
  version: number;
  rules: unknown;
  reason: string;
  author: string;
  createdAt: string;
}

export interface ComparisonQuery {
  runId: string;
  verdict?: Verdict;
  route?: string;
  /** Comparisons with a finding on this target (and field, if given). */
  target?: string;
  field?: string;
  /** Compared at or after / before these instants (ISO 8601). */
  since?: string;
  until?: string;
  /** Comparisons with a finding whose legacy or candidate value, or key, is exactly this (see searchValues). */
  value?: string;
  /** Page after this shadow id (comparisons come in shadow-id order). */
  after?: string;
  limit?: number;
}

/**
 * Every comparison the query matches, in shadow-id order, read `pageSize` at a time (from
 * `query.after` when given). Stop early by leaving the loop.
 */
export async function* eachComparison(store: Pick<Store, 'listComparisons'>, query: Omit<ComparisonQuery, 'limit'>, pageSize = 1000): AsyncGenerator<Comparison> {
  for (let after = query.after; ; ) {
    const page = await store.listComparisons({ ...query, limit: pageSize, ...(after !== undefined ? { after } : {}) });
    yield* page;
    if (page.length < pageSize) return;
    after = page.at(-1)!.shadowId;
  }
}

const SEARCH_VALUES_MAX = 64;
const SEARCH_VALUE_CHARS = 200;

/**
 * What a value search finds a comparison by: its findings' legacy and candidate values and
 * document keys, as text — strings as they are, numbers and booleans as written in JSON, a
 * key's scalar fields each ({orderNo: "A-1"} → "A-1"). Bounded per comparison.
 */
export function searchValues(c: Comparison): string[] {
  const out = new Set<string>();
  const add = (v: unknown, depth = 0) => {
    if (out.size >= SEARCH_VALUES_MAX) return;
    if (typeof v === 'string') {
      if (v.length <= SEARCH_VALUE_CHARS) out.add(v);
    } else if (typeof v === 'number' || typeof v === 'boolean') out.add(String(v));
    else if (v && typeof v === 'object' && depth < 2 && !Array.isArray(v)) for (const x of Object.values(v).slice(0, 8)) add(x, depth + 1);
  };
  for (const f of c.findings) {
    add(f.key, 0);
    if (typeof f.legacy !== 'object') add(f.legacy);
    if (typeof f.candidate !== 'object') add(f.candidate);
  }
  return [...out];
}

export interface PutResult {
  inserted: number;
  /** Already stored (a redelivery or a second worker): left as they were. */
  existing: number;
}

/**
 * A re-evaluation of a run under its current rules (pipeline/reevaluate.ts): one per run at a
 * time, done in batches from `cursor`, so a process that stops leaves it where another resumes.
 */
export interface ReevaluationJob {
  runId: string;
  state: 'running' | 'done' | 'cancelled' | 'failed';
  /** The stored rules' version it compares under (null: the workers' base rules only). */
  rulesVersion: number | null;
  /** Non-matching comparisons when it started: what it has to go through. */
  total: number;
  reevaluated: number;
  changed: number;
  /** Non-matching comparisons without kept records (left as they were). */
  withoutRecords: number;
  /** Where it goes on: the verdict it is on and the last shadow id it finished. */
  cursor: { verdict: 'mismatch' | 'error'; after: string | null };
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Who started it (the API's caller, the page's form). */
  by?: string;
  /** The process running it and when it last said so: a running job whose owner went quiet is resumed. */
  owner: string;
  heartbeatAt: string;
  /** Asked to stop; the owner stops after its batch. */
  cancelRequested?: boolean;
  error?: string;
}

export interface Store {
  /** Creates indexes and whatever else the adapter needs; idempotent. */
  init(): Promise<void>;
  /** Creates or updates a run's description; its coverage counters change only by addCoverage. */
  putRun(run: RunInfo): Promise<void>;
  getRun(runId: string): Promise<RunInfo | undefined>;
  listRuns(): Promise<RunInfo[]>;
  /** Adds to a run's not-compared counters (merged by addition). */
  addCoverage(runId: string, counts: Record<string, number>): Promise<void>;
  /** A proxy's totals for a run: each counter keeps the highest value seen, so a record redelivered or out of order changes nothing. */
  putProxyCoverage(runId: string, source: string, totals: ProxyCoverage): Promise<void>;
  /** The run exists (a worker compared one of its requests): created with `source` if it did not; nothing else changes. */
  ensureRun(runId: string, source?: RunInfo['source']): Promise<void>;
  putExchanges(exchanges: readonly Exchange[]): Promise<void>;
  getExchange(runId: string, shadowId: string): Promise<Exchange | undefined>;
  /** Keeps records for drill-down; storing one twice keeps one. */
  putEffects(records: readonly SideRecord[]): Promise<void>;
  getEffects(runId: string, shadowId: string): Promise<SideRecord[]>;
  /** The kept records of many requests in one read, by shadow id (absent: none kept). */
  getEffectsOf(runId: string, shadowIds: readonly string[]): Promise<Map<string, SideRecord[]>>;
  /** The exchanges of many requests in one read, by shadow id. */
  getExchangesOf(runId: string, shadowIds: readonly string[]): Promise<Map<string, Exchange>>;
  putComparisons(comparisons: readonly Comparison[]): Promise<PutResult>;
  getComparison(runId: string, shadowId: string): Promise<Comparison | undefined>;
  /**
   * Re-evaluation under new rules: overwrites stored comparisons (only those already stored).
   * Returns how many were replaced. The rollup still counts the old verdicts until
   * `rebuildRollup`: a re-evaluation replaces in batches and rebuilds once at its end.
   */
  replaceComparisons(comparisons: readonly Comparison[]): Promise<number>;
  /** Folds the run's rollup again from its stored comparisons. */
  rebuildRollup(runId: string): Promise<void>;
  getJob(runId: string): Promise<ReevaluationJob | undefined>;
  listJobs(): Promise<ReevaluationJob[]>;
  /**
   * Writes a job as a compare-and-set: without `expected` only if the run has none; with it only
   * if the stored one still has that owner and heartbeat. False when another got there first.
   */
  putJob(job: ReevaluationJob, expected?: Pick<ReevaluationJob, 'owner' | 'heartbeatAt'>): Promise<boolean>;
  /** Updates a job its owner still holds; the job as stored after it, undefined when it is no longer the owner's. */
  updateJob(runId: string, owner: string, patch: Partial<ReevaluationJob>): Promise<ReevaluationJob | undefined>;
  /** Asks a running job to stop; the job as stored after it, undefined when none is running. */
  cancelJob(runId: string): Promise<ReevaluationJob | undefined>;
  listComparisons(query: ComparisonQuery): Promise<Comparison[]>;
  /** How many comparisons the run has (of this verdict, if given). */
  countComparisons(runId: string, verdict?: Verdict): Promise<number>;
  /** What the store holds of a run, by kind of document (what deleteRun would remove). */
  runData(runId: string): Promise<RunDataCounts>;
  /** Removes everything of a run: its comparisons, records, exchanges, rollup, alerts, rules, job and the run itself. Returns what was removed. */
  deleteRun(runId: string): Promise<RunDataCounts>;
  /**
   * Folds comparisons stored since the last flush into the run rollups. `background`: a
   * periodic flush that steps aside, returning false, while another process has its turn (its
   * work would be read and thrown away), and folds a bounded batch per run; the others fold
   * everything there is and return true.
   */
  flushRollups(runId?: string, options?: { background?: boolean }): Promise<boolean>;
  /** The run's rollup as of the last flush. */
  getRollup(runId: string): Promise<Rollup>;
  putAlert(alert: Alert): Promise<void>;
  listAlerts(runId: string): Promise<Alert[]>;
  /** Adds to the run's cutover timeline; an event put twice (same run, time, kind and route) is kept once. */
  putCutoverEvent(event: CutoverEvent): Promise<void>;
  /** The run's cutover timeline, oldest first (at most 10,000). */
  listCutoverEvents(runId: string): Promise<CutoverEvent[]>;
  /** Saves a new version of a run's rules; returns its version number. */
  putRules(runId: string, rules: unknown, meta: { reason: string; author: string }): Promise<number>;
  getRules(runId: string): Promise<StoredRules | undefined>;
  /** Deletes what outlived its retention; returns how many records went. */
  sweep(now: Date): Promise<number>;
  close(): Promise<void>;
}

export type { Retention } from '../../core/settings';

export const DAY = 86_400_000;
export function expiry(at: Date, days: number): Date {
  return new Date(at.getTime() + days * DAY);
}
