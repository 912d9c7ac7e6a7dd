// A delivery's body as records: one record, or a JSON array of records of one partition (a
// pack), compressed or not. A record that cannot be taken is refused on its own, with its reason, and the rest of
// its pack goes on: one application's odd document must not cost other requests their records.
// A message with nothing usable in it throws the reason it is dead-lettered with.
import { type CoverageRecord, parseWireRecord, type ShadowRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { parseJson } from '../../core/json';
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
  let value: unknown;
  let polluted = false;
  try {
    value = parseJson(text, 'record');
  } catch (err) {
    // Refused for a `__proto__` or `constructor.prototype` key somewhere: find which records
    // hold one. Native JSON.parse makes such keys own properties and pollutes nothing; each
    // record is then checked on its own, and only the ones holding such a key are refused.
    if (!/__proto__|constructor\.prototype/.test((err as Error).message)) throw err;
    value = JSON.parse(text);
    polluted = true;
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
      const key = polluted ? pollutingKey(v, 0) : undefined;
      if (key) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', `${where}: refused a ${key} key (it could pollute object prototypes); an SDK writes such keys escaped (docs/effect-format.md)`);
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

/** `"__proto__"` or `"constructor.prototype"` when the value holds such a key, at any depth. */
function pollutingKey(value: unknown, depth: number): string | undefined {
  if (value === null || typeof value !== 'object' || depth > 400) return undefined;
  if (Array.isArray(value)) {
    for (const v of value) {
      const k = pollutingKey(v, depth + 1);
      if (k) return k;
    }
    return undefined;
  }
  if (Object.prototype.hasOwnProperty.call(value, '__proto__')) return '"__proto__"';
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const v = o[key];
    if (key === 'constructor' && v !== null && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, 'prototype')) return '"constructor.prototype"';
    const k = pollutingKey(v, depth + 1);
    if (k) return k;
  }
  return undefined;
}
