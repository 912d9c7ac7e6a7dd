// `shadowdiff serve`: the report's web UI and JSON API over the store (MongoDB, or a saved
// embedded run). Loopback by default; on any other address it refuses to start without a
// token (env SHADOWDIFF_REPORT_TOKEN).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { isLoopback, listeningUrl } from '../core/net';
import { ShadowdiffError } from '../core/errors';
import { createLogger } from '../core/logger';
import { Reevaluator } from '../pipeline/reevaluate';
import { reportApp } from '../report/server';
import type { CliIo } from './io';
import { commandEnv } from './env';
import type { RouteMinimum } from '../compare/readiness';
import { hostPort, numberFlag, routeMinimumFlag } from './options';
import { openRunStore } from './store';
import { loadRules } from './rules-file';

interface ServeFlags {
  listen: string;
  allowHost?: string[];
  from?: string;
  minRequests: number;
  routeMinRequests: RouteMinimum[];
  maxMismatchRate: number;
  rules?: string;
  consumers?: string;
}

export function serveCommand(io: CliIo): Command {
  return new Command('serve')
    .description('the report: web UI and JSON API over the store; token from env SHADOWDIFF_REPORT_TOKEN (required off loopback)')
    .option('--listen <host:port>', 'where to listen', '127.0.0.1:7070')
    .option('--from <dir>', 'a saved embedded run directory instead of MongoDB (MONGODB_URL)')
    .option('--allow-host <name>', 'a host name besides loopback that a report without a token answers to (repeat; a DNS-rebinding guard)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--rules <file>', "the rules file the run's workers use (JSON or JS): re-evaluation layers the run's stored rules over it")
    .option('--consumers <file>', 'who reads the data: a consumers file (docs/consumers.md); its consumers join the rules\' own')
    .option('--min-requests <n>', 'complete comparisons a route needs to be ready', numberFlag('min-requests', { min: 0, integer: true }), 30)
    .option('--route-min-requests <route=n>', 'per route class (a glob over "METHOD /route"), the complete comparisons its routes need; repeatable, the first match decides', routeMinimumFlag, [])
    .option('--max-mismatch-rate <share>', 'share of compared requests a ready route may mismatch, 0-1', numberFlag('max-mismatch-rate', { min: 0, max: 1 }), 0)
    .action(async (flags: ServeFlags) => {
      const { host, port } = hostPort('listen', flags.listen, '127.0.0.1:7070', '0.0.0.0');
      const token = commandEnv(io.env).reportToken;
      if (!isLoopback(host) && !token) throw new ShadowdiffError('SHADOWDIFF_USAGE', `refusing to serve captured data on ${flags.listen} without a token: set SHADOWDIFF_REPORT_TOKEN (at least 16 characters), or listen on 127.0.0.1.`);
      if (token !== undefined && token.trim().length < 16) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'SHADOWDIFF_REPORT_TOKEN must hold at least 16 characters besides spaces.');
      const rules = await loadRules(flags);
      const logger = createLogger({ level: 'info' });
      const { store, close } = await openRunStore(io, 'serve', flags.from);
      const reevaluator = new Reevaluator({ store, logger, rules });
      const app = reportApp({ store, logger, token, rules, reevaluator, allowedHosts: flags.allowHost, gates: { minRequests: flags.minRequests, maxMismatchRate: flags.maxMismatchRate, routeMinRequests: flags.routeMinRequests } });
      let server: Server;
      try {
        server = await new Promise<Server>((resolve, reject) => {
          const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
        });
      } catch (err) {
        await close();
        throw new ShadowdiffError('SHADOWDIFF_USAGE', `cannot listen on ${flags.listen}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
      }
      io.out(`shadowdiff report on ${listeningUrl(server.address() as AddressInfo)}/${token ? ' (open it once with ?token=…)' : ''}`);
      // Re-evaluations a stopped report left running go on here.
      const resumed = await reevaluator.resumeStale().catch((err: Error) => (logger.warn({ err: err.message }, 'could not resume the re-evaluations left running'), []));
      if (resumed.length) io.out(`resumed the re-evaluation of ${resumed.map((r) => JSON.stringify(r)).join(', ')}`);
      await io.stopSignal();
      // Running re-evaluations stop after their batch and are left for the next start to resume.
      await reevaluator.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await close();
    });
}
