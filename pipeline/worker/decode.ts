// A delivery's body as records: one record, or a JSON array of records of one partition.
// Anything else throws the reason the message is dead-lettered with.
import { parseRecord, type ShadowRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { parseJson } from '../../core/json';
import { partitionOf } from '../../runtime/bus/bus';

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeDelivery(body: Uint8Array, partition: number, partitions: number): ShadowRecord[] {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', 'record: not valid UTF-8 (records are JSON text in UTF-8)');
  }
  const value = parseJson(text, 'record');
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', 'record: an empty array (a batch holds one or more records)');
  return list.map((v, i) => {
    const record = parseRecord(v, Array.isArray(value) ? `record[${i}]` : 'record');
    const home = partitionOf(record.shadowId, partitions);
    if (home !== partition) {
      throw new ShadowdiffError(
        'SHADOWDIFF_BAD_RECORD',
        `record for shadow id ${JSON.stringify(record.shadowId)} arrived on partition ${partition} but belongs on ${home}: its publisher routes with another hash or partition count (docs/pipeline.md)`,
        { partition, home },
      );
    }
    return record;
  });
}
