// A worker's Prometheus metrics (prom-client): its counters, read from the worker when scraped,
// so the comparison path pays nothing for them; and what it compared, per route and verdict,
// the findings per route, target and severity, and the detection latency, counted as each
// comparison is stored. Label sets are bounded: past the caps a comparison or finding is
// counted without its labels, in `…_unlabelled_total`, never dropped.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { VERDICTS, type Comparison } from '../compare/engine';
import { processMetrics } from '../core/process-metrics';
import { ShadowdiffError } from '../core/errors';
import { listeningUrl } from '../core/net';
import type { WorkerStats } from './worker';

type Totals = Exclude<keyof WorkerStats, 'openJoins' | 'storePendingSeconds'>;

const TOTALS: Record<Totals, string> = {
  received: 'Records received from the broker',
  deadLettered: 'Messages dead-lettered (invalid, or delivered too often)',
  compared: 'Requests compared',
  stored: 'Comparisons stored',
  alreadyStored: 'Comparisons found stored already (a redelivery, another worker): not duplicated',
  timedOut: 'Requests compared as incomplete after the timeout',
  late: 'Records that came after their request was compared (acked, counted as coverage)',
  storeErrors: 'Store writes that failed and were retried, and each storeDeadlineMs a write went unacknowledged',
  resets: 'Broker connection losses (joins in memory dropped, their records come again)',
  alerts: 'Mismatch-rate alerts raised',
};

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Distinct routes, and (route, target, severity) sets, given their own series at most. */
export const MAX_ROUTES = 200;
export const MAX_FINDING_SERIES = 1000;

export interface WorkerMetrics {
  readonly registry: Registry;
  /** Counts one stored comparison; the worker's `observe` option. */
  observe(c: Comparison, newestRecordAt: number | undefined): void;
}

export function workerMetrics(stats: () => WorkerStats, options: { defaultMetrics?: boolean; now?: () => number } = {}): WorkerMetrics {
  const registry = new Registry();
  const registers = [registry];
  for (const [key, help] of Object.entries(TOTALS) as [Totals, string][]) {
    new Counter({
      name: `shadowdiff_worker_${snake(key)}_total`,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(stats()[key]);
      },
    });
  }
  new Gauge({
    name: 'shadowdiff_worker_open_joins',
    help: 'Requests whose records are being joined in memory',
    registers,
    collect() {
      this.set(stats().openJoins);
    },
  });
  new Gauge({
    name: 'shadowdiff_worker_store_pending_seconds',
    help: 'How long the store write in flight has waited for its acknowledgement (0: none waits)',
    registers,
    collect() {
      this.set(stats().storePendingSeconds);
    },
  });
  if (options.defaultMetrics !== false) processMetrics(registry);

  const comparisons = new Counter({ name: 'shadowdiff_worker_comparisons_total', help: 'Comparisons stored, by route and verdict (every verdict of a route exists from its first comparison)', labelNames: ['route', 'verdict'], registers });
  const findings = new Counter({ name: 'shadowdiff_worker_findings_total', help: 'Findings in stored comparisons, by route, target and severity', labelNames: ['route', 'target', 'severity'], registers });
  const unlabelled = new Counter({ name: 'shadowdiff_worker_unlabelled_total', help: `Comparisons and findings counted without labels: past ${MAX_ROUTES} routes or ${MAX_FINDING_SERIES} finding series`, labelNames: ['what'], registers });
  const detection = new Histogram({
    name: 'shadowdiff_worker_detection_seconds',
    help: 'From the newest record of a request (its SDK or proxy clock) to its comparison stored',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers,
  });
  for (const what of ['comparison', 'finding']) unlabelled.labels(what).inc(0);
  const routes = new Set<string>();
  const series = new Set<string>();
  const now = options.now ?? Date.now;
  return {
    registry,
    observe(c, newestRecordAt) {
      if (!routes.has(c.route)) {
        if (routes.size >= MAX_ROUTES) unlabelled.labels('comparison').inc();
        else {
          routes.add(c.route);
          for (const v of VERDICTS) comparisons.labels(c.route, v).inc(0);
        }
      }
      if (routes.has(c.route)) comparisons.labels(c.route, c.verdict).inc();
      for (const f of c.findings) {
        const key = `${c.route}\u0000${f.target}\u0000${f.severity}`;
        if (!series.has(key) && series.size >= MAX_FINDING_SERIES) {
          unlabelled.labels('finding').inc();
          continue;
        }
        series.add(key);
        findings.labels(c.route, f.target, f.severity).inc();
      }
      if (newestRecordAt !== undefined) detection.observe(Math.max(0, now() - newestRecordAt) / 1000);
    },
  };
}

export interface MetricsServer {
  /** Where it listens, e.g. http://127.0.0.1:9464/metrics. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * GET /metrics (Prometheus text) and GET /healthz on host:port. The metrics hold counts, never
 * captured data, so they need no token.
 */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${err.message}\n`),
      );
    } else if (req.method === 'GET' && path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: a worker serves GET /metrics and GET /healthz\n');
    }
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_USAGE', `the worker's metrics cannot listen on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): choose another --metrics.`);
  }
  return {
    url: `${listeningUrl(server.address() as AddressInfo)}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
