// What a run found — a replay in CI or a validation run in production — judged against gates:
// per route, how many requests were compared and how, and whether the route is ready for
// cutover; the findings grouped by target and field; which of them are accepted differences;
// and the verdict that becomes the exit code. The renderers are in report/render/.
import { percent as pct } from '../core/format';
import { type AcceptEntry, acceptedBy } from './accept';
import { type Comparison, countTargets, globMatch, reasonClass, type Rollup, type Severity, SEVERITY_RANK } from './engine';

/** `replay`: a CI replay (counts "replayed"); `run`: any run in the store (a live shadow run). */
export type ResultLabel = 'replay' | 'run';

export interface Gates {
  /** Share of compared requests allowed to mismatch (after accepted differences). Default 0. */
  maxMismatchRate: number;
  /** Fewer compared requests than this fails the run. Default 1. */
  minRequests: number;
  /** Share of replayed requests that must have been compared completely. Default 0.95. */
  minCoverage: number;
  /**
   * Complete comparisons a route needs before it can be ready, per route class: the first entry
   * whose glob matches the route (`GET *`, `POST /api/articles/*`) decides; other routes need
   * `minRequests`.
   */
  routeMinRequests?: readonly RouteMinimum[];
}

export interface RouteMinimum {
  route: string;
  min: number;
}

export interface FindingGroup {
  route: string;
  /** db, message, http, response, or end (the status): what kind of effect the target is. */
  effectKind?: string;
  target: string;
  field: string;
  kind: string;
  severity: string;
  requests: number;
  example: string;
  /** The example's request, `METHOD /path?query`, where known. */
  exampleRequest?: string;
  legacy?: unknown;
  candidate?: unknown;
  accepted?: string;
  /** Requests where the sides started from different data at this field (the candidate read after legacy wrote). */
  preStateDiffers?: number;
  /** The declared consumers that read the field. */
  consumers?: string[];
  /** The target's consumers are declared and none reads the field. */
  unread?: boolean;
}

export interface RouteResult {
  route: string;
  compared: number;
  match: number;
  mismatch: number;
  /** Mismatches whose every finding is an accepted difference. */
  accepted: number;
  incomplete: number;
  /** Complete on both sides, but no evidence: the sides did not start from the same pre-state. */
  inconclusive: number;
  error: number;
  /** Incomplete or failed requests where the candidate answered 404/409/422 and legacy 2xx: missing seed data? */
  lackingData: number;
  findings: FindingGroup[];
  incompleteReasons: Record<string, number>;
  inconclusiveReasons: Record<string, number>;
  /** Against the gates: enough complete comparisons, and regressions within the allowed rate. */
  readiness?: Readiness;
  /** With too few complete comparisons: how many more the route needs. */
  needs?: number;
  /** Complete comparisons per target they had effects on (`db shop.orders`). */
  targets?: Record<string, number>;
}

export type Readiness = 'ready' | 'not ready' | 'not enough data';

export interface ReplayResult {
  runId: string;
  replayed: number;
  compared: number;
  regressions: number;
  coverage: number;
  mismatchRate: number;
  routes: RouteResult[];
  gates: Gates;
  failures: string[];
  /** Accepted differences past their expiry date (they count as regressions again). */
  expired: AcceptEntry[];
  passed: boolean;
  /** Readiness per declared consumer (consumer-readiness.ts), where consumers are declared. */
  consumers?: ConsumerResult[];
}

/** One declared consumer's readiness (consumer-readiness.ts builds it). */
export interface ConsumerResult {
  name: string;
  owner: string;
  contact?: string;
  critical: boolean;
  /** What it reads, for the page and the checklist: `shop.orders: delivery.*`. */
  reads: { target: string; kind?: string; paths: string[]; schema: boolean }[];
  readiness: Readiness;
  /** Why, in a line. */
  why: string;
  /** The routes seen writing its targets, with their complete comparisons there. */
  routes: { route: string; compared: number; readiness?: Readiness }[];
  /** The differences touching its fields (accepted ones included, marked). */
  findings: FindingGroup[];
}

/** Folds comparisons in one at a time: memory holds counts and finding groups, not comparisons. */
export class Evaluator {
  private readonly live: AcceptEntry[];
  private readonly expired: AcceptEntry[];
  private readonly routes = new Map<string, RouteResult>();
  private readonly groups = new Map<string, FindingGroup>();
  private compared = 0;

  constructor(
    private readonly runId: string,
    accept: AcceptEntry[] = [],
    today = new Date().toISOString().slice(0, 10),
  ) {
    this.live = accept.filter((a) => a.expires === undefined || a.expires >= today);
    this.expired = accept.filter((a) => a.expires !== undefined && a.expires < today);
  }

