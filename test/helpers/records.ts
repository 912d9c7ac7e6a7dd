// Builds effect-format records from the abbreviated form the spec vectors use
// (test/spec/README.md): defaults for v, runId, shadowId, at, type, side and seq.
import { type EndRecord, type EffectRecord, parseRecord, type Side, type SideRecord } from '../../core/effect';
import type { SideInput } from '../../compare/engine';

export const RUN = 'r1';
export const SHADOW = 's1';
export const AT = '2026-11-24T10:00:00.000Z';
export const REQUEST = { method: 'POST', path: '/orders', route: '/orders' };

export type Abbreviated = Record<string, unknown>;
export type AbbreviatedSide = Abbreviated[] | { effects: Abbreviated[]; end: false };

export function expandSide(side: Side, input: AbbreviatedSide, shadowId = SHADOW): SideInput {
  const list = Array.isArray(input) ? input : input.effects;
  const records: SideRecord[] = [];
  let seq = 0;
  list.forEach((r, i) => {
    const type = r.type ?? 'effect';
    const full = { v: 1, runId: RUN, shadowId, at: AT, side, type, ...(type === 'effect' ? { seq: (r.seq as number | undefined) ?? seq++ } : {}), ...r };
    records.push(parseRecord(full, `${side}[${i}]`) as SideRecord);
  });
  const effects = records.filter((r): r is EffectRecord => r.type === 'effect');
  let end = records.find((r): r is EndRecord => r.type === 'end');
  if (!end && Array.isArray(input)) {
    end = parseRecord({ v: 1, runId: RUN, shadowId, at: AT, side, type: 'end', count: effects.length, request: REQUEST }) as EndRecord;
  }
  return { effects, end };
}

/** A full effect record with defaults, for tests that build records directly. */
export function effect(side: Side, seq: number, fields: Abbreviated, shadowId = SHADOW): EffectRecord {
  return parseRecord({ v: 1, runId: RUN, shadowId, at: AT, side, type: 'effect', seq, ...fields }) as EffectRecord;
}

export function end(side: Side, count: number, fields: Abbreviated = {}, shadowId = SHADOW): EndRecord {
  return parseRecord({ v: 1, runId: RUN, shadowId, at: AT, side, type: 'end', count, request: REQUEST, ...fields }) as EndRecord;
}
