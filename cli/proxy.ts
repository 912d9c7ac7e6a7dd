// `shadowdiff proxy`: forward every request to legacy, mirror a sampled share to the candidate,
// record exchanges. `shadowdiff sampling`: read or change a running proxy's sampling.
// Settings: flags > environment > config file; see docs/proxy.md.
import { Command } from 'commander';
import { ShadowdiffError } from '../core/errors';
import { createLogger } from '../core/logger';
import { proxyConfigFromEnv, resolveProxyConfig, startProxy } from '../capture/proxy';
import { readConfigFile } from './config-file';
import type { CliIo } from './io';
import { commandEnv } from './env';
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

interface SamplingFlags {
  admin: string;
  percent?: number;
  route?: string[];
  clearRoutes?: boolean;
  key?: string;
  on?: boolean;
  off?: boolean;
}

export function samplingCommand(io: CliIo): Command {
  return new Command('sampling')
    .description('show or change a running proxy\'s sampling (takes effect at its next request); token from env SHADOWDIFF_ADMIN_TOKEN')
    .requiredOption('--admin <url>', 'the proxy\'s admin API, e.g. http://127.0.0.1:9090')
    .option('--percent <pct>', 'share of requests mirrored, 0-100', percent('percent'))
    .option('--route <pattern=pct>', 'a share for one route, e.g. "POST /orders/:id/pay=50" (repeat; replaces the route list)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--clear-routes', 'remove every per-route share')
    .option('--key <header>', 'sample by this header\'s value')
    .option('--off', 'kill switch: mirror nothing')
    .option('--on', 'mirror again after --off')
    .action(async (flags: SamplingFlags) => {
      if (flags.on && flags.off) throw new ShadowdiffError('SHADOWDIFF_USAGE', '--on and --off contradict each other: pick one.');
      const patch: Record<string, unknown> = {};
      if (flags.percent !== undefined) patch.percent = flags.percent;
      if (flags.key !== undefined) patch.key = flags.key;
      if (flags.off) patch.enabled = false;
      if (flags.on) patch.enabled = true;
      if (flags.clearRoutes) patch.routes = [];
      if (flags.route) {
        patch.routes = flags.route.map((r) => {
          const i = r.lastIndexOf('=');
          if (i <= 0) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--route "${r}" must be PATTERN=PERCENT, e.g. "/orders/:id=50".`);
          return { route: r.slice(0, i).trim(), percent: percent('route')(r.slice(i + 1).trim()) };
        });
      }
      let base: URL;
      try {
        base = new URL('/v1/sampling', flags.admin);
      } catch {
        throw new ShadowdiffError('SHADOWDIFF_USAGE', `--admin "${flags.admin}" is not a URL: use e.g. http://127.0.0.1:9090.`);
      }
      const change = Object.keys(patch).length > 0;
      const token = commandEnv(io.env).adminToken;
      if (change && !token) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'changing sampling needs the admin token: set SHADOWDIFF_ADMIN_TOKEN.');
      let res: Response;
      try {
        res = await fetch(base, {
          method: change ? 'PUT' : 'GET',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          ...(change ? { body: JSON.stringify(patch) } : {}),
          signal: AbortSignal.timeout(10_000),
        });
      } catch (err) {
        throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `cannot reach the proxy's admin API at ${base.origin}: ${(err as Error).message}. Is the proxy running with --admin?`);
      }
      const text = await res.text();
      if (!res.ok) {
        let message = text;
        try {
          message = (JSON.parse(text) as { error?: string }).error ?? text;
        } catch {
          // not JSON: show it as it is
        }
        throw new ShadowdiffError(res.status === 400 ? 'SHADOWDIFF_CONFIG' : 'SHADOWDIFF_USAGE', `the proxy refused (${res.status}): ${message}`);
      }
      io.out(text);
    });
}
