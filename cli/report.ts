// `shadowdiff report`: a run's results from the store (MongoDB, or a saved embedded run) as
// text, Markdown, JSON, JUnit or one self-contained HTML file, with a readiness verdict per
// route against the gates. Exit code: 0 ready, 1 not ready, 2 could not run.
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { ShadowdiffError } from '../core/errors';
import { Evaluator, type RouteMinimum } from '../compare/readiness';
import { parseAcceptFile } from '../compare/accept';
import { renderJUnit } from '../report/render/junit';
import { renderMarkdown } from '../report/render/markdown';
import { renderText } from '../report/render/summary';
import { renderHtml } from '../report/render/html';
import type { CliIo } from './io';
import { notCompared, proxyLine, proxyTotals } from '../report/coverage';
import { readJsonFile } from './config-file';
import { numberFlag, routeMinimumFlag } from './options';
import { openRunStore } from './store';
import { eachComparison } from '../runtime/store/store';
import { runConsumers } from '../report/queries';
import { withConsumerImpact } from '../compare/consumer-readiness';
import { loadConsumersFile } from './rules-file';

interface ReportFlags {
  run: string;
  format: 'text' | 'markdown' | 'json' | 'junit' | 'html';
  out?: string;
  from?: string;
  accept?: string;
  maxMismatchRate: number;
  minRequests: number;
  routeMinRequests: RouteMinimum[];
  minCoverage: number;
  consumers?: string;
}

export function reportCommand(io: CliIo): Command {
  return new Command('report')
    .description('a run\'s results with a readiness verdict per route; exit 0 ready, 1 not ready, 2 could not run')
    .requiredOption('--run <id>', 'the run')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json', 'junit', 'html']).default('text'))
    .option('--out <file>', 'write to a file instead of stdout')
    .option('--from <dir>', 'a saved embedded run directory instead of MongoDB (MONGODB_URL)')
    .option('--accept <file>', 'accepted differences (see docs/replay.md)')
    .option('--consumers <file>', "who reads the data (docs/consumers.md): readiness per consumer; default: the consumers in the run's stored rules")
    .option('--max-mismatch-rate <share>', 'share of compared requests a ready route may mismatch, 0-1', numberFlag('max-mismatch-rate', { min: 0, max: 1 }), 0)
    .option('--min-requests <n>', 'complete comparisons a route needs before it can be ready', numberFlag('min-requests', { min: 0, integer: true }), 30)
    .option('--route-min-requests <route=n>', 'per route class (a glob over "METHOD /route"), the complete comparisons its routes need; repeatable, the first match decides', routeMinimumFlag, [])
    .option('--min-coverage <share>', 'share of compared requests that must be complete, 0-1', numberFlag('min-coverage', { min: 0, max: 1 }), 0.95)
    .action(async (flags: ReportFlags) => {
      const accept = flags.accept ? parseAcceptFile(await readJsonFile(flags.accept, 'accepted-differences file'), flags.accept) : [];
      const { store, close } = await openRunStore(io, 'report', flags.from);
      try {
        const run = await store.getRun(flags.run);
        const evaluator = new Evaluator(flags.run, accept);
        for await (const c of eachComparison(store, { runId: flags.run })) evaluator.add(c);
        if (evaluator.count === 0 && !run) throw new ShadowdiffError('SHADOWDIFF_USAGE', `run ${JSON.stringify(flags.run)} has no comparisons in this store (check --run, MONGODB_URL / SHADOWDIFF_DB, or --from).`);
        // Requests a proxy saw but could not mirror count against coverage: they were meant to be compared.
        const proxy = proxyTotals(run);
        const consumers = flags.consumers ? await loadConsumersFile(flags.consumers) : await runConsumers(store, flags.run);
        const result = withConsumerImpact(evaluator.result(evaluator.count + (proxy?.lost ?? 0), { maxMismatchRate: flags.maxMismatchRate, minRequests: flags.minRequests, minCoverage: flags.minCoverage, routeMinRequests: flags.routeMinRequests }, 'run'), consumers);
        const skipped = notCompared(run);
        const notComparedPart = Object.keys(skipped).length ? { notCompared: skipped } : {};
        const line = proxyLine(run);
        const text =
          flags.format === 'html'
            ? renderHtml(result, { generatedAt: new Date().toISOString(), ...notComparedPart })
            : flags.format === 'markdown'
              ? renderMarkdown(result, 'run')
              : flags.format === 'junit'
                ? renderJUnit(result, 'run')
                : flags.format === 'json'
                  ? `${JSON.stringify({ ...result, ...notComparedPart, ...(proxy ? { proxy } : {}) }, null, 2)}\n`
                  : `${renderText(result, 'run')}\n${line ? `${line}\n` : ''}`;
        if (flags.out) await writeFile(flags.out, text);
        else io.out(text.trimEnd());
        io.exitCode(result.passed ? 0 : 1);
      } finally {
        await close();
      }
    });
}
