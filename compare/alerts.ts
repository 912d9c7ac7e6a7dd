// Live alerting, per (run, route), in three ways, each at most once per cooldown so a broken
// route pages once, not per request:
// - rate: a sliding window of verdicts; the share mismatching (or failed) passes the threshold
//   with enough requests to mean something;
// - consecutive: the route's last k comparisons all mismatched, however few it has had (a route
//   100% wrong on its first 5 requests is worth a message before the window fills);
// - critical: one finding of the critical severity on a target the user marked critical, or any
//   finding ranked critical (a field a critical consumer reads).
// Each alert names the fields and their example values, not only a rate. Pure: the caller
// passes the time and decides where the alert goes (log, store, webhook).
import { clipJson, type Comparison, type Finding, globMatch, type Severity, SEVERITY_RANK } from './engine';

export interface AlertPolicy {
  /** Window length. */
  windowSeconds: number;
  /** Mismatch share (0–1) above which a route alerts. */
  threshold: number;
  /** Comparisons the window must hold before a rate counts. */
  minRequests: number;
  /** Quiet time per route after an alert (a critical finding's alerts have their own). */
  cooldownSeconds: number;
  /** This many mismatches in a row on a route alert at once (0: never). */
  consecutive?: number;
  /** Targets (globs: `shop.payments`, `orders/*`) where one finding of `criticalSeverity` or worse alerts at once. */
  criticalTargets?: readonly string[];
  criticalSeverity?: Severity;
}

export const DEFAULT_ALERT_POLICY: AlertPolicy = { windowSeconds: 60, threshold: 0.05, minRequests: 20, cooldownSeconds: 300, consecutive: 5, criticalTargets: [], criticalSeverity: 'high' };

export type AlertReason = 'rate' | 'consecutive' | 'critical';

/** One differing field of a recent mismatch, with its values: what an alert's reader acts on. */
export interface AlertField {
  target: string;
  field: string;
  kind: string;
  severity: string;
  legacy?: unknown;
  candidate?: unknown;
  shadowId: string;
  /** The declared consumers that read the field. */
  consumers?: string[];
}

export interface RaisedAlert {
  runId: string;
  route: string;
  at: string;
  reason: AlertReason;
  threshold: number;
  window: { seconds: number; compared: number; mismatched: number; rate: number };
  /** With `consecutive`: how many in a row. */
  streak?: number;
  /** Shadow ids of recent mismatches, newest last. */
  examples: string[];
  /** The fields that differed in the mismatch that raised it (the most severe first), with example values. */
  fields: AlertField[];
  /** The declared consumers any finding of that mismatch touches: their webhooks are told too. */
  consumers?: string[];
}

/** Fields an alert lists, and characters of JSON kept per value. */
const FIELDS_SHOWN = 3;
const VALUE_CHARS = 120;

interface Window {
  /** [time ms, bad] in arrival order. */
  times: number[];
  bad: boolean[];
  head: number;
  badCount: number;
  /** Mismatches in a row, up to this comparison. */
  streak: number;
  /** Until when the route is quiet after an alert: rate and consecutive share one, a critical finding has its own. */
  quietUntil: { route: number; critical: number };
  examples: string[];
}

export class AlertMonitor {
  private readonly windows = new Map<string, Window>();
  private readonly policy: Required<AlertPolicy>;

  constructor(policy: AlertPolicy = DEFAULT_ALERT_POLICY) {
    this.policy = { ...DEFAULT_ALERT_POLICY, ...policy } as Required<AlertPolicy>;
  }

