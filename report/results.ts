// What a run found — a replay in CI or a validation run in production — judged against gates:
// per route, how many requests were compared and how, and whether the route is ready for
// cutover; the findings grouped by target and field; which of them are accepted differences
// (known, agreed, with a reason and maybe an expiry); and the verdict that becomes the exit
// code. Rendered as text, Markdown (a pull-request comment), JUnit XML (a test case per route),
// JSON, and by render/html.ts as a self-contained page.
import { z } from 'zod';
import type { Comparison, Finding } from '../compare/engine/finding';
import { reasonClass, type Rollup } from '../compare/engine/rollup';
import { ShadowdiffError } from '../core/errors';

export const acceptFileSchema = z
  .object({
    accepted: z.array(
      z
        .object({
          /** `METHOD /route`, as reports show it; omitted: every route. */
          route: z.string().min(1).optional(),
          target: z.string().min(1).optional(),
          /** The field path (`items[].price`); omitted: any field of the target. */
          field: z.string().optional(),
          kind: z.string().optional(),
          reason: z.string().min(1, 'say why this difference is accepted'),
          /** After this date (YYYY-MM-DD) the entry no longer applies: the build fails again. */
          expires: z.iso.date().optional(),
        })
        .strict(),
    ),
  })
  .strict();

export type AcceptEntry = z.infer<typeof acceptFileSchema>['accepted'][number];

export function parseAcceptFile(value: unknown, file: string): AcceptEntry[] {
  const r = acceptFileSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `${file}: "${issue.path.join('.') || '(file)'}": ${issue.message} (expected {"accepted": [{"route"?, "target"?, "field"?, "kind"?, "reason", "expires"?}]}).`, { file });
  }
  return r.data.accepted;
}

export interface Gates {
  /** Share of compared requests allowed to mismatch (after accepted differences). Default 0. */
  maxMismatchRate: number;
  /** Fewer compared requests than this fails the run. Default 1. */
  minRequests: number;
  /** Share of replayed requests that must have been compared completely. Default 0.95. */
  minCoverage: number;
}

export interface FindingGroup {
  route: string;
  target: string;
  field: string;
  kind: string;
  severity: string;
  requests: number;
  example: string;
  legacy?: unknown;
  candidate?: unknown;
  accepted?: string;
  /** Requests where the sides started from different data at this field (the candidate read after legacy wrote). */
  preStateDiffers?: number;
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
    let allAccepted = true;
    for (const f of c.findings) {
      const a = this.live.find((e) => matches(e, c.route, f));
      if (!a) allAccepted = false;
      const key = `${c.route}\u0000${f.target}\u0000${f.field}\u0000${f.kind}`;
      let g = this.groups.get(key);
      if (!g) {
        this.groups.set(key, (g = { route: c.route, target: f.target, field: f.field || '(whole effect)', kind: f.kind, severity: f.severity, requests: 0, example: c.shadowId }));
        if (f.legacy !== undefined) g.legacy = f.legacy;
        if (f.candidate !== undefined) g.candidate = f.candidate;
        if (a) g.accepted = a.reason;
        r.findings.push(g);
      }
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

  result(replayed: number, gates: Gates): ReplayResult {
    const routes = [...this.routes.values()].map((r) => ({ ...r, findings: [...r.findings].sort((a, b) => Number(a.accepted !== undefined) - Number(b.accepted !== undefined) || b.requests - a.requests) }));
    return summarize(this.runId, routes, replayed, gates, this.expired);
  }
}

/** Readiness per route, the totals and the gates' verdict over routes already counted. */
function summarize(runId: string, counted: RouteResult[], replayed: number, gates: Gates, expired: AcceptEntry[]): ReplayResult {
  const routes = counted.map((r) => ({ ...r, readiness: readiness(r, gates) })).sort((a, b) => a.route.localeCompare(b.route));
  const compared = routes.reduce((n, r) => n + r.compared, 0);
  const complete = routes.reduce((n, r) => n + r.compared - r.incomplete - r.inconclusive, 0);
  const regressions = routes.reduce((n, r) => n + r.mismatch + r.error, 0);
  const coverage = replayed === 0 ? 0 : complete / replayed;
  const mismatchRate = complete === 0 ? 0 : regressions / complete;
  const failures: string[] = [];
  if (complete < gates.minRequests) failures.push(`${complete} request(s) compared, fewer than --min-requests ${gates.minRequests}`);
  if (coverage < gates.minCoverage) failures.push(`coverage ${pct(coverage)} of ${replayed} replayed requests compared, below --min-coverage ${pct(gates.minCoverage)} (did the candidate's effects reach the collector?)`);
  if (mismatchRate > gates.maxMismatchRate) failures.push(`${regressions} regression(s): mismatch rate ${pct(mismatchRate)} above --max-mismatch-rate ${pct(gates.maxMismatchRate)}`);
  return { runId, replayed, compared, regressions, coverage, mismatchRate, routes, gates, failures, expired, passed: failures.length === 0 };
}

/**
 * A run's result from its rollup (what `serve` has for a run of any size, without reading every
 * comparison): counts and readiness per route, finding groups with the values of `values` (one
 * example per group, `route\0target\0field\0kind` → {legacy, candidate}) where given.
 */
export function resultFromRollup(rollup: Rollup, gates: Gates, values: ReadonlyMap<string, { legacy?: unknown; candidate?: unknown }> = new Map()): ReplayResult {
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
    findings: Object.values(r.fields)
      .sort((a, b) => b.count - a.count)
      .map((f) => {
        const field = f.field || '(whole effect)';
        const g: FindingGroup = { route: r.route, target: f.target, field, kind: f.kind, severity: f.severity, requests: f.count, example: f.examples[0] ?? '' };
        const v = values.get(groupKey(r.route, f.target, field, f.kind));
        if (v?.legacy !== undefined) g.legacy = v.legacy;
        if (v?.candidate !== undefined) g.candidate = v.candidate;
        return g;
      }),
  }));
  return summarize(rollup.runId, routes, routes.reduce((n, r) => n + r.compared, 0), gates, []);
}

