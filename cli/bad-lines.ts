// Lines of an input file that were left out, told on stderr: the first few with their reasons,
// then how many more. Their presence makes the exit code 2 (bad input), after the rest ran.
import type { CliIo } from './io';

const SHOWN = 20;

export function reportBadLines(io: CliIo, bad: readonly { code: string; reason: string }[], done = 'compared'): void {
  if (!bad.length) return;
  for (const b of bad.slice(0, SHOWN)) io.err(`left out [${b.code}]: ${b.reason}`);
  if (bad.length > SHOWN) io.err(`… and ${bad.length - SHOWN} more`);
  io.err(`shadowdiff: ${bad.length} bad line(s) left out; the rest was ${done}. Fix the input and run again. [${bad[0]!.code}]`);
}