  /** Whether the comparison is a regression (a mismatch not fully accepted, or an error). */
  add(c: Comparison): boolean {
    this.compared += 1;
    let r = this.routes.get(c.route);
    if (!r) this.routes.set(c.route, (r = { route: c.route, compared: 0, match: 0, mismatch: 0, accepted: 0, incomplete: 0, inconclusive: 0, error: 0, lackingData: 0, findings: [], incompleteReasons: {}, inconclusiveReasons: {} }));
    r.compared += 1;
    if (c.verdict !== 'inconclusive' && lacksData(c)) r.lackingData += 1;
    if (c.verdict === 'match') {
      r.match += 1;
      countTargets((r.targets ??= {}), c);
      return false;
    }
    if (c.verdict === 'incomplete') {
      r.incomplete += 1;
      for (const why of c.incomplete ?? []) r.incompleteReasons[why] = (r.incompleteReasons[why] ?? 0) + 1;
      return false;
    }
    if (c.verdict === 'inconclusive') {
      r.inconclusive += 1;
      for (const why of new Set((c.inconclusive ?? []).map(reasonClass))) r.inconclusiveReasons[why] = (r.inconclusiveReasons[why] ?? 0) + 1;
      return false;
    }
    if (c.verdict === 'error') {
      r.error += 1;
      return true;
    }
    countTargets((r.targets ??= {}), c);
    let allAccepted = true;
    for (const f of c.findings) {
      const a = this.live.find((e) => acceptedBy(e, c.route, f));
      if (!a) allAccepted = false;
      const key = `${c.route}\u0000${f.target}\u0000${f.field}\u0000${f.kind}`;
      let g = this.groups.get(key);
      if (!g) {
        this.groups.set(key, (g = { route: c.route, effectKind: f.effectKind, target: f.target, field: f.field || '(whole effect)', kind: f.kind, severity: f.severity, requests: 0, example: c.shadowId }));
        if (f.legacy !== undefined) g.legacy = f.legacy;
        if (f.candidate !== undefined) g.candidate = f.candidate;
        if (c.request) g.exampleRequest = `${c.request.method} ${c.request.path}`;
        if (a) g.accepted = a.reason;
        if (f.unread) g.unread = true;
        r.findings.push(g);
      }
      if (f.consumers?.length) {
        g.consumers = [...new Set([...(g.consumers ?? []), ...f.consumers])].sort();
        delete g.unread;
      }
      if (SEVERITY_RANK[f.severity] < (SEVERITY_RANK[g.severity as Severity] ?? 9)) g.severity = f.severity;
      g.requests += 1;
      if (f.preStateDiffers) g.preStateDiffers = (g.preStateDiffers ?? 0) + 1;
    }
    if (allAccepted && c.findings.length) {
      r.accepted += 1;
      return false;
    }
    r.mismatch += 1;
    return true;
  }

  get count(): number {
    return this.compared;
  }

  /** `replayed`: requests sent (a replay) or seen (a run): what coverage is a share of. */
  result(replayed: number, gates: Gates, label: ResultLabel = 'replay'): ReplayResult {
    const routes = [...this.routes.values()].map((r) => ({ ...r, findings: [...r.findings].sort((a, b) => Number(a.accepted !== undefined) - Number(b.accepted !== undefined) || b.requests - a.requests) }));
    return summarize(this.runId, routes, replayed, gates, this.expired, label);
  }
}

/** Readiness per route, the totals and the gates' verdict over routes already counted. */
function summarize(runId: string, counted: RouteResult[], replayed: number, gates: Gates, expired: AcceptEntry[], label: ResultLabel): ReplayResult {
  const routes = counted
    .map((r) => {
      const needs = requestsNeeded(r, gates);
      return { ...r, readiness: readiness(r, gates), ...(needs ? { needs } : {}) };
    })
    .sort((a, b) => a.route.localeCompare(b.route));
  const compared = routes.reduce((n, r) => n + r.compared, 0);
  const complete = routes.reduce((n, r) => n + r.compared - r.incomplete - r.inconclusive, 0);
  const regressions = routes.reduce((n, r) => n + r.mismatch + r.error, 0);
  const coverage = replayed === 0 ? 0 : complete / replayed;
  const mismatchRate = complete === 0 ? 0 : regressions / complete;
  const failures: string[] = [];
  if (complete < gates.minRequests) failures.push(`${complete} request(s) compared, fewer than --min-requests ${gates.minRequests}`);
  if (coverage < gates.minCoverage) {
    failures.push(
      label === 'replay'
        ? `coverage ${pct(coverage)} of ${replayed} replayed requests compared, below --min-coverage ${pct(gates.minCoverage)} (did the candidate's effects reach the collector?)`
        : `coverage ${pct(coverage)} of ${replayed} requests compared completely, below --min-coverage ${pct(gates.minCoverage)} (the rest were incomplete or inconclusive: their reasons are listed per route)`,
    );
  }
  if (mismatchRate > gates.maxMismatchRate) failures.push(`${regressions} regression(s): mismatch rate ${pct(mismatchRate)} above --max-mismatch-rate ${pct(gates.maxMismatchRate)}`);
  return { runId, replayed, compared, regressions, coverage, mismatchRate, routes, gates, failures, expired, passed: failures.length === 0 };
}

