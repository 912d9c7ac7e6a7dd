// JSONL recordings and effect files, read as an async iterable so that nothing loads a whole
// file into memory. Each line must be UTF-8 (bytes are never replaced: `FF FF` and `FE FE`
// must not both become U+FFFD and compare equal), is parsed as untrusted JSON and validated
// against the format. A bad line either throws or, with `onBadLine`, is reported and skipped.
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { parseRecord, type ShadowRecord } from './effect';
import { type ErrorCode, ShadowdiffError } from './errors';
import { parseJson } from './json';

export interface Line<T> {
  readonly value: T;
  /** 1-based line number in the source, for error messages. */
  readonly line: number;
}

export interface BadLine {
  readonly line: number;
  /** The error code it would have thrown with (SHADOWDIFF_BAD_JSON, SHADOWDIFF_BAD_RECORD). */
  readonly code: ErrorCode;
  /** What was wrong, naming the source and line ("a.jsonl:12: not valid UTF-8 …"). */
  readonly reason: string;
}

export interface ReadOptions {
  /** A line that is not UTF-8, not JSON or not a record is reported here and skipped; without it the first one throws. */
  onBadLine?: (bad: BadLine) => void;
}

/** An input with nothing but bad lines: the first one's error, and how many more there were. */
export function firstBadLine(bad: readonly BadLine[]): ShadowdiffError {
  const more = bad.length > 1 ? ` (and ${bad.length - 1} more bad line(s))` : '';
  return new ShadowdiffError(bad[0]!.code, `${bad[0]!.reason}${more}`, { line: bad[0]!.line });
}

/** The lines of a byte stream, without their line ends (`\n` or `\r\n`). */
async function* byteLines(input: Readable): AsyncGenerator<Buffer> {
  let rest: Buffer | undefined;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (rest) buf = Buffer.concat([rest, buf]);
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl !== -1; nl = buf.indexOf(0x0a, start)) {
      yield trimCr(buf.subarray(start, nl));
      start = nl + 1;
    }
    rest = start < buf.length ? buf.subarray(start) : undefined;
  }
  if (rest?.length) yield trimCr(rest);
}

function trimCr(line: Buffer): Buffer {
  return line.length && line[line.length - 1] === 0x0d ? line.subarray(0, line.length - 1) : line;
}

/** Non-blank lines of a byte stream, decoded as JSON. `name` labels errors ("a.jsonl:12: …"). */
export async function* readJsonLines(input: Readable, name: string, options: ReadOptions = {}): AsyncGenerator<Line<unknown>> {
  let n = 0;
  for await (const bytes of byteLines(input)) {
    n += 1;
    try {
      if (!isUtf8(bytes)) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${name}:${n}: not valid UTF-8 (records are JSON text in UTF-8; bytes are not replaced, so that two different ones cannot compare equal).`, { line: n });
      const text = bytes.toString('utf8');
      if (text.trim() === '') continue;
      yield { value: parseJson(text, `${name}:${n}`), line: n };
    } catch (err) {
      if (!options.onBadLine || !(err instanceof ShadowdiffError)) throw err;
      options.onBadLine({ line: n, code: err.code, reason: err.message });
    }
  }
}

/**
 * Effect and end records of a JSONL stream, each validated; the first bad line throws unless
 * `onBadLine` takes it.
 * @public
 */
export async function* readRecords(input: Readable, name: string, options: ReadOptions = {}): AsyncGenerator<Line<ShadowRecord>> {
  for await (const { value, line } of readJsonLines(input, name, options)) {
    let record: ShadowRecord;
    try {
      record = parseRecord(value, `${name}:${line}`);
    } catch (err) {
      if (!options.onBadLine || !(err instanceof ShadowdiffError)) throw err;
      options.onBadLine({ line, code: err.code, reason: err.message });
      continue;
    }
    yield { value: record, line };
  }
}
