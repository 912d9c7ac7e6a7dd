// Live alerting: a sliding window of verdicts per (run, route). When the share of mismatching
// (or failed) comparisons passes the threshold, with enough requests to mean something, an
// alert is raised — once per cooldown, so a broken route pages once, not per request. Pure:
// the caller passes the time and decides where the alert goes (log, store, webhook).
import type { Comparison } from './engine';

export interface AlertPolicy {
  /** Window length. */
  windowSeconds: number;
  /** Mismatch share (0–1) above which a route alerts. */
  threshold: number;
  /** Comparisons the window must hold before a rate counts. */
  minRequests: number;
  /** Quiet time per route after an alert. */
  cooldownSeconds: number;
}

export const DEFAULT_ALERT_POLICY: AlertPolicy = { windowSeconds: 60, threshold: 0.05, minRequests: 20, cooldownSeconds: 300 };

export interface RaisedAlert {
  runId: string;
  route: string;
  at: string;
  threshold: number;
  window: { seconds: number; compared: number; mismatched: number; rate: number };
  /** Shadow ids of recent mismatches, newest last. */
  examples: string[];
}

interface Window {
  /** [time ms, bad] in arrival order. */
  times: number[];
  bad: boolean[];
  head: number;
  badCount: number;
  quietUntil: number;
  examples: string[];
}

export class AlertMonitor {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly policy: AlertPolicy = DEFAULT_ALERT_POLICY) {}

  /** Adds one comparison; returns an alert when this one tips the route over. */
  observe(c: Comparison, nowMs: number): RaisedAlert | undefined {
    if (c.verdict === 'incomplete' || c.verdict === 'inconclusive') return undefined;
    const key = `${c.runId}\u0000${c.route}`;
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = { times: [], bad: [], head: 0, badCount: 0, quietUntil: 0, examples: [] }));
    const bad = c.verdict === 'mismatch' || c.verdict === 'error';
    w.times.push(nowMs);
    w.bad.push(bad);
    if (bad) {
      w.badCount += 1;
      w.examples.push(c.shadowId);
      if (w.examples.length > 5) w.examples.shift();
    }
    const from = nowMs - this.policy.windowSeconds * 1000;
    while (w.head < w.times.length && w.times[w.head]! < from) {
      if (w.bad[w.head]) w.badCount -= 1;
      w.head += 1;
    }
    if (w.head > 1024 && w.head * 2 > w.times.length) {
      w.times = w.times.slice(w.head);
      w.bad = w.bad.slice(w.head);
      w.head = 0;
    }
    const compared = w.times.length - w.head;
    const rate = compared ? w.badCount / compared : 0;
    if (!bad || compared < this.policy.minRequests || rate <= this.policy.threshold || nowMs < w.quietUntil) return undefined;
    w.quietUntil = nowMs + this.policy.cooldownSeconds * 1000;
    return {
      runId: c.runId,
      route: c.route,
      at: new Date(nowMs).toISOString(),
      threshold: this.policy.threshold,
      window: { seconds: this.policy.windowSeconds, compared, mismatched: w.badCount, rate },
      examples: [...w.examples],
    };
  }
}