/**
 * A run's result from its rollup (what `serve` has for a run of any size, without reading every
 * comparison): counts and readiness per route, finding groups with the values of `values` (one
 * example per group, `route\0target\0field\0kind` → {legacy, candidate}) where given.
 */
export function resultFromRollup(rollup: Rollup, gates: Gates, values: ReadonlyMap<string, { legacy?: unknown; candidate?: unknown; request?: string }> = new Map()): ReplayResult {
  const routes: RouteResult[] = Object.values(rollup.routes).map((r) => ({
    route: r.route,
    compared: r.compared,
    match: r.verdicts.match,
    mismatch: r.verdicts.mismatch,
    accepted: 0,
    incomplete: r.verdicts.incomplete,
    inconclusive: r.verdicts.inconclusive ?? 0,
    error: r.verdicts.error,
    lackingData: 0,
    incompleteReasons: { ...r.incomplete },
    inconclusiveReasons: { ...(r.inconclusive ?? {}) },
    ...(r.targets ? { targets: { ...r.targets } } : {}),
    findings: Object.values(r.fields)
      .sort((a, b) => b.count - a.count)
      .map((f) => {
        const field = f.field || '(whole effect)';
        const g: FindingGroup = { route: r.route, effectKind: f.effectKind, target: f.target, field, kind: f.kind, severity: f.severity, requests: f.count, example: f.examples[0] ?? '' };
        if (f.consumers?.length) g.consumers = f.consumers;
        else if (f.unread) g.unread = true;
        const v = values.get(groupKey(r.route, f.target, field, f.kind));
        if (v?.legacy !== undefined) g.legacy = v.legacy;
        if (v?.candidate !== undefined) g.candidate = v.candidate;
        if (v?.request !== undefined) g.exampleRequest = v.request;
        return g;
      }),
  }));
  return summarize(rollup.runId, routes, routes.reduce((n, r) => n + r.compared, 0), gates, [], 'run');
}

/** Who a finding group hurts, for one-line renderings: `read by delivery-guarantee`, or that nobody reads it. */
export function impactText(g: Pick<FindingGroup, 'consumers' | 'unread'>): string {
  if (g.consumers?.length) return `read by ${g.consumers.join(', ')}`;
  return g.unread ? 'no declared consumer reads it' : '';
}

export const groupKey = (route: string, target: string, field: string, kind: string): string => `${route}\u0000${target}\u0000${field}\u0000${kind}`;

export function evaluate(runId: string, comparisons: Iterable<Comparison>, replayed: number, gates: Gates, accept: AcceptEntry[] = [], today?: string): ReplayResult {
  const e = new Evaluator(runId, accept, today);
  for (const c of comparisons) e.add(c);
  return e.result(replayed, gates);
}

/** A route's readiness for cutover: enough complete comparisons, and regressions within the allowed rate. */
type ReadinessCounts = Pick<RouteResult, 'route' | 'compared' | 'incomplete' | 'inconclusive' | 'mismatch' | 'error'>;
type ReadinessGates = Pick<Gates, 'minRequests' | 'maxMismatchRate' | 'routeMinRequests'>;

export function readiness(r: ReadinessCounts, gates: ReadinessGates): Readiness {
  const complete = r.compared - r.incomplete - r.inconclusive;
  if (complete === 0 || requestsNeeded(r, gates) > 0) return 'not enough data';
  return (r.mismatch + r.error) / complete > gates.maxMismatchRate ? 'not ready' : 'ready';
}

/** The complete comparisons a route needs: its class's minimum (routeMinRequests), else minRequests. */
export function routeMinimum(route: string, gates: Pick<Gates, 'minRequests' | 'routeMinRequests'>): number {
  return gates.routeMinRequests?.find((m) => globMatch(m.route, route))?.min ?? gates.minRequests;
}

/** How many more complete comparisons the route needs before it can be judged (0: enough). */
export function requestsNeeded(r: ReadinessCounts, gates: ReadinessGates): number {
  const complete = r.compared - r.incomplete - r.inconclusive;
  // A route with nothing complete needs one, whatever the minimum.
  return Math.max(0, Math.max(routeMinimum(r.route, gates), 1) - complete);
}

/** The candidate answered "not found"/"conflict"/"unprocessable" where legacy succeeded. */
function lacksData(c: Comparison): boolean {
  const l = c.sides.legacy.status;
  const s = c.sides.candidate.status;
  return l !== undefined && s !== undefined && l < 300 && (s === 404 || s === 409 || s === 422);
}
