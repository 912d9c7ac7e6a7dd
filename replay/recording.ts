// Recordings: JSONL files of effect-format records, one request after another — its `exchange`
// (the request and legacy's response, redacted) followed by legacy's effects and end marker,
// if legacy ran the SDK. Read and written as streams: a million-line recording costs the
// memory of one request.
import type { Readable } from 'node:stream';
import type { ExchangeRecord, SideRecord } from '../core/effect';
import { ShadowdiffError } from '../core/errors';
import { type ReadOptions, readRecords } from '../core/jsonl';

/** One recorded request: what was sent, what legacy answered, what legacy did. */
export interface RecordedRequest {
  readonly exchange: ExchangeRecord;
  /** Legacy's effects and end marker, in seq order; empty for recordings without the SDK. */
  readonly legacy: SideRecord[];
  /** Line of the exchange in the source, for messages. */
  readonly line: number;
  /**
   * The request body's bytes where the source holds them (HAR, GoReplay): sent as they are. A
   * recording has only what the proxy kept of it (`exchange.request.body`).
   */
  readonly body?: Buffer;
  /** Bodies the source says were there but does not hold, with the reason (HAR): not replayable as recorded. */
  readonly missing?: { readonly request?: string; readonly response?: string };
}

/**
 * The requests of a recording, in file order. Records of one request must be together (as
 * `shadowdiff export` and the importers write them); a request without an exchange, a side
 * other than legacy, or a shadow id seen again further down is an error naming the line. With
 * `onBadLine`, a line that is not UTF-8, JSON or a record is reported and skipped, and so is a
 * request left without its exchange by one.
 */
export async function* readRecording(input: Readable, name: string, options: ReadOptions = {}): AsyncGenerator<RecordedRequest> {
  let current: { exchange?: ExchangeRecord; legacy: SideRecord[]; shadowId: string; line: number } | undefined;
  const done = new Set<string>();
  const finish = (): RecordedRequest | undefined => {
    const c = current!;
    if (!c.exchange) {
      const reason = `${name}:${c.line}: request ${JSON.stringify(c.shadowId)} has no exchange record (a recording holds one per request: the request to replay).`;
      if (!options.onBadLine) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', reason, { line: c.line });
      options.onBadLine({ line: c.line, code: 'SHADOWDIFF_BAD_RECORD', reason });
      return undefined;
    }
    done.add(`${c.exchange.runId}\u0000${c.shadowId}`);
    if (done.size > 100_000) done.clear(); // a bound on memory; the check is a courtesy, not a guarantee
    return { exchange: c.exchange, legacy: c.legacy.sort(bySeq), line: c.line };
  };
  for await (const { value: record, line } of readRecords(input, name, options)) {
    if (!current || record.shadowId !== current.shadowId) {
      const finished = current && finish();
      if (finished) yield finished;
      if (done.has(`${record.runId}\u0000${record.shadowId}`)) {
        throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${name}:${line}: records of request ${JSON.stringify(record.shadowId)} are not together (a recording lists each request's records in one block; \`shadowdiff export\` writes them so).`, { line });
      }
      current = { legacy: [], shadowId: record.shadowId, line };
    }
    if (record.type === 'exchange') {
      if (current.exchange) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${name}:${line}: a second exchange for request ${JSON.stringify(record.shadowId)}.`, { line });
      current.exchange = record;
      current.line = line;
    } else if (record.side !== 'legacy') {
      throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${name}:${line}: a ${record.side} record in a recording (it holds legacy's records only; the candidate is what replay runs).`, { line });
    } else current.legacy.push(record);
  }
  const last = current && finish();
  if (last) yield last;
}

function bySeq(a: SideRecord, b: SideRecord): number {
  const sa = a.type === 'effect' ? a.seq : Number.MAX_SAFE_INTEGER;
  const sb = b.type === 'effect' ? b.seq : Number.MAX_SAFE_INTEGER;
  return sa - sb;
}

/** Writes one request's lines; resolves when the stream can take more (backpressure). */
export async function writeRequest(out: NodeJS.WritableStream, request: { exchange: ExchangeRecord; legacy: readonly SideRecord[] }): Promise<void> {
  let text = `${JSON.stringify(request.exchange)}\n`;
  for (const r of request.legacy) text += `${JSON.stringify(r)}\n`;
  if (!out.write(text)) await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    out.once('error', onError);
    out.once('drain', () => {
      out.off('error', onError);
      resolve();
    });
  });
}
