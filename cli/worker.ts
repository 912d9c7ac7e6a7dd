// `shadowdiff worker`: consumes the partitions RabbitMQ gives it, compares, stores in MongoDB.
// Settings: flags > environment (AMQP_URL, MONGODB_URL, …) > config file; see docs/pipeline.md.
import { Command, Option } from 'commander';
import { configFromEnv, resolveConfig } from '../core/config';
import { ShadowdiffError } from '../core/errors';
import { componentLogger, createLogger, type Logger } from '../core/logger';
import { type MetricsServer, serveMetrics, workerMetrics } from '../pipeline/metrics';
import { Worker } from '../pipeline/worker';
import { createRuntime } from '../runtime';
import { rollbackNotifier, webhookNotifier } from '../pipeline/webhook';
import { Guard } from '../pipeline/worker/guard';
import { connectAmqpControl } from '../runtime/bus/amqp/control';
import { readConfigFile } from './config-file';
import type { CliIo } from './io';
import { commandEnv } from './env';
import { hostPort, numberFlag } from './options';
import { loadRules } from './rules-file';

interface WorkerFlags {
  config?: string;
  amqpUrl?: string;
  mongodbUrl?: string;
  database?: string;
  prefix?: string;
  partitions?: number;
  prefetch?: number;
  settleMs?: number;
  timeoutMs?: number;
  keepEffects?: 'all' | 'non-match' | 'none';
  rules?: string;
  consumers?: string;
  alertWebhook?: string;
  alertThreshold?: number;
  guard?: boolean;
  metrics?: string;
  logLevel: string;
}

const int = (name: string) => numberFlag(name, { integer: true });

