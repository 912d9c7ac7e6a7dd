// `shadowdiff proxy` as a library: the forwarding server, the mirror targets, the exchange
// recorder and the admin API, started together and stopped in order (stop taking requests,
// drain, let mirrors settle, flush exchanges).
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { listeningUrl, redactUrl } from '../../core/net';
import type { Logger } from '../../core/logger';
import { sinkFromUrl } from '../sdk/sinks';
import type { RecordSink, TransportStats } from '../sdk/transport';
import { listenHandoff } from '../../runtime/handoff/http';
import { connectAmqpControl } from '../../runtime/bus/amqp/control';
import type { ControlChannel } from '../../runtime/bus/control';
import { adminApp } from './admin';
import { type ProxyConfig, splitHostPort } from './config';
import { ProxyMetrics } from './metrics';
import { Recorder } from './recorder';
import type { LiveShare } from './cutover';
import type { Sampler } from './sampling';
import { Forwarder, type ProxyStats } from './forwarder';

export { proxyConfigSchema, resolveProxyConfig, proxyConfigFromEnv, type ProxyConfig, type ProxyConfigInput } from './config';

export interface StartOptions {
  logger: Logger;
  /** Where exchanges go instead of `config.sink` (an in-process bus, a test). */
  sink?: RecordSink;
  /** Process metrics (CPU, memory, event loop) on /metrics; default true. */
  defaultMetrics?: boolean;
  /** How often the proxy's coverage totals are published (while traffic flows); default 5 s. */
  coverageMs?: number;
  /** Where the guard's rollbacks are heard instead of `cutover.control` (an in-process channel, a test). */
  control?: ControlChannel;
}

export interface RunningProxy {
  readonly url: string;
  readonly adminUrl: string | undefined;
  /** The hosted pre-state handoff's URL, when `handoff.listen` is set: the SDKs' handoff.store. */
  readonly handoffUrl: string | undefined;
  readonly runId: string;
  readonly sampler: Sampler;
  /** The cutover's live shares (docs/cutover.md). */
  readonly live: LiveShare;
  readonly metrics: ProxyMetrics;
  stats(): ProxyStats & { exchanges?: TransportStats };
  /** Graceful: drains requests in flight (up to config.drainMs), then flushes exchanges. */
  close(): Promise<void>;
}

