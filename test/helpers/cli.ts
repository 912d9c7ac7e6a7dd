// The CLI's outside world for tests: what a command prints, captured; an environment; a stop
// signal that comes when asked (or never); standard input and output as streams.
import { PassThrough, Readable } from 'node:stream';
import type { CliIo } from '../../cli/io';

export interface FakeIo {
  io: CliIo;
  /** Lines of io.out and io.err. */
  out: string[];
  err: string[];
  /** What went to io.stdout (a recording), and what the logger and progress wrote to io.stderr. */
  stdout(): string;
  stderr(): string;
  /** The exit code a command set, if it set one. */
  code(): number | undefined;
}

export interface FakeIoOptions {
  env?: Record<string, string | undefined>;
  /** Resolves the command's stop signal; default: never. */
  stop?: Promise<string>;
  stdin?: string;
  /** Where io.stdout goes instead of the captured buffer. */
  stdout?: NodeJS.WritableStream & { write(chunk: string): boolean };
}

export function fakeIo(o: FakeIoOptions = {}): FakeIo {
  const out: string[] = [];
  const err: string[] = [];
  let exit: number | undefined;
  const capture = () => {
    const chunks: Buffer[] = [];
    const s = new PassThrough();
    s.on('data', (c: Buffer) => chunks.push(c));
    return { s, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const so = capture();
  const se = capture();
  const io: CliIo = {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    exitCode: (c) => void (exit = c),
    env: o.env ?? {},
    stopSignal: () => o.stop ?? new Promise<string>(() => undefined),
    stdout: o.stdout ?? so.s,
    stdin: Readable.from(o.stdin === undefined ? [] : [o.stdin]),
    stderr: se.s,
  };
  return { io, out, err, stdout: so.text, stderr: se.text, code: () => exit };
}
