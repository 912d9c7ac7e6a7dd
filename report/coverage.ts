// What a run did not compare, and why: the store's not-compared counters (replay's skips, late
// records) with what the proxies in front of the run did not mirror (design decision 12). A run
// whose proxy skipped most requests must not read as if everything it saw was compared.
import type { RunInfo } from '../runtime/store/store';

/** Chosen, not lost: requests left out by the sampling settings. */
const BY_CHOICE = new Set(['sampled-out', 'disabled']);

export interface ProxyTotals {
  /** Requests the proxies forwarded. */
  seen: number;
  mirrored: number;
  /** Not mirrored, by reason. */
  notMirrored: Record<string, number>;
  /** Mirrored, but their exchanges never left the proxy. */
  dropped: number;
  /** Not compared for a reason other than sampling: what coverage is short of. */
  lost: number;
}

/** The proxies' totals summed, or undefined for a run without a proxy in front. */
export function proxyTotals(run: RunInfo | undefined): ProxyTotals | undefined {
  const proxies = Object.values(run?.proxies ?? {});
  if (!proxies.length) return undefined;
  const t: ProxyTotals = { seen: 0, mirrored: 0, notMirrored: {}, dropped: 0, lost: 0 };
  for (const p of proxies) {
    t.seen += p.seen;
    t.mirrored += p.mirrored;
    t.dropped += p.dropped;
    for (const [why, n] of Object.entries(p.notMirrored)) if (n > 0) t.notMirrored[why] = (t.notMirrored[why] ?? 0) + n;
  }
  t.lost = t.dropped + Object.entries(t.notMirrored).reduce((n, [why, k]) => (BY_CHOICE.has(why) ? n : n + k), 0);
  return t;
}

/** Everything not compared, by reason: the run's counters and the proxies', named as such. */
export function notCompared(run: RunInfo | undefined): Record<string, number> {
  const out: Record<string, number> = { ...run?.coverage };
  const p = proxyTotals(run);
  if (p) {
    for (const [why, n] of Object.entries(p.notMirrored)) out[`not mirrored: ${why}`] = n;
    if (p.dropped) out['mirrored, exchange dropped by the proxy'] = p.dropped;
  }
  return out;
}

/** One line for people: "proxy: 15,655 requests seen, 261 mirrored (1.7%); not mirrored: circuit-open 15,000, …". */
export function proxyLine(run: RunInfo | undefined): string | undefined {
  const p = proxyTotals(run);
  if (!p) return undefined;
  const n = (x: number) => x.toLocaleString('en-US');
  const share = p.seen ? ` (${((p.mirrored / p.seen) * 100).toFixed(1)}%)` : '';
  const why = Object.entries(p.notMirrored).sort((a, b) => b[1] - a[1]);
  return `proxy: ${n(p.seen)} request(s) seen, ${n(p.mirrored)} mirrored${share}${why.length ? `; not mirrored: ${why.map(([w, k]) => `${w} ${n(k)}`).join(', ')}` : ''}${p.dropped ? `; ${n(p.dropped)} exchange(s) dropped by the proxy` : ''}`;
}
