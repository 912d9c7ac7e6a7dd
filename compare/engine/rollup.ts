// Rollups: comparisons aggregated per run × route × target × field. A rollup is a monoid —
// `mergeRollups` is associative and commutative with `emptyRollup` as identity — so every
// worker can keep its own and any two combine exactly. Rates are derived, never stored.
import { clipJson, type Comparison, type FindingKind, type Severity, SEVERITY_RANK, type Verdict } from './finding';

export const EXAMPLES_KEPT = 5;

export interface FieldStats {
  effectKind: string;
  target: string;
  field: string;
  kind: FindingKind;
  severity: Severity;
  /** Comparisons with at least one such finding. */
  count: number;
  /** Findings in all (a field of several array items counts once per item). */
  occurrences: number;
  /** Comparisons where both values looked generated (ids, timestamps). */
  volatile: number;
  /** Comparisons where it was suppressed as learned noise (legacy vs secondary differ too). */
  noise: number;
  /** Comparisons where the sides started from different pre-states. */
  preStateDiffers: number;
  firstSeen: string;
  lastSeen: string;
  /** The smallest shadow ids seen (ULIDs: the earliest), at most EXAMPLES_KEPT. */
  examples: string[];
  /** One example pair of values, from the smallest shadow id with one (absent in rollups from before it existed). */
  example?: ExamplePair;
  /** The declared consumers that read the field (consumers.ts), sorted. */
  consumers?: string[];
  /** The target's consumers are declared and none reads the field. */
  unread?: boolean;
}

/** A finding's two values, each clipped to EXAMPLE_CHARS of JSON (a longer one is kept as its clipped JSON text). */
export interface ExamplePair {
  shadowId: string;
  legacy?: unknown;
  candidate?: unknown;
}

export const EXAMPLE_CHARS = 200;

function examplePair(shadowId: string, f: Comparison['findings'][number]): ExamplePair {
  const pair: ExamplePair = { shadowId };
  if (f.legacy !== undefined) pair.legacy = clipJson(f.legacy, EXAMPLE_CHARS);
  if (f.candidate !== undefined) pair.candidate = clipJson(f.candidate, EXAMPLE_CHARS);
  return pair;
}

function withExample(example: ExamplePair | undefined): { example?: ExamplePair } {
  return example ? { example } : {};
}

/** The example of the smaller shadow id (then the smaller JSON): the same whichever order rollups merge in. */
function earlier(a: ExamplePair | undefined, b: ExamplePair | undefined): ExamplePair | undefined {
  if (!a || !b) return a ?? b;
  if (a.shadowId !== b.shadowId) return b.shadowId < a.shadowId ? b : a;
  return JSON.stringify(b) < JSON.stringify(a) ? b : a;
}

export interface RouteRollup {
  route: string;
  compared: number;
  verdicts: Record<Verdict, number>;
  /** Incomplete comparisons by what was missing (`candidate: no end marker`): coverage. */
  incomplete: Record<string, number>;
  /** Inconclusive comparisons by why (`legacy: pre-state unknown`): coverage too. Absent in rollups from before it existed. */
  inconclusive?: Record<string, number>;
  firstSeen: string;
  lastSeen: string;
  fields: Record<string, FieldStats>;
  /** Per hour of comparison (`2026-11-25T08`): [compared, mismatched or failed] — the trend. */
  hours?: Record<string, [number, number]>;
  /** Comparisons where each side recorded at least one database write (absent in rollups from before it existed). */
  withDb?: { legacy: number; candidate: number };
  /** Complete comparisons per target they had effects on (`db shop.orders`): which routes a consumer's data comes from. */
  targets?: Record<string, number>;
  /** Cutover: [requests the candidate served live, of them mismatched or failed] (absent: none). */
  served?: [number, number];
}

export interface Rollup {
  runId: string;
  routes: Record<string, RouteRollup>;
}

export function emptyRollup(runId: string): Rollup {
  return { runId, routes: {} };
}

