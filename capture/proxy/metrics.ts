// The proxy's Prometheus metrics (prom-client), on a registry of its own. Label sets are bound
// once, so the request path pays an increment, not a label lookup.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { processMetrics } from '../../core/process-metrics';
import { SKIP_REASONS, type SkipReason } from './sampling';

export const MIRROR_SKIPS = [...SKIP_REASONS, 'body-too-large', 'mirror-busy', 'circuit-open', 'circuit-recovering', 'shutting-down', 'request-incomplete', 'internal-error'] as const;
export type MirrorSkip = SkipReason | (typeof MIRROR_SKIPS)[number];
/** Mirror targets: the candidate and a secondary; legacy when the candidate serves a request live (cutover). */
export type TargetName = 'candidate' | 'secondary' | 'legacy';

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'outcome'>;
  private readonly skipped: Counter<'reason'>;
  private readonly mirrored: Counter<'target'>;
  private readonly mirrorErrors: Counter<'target' | 'reason'>;
  private readonly mirrorSeconds: Histogram<'target'>;
  private readonly primarySeconds: { mirrored: Histogram.Internal<'mirrored'>; plain: Histogram.Internal<'mirrored'> };
  readonly inFlight: Gauge<'target'>;
  readonly breaker: Gauge<'target'>;
  readonly exchanges: Counter<'outcome'>;
  readonly connectionsRefused: Counter;
  private readonly mirrorSlow: Counter<'target'>;
  private readonly mirrorCut: Counter<'target'>;
  private readonly liveServed: Counter<'rule'>;
  readonly liveNoKey: Counter;
  private readonly liveShare: Gauge<'rule'>;

  /** `targets`: the mirror targets configured (a `secondary` series only where there is one). */
  constructor(options: { defaultMetrics?: boolean; targets?: readonly TargetName[] } = {}) {
    const targets = options.targets ?? ['candidate'];
    const registers = [this.registry];
    this.requests = new Counter({ name: 'shadowdiff_proxy_requests_total', help: 'Requests forwarded to legacy, by outcome (ok: a response went back; 502/504: upstream failure; aborted: the client left)', labelNames: ['outcome'], registers });
    this.skipped = new Counter({ name: 'shadowdiff_proxy_mirror_skipped_total', help: 'Requests not mirrored, by reason', labelNames: ['reason'], registers });
    this.mirrored = new Counter({ name: 'shadowdiff_proxy_mirrored_total', help: 'Requests mirrored, by target', labelNames: ['target'], registers });
    this.mirrorErrors = new Counter({ name: 'shadowdiff_proxy_mirror_errors_total', help: 'Mirrors that got no response, by target and reason', labelNames: ['target', 'reason'], registers });
    this.mirrorSeconds = new Histogram({ name: 'shadowdiff_proxy_mirror_duration_seconds', help: 'Mirror request to end of response', labelNames: ['target'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers });
    const primary = new Histogram({ name: 'shadowdiff_proxy_primary_duration_seconds', help: 'Client request to end of the legacy response through the proxy; mirrored="true" when the request was mirrored too', labelNames: ['mirrored'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    this.primarySeconds = { mirrored: primary.labels('true'), plain: primary.labels('false') };
    this.inFlight = new Gauge({ name: 'shadowdiff_proxy_mirrors_in_flight', help: 'Mirrors waiting for a response', labelNames: ['target'], registers });
    this.breaker = new Gauge({ name: 'shadowdiff_proxy_breaker_state', help: 'Circuit breaker per mirror target: 0 closed, 1 open, 2 half-open', labelNames: ['target'], registers });
    this.exchanges = new Counter({ name: 'shadowdiff_proxy_exchanges_total', help: 'Exchange records: queued for the sink, or dropped (buffer full, sink refused, shutdown)', labelNames: ['outcome'], registers });
    this.mirrorSlow = new Counter({ name: 'shadowdiff_proxy_mirror_slow_total', help: 'Mirrors answered slower than mirror.slowMs: counted against the breaker as failures are', labelNames: ['target'], registers });
    this.mirrorCut = new Counter({ name: 'shadowdiff_proxy_mirror_cut_total', help: 'Mirror responses the proxy stopped reading past mirror.maxResponseBytes (recorded as truncated)', labelNames: ['target'], registers });
    this.connectionsRefused = new Counter({ name: 'shadowdiff_proxy_connections_refused_total', help: 'Client connections answered 503 and closed: the address held client.maxConnectionsPerIp already', registers });
    this.liveServed = new Counter({ name: 'shadowdiff_proxy_live_served_total', help: 'Requests the candidate served live (cutover), by the cutover rule that gave them to it (* the global share)', labelNames: ['rule'], registers });
    this.liveNoKey = new Counter({ name: 'shadowdiff_proxy_live_no_key_total', help: 'Requests a live share would have given the candidate, served by legacy because they carry no sticky key', registers });
    this.liveShare = new Gauge({ name: 'shadowdiff_proxy_live_share_percent', help: 'Share of requests the candidate serves live, per cutover rule (* the global share); 0 while held after a rollback', labelNames: ['rule'], registers });
    this.liveShare.labels('*').set(0);
    this.liveServed.labels('*').inc(0);
    if (options.defaultMetrics !== false) processMetrics(this.registry);
    // Every series exists from the start, at 0: a rate or an alert over it never sees "no data".
    for (const o of ['ok', '502', '504', 'aborted']) this.requests.labels(o).inc(0);
    for (const r of MIRROR_SKIPS) this.skipped.labels(r).inc(0);
    for (const o of ['queued', 'dropped']) this.exchanges.labels(o).inc(0);
    for (const t of targets) {
      this.mirrored.labels(t).inc(0);
      this.mirrorSlow.labels(t).inc(0);
      this.mirrorCut.labels(t).inc(0);
      this.inFlight.labels(t).set(0);
      this.breaker.labels(t).set(0);
    }
  }

  /** The hosted pre-state handoff's counters, read when scraped. */
  watchHandoff(read: () => { puts: number; gets: number; refused: number; held: number }): void {
    const registers = [this.registry];
    new Counter({
      name: 'shadowdiff_proxy_handoff_requests_total',
      help: 'Requests the hosted pre-state handoff served: puts (live writes about to happen), gets (dry-run reads), refused (wrong or missing token)',
      labelNames: ['op'],
      registers,
      collect() {
        const s = read();
        this.reset();
        this.labels('put').inc(s.puts);
        this.labels('get').inc(s.gets);
        this.labels('refused').inc(s.refused);
      },
    });
    new Gauge({
      name: 'shadowdiff_proxy_handoff_requests_held',
      help: 'Shadowed requests whose pre-state the hosted handoff holds (each for handoff.ttlMs after its last put)',
      registers,
      collect() {
        this.set(read().held);
      },
    });
  }

  private readonly bound = new Map<Counter<string>, Map<string, { inc(n?: number): void }>>();
  private counter(c: Counter<string>, ...labels: string[]): { inc(n?: number): void } {
    let children = this.bound.get(c);
    if (!children) this.bound.set(c, (children = new Map()));
    const key = labels.join('\u0000');
    let b = children.get(key);
    if (!b) children.set(key, (b = c.labels(...labels)));
    return b;
  }

  /** Plain totals of what the proxy saw, for the coverage records it publishes (capture/proxy/recorder.ts). */
  readonly totals = { seen: 0, mirrored: 0, notMirrored: {} as Record<string, number> };

  request(outcome: 'ok' | '502' | '504' | 'aborted', seconds: number, mirrored: boolean): void {
    this.totals.seen += 1;
    this.counter(this.requests, outcome).inc();
    if (outcome === 'ok') (mirrored ? this.primarySeconds.mirrored : this.primarySeconds.plain).observe(seconds);
  }
  skip(reason: MirrorSkip): void {
    this.totals.notMirrored[reason] = (this.totals.notMirrored[reason] ?? 0) + 1;
    this.counter(this.skipped, reason).inc();
  }
  /** The cutover's shares changed: the gauge shows them as they stand (held ones at 0). */
  liveShares(global: number, routes: readonly { route: string; percent: number; held?: unknown }[]): void {
    this.liveShare.reset();
    this.liveShare.labels('*').set(global);
    for (const r of routes) this.liveShare.labels(r.route).set(r.held ? 0 : r.percent);
  }
  live(rule: string): void {
    this.counter(this.liveServed, rule).inc();
  }
  mirror(target: TargetName): void {
    // A request the candidate served is compared through its legacy mirror.
    if (target !== 'secondary') this.totals.mirrored += 1;
    this.counter(this.mirrored, target).inc();
  }
  private readonly mirrorTimers = new Map<string, { observe(v: number): void }>();
  mirrorDone(target: TargetName, seconds: number, error?: string, seen: { slow?: boolean; cut?: boolean } = {}): void {
    if (error) return this.counter(this.mirrorErrors, target, error).inc();
    if (seen.slow) this.counter(this.mirrorSlow, target).inc();
    if (seen.cut) this.counter(this.mirrorCut, target).inc();
    let h = this.mirrorTimers.get(target);
    if (!h) this.mirrorTimers.set(target, (h = this.mirrorSeconds.labels(target)));
    h.observe(seconds);
  }
}
