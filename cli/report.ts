// `shadowdiff report`: a run's results from the store (MongoDB, or a saved embedded run) as
// text, Markdown, JSON, JUnit or one self-contained HTML file, with a readiness verdict per
// route against the gates. Exit code: 0 ready, 1 not ready, 2 could not run.
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { configFromEnv, resolveConfig } from '../core/config';
import { ShadowdiffError } from '../core/errors';
import { parseJson } from '../core/json';
import { createLogger } from '../core/logger';
import { Evaluator, parseAcceptFile, renderJUnit, renderMarkdown, renderText } from '../report/results';
import { renderHtml } from '../report/render/html';
import { createRuntime } from '../runtime';
import { MemoryStore } from '../runtime/store/memory';
import type { Store } from '../runtime/store/store';
import type { CliIo } from './io';
import { numberFlag } from './options';

interface ReportFlags {
  run: string;
  format: 'text' | 'markdown' | 'json' | 'junit' | 'html';
  out?: string;
  from?: string;
  accept?: string;
  maxMismatchRate: number;
  minRequests: number;
  minCoverage: number;
}

export function reportCommand(io: CliIo): Command {
  return new Command('report')
    .description('a run\'s results with a readiness verdict per route; exit 0 ready, 1 not ready, 2 could not run')
    .requiredOption('--run <id>', 'the run')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'markdown', 'json', 'junit', 'html']).default('text'))
    .option('--out <file>', 'write to a file instead of stdout')
    .option('--from <dir>', 'a saved embedded run directory instead of MongoDB (MONGODB_URL)')
    .option('--accept <file>', 'accepted differences (see docs/replay.md)')
    .option('--max-mismatch-rate <share>', 'share of compared requests a ready route may mismatch, 0-1', numberFlag('max-mismatch-rate', { min: 0, max: 1 }), 0)
    .option('--min-requests <n>', 'complete comparisons a route needs before it can be ready', numberFlag('min-requests', { min: 0, integer: true }), 30)
    .option('--min-coverage <share>', 'share of compared requests that must be complete, 0-1', numberFlag('min-coverage', { min: 0, max: 1 }), 0.95)
    .action(async (flags: ReportFlags) => {
      let accept: ReturnType<typeof parseAcceptFile> = [];
      if (flags.accept) {
        let text: string;
        try {
          text = await readFile(flags.accept, 'utf8');
        } catch (err) {
          throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read ${flags.accept}: ${(err as NodeJS.ErrnoException).code}.`, { file: flags.accept });
        }
        accept = parseAcceptFile(parseJson(text, flags.accept), flags.accept);
      }
      let store: Store;
      let close: () => Promise<void>;
      if (flags.from) {
        try {
          store = await MemoryStore.open(flags.from);
        } catch (err) {
          if (err instanceof ShadowdiffError) throw err;
          throw new ShadowdiffError('SHADOWDIFF_IO', `cannot open the saved run ${flags.from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { file: flags.from });
        }
        close = () => store.close();
      } else {
        const config = resolveConfig(configFromEnv(io.env));
        if (!config.mongodbUrl) throw new ShadowdiffError('SHADOWDIFF_USAGE', 'report reads the store: set MONGODB_URL, or pass --from DIR for a saved embedded run.');
        const runtime = await createRuntime({ ...config, amqpUrl: undefined }, createLogger({ level: 'warn', destination: process.stderr }));
        store = runtime.store;
        close = () => runtime.close();
      }
      try {
        const run = await store.getRun(flags.run);
        const evaluator = new Evaluator(flags.run, accept);
        let after: string | undefined;
        for (;;) {
          const page = await store.listComparisons({ runId: flags.run, limit: 1000, ...(after ? { after } : {}) });
          for (const c of page) evaluator.add(c);
          if (page.length < 1000) break;
          after = page.at(-1)!.shadowId;
        }
        if (evaluator.count === 0 && !run) throw new ShadowdiffError('SHADOWDIFF_USAGE', `run ${JSON.stringify(flags.run)} has no comparisons in this store (check --run, MONGODB_URL / SHADOWDIFF_DB, or --from).`);
        const result = evaluator.result(evaluator.count, { maxMismatchRate: flags.maxMismatchRate, minRequests: flags.minRequests, minCoverage: flags.minCoverage });
        const text =
          flags.format === 'html'
            ? renderHtml(result, { generatedAt: new Date().toISOString(), ...(run?.coverage ? { notCompared: run.coverage } : {}) })
            : flags.format === 'markdown'
              ? renderMarkdown(result, 'run')
              : flags.format === 'junit'
                ? renderJUnit(result, 'run')
                : flags.format === 'json'
                  ? `${JSON.stringify({ ...result, ...(run?.coverage ? { notCompared: run.coverage } : {}) }, null, 2)}\n`
                  : `${renderText(result, 'run')}\n`;
        if (flags.out) await writeFile(flags.out, text);
        else io.out(text.trimEnd());
        io.exitCode(result.passed ? 0 : 1);
      } finally {
        await close();
      }
    });
}
