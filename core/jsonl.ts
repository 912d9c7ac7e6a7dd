// JSONL recordings and effect files, read as an async iterable so that nothing loads a whole
// file into memory. Each line is parsed as untrusted JSON and validated against the format.
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseRecord, type ShadowRecord } from './effect';
import { parseJson } from './json';

export interface Line<T> {
  readonly value: T;
  /** 1-based line number in the source, for error messages. */
  readonly line: number;
}

/** Non-blank lines of a text stream, decoded as JSON. `name` labels errors ("a.jsonl:12: …"). */
export async function* readJsonLines(input: Readable, name: string): AsyncGenerator<Line<unknown>> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const text of lines) {
    n += 1;
    if (text.trim() === '') continue;
    yield { value: parseJson(text, `${name}:${n}`), line: n };
  }
}

/**
 * Effect and end records of a JSONL stream, each validated; the first bad line throws.
 * @public
 */
export async function* readRecords(input: Readable, name: string): AsyncGenerator<Line<ShadowRecord>> {
  for await (const { value, line } of readJsonLines(input, name)) {
    yield { value: parseRecord(value, `${name}:${line}`), line };
  }
}
