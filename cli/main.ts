// The `shadowdiff` command: subcommands parse flags and call the library; user mistakes print
// one clear line (no stack trace) and exit 2.
import { Command, CommanderError } from 'commander';
import { isCallerError, ShadowdiffError } from '../core/errors';
import { compareCommand } from './compare';
import { workerCommand } from './worker';
import { proxyCommand } from './proxy';
import { samplingCommand } from './sampling';
import { cutoverCommand } from './cutover';
import { correctionsCommand } from './corrections';
import { exportCommand } from './export';
import { replayCommand } from './replay';
import { reportCommand } from './report';
import { serveCommand } from './serve';
import { demoCommand } from './demo';
import { type CliIo, processIo } from './io';
import pkg from '../package.json';
import { deleteRunCommand } from './delete-run';
import { topologyCommand } from './topology';
import { consumersCommand } from './consumers';

export function buildProgram(io: CliIo = processIo): Command {
  const program = new Command('shadowdiff')
    .description('shadow-traffic comparison harness: diff a candidate\'s side effects against legacy\'s, request by request')
    .version(pkg.version)
    .exitOverride()
    .showHelpAfterError('(run `shadowdiff --help` for the commands)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  for (const cmd of [demoCommand(io), compareCommand(io), workerCommand(io), proxyCommand(io), samplingCommand(io), cutoverCommand(io), correctionsCommand(io), replayCommand(io), exportCommand(io), reportCommand(io), serveCommand(io), topologyCommand(io), consumersCommand(io), deleteRunCommand(io)]) {
    program.addCommand(
      cmd
        .exitOverride()
        .showHelpAfterError(`(run \`shadowdiff ${cmd.name()} --help\` for the options)`)
        .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) }),
    );
  }
  return program;
}

/** Runs the CLI; resolves to the exit code instead of exiting, so tests can call it. */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  let code = 0;
  const tracked: CliIo = { ...io, exitCode: (c) => void (code = c) };
  try {
    await buildProgram(tracked).parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (isCallerError(err)) {
      io.err(`shadowdiff: ${err.full} [${err.code}]`);
      return 2;
    }
    const wrapped = err instanceof ShadowdiffError ? err : new ShadowdiffError('SHADOWDIFF_INTERNAL', `unexpected error: ${(err as Error).message}.`);
    io.err(`shadowdiff: ${wrapped.full} [${wrapped.code}]`);
    if (!(err instanceof ShadowdiffError) && err instanceof Error && err.stack) io.err(err.stack);
    return 2;
  }
}