export const groupKey = (route: string, target: string, field: string, kind: string): string => `${route}\u0000${target}\u0000${field}\u0000${kind}`;

export function evaluate(runId: string, comparisons: Iterable<Comparison>, replayed: number, gates: Gates, accept: AcceptEntry[] = [], today?: string): ReplayResult {
  const e = new Evaluator(runId, accept, today);
  for (const c of comparisons) e.add(c);
  return e.result(replayed, gates);
}

function readiness(r: RouteResult, gates: Gates): Readiness {
  const complete = r.compared - r.incomplete - r.inconclusive;
  if (complete === 0 || complete < gates.minRequests) return 'not enough data';
  return (r.mismatch + r.error) / complete > gates.maxMismatchRate ? 'not ready' : 'ready';
}

function matches(a: AcceptEntry, route: string, f: Finding): boolean {
  return (a.route === undefined || a.route === route) && (a.target === undefined || a.target === f.target || a.target === f.candidateTarget) && (a.field === undefined || a.field === f.field) && (a.kind === undefined || a.kind === f.kind);
}

/** The candidate answered "not found"/"conflict"/"unprocessable" where legacy succeeded. */
function lacksData(c: Comparison): boolean {
  const l = c.sides.legacy.status;
  const s = c.sides.candidate.status;
  return l !== undefined && s !== undefined && l < 300 && (s === 404 || s === 409 || s === 422);
}

const pct = (x: number) => `${(x * 100).toFixed(x < 0.01 && x > 0 ? 2 : 1)}%`;
const show = (v: unknown) => {
  const t = JSON.stringify(v) ?? 'undefined';
  return t.length > 80 ? `${t.slice(0, 77)}…` : t;
};

/** `replay`: a CI replay (counts "replayed"); `run`: any run in the store. */
export type ResultLabel = 'replay' | 'run';

export function renderText(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const lines = [`${r.passed ? 'PASS' : 'FAIL'} ${label} ${r.runId}: ${r.replayed} ${label === 'replay' ? 'replayed' : 'requests'}, ${r.compared} compared, ${r.regressions} regression(s), coverage ${pct(r.coverage)}`];
  for (const route of r.routes) {
    lines.push(`  ${route.route}: ${route.match} match, ${route.mismatch} mismatch${route.accepted ? ` (+${route.accepted} accepted)` : ''}, ${route.incomplete} incomplete, ${route.inconclusive ? `${route.inconclusive} inconclusive, ` : ''}${route.error} error — ${route.readiness ?? 'not evaluated'}`);
    for (const f of route.findings.slice(0, 10)) lines.push(`    ${f.accepted ? 'accepted' : f.severity.padEnd(8)} ${f.kind.padEnd(16)} ${f.target} ${f.field}  ${f.requests} request(s)${f.legacy !== undefined || f.candidate !== undefined ? `  legacy=${show(f.legacy)} candidate=${show(f.candidate)}` : ''}`);
    for (const [why, n] of Object.entries(route.incompleteReasons).slice(0, 5)) lines.push(`    incomplete: ${why} (${n})`);
    for (const [why, n] of Object.entries(route.inconclusiveReasons).slice(0, 5)) lines.push(`    inconclusive: ${why} (${n})`);
    if (route.lackingData) lines.push(`    ${route.lackingData} request(s) where the candidate answered 404/409/422 and legacy succeeded: does the candidate's database lack seed data (--seed)?`);
  }
  for (const e of r.expired) lines.push(`  expired accepted difference (counts again): ${e.route ?? '*'} ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`);
  for (const f of r.failures) lines.push(`  gate failed: ${f}`);
  return lines.join('\n');
}

