// `shadowdiff export`: write a run's requests and legacy records as a recording on stdout.
import { Command } from 'commander';
import { ShadowdiffError } from '../core/errors';
import { type ExportCounts, exportRun } from '../replay/export';
import type { CliIo } from './io';
import { numberFlag } from './options';
import { openRunStore } from './store';

interface ExportFlags {
  run: string;
  route?: string;
  since?: string;
  limit?: number;
  from?: string;
}

export function exportCommand(io: CliIo): Command {
  return new Command('export')
    .description('write a run\'s requests (exchanges) and legacy records as a JSONL recording on stdout')
    .requiredOption('--run <id>', 'the run to export')
    .option('--route <route>', 'only this route, as reports show it: "POST /orders/:id/pay"')
    .option('--since <time>', 'only requests compared at or after this ISO time')
    .option('--limit <n>', 'at most this many requests', numberFlag('limit', { min: 1, max: Infinity }))
    .option('--from <dir>', 'a saved embedded run directory instead of MongoDB (MONGODB_URL)')
    .action(async (flags: ExportFlags) => {
      const since = flags.since ? Date.parse(flags.since) : undefined;
      if (since !== undefined && Number.isNaN(since)) throw new ShadowdiffError('SHADOWDIFF_USAGE', `--since "${flags.since}" is not a date: use e.g. 2026-11-24T10:00:00Z.`);
      const { store, close } = await openRunStore(io, 'export', flags.from);
      let counts: ExportCounts;
      try {
        counts = await exportRun(store, { runId: flags.run, route: flags.route, since, limit: flags.limit }, io.stdout);
      } finally {
        await close();
      }
      io.err(`exported ${counts.written} request(s) of run ${flags.run}${counts.noExchange ? `; ${counts.noExchange} without an exchange left out (recorded without a proxy, or not kept: run the worker with --keep-effects all)` : ''}${counts.noLegacy ? `; ${counts.noLegacy} without legacy effects (replayed, they compare responses only)` : ''}`);
      if (counts.written === 0) io.exitCode(1);
    });
}