/** Adds one comparison to a rollup in place (the worker's hot path). */
export function addComparison(rollup: Rollup, c: Comparison): Rollup {
  const route = (rollup.routes[c.route] ??= {
    route: c.route,
    compared: 0,
    verdicts: { match: 0, mismatch: 0, incomplete: 0, inconclusive: 0, error: 0 },
    incomplete: {},
    firstSeen: c.comparedAt,
    lastSeen: c.comparedAt,
    fields: {},
  });
  route.compared += 1;
  route.verdicts[c.verdict] = (route.verdicts[c.verdict] ?? 0) + 1;
  const withDb = (route.withDb ??= { legacy: 0, candidate: 0 });
  if (c.sides.legacy.db) withDb.legacy += 1;
  if (c.sides.candidate.db) withDb.candidate += 1;
  if (c.served === 'candidate') {
    const served = (route.served ??= [0, 0]);
    served[0] += 1;
    if (c.verdict === 'mismatch' || c.verdict === 'error') served[1] += 1;
  }
  const hour = ((route.hours ??= {})[c.comparedAt.slice(0, 13)] ??= [0, 0]);
  hour[0] += 1;
  if (c.verdict === 'mismatch' || c.verdict === 'error') hour[1] += 1;
  for (const reason of new Set((c.incomplete ?? []).map(reasonClass))) route.incomplete[reason] = (route.incomplete[reason] ?? 0) + 1;
  if (c.inconclusive?.length) {
    const counts = (route.inconclusive ??= {});
    for (const reason of new Set(c.inconclusive.map(reasonClass))) counts[reason] = (counts[reason] ?? 0) + 1;
  }
  if (c.comparedAt < route.firstSeen) route.firstSeen = c.comparedAt;
  if (c.comparedAt > route.lastSeen) route.lastSeen = c.comparedAt;
  if (c.verdict === 'match' || c.verdict === 'mismatch') countTargets((route.targets ??= {}), c);

  const touched = new Map<string, { stats: FieldStats; volatile: boolean; pre: boolean; noise: boolean; found: boolean; first?: Comparison['findings'][number] }>();
  let fresh = false;
  const visit = (f: Comparison['findings'][number], noise: boolean) => {
    const id = fieldId(f.effectKind, f.target, f.kind, f.field);
    let t = touched.get(id);
    if (!t) {
      fresh = route.fields[id] === undefined;
      const stats = (route.fields[id] ??= {
        effectKind: f.effectKind,
        target: f.target,
        field: f.field,
        kind: f.kind,
        severity: f.severity,
        count: 0,
        occurrences: 0,
        volatile: 0,
        noise: 0,
        preStateDiffers: 0,
        firstSeen: c.comparedAt,
        lastSeen: c.comparedAt,
        examples: [],
      });
      t = { stats, volatile: false, pre: false, noise: false, found: false };
      touched.set(id, t);
    }
    if (!noise) rank(t.stats, f, fresh);
    fresh = false;
    if (noise) t.noise = true;
    else {
      t.found = true;
      t.first ??= f;
      t.stats.occurrences += 1;
      t.volatile ||= f.volatile === true;
      t.pre ||= f.preStateDiffers === true;
    }
  };
  for (const f of c.findings) visit(f, false);
  for (const f of c.noise) visit(f, true);
  for (const t of touched.values()) {
    const s = t.stats;
    if (t.found) s.count += 1;
    if (t.noise) s.noise += 1;
    if (t.volatile) s.volatile += 1;
    if (t.pre) s.preStateDiffers += 1;
    if (c.comparedAt < s.firstSeen) s.firstSeen = c.comparedAt;
    if (c.comparedAt > s.lastSeen) s.lastSeen = c.comparedAt;
    s.examples = keepExamples(s.examples, [c.shadowId]);
    if (t.first && (s.example === undefined || c.shadowId <= s.example.shadowId)) s.example = earlier(s.example, examplePair(c.shadowId, t.first));
  }
  return rollup;
}

/** Each target a comparison had effects on (`db shop.orders`), counted once: what rollups and readiness count per route. */
export function countTargets(counts: Record<string, number>, c: Comparison): void {
  let last = '';
  const seen: string[] = [];
  for (const p of c.pairs) {
    const key = `${p.effectKind} ${p.target}`;
    if (key === last || seen.includes(key)) continue;
    seen.push(key);
    last = key;
    counts[key] = (counts[key] ?? 0) + 1;
  }
}

