// `shadowdiff sampling`: read or change a running proxy's sampling through its admin API
// (docs/proxy.md); the token comes from SHADOWDIFF_ADMIN_TOKEN.
import { Command } from 'commander';
import { ShadowdiffError } from '../core/errors';
import { adminCall } from './admin-client';
import { commandEnv } from './env';
import type { CliIo } from './io';
import { percentFlag as percent } from './options';

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
      const change = Object.keys(patch).length > 0;
      const token = commandEnv(io.env).adminToken;
      io.out(await adminCall(flags.admin, token, '/v1/sampling', change ? { method: 'PUT', body: patch, what: 'changing sampling' } : undefined));
    });
}
