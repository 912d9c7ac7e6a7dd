// What the report reads from the store, shaped for its pages and API: a run, its routes'
// overview and readiness, its differences (from the rollup, or counted over a time window), a
// page of comparisons, one request with its effects, and the run's result for the checklist.
import type { Request } from 'express';
import { type CompiledRules, compileRules, type Comparison, type Consumer, type FieldStats, layerRules, looksLikeNoise, type Rollup, rollupOf, type RouteRollup } from '../compare/engine';
import { type Gates, groupKey, type Readiness, readiness, type ReplayResult, requestsNeeded, resultFromRollup } from '../compare/readiness';
import type { SideRecord } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { eachComparison, type RunInfo, type Store } from '../runtime/store/store';
import { comparisonQuery, type DifferenceFilter, SEVERITY_RANK } from './params';

export type OverviewGates = Pick<Gates, 'minRequests' | 'maxMismatchRate' | 'routeMinRequests'>;

export async function findRun(store: Store, runId: string): Promise<RunInfo> {
  const run = await store.getRun(runId);
  if (run) return run;
  if ((await store.countComparisons(runId)) > 0) return { runId, createdAt: '' };
  throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `no run ${JSON.stringify(runId)} (not found in this store).`);
}

export interface RouteOverview {
  route: string;
  /** The last 24 hours with comparisons, oldest first. */
  trend: { hour: string; compared: number; mismatched: number }[];
  compared: number;
  match: number;
  mismatch: number;
  incomplete: number;
  inconclusive: number;
  error: number;
  mismatchRate: number;
  readiness: Readiness;
  /** With too few complete comparisons: how many more the route needs. */
  needs?: number;
  /** One side never recorded a database write on this route while the other often did: its SDK is probably not wired. */
  unwired?: string;
}

/** Comparisons a route needs before a side's missing database writes are called out. */
const UNWIRED_MIN = 5;

/** The side that never recorded a database write where the other did in at least half the requests, said plainly. */
export function unwiredSide(r: Pick<RouteRollup, 'compared' | 'withDb'>): string | undefined {
  const w = r.withDb;
  if (!w || r.compared < UNWIRED_MIN) return undefined;
  for (const [quiet, other] of [['candidate', 'legacy'], ['legacy', 'candidate']] as const) {
    if (w[quiet] === 0 && w[other] >= r.compared / 2) {
      return `${quiet} never recorded a database write here, ${other} did in ${w[other]} of ${r.compared}: ${quiet}'s SDK is probably not wired to its database (docs/sdk.md, "Is it wired?")`;
    }
  }
  return undefined;
}

export function overview(rollup: Rollup, gates: OverviewGates): RouteOverview[] {
  return Object.values(rollup.routes)
    .map((r) => {
      const counts = { compared: r.compared, match: r.verdicts.match, mismatch: r.verdicts.mismatch, incomplete: r.verdicts.incomplete, inconclusive: r.verdicts.inconclusive ?? 0, error: r.verdicts.error };
      const complete = counts.compared - counts.incomplete - counts.inconclusive;
      const mismatchRate = complete ? (counts.mismatch + counts.error) / complete : 0;
      const trend = Object.entries(r.hours ?? {})
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .slice(-24)
        .map(([hour, [compared, mismatched]]) => ({ hour, compared, mismatched }));
      const unwired = unwiredSide(r);
      const needs = requestsNeeded({ route: r.route, ...counts }, gates);
      return { route: r.route, trend, ...counts, mismatchRate, readiness: readiness({ route: r.route, ...counts }, gates), ...(needs ? { needs } : {}), ...(unwired ? { unwired } : {}) };
    })
    .sort((a, b) => a.route.localeCompare(b.route));
}

export interface DifferenceGroup extends Omit<FieldStats, 'firstSeen' | 'lastSeen'> {
  route: string;
  rate: number;
  /** Within Diffy's thresholds of the field's noise estimate (compare/engine looksLikeNoise): probably noise, never suppressed. */
  suggestedNoise: boolean;
}

