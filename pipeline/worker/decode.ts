// A delivery's body as records: one record, or a JSON array of records of one partition (a
// pack), compressed or not. A record that cannot be taken is refused on its own, with its
// reason, and the rest of its pack goes on: one application's odd document must not cost other
// requests their records. A message with nothing usable in it throws the reason it is
// dead-lettered with.
import { type CoverageRecord, parseWireRecord, type ShadowRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { partitionOf } from '../../runtime/bus/bus';
import { decodeBody } from '../../runtime/bus/encoding';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export interface Refused {
  /** The record as it came (JSON), for the dead-letter queue. */
  readonly body: Buffer;
  readonly reason: string;
  readonly shadowId?: string;
}

export interface Decoded {
  readonly records: ShadowRecord[];
  /** Recorders' coverage totals (a proxy's), folded into their runs. */
  readonly coverage: CoverageRecord[];
  readonly refused: Refused[];
}

/** `encoding`: the message's content-encoding (runtime/bus/encoding.ts), absent for plain JSON. */
export function decodeDelivery(raw: Buffer, encoding: string | undefined, partition: number, partitions: number): Decoded {
  const body = decodeBody(raw, encoding);
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', 'record: not valid UTF-8 (records are JSON text in UTF-8)');
  }
  // Native JSON.parse makes `__proto__` keys own properties and pollutes nothing; parseRecord
  // then refuses, record by record, those holding such a key (and those nested too deep).
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ShadowdiffError('SHADOWDIFF_BAD_JSON', `record: not valid JSON (${(err as Error).message}).`, { where: 'record' });
  }
  const packed = Array.isArray(value);
  const list: unknown[] = packed ? (value as unknown[]) : [value];
  if (list.length === 0) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', 'record: an empty array (a batch holds one or more records)');
  const records: ShadowRecord[] = [];
  const coverage: CoverageRecord[] = [];
  const refused: Refused[] = [];
  list.forEach((v, i) => {
    const where = packed ? `record[${i}]` : 'record';
    try {
      const record = parseWireRecord(v, where);
      const home = partitionOf(record.shadowId, partitions);
      if (home !== partition) {
        throw new ShadowdiffError(
          'SHADOWDIFF_BAD_RECORD',
          `${where} for shadow id ${JSON.stringify(record.shadowId)} arrived on partition ${partition} but belongs on ${home}: its publisher routes with another hash or partition count (docs/pipeline.md)`,
          { partition, home },
        );
      }
      if (record.type === 'coverage') coverage.push(record);
      else records.push(record);
    } catch (err) {
      const shadowId = (v as { shadowId?: unknown } | null)?.shadowId;
      refused.push({ body: packed ? part(v) : Buffer.from(body), reason: (err as Error).message, ...(typeof shadowId === 'string' ? { shadowId: shadowId.slice(0, 200) } : {}) });
    }
  });
  if (records.length === 0 && coverage.length === 0) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', refused.length === 1 ? refused[0]!.reason : `all ${refused.length} records refused; the first: ${refused[0]!.reason}`);
  return { records, coverage, refused };
}

/** One record of a pack as JSON again, for the dead-letter queue (a too-deep one as a note saying so). */
function part(value: unknown): Buffer {
  try {
    return Buffer.from(JSON.stringify(value) ?? 'null');
  } catch (err) {
    return Buffer.from(JSON.stringify({ unserializable: (err as Error).message }));
  }
}
