// `shadowdiff delete-run`: remove one run's data from the store (MONGODB_URL) once it is no longer
// needed: its comparisons, kept records, exchanges, rollup, alerts, rules, re-evaluation job and
// the run itself. Retention expires records and comparisons by age; this is for a run as a whole.
// It says what it would remove and refuses without --yes, and while a re-evaluation of the run
// is running.
import { Command } from 'commander';
import { ShadowdiffError } from '../core/errors';
import type { RunDataCounts } from '../runtime/store/store';
import type { CliIo } from './io';
import { openRunStore } from './store';

interface DeleteRunFlags {
  run: string;
  yes?: boolean;
}

export function deleteRunCommand(io: CliIo): Command {
  return new Command('delete-run')
    .description('remove a run\'s data from the store (MONGODB_URL): comparisons, records, exchanges, rollup, alerts, rules; refuses without --yes')
    .requiredOption('--run <id>', 'the run')
    .option('--yes', 'really delete (without it, only say what would be removed)')
    .action(async (flags: DeleteRunFlags) => {
      const { store, close } = await openRunStore(io, 'delete-run', undefined);
      try {
        const held = await store.runData(flags.run);
        if (total(held) === 0) throw new ShadowdiffError('SHADOWDIFF_NOT_FOUND', `run ${JSON.stringify(flags.run)} has nothing in this store (check --run, MONGODB_URL and SHADOWDIFF_DB).`);
        const job = await store.getJob(flags.run);
        if (job?.state === 'running') throw new ShadowdiffError('SHADOWDIFF_BUSY', `run ${JSON.stringify(flags.run)} is being re-evaluated (${job.reevaluated} of ${job.total} done): cancel it (DELETE /api/runs/${encodeURIComponent(flags.run)}/reevaluate) or let it end first.`);
        if (!flags.yes) {
          io.err(`would remove from run ${flags.run}: ${describe(held)}; run again with --yes to do it. Stop mirroring into the run first: records arriving later make it again.`);
          io.exitCode(2);
          return;
        }
        const removed = await store.deleteRun(flags.run);
        io.out(`removed from run ${flags.run}: ${describe(removed)}`);
      } finally {
        await close();
      }
    });
}

function total(c: RunDataCounts): number {
  return Object.values(c).reduce((n, v) => n + v, 0);
}

function describe(c: RunDataCounts): string {
  return `${c.comparisons} comparison(s), ${c.records} kept record(s), ${c.exchanges} exchange(s), ${c.rollups} rollup version(s), ${c.alerts} alert(s), ${c.rules} rules version(s)${c.cutover ? `, ${c.cutover} cutover event(s)` : ''}${c.jobs ? ', its re-evaluation job' : ''}${c.run ? ', the run' : ''}`;
}