  /** Adds one comparison; returns an alert when this one tips the route over. */
  observe(c: Comparison, nowMs: number): RaisedAlert | undefined {
    if (c.verdict === 'incomplete' || c.verdict === 'inconclusive') return undefined;
    const p = this.policy;
    const key = `${c.runId}\u0000${c.route}`;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { times: [], bad: [], head: 0, badCount: 0, streak: 0, quietUntil: { route: 0, critical: 0 }, examples: [] }));
    const bad = c.verdict === 'mismatch' || c.verdict === 'error';
    w.times.push(nowMs);
    w.bad.push(bad);
    w.streak = bad ? w.streak + 1 : 0;
    if (bad) {
      w.badCount += 1;
      w.examples.push(c.shadowId);
      if (w.examples.length > 5) w.examples.shift();
    }
    const from = nowMs - p.windowSeconds * 1000;
    while (w.head < w.times.length && w.times[w.head]! < from) {
      if (w.bad[w.head]) w.badCount -= 1;
      w.head += 1;
    }
    if (w.head > 1024 && w.head * 2 > w.times.length) {
      w.times = w.times.slice(w.head);
      w.bad = w.bad.slice(w.head);
      w.head = 0;
    }
    if (!bad) return undefined;
    const compared = w.times.length - w.head;
    const rate = compared ? w.badCount / compared : 0;
    const critical = c.findings.filter((f) => f.severity === 'critical' || (p.criticalTargets.length > 0 && SEVERITY_RANK[f.severity] <= SEVERITY_RANK[p.criticalSeverity] && p.criticalTargets.some((t) => globMatch(t, f.target))));
    const reason: AlertReason | undefined = critical.length
      ? 'critical'
      : compared >= p.minRequests && rate > p.threshold
        ? 'rate'
        : p.consecutive > 0 && w.streak >= p.consecutive
          ? 'consecutive'
          : undefined;
    const quiet = reason === 'critical' ? 'critical' : 'route';
    if (!reason || nowMs < w.quietUntil[quiet]) return undefined;
    w.quietUntil[quiet] = nowMs + p.cooldownSeconds * 1000;
    const consumers = [...new Set(c.findings.flatMap((f) => f.consumers ?? []))].sort();
    return {
      runId: c.runId,
      route: c.route,
      at: new Date(nowMs).toISOString(),
      reason,
      threshold: p.threshold,
      window: { seconds: p.windowSeconds, compared, mismatched: w.badCount, rate },
      ...(reason === 'consecutive' ? { streak: w.streak } : {}),
      examples: [...w.examples],
      fields: alertFields(c, critical.length ? critical : c.findings),
      ...(consumers.length ? { consumers } : {}),
    };
  }
}

function alertFields(c: Comparison, findings: readonly Finding[]): AlertField[] {
  return [...findings]
    .sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity])
    .slice(0, FIELDS_SHOWN)
    .map((f) => ({
      target: f.target,
      field: f.field || f.path || '(whole effect)',
      kind: f.kind,
      severity: f.severity,
      ...(f.legacy !== undefined ? { legacy: clipJson(f.legacy, VALUE_CHARS) } : {}),
      ...(f.candidate !== undefined ? { candidate: clipJson(f.candidate, VALUE_CHARS) } : {}),
      shadowId: c.shadowId,
      ...(f.consumers?.length ? { consumers: f.consumers } : {}),
    }));
}

/** One line for people: why it alerted, then the fields with their values. */
export function alertText(a: RaisedAlert): string {
  const why =
    a.reason === 'critical'
      ? 'a critical finding'
      : a.reason === 'consecutive'
        ? `${a.streak} mismatches in a row`
        : `${(a.window.rate * 100).toFixed(1)}% of ${a.window.compared} requests mismatch in the last ${a.window.seconds}s (threshold ${(a.threshold * 100).toFixed(1)}%)`;
  const value = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  const fields = a.fields.map((f) => `${f.target} ${f.field}: legacy ${value(f.legacy)} → candidate ${value(f.candidate)}${f.consumers?.length ? ` (read by ${f.consumers.join(', ')})` : ''}`).join('; ');
  const hurts = a.consumers?.length ? `. Consumers affected: ${a.consumers.join(', ')}` : '';
  return `${a.route} in run ${a.runId}: ${why}${fields ? `. ${fields}` : ''}${hurts}. Examples: ${a.examples.join(', ')}`;
}
