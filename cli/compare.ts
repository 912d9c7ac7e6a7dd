// `shadowdiff compare --legacy A.jsonl --candidate B.jsonl [--rules FILE] [--format text|json]`
import { Command, Option } from 'commander';
import { compareFiles } from '../pipeline/offline';
import { renderComparisonText, renderTotals } from '../report/render/text';
import { loadRules } from './rules-file';
import type { CliIo } from './io';
import { reportBadLines } from './bad-lines';

export function compareCommand(io: CliIo): Command {
  return new Command('compare')
    .description('compare two JSONL effect files offline (each may hold many shadow ids)')
    .requiredOption('--legacy <file>', 'legacy (and secondary) effects, JSONL')
    .requiredOption('--candidate <file>', 'candidate effects, JSONL')
    .option('--rules <file>', 'rules file (.json, or .js/.cjs/.mjs for canonicalize functions)')
    .option('--consumers <file>', 'who reads the data: a consumers file (docs/consumers.md); its consumers join the rules\' own')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nBoth files are joined in memory by shadow id; for recordings larger than memory, use the pipeline.\n' +
        'Exit code: 0 when every comparison matches, 1 when any mismatches or is incomplete or inconclusive, 2 on bad input\n' +
        '(a line that is not UTF-8, JSON or a record is named and left out; the rest is compared, and the exit code is 2).',
    )
    .action(async (opts: { legacy: string; candidate: string; rules?: string; consumers?: string; format: 'text' | 'json' }) => {
      const rules = await loadRules(opts);
      const result = await compareFiles({ legacyFile: opts.legacy, candidateFile: opts.candidate, ...(rules ? { rules } : {}) });
      const notMatching = result.comparisons.filter((c) => c.verdict !== 'match');
      if (opts.format === 'json') {
        io.out(JSON.stringify({ totals: result.totals, comparisons: notMatching, ...(result.badLines.length ? { badLines: result.badLines } : {}) }, null, 2));
      } else {
        for (const c of notMatching) io.out(renderComparisonText(c));
        io.out(renderTotals(result.totals));
      }
      reportBadLines(io, result.badLines);
      io.exitCode(result.badLines.length ? 2 : notMatching.length === 0 ? 0 : 1);
    });
}
