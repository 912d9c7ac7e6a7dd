// `shadowdiff demo`: the example order services, the proxy, the worker and the report in one
// process, with nothing installed; prints what the comparison found and leaves the report running.
import { SingleBar } from 'cli-progress';
import { Command } from 'commander';
import { configFromEnv, resolveConfig } from '../core/config';
import { isLoopback } from '../core/net';
import { ShadowdiffError } from '../core/errors';
import { createLogger } from '../core/logger';
import { renderDemoSummary, runDemo } from '../examples/orders/demo';
import type { CliIo } from './io';
import { hostPort, numberFlag } from './options';

interface DemoFlags {
  requests: number;
  concurrency: number;
  seed: number;
  serve: boolean;
  listen: string;
  partnerLatencyMs: number;
  shopDb: string;
  logLevel: string;
  progress: boolean;
  cutover?: boolean;
}

export function demoCommand(io: CliIo): Command {
  return new Command('demo')
    .description('see shadowdiff catch silent bugs: example legacy and candidate order services behind the proxy, compared live (embedded; AMQP_URL / MONGODB_URL to use RabbitMQ and MongoDB)')
    .option('--requests <n>', 'requests to send through the proxy', numberFlag('requests', { min: 1, max: 1_000_000, integer: true }), 600)
    .option('--concurrency <n>', 'customer journeys in flight', numberFlag('concurrency', { min: 1, max: 64, integer: true }), 8)
    .option('--seed <n>', 'traffic seed: the same seed sends the same requests', numberFlag('seed', { min: 0, integer: true }), 1)
    .option('--no-serve', 'print the summary and exit instead of serving the report')
    .option('--listen <host:port>', 'where the report listens', '127.0.0.1:7070')
    .option('--partner-latency-ms <ms>', 'how long the simulated partners (PG, inventory) take to answer legacy', numberFlag('partner-latency-ms', { min: 0, max: 10_000, integer: true }), 100)
    .option('--shop-db <name>', "the example services' database when MONGODB_URL is set (emptied and seeded)", 'shadowdiff_demo_shop')
    .option('--log-level <level>', 'pino log level (logs go to stderr)', 'warn')
    .option('--no-progress', 'no progress bar')
    .option('--cutover', 'ramp POST /orders live to the candidate under a plan, with the coupon-rounding bug only: watch the guard roll it back, and the corrections it leaves (docs/cutover.md)')
    .action(async (flags: DemoFlags) => {
      const { host, port } = hostPort('listen', flags.listen, '127.0.0.1:7070');
      if (flags.serve && !isLoopback(host)) {
        throw new ShadowdiffError('SHADOWDIFF_USAGE', `the demo serves its report on loopback only (--listen ${flags.listen}); use \`shadowdiff serve\` with a token for anything else.`);
      }
      const config = resolveConfig(configFromEnv(io.env));
      const logger = createLogger({ level: flags.logLevel, destination: io.stderr });
      const bar = flags.progress && io.stderr.isTTY ? new SingleBar({ format: 'traffic {bar} {value}/{total} requests', stream: io.stderr, hideCursor: true }) : undefined;
      const stop = new AbortController();
      void io.stopSignal().then(() => stop.abort());
      const demo = await runDemo({
        config,
        requests: flags.requests,
        concurrency: flags.concurrency,
        seed: flags.seed,
        serve: flags.serve ? { host, port } : undefined,
        partnerLatencyMs: flags.partnerLatencyMs,
        shopDb: flags.shopDb,
        logger,
        signal: stop.signal,
        cutover: flags.cutover === true,
        onPhase: (phase) => {
          if (phase.startsWith('sending')) bar?.start(flags.requests, 0);
          else bar?.stop();
          if (!bar || !phase.startsWith('sending')) io.err(`demo: ${phase}…`);
        },
        onTraffic: (sent) => bar?.update(sent),
      });
      bar?.stop();
      io.out(renderDemoSummary(demo));
      if (!demo.reportUrl) return;
      io.out('');
      io.out(`The report: ${demo.reportUrl}  (overview → differences → a request; Ctrl-C to stop)`);
      if (!stop.signal.aborted) await new Promise<void>((resolve) => stop.signal.addEventListener('abort', () => resolve(), { once: true }));
      await demo.close();
    });
}