/**
 * A field's most severe finding decides its severity; its consumers are every finding's; it is
 * unread only while every finding was (`fresh`: the field's first finding in the rollup).
 */
function rank(s: FieldStats, f: Comparison['findings'][number], fresh: boolean): void {
  if (SEVERITY_RANK[f.severity] < SEVERITY_RANK[s.severity]) s.severity = f.severity;
  if (f.consumers?.length) {
    const have = s.consumers ?? [];
    if (f.consumers.some((n) => !have.includes(n))) s.consumers = [...new Set([...have, ...f.consumers])].sort();
  }
  if (fresh && f.unread && !f.consumers?.length) s.unread = true;
  else if (!f.unread || s.consumers) delete s.unread;
}

export function rollupOf(runId: string, comparisons: Iterable<Comparison>): Rollup {
  const r = emptyRollup(runId);
  for (const c of comparisons) addComparison(r, c);
  return r;
}

/** Combines two rollups of the same run into a new one; neither input is changed. */
export function mergeRollups(a: Rollup, b: Rollup): Rollup {
  const out: Rollup = { runId: a.runId, routes: {} };
  for (const key of new Set([...Object.keys(a.routes), ...Object.keys(b.routes)])) {
    const x = a.routes[key];
    const y = b.routes[key];
    out.routes[key] = x && y ? mergeRoute(x, y) : structuredClone((x ?? y)!);
  }
  return out;
}

function mergeRoute(x: RouteRollup, y: RouteRollup): RouteRollup {
  const verdicts = { ...x.verdicts };
  for (const v of Object.keys(y.verdicts) as Verdict[]) verdicts[v] = (verdicts[v] ?? 0) + y.verdicts[v];
  const fields: Record<string, FieldStats> = {};
  for (const key of new Set([...Object.keys(x.fields), ...Object.keys(y.fields)])) {
    const f = x.fields[key];
    const g = y.fields[key];
    fields[key] =
      f && g
        ? {
            ...f,
            count: f.count + g.count,
            occurrences: f.occurrences + g.occurrences,
            volatile: f.volatile + g.volatile,
            noise: f.noise + g.noise,
            preStateDiffers: f.preStateDiffers + g.preStateDiffers,
            firstSeen: min(f.firstSeen, g.firstSeen),
            lastSeen: max(f.lastSeen, g.lastSeen),
            examples: keepExamples(f.examples, g.examples),
            ...withExample(earlier(f.example, g.example)),
            severity: SEVERITY_RANK[g.severity] < SEVERITY_RANK[f.severity] ? g.severity : f.severity,
          }
        : structuredClone((f ?? g)!);
    if (f && g) mergeConsumers(fields[key], f, g);
  }
  const incomplete = { ...x.incomplete };
  for (const [reason, n] of Object.entries(y.incomplete)) incomplete[reason] = (incomplete[reason] ?? 0) + n;
  const merged: RouteRollup = {
    route: x.route,
    compared: x.compared + y.compared,
    verdicts,
    incomplete,
    ...(x.inconclusive || y.inconclusive ? { inconclusive: addCounts(x.inconclusive ?? {}, y.inconclusive ?? {}) } : {}),
    firstSeen: min(x.firstSeen, y.firstSeen),
    lastSeen: max(x.lastSeen, y.lastSeen),
    fields,
  };
  if (x.targets || y.targets) merged.targets = addCounts(x.targets ?? {}, y.targets ?? {});
  if (x.served || y.served) merged.served = [(x.served?.[0] ?? 0) + (y.served?.[0] ?? 0), (x.served?.[1] ?? 0) + (y.served?.[1] ?? 0)];
  if (x.withDb || y.withDb) merged.withDb = { legacy: (x.withDb?.legacy ?? 0) + (y.withDb?.legacy ?? 0), candidate: (x.withDb?.candidate ?? 0) + (y.withDb?.candidate ?? 0) };
  if (x.hours || y.hours) {
    const hours: Record<string, [number, number]> = {};
    for (const [h, [n, bad]] of [...Object.entries(x.hours ?? {}), ...Object.entries(y.hours ?? {})]) {
      const b = (hours[h] ??= [0, 0]);
      b[0] += n;
      b[1] += bad;
    }
    merged.hours = hours;
  }
  return merged;
}

