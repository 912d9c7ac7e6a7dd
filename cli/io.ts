// What a command may do to the outside world, passed in so actions run the same in tests.
import type { Readable } from 'node:stream';
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  exitCode(code: number): void;
  /** The environment commands read settings from (only the CLI reads process.env). */
  env: Record<string, string | undefined>;
  /** Resolves when the process is asked to stop (SIGTERM, SIGINT). */
  stopSignal(): Promise<string>;
  /** Where bulk output (a recording) is streamed. */
  stdout: NodeJS.WritableStream & { write(chunk: string): boolean };
  /** Where a recording named `-` is read from. */
  stdin: Readable;
  /** Where logs and progress bars go (a bar only when it is a terminal). */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
  exitCode: (code) => {
    process.exitCode = code;
  },
  env: process.env,
  stdout: process.stdout,
  stdin: process.stdin,
  stderr: process.stderr,
  stopSignal: () =>
    new Promise((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }),
};