export async function startProxy(config: ProxyConfig, options: StartOptions): Promise<RunningProxy> {
  const log = options.logger;
  const runId = config.run ?? `proxy-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-')}`;
  const metrics = new ProxyMetrics({ defaultMetrics: options.defaultMetrics ?? true, targets: config.secondary ? ['candidate', 'secondary'] : ['candidate'] });
  const sink = options.sink ?? (config.sink ? sinkFromUrl(config.sink, { logger: log, prefix: config.prefix, partitions: config.partitions, packBytes: 65_536, compression: config.compression }) : undefined);
  const recorder = sink
    ? new Recorder(sink, { runId, sdk: config.sdk, responseHeaders: config.record.responseHeaders, maxBodyBytes: config.record.maxBodyBytes, redact: config.record.redact, rawBodies: config.record.rawBodies, maxBuffered: config.record.maxBuffered, format: config.format, logger: log, metrics })
    : undefined;
  const forwarder = new Forwarder({ config, runId, logger: log, metrics, recorder });
  // What this proxy did not mirror reaches the store: its totals, every few seconds and at the end.
  const source = `${hostname().slice(0, 60)}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const publishCoverage = () => recorder?.coverage(source, metrics.totals);
  let lastSeen = -1;
  const coverageTimer = recorder
    ? setInterval(() => {
        if (metrics.totals.seen === lastSeen) return;
        lastSeen = metrics.totals.seen;
        publishCoverage();
      }, options.coverageMs ?? 5_000).unref()
    : undefined;
  const { host, port } = splitHostPort(config.listen);
  const url = await forwarder.listen(host, port);

  let admin: Server | undefined;
  let adminUrl: string | undefined;
  const stats = () => ({ ...forwarder.stats(), ...(recorder ? { exchanges: recorder.stats() } : {}) });
  if (config.admin.listen) {
    const a = splitHostPort(config.admin.listen);
    const app = adminApp({ sampler: forwarder.sampler, live: forwarder.live, runId, metrics, stats, token: config.admin.token, logger: log });
    admin = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(a.port, a.host, (err?: Error) => (err ? reject(err) : resolve(s)));
    });
    adminUrl = listeningUrl(admin.address() as AddressInfo);
  }
  // The guard's rollbacks, from the workers: applied on this proxy within a broadcast's time.
  const controlUrl = config.cutover.control ?? (config.sink && /^amqps?:/.test(config.sink) ? config.sink : undefined);
  let control: ControlChannel | undefined = options.control;
  let ownsControl = false;
  if (!control && controlUrl) {
    try {
      control = await connectAmqpControl({ url: controlUrl, prefix: config.prefix, partitions: config.partitions, logger: log });
      ownsControl = true;
    } catch (err) {
      // Serving comes first: without the channel the shares hold as set, and the guard's rollbacks reach this proxy only through its admin API.
      log.error({ err: (err as Error).message, control: redactUrl(controlUrl) }, 'cutover: the control channel is not reachable; the guard cannot roll this proxy back until it is (POST /v1/cutover/rollback still works)');
    }
  }
  const heard = await control?.listen((m) => {
    if (m.runId !== runId) return;
    try {
      if (forwarder.live.applyGuard(m)) log.error({ guard: m }, `cutover: the guard rolled back ${m.route}: ${m.reason}`);
    } catch (err) {
      log.error({ err: (err as Error).message, guard: m }, 'cutover: could not apply a rollback from the guard');
    }
  });
  let handoff: Awaited<ReturnType<typeof listenHandoff>> | undefined;
  if (config.handoff.listen) {
    const h = splitHostPort(config.handoff.listen);
    try {
      handoff = await listenHandoff({ host: h.host, port: h.port, token: config.handoff.token, ttlMs: config.handoff.ttlMs });
      const hosted = handoff;
      metrics.watchHandoff(() => ({ ...hosted.stats, held: hosted.store.size }));
    } catch (err) {
      await forwarder.close(0);
      admin?.close();
      throw err;
    }
  }
  log.info(
    {
      url,
      adminUrl,
      handoffUrl: handoff?.url,
      runId,
      legacy: redactUrl(config.legacy),
      candidate: redactUrl(config.candidate),
      ...(config.secondary ? { secondary: redactUrl(config.secondary) } : {}),
      sampling: config.sampling,
      ...(forwarder.live.state.percent > 0 || forwarder.live.state.routes.length ? { cutover: forwarder.live.state } : {}),
      signing: config.signing ? 'dry-run sides signed' : 'off',
      sink: sink?.description ?? 'none (exchanges are not recorded)',
    },
    'proxy started',
  );

  return {
    url,
    adminUrl,
    handoffUrl: handoff?.url,
    runId,
    sampler: forwarder.sampler,
    live: forwarder.live,
    metrics,
    stats,
    async close() {
      log.info(stats(), 'proxy stopping: draining requests in flight');
      await forwarder.close(config.drainMs);
      clearInterval(coverageTimer);
      publishCoverage();
      if (admin) {
        admin.closeAllConnections();
        await new Promise<void>((resolve) => admin!.close(() => resolve()));
      }
      await heard?.cancel();
      if (ownsControl) await control?.close();
      // The handoff goes last: mirrors still in flight may read it until the forwarder drained.
      await handoff?.close();
      const sent = await recorder?.close(5_000);
      log.info({ ...forwarder.stats(), ...(sent ? { exchanges: sent } : {}) }, 'proxy stopped');
    },
  };
}
