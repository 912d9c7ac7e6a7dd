// `shadowdiff proxy`: forward every request to legacy, mirror a sampled share to the candidate,
// record exchanges.
// Settings: flags > environment > config file; see docs/proxy.md.
import { Command } from 'commander';
import { createLogger } from '../core/logger';
import { proxyConfigFromEnv, resolveProxyConfig, startProxy } from '../capture/proxy';
import { readConfigFile } from './config-file';
import type { CliIo } from './io';
import { percentFlag } from './options';

interface ProxyFlags {
  config?: string;
  listen?: string;
  legacy?: string;
  candidate?: string;
  secondary?: string;
  sample?: number;
  sampleKey?: string;
  sink?: string;
  run?: string;
  admin?: string;
  handoffListen?: string;
  sdk?: boolean;
  logLevel?: string;
}

const percent = percentFlag;

export function proxyCommand(io: CliIo): Command {
  return new Command('proxy')
    .description('forward every request to legacy unchanged; mirror a sampled share to the candidate in dry-run and record the exchanges')
    .option('--config <file>', 'settings, JSON (see docs/proxy.md)')
    .option('--listen <host:port>', 'where clients connect (env SHADOWDIFF_LISTEN, default 127.0.0.1:8080)')
    .option('--legacy <url>', 'the production service (env SHADOWDIFF_LEGACY)')
    .option('--candidate <url>', 'the rewrite, in dry-run (env SHADOWDIFF_CANDIDATE)')
    .option('--secondary <url>', 'a second legacy instance in dry-run, to learn noise (env SHADOWDIFF_SECONDARY)')
    .option('--sample <pct>', 'share of requests mirrored, 0-100 (default 100)', percent('sample'))
    .option('--sample-key <header>', 'sample by this header\'s value (e.g. x-user-id): all of one key or none')
    .option('--sink <url>', 'where exchanges go: amqp://… or a collector\'s http://… (env SHADOWDIFF_SINK)')
    .option('--run <id>', 'the run this traffic belongs to (env SHADOWDIFF_RUN)')
    .option('--admin <host:port>', 'admin API and /metrics (env SHADOWDIFF_ADMIN_LISTEN; token: env SHADOWDIFF_ADMIN_TOKEN)')
    .option('--handoff-listen <host:port>', 'host the pre-state handoff for the services\' SDKs (env SHADOWDIFF_HANDOFF_LISTEN; token: env SHADOWDIFF_HANDOFF_TOKEN)')
    .option('--no-sdk', 'the services do not run the shadowdiff SDK: compare responses only')
    .option('--log-level <level>', 'pino log level (default info)')
    .action(async (flags: ProxyFlags) => {
      const file = flags.config ? await readConfigFile(flags.config) : {};
      const sampling: Record<string, unknown> = {};
      if (flags.sample !== undefined) sampling.percent = flags.sample;
      if (flags.sampleKey !== undefined) sampling.key = flags.sampleKey;
      const config = resolveProxyConfig(file, proxyConfigFromEnv(io.env), {
        listen: flags.listen,
        legacy: flags.legacy,
        candidate: flags.candidate,
        secondary: flags.secondary,
        sink: flags.sink,
        run: flags.run,
        admin: flags.admin === undefined ? undefined : { listen: flags.admin },
        handoff: flags.handoffListen === undefined ? undefined : { listen: flags.handoffListen },
        sdk: flags.sdk === false ? false : undefined,
        logLevel: flags.logLevel,
        sampling: Object.keys(sampling).length ? sampling : undefined,
      });
      const logger = createLogger({ level: config.logLevel });
      const proxy = await startProxy(config, { logger });
      io.out(`shadowdiff proxy on ${proxy.url} → legacy ${new URL(config.legacy).host}, mirroring ${config.sampling.enabled ? `${config.sampling.percent}%` : 'nothing (disabled)'} to ${new URL(config.candidate).host}; run ${proxy.runId}`);
      if (proxy.adminUrl) io.out(`admin API and metrics on ${proxy.adminUrl}`);
      if (proxy.handoffUrl) io.out(`pre-state handoff on ${proxy.handoffUrl} (the services' SDKs: SHADOWDIFF_HANDOFF=${proxy.handoffUrl})`);
      const progress = setInterval(() => logger.info(proxy.stats(), 'progress'), 30_000);
      progress.unref();
      const signal = await io.stopSignal();
      clearInterval(progress);
      logger.info({ signal }, 'stopping');
      await proxy.close();
    });
}