function differences(rollup: Rollup, route?: string): DifferenceGroup[] {
  const out: DifferenceGroup[] = [];
  for (const r of Object.values(rollup.routes)) {
    if (route !== undefined && r.route !== route) continue;
    for (const f of Object.values(r.fields)) {
      const rate = r.compared ? f.count / r.compared : 0;
      const { firstSeen: _f, lastSeen: _l, ...rest } = f;
      out.push({ ...rest, route: r.route, rate, suggestedNoise: looksLikeNoise(r, f) });
    }
  }
  // By severity, then by how many requests it touches.
  return out.sort((a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || b.count - a.count);
}

/** Comparisons read to count the differences of a time window (the rollup has no per-field time). */
const WINDOW_MAX = 20_000;

export interface Differences {
  groups: DifferenceGroup[];
  routes: string[];
  /** Over a time window: how many comparisons were counted, and whether that was all of them. */
  scanned?: number;
  truncated?: boolean;
}

/** The differences of a run, or of a time window of it, filtered; and the routes there are. */
export async function filteredDifferences(store: Store, runId: string, f: DifferenceFilter): Promise<Differences> {
  let rollup: Rollup;
  let window: { scanned: number; truncated: boolean } | undefined;
  if (f.since || f.until) {
    const seen: Comparison[] = [];
    for await (const c of eachComparison(store, { runId, ...(f.route ? { route: f.route } : {}), ...(f.since ? { since: f.since } : {}), ...(f.until ? { until: f.until } : {}) })) {
      seen.push(c);
      if (seen.length >= WINDOW_MAX) break;
    }
    rollup = rollupOf(runId, seen);
    window = { scanned: seen.length, truncated: seen.length >= WINDOW_MAX };
  } else {
    rollup = await store.getRollup(runId);
  }
  const has = (text: string, part: string | undefined) => part === undefined || text.toLowerCase().includes(part.toLowerCase());
  const groups = differences(rollup, f.route).filter((g) => has(g.target, f.target) && has(g.field || '(whole effect)', f.field) && (f.severity === undefined || g.severity === f.severity) && (f.kind === undefined || g.kind === f.kind));
  const routes = Object.keys(rollup.routes).sort();
  return { groups, routes, ...(window ? window : {}) };
}

/**
 * The run's result from its rollup, with the values of one example comparison per difference
 * (at most 50 looked up): what the checklist and the downloadable report show.
 */
export async function runResult(store: Store, runId: string, gates: OverviewGates): Promise<ReplayResult> {
  const rollup = await store.getRollup(runId);
  const values = new Map<string, { legacy?: unknown; candidate?: unknown; request?: string }>();
  const wanted = Object.values(rollup.routes)
    .flatMap((r) => Object.values(r.fields).map((f) => ({ route: r.route, f })))
    .sort((a, b) => b.f.count - a.f.count)
    .slice(0, 50);
  for (const { route, f } of wanted) {
    const example = f.examples[0] && (await store.getComparison(runId, f.examples[0]));
    const finding = example ? example.findings.find((x) => x.target === f.target && x.field === f.field && x.kind === f.kind) : undefined;
    if (finding) values.set(groupKey(route, f.target, f.field || '(whole effect)', f.kind), { legacy: finding.legacy, candidate: finding.candidate, ...(example && example.request ? { request: `${example.request.method} ${example.request.path}` } : {}) });
  }
  return resultFromRollup(rollup, { ...gates, minCoverage: 0 }, values);
}

/**
 * The consumers declared for a run: the run's stored rules layered over the base rules `serve`
 * was started with (the worker's), as re-evaluation layers them. Stored rules that no longer
 * validate count as none: the base still speaks.
 */
export async function runConsumers(store: Store, runId: string, base?: CompiledRules): Promise<readonly Consumer[]> {
  const stored = await store.getRules(runId);
  if (!stored) return base?.consumers.list ?? [];
  try {
    return layerRules(base, compileRules(stored.rules, `rules of run ${runId}`)).consumers.list;
  } catch {
    return base?.consumers.list ?? [];
  }
}

export async function comparisonsPage(store: Store, runId: string, req: Request, defaultLimit = 100): Promise<{ items: Comparison[]; next?: string }> {
  const { query, limit } = comparisonQuery(req, runId, defaultLimit);
  const found = await store.listComparisons(query);
  const items = found.slice(0, limit);
  return found.length > limit ? { items, next: items.at(-1)!.shadowId } : { items };
}

export interface RequestView {
  comparison: Comparison;
  exchange?: Awaited<ReturnType<Store['getExchange']>>;
  legacy: SideRecord[];
  candidate: SideRecord[];
}

export async function requestView(store: Store, runId: string, shadowId: string): Promise<RequestView> {
  const comparison = await store.getComparison(runId, shadowId);
  if (!comparison) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `comparison ${JSON.stringify(shadowId)} of run ${JSON.stringify(runId)} not found.`);
  const exchange = await store.getExchange(runId, shadowId);
  const records = await store.getEffects(runId, shadowId);
  const bySeq = (a: SideRecord, b: SideRecord) => (a.type === 'effect' ? a.seq : 1e15) - (b.type === 'effect' ? b.seq : 1e15);
  return { comparison, ...(exchange ? { exchange } : {}), legacy: records.filter((r) => r.side === 'legacy').sort(bySeq), candidate: records.filter((r) => r.side === 'candidate').sort(bySeq) };
}