export function renderMarkdown(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const out = [`### shadowdiff ${label}: ${r.passed ? '✅ no regressions' : '❌ regressions'}`, '', `${r.replayed} requests ${label === 'replay' ? 'replayed' : 'seen'}, ${r.compared} compared, **${r.regressions} regression(s)**, coverage ${pct(r.coverage)} (run \`${r.runId}\`).`, ''];
  out.push('| route | readiness | compared | match | mismatch | accepted | incomplete | inconclusive | error |', '|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const x of r.routes) out.push(`| \`${md(x.route)}\` | ${x.readiness ?? ''} | ${x.compared} | ${x.match} | ${x.mismatch} | ${x.accepted} | ${x.incomplete} | ${x.inconclusive} | ${x.error} |`);
  const findings = r.routes.flatMap((x) => x.findings.filter((f) => !f.accepted)).sort((a, b) => b.requests - a.requests);
  if (findings.length) {
    out.push('', '| route | target | field | kind | requests | legacy | candidate |', '|---|---|---|---|---:|---|---|');
    for (const f of findings.slice(0, 30)) out.push(`| \`${md(f.route)}\` | \`${md(f.target)}\` | \`${md(f.field)}\` | ${f.kind} | ${f.requests} | \`${md(show(f.legacy))}\` | \`${md(show(f.candidate))}\` |`);
    if (findings.length > 30) out.push('', `…and ${findings.length - 30} more.`);
  }
  if (r.failures.length) out.push('', ...r.failures.map((f) => `- gate failed: ${f}`));
  if (r.expired.length) out.push('', ...r.expired.map((e) => `- expired accepted difference: ${e.target ?? '*'} ${e.field ?? '*'} — ${e.reason} (expired ${e.expires})`));
  return `${out.join('\n')}\n`;
}

// A table cell: pipes escaped, backticks (which would end the code span) and line breaks and
// other control characters replaced.
// eslint-disable-next-line no-control-regex
const md = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\|/g, '\\|').replace(/`/g, "'");

export function renderJUnit(r: ReplayResult, label: ResultLabel = 'replay'): string {
  const cases = r.routes.map((x) => {
    const problems = x.findings.filter((f) => !f.accepted);
    const failed = x.mismatch > 0 || x.error > 0;
    let body = '';
    if (failed) {
      const text = [
        `${x.mismatch} mismatching and ${x.error} failed of ${x.compared} compared request(s)`,
        ...problems.map((f) => `${f.severity} ${f.kind} ${f.target} ${f.field}: ${f.requests} request(s), legacy=${show(f.legacy)} candidate=${show(f.candidate)} (e.g. ${f.example})`),
      ].join('\n');
      body = `<failure message="${xml(`${x.mismatch + x.error} regression(s) on ${x.route}`)}" type="regression">${xml(text)}</failure>`;
    } else if (x.compared === x.incomplete + x.inconclusive) {
      body = `<skipped message="${xml(`no request on ${x.route} could be compared completely`)}"/>`;
    }
    const out = [...Object.entries(x.incompleteReasons).map(([why, n]) => `incomplete: ${why} (${n})`), ...Object.entries(x.inconclusiveReasons).map(([why, n]) => `inconclusive: ${why} (${n})`)];
    if (out.length) body += `<system-out>${xml(out.join('\n'))}</system-out>`;
    return `    <testcase classname="shadowdiff.${label}" name="${xml(x.route)}" assertions="${x.compared}">${body}</testcase>`;
  });
  const failures = r.routes.filter((x) => x.mismatch > 0 || x.error > 0).length;
  const skipped = r.routes.filter((x) => !(x.mismatch > 0 || x.error > 0) && x.compared === x.incomplete + x.inconclusive).length;
  const gateCase = `    <testcase classname="shadowdiff.${label}" name="gates">${r.failures.length ? `<failure message="${xml(r.failures.join('; '))}" type="gate">${xml(r.failures.join('\n'))}</failure>` : ''}</testcase>`;
  const total = r.routes.length + 1;
  const failed = failures + (r.failures.length ? 1 : 0);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="shadowdiff ${label}" tests="${total}" failures="${failed}" errors="0" skipped="${skipped}">`,
    `  <testsuite name="${xml(`${label} ${r.runId}`)}" tests="${total}" failures="${failed}" errors="0" skipped="${skipped}">`,
    ...cases,
    gateCase,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function xml(s: string): string {
  // XML 1.0 cannot carry most control characters even escaped: drop them.
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
