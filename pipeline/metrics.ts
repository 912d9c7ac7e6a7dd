// A worker's Prometheus metrics (prom-client): its counters, read from the worker when scraped,
// so the comparison path pays nothing for them.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { ShadowdiffError } from '../core/errors';
import { listeningUrl } from '../core/net';
import type { WorkerStats } from './worker';

type Totals = Exclude<keyof WorkerStats, 'openJoins'>;

const TOTALS: Record<Totals, string> = {
  received: 'Records received from the broker',
  deadLettered: 'Messages dead-lettered (invalid, or delivered too often)',
  compared: 'Requests compared',
  stored: 'Comparisons stored',
  alreadyStored: 'Comparisons found stored already (a redelivery, another worker): not duplicated',
  timedOut: 'Requests compared as incomplete after the timeout',
  late: 'Records that came after their request was compared (acked, counted as coverage)',
  storeErrors: 'Store writes that failed and were retried',
  resets: 'Broker connection losses (joins in memory dropped, their records come again)',
  alerts: 'Mismatch-rate alerts raised',
};

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

export function workerMetrics(stats: () => WorkerStats, options: { defaultMetrics?: boolean } = {}): Registry {
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
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'shadowdiff_worker_' });
  return registry;
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