export function workerCommand(io: CliIo): Command {
  return new Command('worker')
    .description('compare mirrored requests from RabbitMQ and store the results in MongoDB (run any number)')
    .option('--config <file>', 'pipeline settings, JSON (see docs/pipeline.md)')
    .option('--amqp-url <url>', 'RabbitMQ (env AMQP_URL)')
    .option('--mongodb-url <url>', 'MongoDB (env MONGODB_URL)')
    .option('--database <name>', 'MongoDB database (env SHADOWDIFF_DB, default shadowdiff)')
    .option('--prefix <name>', 'exchange and queue name prefix (env SHADOWDIFF_PREFIX, default shadowdiff)')
    .option('--partitions <n>', 'partition queues; all publishers and workers must agree (env SHADOWDIFF_PARTITIONS, default 16)', int('partitions'))
    .option('--prefetch <n>', 'unacked records per partition (default 250)', int('prefetch'))
    .option('--settle-ms <ms>', 'wait after a request is complete, for late records (default 100)', int('settle-ms'))
    .option('--timeout-ms <ms>', 'compare as incomplete after this long (default 30000)', int('timeout-ms'))
    .addOption(new Option('--keep-effects <which>', 'raw records kept for drill-down (default non-match)').choices(['all', 'non-match', 'none']))
    .option('--rules <file>', "base rules (.json, .js, .cjs, .mjs); a run's stored rules are layered over them")
    .option('--consumers <file>', 'who reads the data: a consumers file (docs/consumers.md); its consumers join the rules\' own')
    .option('--alert-webhook <url>', 'POST alerts here (env SHADOWDIFF_ALERT_WEBHOOK)')
    .option('--no-guard', 'do not roll back a cutover\'s live shares when the candidate serves a request wrong or a route alerts (docs/cutover.md)')
    .option('--alert-threshold <share>', 'mismatch share that alerts, 0-1 (default 0.05)', Number)
    .option('--metrics <host:port>', 'serve Prometheus metrics at /metrics (env SHADOWDIFF_WORKER_METRICS; off by default)')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: WorkerFlags) => {
      const file = flags.config ? await readConfigFile(flags.config) : {};
      const config = resolveConfig(file, configFromEnv(io.env), {
        amqpUrl: flags.amqpUrl,
        mongodbUrl: flags.mongodbUrl,
        database: flags.database,
        prefix: flags.prefix,
        partitions: flags.partitions,
        prefetch: flags.prefetch,
        settleMs: flags.settleMs,
        timeoutMs: flags.timeoutMs,
        keepEffects: flags.keepEffects,
        alerts: { webhook: flags.alertWebhook, threshold: flags.alertThreshold },
      });
      if (!config.amqpUrl || !config.mongodbUrl) {
        throw new ShadowdiffError(
          'SHADOWDIFF_CONFIG',
          `a worker needs RabbitMQ and MongoDB: set ${!config.amqpUrl ? 'AMQP_URL (or --amqp-url)' : ''}${!config.amqpUrl && !config.mongodbUrl ? ' and ' : ''}${!config.mongodbUrl ? 'MONGODB_URL (or --mongodb-url)' : ''}. Without them the embedded runtime runs inside \`shadowdiff demo\` and \`shadowdiff replay\`.`,
        );
      }
      const metricsAt = flags.metrics ?? commandEnv(io.env).workerMetrics;
      const listen = metricsAt ? hostPort('metrics', metricsAt, '127.0.0.1:9464') : undefined;
      const rules = await loadRules(flags);
      const logger = createLogger({ level: flags.logLevel });
      const log = componentLogger(logger, 'worker');
      const stopping = io.stopSignal();
      const runtime = await connectPatiently(() => createRuntime(config, logger), log, stopping);
      if (!runtime) return void log.info('stopped before RabbitMQ and MongoDB could be reached');
      // The metrics read the worker's counters when scraped, and count each comparison as it is stored.
      const observed = listen ? workerMetrics(() => worker.stats()) : undefined;
      // The cutover guard broadcasts its rollbacks to every proxy on the control channel.
      const control = flags.guard === false ? undefined : await connectAmqpControl({ url: config.amqpUrl, prefix: config.prefix, partitions: config.partitions, logger: log }).catch((err: Error) => {
        log.error({ err: err.message }, 'the cutover guard has no control channel: it cannot roll proxies back');
        return undefined;
      });
      const guard = control ? new Guard({ control, logger: log, alerts: config.alerts, record: (e) => runtime.store.putCutoverEvent(e), notify: config.alerts.webhook ? rollbackNotifier(config.alerts.webhook) : undefined }) : undefined;
      const worker: Worker = new Worker({
        guard,
        observe: observed?.observe,
        bus: runtime.bus,
        store: runtime.store,
        logger: log,
        settleMs: config.settleMs,
        timeoutMs: config.timeoutMs,
        keepEffects: config.keepEffects,
        storeDeadlineMs: config.storeDeadlineMs,
        alerts: config.alerts,
        rules,
        notify: config.alerts.webhook ? webhookNotifier(config.alerts.webhook) : undefined,
      });
      let metrics: MetricsServer | undefined;
      try {
        if (listen && observed) metrics = await serveMetrics(observed.registry, listen.host, listen.port);
        await worker.start();
      } catch (err) {
        guard?.close();
        await control?.close();
        await metrics?.close();
        await runtime.close();
        throw err;
      }
      log.info({ partitions: config.partitions, prefix: config.prefix, database: config.database, pid: process.pid, ...(metrics ? { metrics: metrics.url } : {}) }, 'worker started');
      const progress = setInterval(() => log.info(worker.stats(), 'progress'), 10_000);
      progress.unref();
      const signal = await stopping;
      log.info({ signal }, 'stopping: finishing complete requests, returning the rest to the broker');
      clearInterval(progress);
      await worker.stop();
      guard?.close();
      await control?.close();
      await metrics?.close();
      await runtime.close();
      log.info(worker.stats(), 'stopped');
    });
}

/**
 * A worker started while RabbitMQ or MongoDB is down waits for them, as it waits when they drop
 * later: it retries with backoff (0.5 s doubling to 10 s), saying so each time, until they
 * answer or it is asked to stop (then undefined). Any other error is thrown at once.
 */
async function connectPatiently<T>(connect: () => Promise<T>, log: Logger, stopping: Promise<string>): Promise<T | undefined> {
  let stopped = false;
  void stopping.then(() => (stopped = true));
  for (let attempt = 1, delay = 500; ; attempt++, delay = Math.min(10_000, delay * 2)) {
    try {
      return await connect();
    } catch (err) {
      if (!(err instanceof ShadowdiffError) || err.code !== 'SHADOWDIFF_SERVICE_UNAVAILABLE') throw err;
      if (stopped) return undefined;
      log.warn({ attempt, retryInMs: delay, err: err.message }, 'waiting for the bus and the store');
      await Promise.race([new Promise((r) => setTimeout(r, delay)), stopping]);
      if (stopped) return undefined;
    }
  }
}
