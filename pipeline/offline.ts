// `shadowdiff compare`: two JSONL effect files (legacy and candidate, any number of shadow
// ids each) compared offline. Streams both files into one join, then compares every entry.
import { createReadStream } from 'node:fs';
import { access, constants } from 'node:fs/promises';
import type { Side } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { type BadLine, firstBadLine, readRecords } from '../core/jsonl';
import { compare, type Comparison, type CompiledRules, type Verdict } from '../compare/engine';
import { Join } from '../compare/join';

export interface OfflineOptions {
  legacyFile: string;
  candidateFile: string;
  rules?: CompiledRules;
  now?: () => Date;
}

export interface OfflineResult {
  comparisons: Comparison[];
  totals: Record<Verdict, number> & { compared: number };
  /** Lines left out (not UTF-8, not JSON, not a record), each naming its file and line: the input was bad, whatever the verdicts say. */
  badLines: (BadLine & { file: string })[];
}

const ALLOWED: Record<'legacy' | 'candidate', readonly Side[]> = {
  legacy: ['legacy', 'secondary'],
  candidate: ['candidate'],
};

/** @public */
export async function compareFiles(options: OfflineOptions): Promise<OfflineResult> {
  const join = new Join();
  const badLines: OfflineResult['badLines'] = [];
  const legacyRuns = await load(join, options.legacyFile, 'legacy', badLines);
  const candidateRuns = await load(join, options.candidateFile, 'candidate', badLines);
  // Nothing compared must not look like everything matched (design decision 12).
  if (legacyRuns.size === 0 && candidateRuns.size === 0 && badLines.length) {
    throw firstBadLine(badLines);
  }
  if (legacyRuns.size === 0 && candidateRuns.size === 0) {
    throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `neither ${options.legacyFile} nor ${options.candidateFile} holds any record: nothing was compared.`);
  }
  if (legacyRuns.size && candidateRuns.size && ![...legacyRuns].some((r) => candidateRuns.has(r))) {
    throw new ShadowdiffError(
      'SHADOWDIFF_BAD_RECORD',
      `the --legacy file holds run ${list(legacyRuns)} and the --candidate file run ${list(candidateRuns)}: records pair by run and shadow id, so none would pair.`,
    );
  }
  const now = (options.now ?? (() => new Date()))().toISOString();
  const totals = { compared: 0, match: 0, mismatch: 0, incomplete: 0, inconclusive: 0, error: 0 };
  const comparisons: Comparison[] = [];
  for (const entry of join.sorted()) {
    const c = compare(entry, { now, ...(options.rules ? { rules: options.rules } : {}) });
    totals.compared += 1;
    totals[c.verdict] += 1;
    comparisons.push(c);
  }
  return { comparisons, totals, badLines };
}

/** Reads one file into the join; returns the run ids it holds. A bad line is noted and skipped: its request, if any, is then incomplete. */
async function load(join: Join, file: string, as: 'legacy' | 'candidate', badLines: OfflineResult['badLines']): Promise<Set<string>> {
  const runs = new Set<string>();
  try {
    await access(file, constants.R_OK);
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_IO', `cannot read --${as} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { file });
  }
  // Bytes, not text: a line that is not UTF-8 is refused by the reader, never replaced.
  const onBadLine = (bad: BadLine) => void badLines.push({ file, ...bad });
  for await (const { value, line } of readRecords(createReadStream(file), file, { onBadLine })) {
    // Exchanges (request and responses as a recorder saw them) may sit in either file.
    if (value.type !== 'exchange' && !ALLOWED[as].includes(value.side)) {
      throw new ShadowdiffError(
        'SHADOWDIFF_BAD_RECORD',
        `${file}:${line}: a record of side "${value.side}" in the --${as} file (it holds ${ALLOWED[as].join(' or ')} records; were the files swapped?).`,
        { file, line },
      );
    }
    runs.add(value.runId);
    join.add(value);
  }
  return runs;
}

function list(runs: Set<string>): string {
  const shown = [...runs].slice(0, 3).map((r) => JSON.stringify(r));
  return runs.size > 3 ? `${shown.join(', ')} and ${runs.size - 3} more` : shown.join(', ');
}