/** Consumers named by either side; unread only where both say so (no undefined keys: stores keep them as null). */
function mergeConsumers(out: FieldStats, f: FieldStats, g: FieldStats): void {
  delete out.consumers;
  delete out.unread;
  const names = [...new Set([...(f.consumers ?? []), ...(g.consumers ?? [])])].sort();
  if (names.length) out.consumers = names;
  else if (f.unread && g.unread) out.unread = true;
}

export interface NoiseSuggestion {
  route: string;
  effectKind: string;
  target: string;
  field: string;
  /** Share of the route's compared requests where this field differed with generated-looking values. */
  share: number;
  count: number;
}

/** Diffy's thresholds: how far above the noise estimate a field's difference rate must be to count as real. */
export interface NoiseThresholds {
  /** The difference rate may exceed the noise rate by this share of it (0.2: by a fifth). */
  relative: number;
  /** …or by this many requests in a hundred (0.03: three points). */
  absolute: number;
  /** Without a secondary (the estimate not measured), a field must differ in this share of the route's requests. */
  everyTime: number;
}

export const NOISE_THRESHOLDS: NoiseThresholds = { relative: 0.2, absolute: 0.03, everyTime: 0.9 };

/**
 * Whether a field's differences look like noise, Diffy's way: the share of the route's requests
 * where it differs against a noise estimate, within relative and absolute thresholds. Where a
 * secondary (a second legacy instance) ran, the estimate is measured: the share where legacy and
 * secondary differ there too. Otherwise it is the share whose values on both sides look generated
 * (ids, timestamps) and differ, and the field must differ nearly every time. A value present on
 * one side only never counts towards the estimate: a field the candidate adds or drops is a real
 * difference, whatever its value looks like.
 */
export function looksLikeNoise(route: RouteRollup, f: FieldStats, t: NoiseThresholds = NOISE_THRESHOLDS): boolean {
  if (!route.compared) return false;
  const measured = f.noise > 0;
  // Measured: the suppressed comparisons differ for the candidate too.
  const differs = (measured ? f.count + f.noise : f.count) / route.compared;
  const noise = (measured ? f.noise : f.volatile) / route.compared;
  if (noise === 0 || (!measured && differs < t.everyTime)) return false;
  return differs - noise <= t.absolute || differs <= noise * (1 + t.relative);
}

/**
 * Fields that look like noise (looksLikeNoise) in at least `minCount` requests of a route:
 * suggested for an ignore rule in the report — never suppressed silently.
 */
export function suggestNoise(rollup: Rollup, options: { minShare?: number; minCount?: number } = {}): NoiseSuggestion[] {
  const thresholds = { ...NOISE_THRESHOLDS, everyTime: options.minShare ?? NOISE_THRESHOLDS.everyTime };
  const minCount = options.minCount ?? 20;
  const out: NoiseSuggestion[] = [];
  for (const r of Object.values(rollup.routes)) {
    for (const f of Object.values(r.fields)) {
      if (f.count + f.noise >= minCount && looksLikeNoise(r, f, thresholds)) {
        out.push({ route: r.route, effectKind: f.effectKind, target: f.target, field: f.field, share: r.compared ? f.volatile / r.compared : 0, count: f.volatile });
      }
    }
  }
  return out.sort((a, b) => b.share - a.share || (a.route < b.route ? -1 : 1));
}

/** An incomplete reason without its numbers: `candidate: 2 of 5 effect(s) not received (seq 3, 4)` → `candidate: effect(s) not received`. */
export function reasonClass(reason: string): string {
  return reason
    .replace(/\s*\([^)]*\)/g, '')
    .replace(/\b\d+( of \d+)?\s+/g, '')
    .trim();
}

export function fieldId(effectKind: string, target: string, kind: string, field: string): string {
  return `${effectKind} ${target} ${kind} ${field}`;
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

function keepExamples(a: readonly string[], b: readonly string[]): string[] {
  return [...new Set([...a, ...b])].sort().slice(0, EXAMPLES_KEPT);
}

const min = (a: string, b: string) => (a < b ? a : b);
const max = (a: string, b: string) => (a > b ? a : b);
