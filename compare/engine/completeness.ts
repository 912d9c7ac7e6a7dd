// Whether each side sent everything it said it would: records deduplicated by seq, summarized,
// and checked against the end marker's count (spec vectors: test/spec/compare/completeness.json).
// An incomplete side is named with what is missing; a contradicting one is an error.
import { CHILD_SEQ_STRIDE, type EffectRecord, type EndRecord, type Side } from '../../core/effect';
import type { SideSummary } from './finding';
import type { SideInput } from './input';

/** Records redelivered or sent twice: the first of each seq, in seq order. */
export function dedupe(effects: readonly EffectRecord[]): EffectRecord[] {
  let ordered = true;
  for (let i = 1; i < effects.length && ordered; i++) ordered = effects[i]!.seq > effects[i - 1]!.seq;
  if (ordered) return effects as EffectRecord[];
  const bySeq = new Map<number, EffectRecord>();
  for (const e of effects) if (!bySeq.has(e.seq)) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export function summarize(effects: EffectRecord[], end: EndRecord | undefined): SideSummary {
  const s: SideSummary = { effects: effects.length, ended: end !== undefined };
  let db = 0;
  for (const e of effects) if (e.kind === 'db') db += 1;
  if (db) s.db = db;
  if (end) {
    s.count = end.count;
    if (end.dropped) s.dropped = end.dropped;
    if (end.status !== undefined) s.status = end.status;
  }
  return s;
}

/** Effects among seq 0 … count-1 (children and the recorder's response are extra). */
function counted(effects: EffectRecord[], end: EndRecord): number {
  let n = 0;
  for (const e of effects) if (e.seq >= 0 && e.seq < end.count) n += 1;
  return n;
}

/** The side ended, dropped nothing, and every effect it counted arrived. */
export function complete(effects: EffectRecord[], end: EndRecord | undefined): boolean {
  return end !== undefined && !end.dropped && counted(effects, end) >= end.count;
}

export function incompleteReasons(side: Side, effects: EffectRecord[], input: SideInput): string[] {
  const end = input.end;
  if (!end) return [input.noResponse !== undefined ? `${side}: no response (${input.noResponse})` : `${side}: no end marker`];
  const out: string[] = [];
  if (end.dropped) out.push(`${side}: ${end.dropped} effect(s) dropped by the SDK`);
  const have = counted(effects, end);
  if (have < end.count) {
    const seqs = new Set(effects.map((e) => e.seq));
    const absent: number[] = [];
    for (let s = 0; s < end.count && absent.length < 10; s++) if (!seqs.has(s)) absent.push(s);
    out.push(`${side}: ${end.count - have} of ${end.count} effect(s) not received (seq ${absent.join(', ')}${end.count - have > absent.length ? ', …' : ''})`);
  }
  return out;
}

/**
 * An effect numbered beyond its side's count but below the children's range: the records
 * contradict each other. Seqs from CHILD_SEQ_STRIDE up come from work the request caused
 * elsewhere (a consumer, a partner call) and are compared like the rest.
 */
export function overCount(side: Side, effects: EffectRecord[], end: EndRecord | undefined): string | undefined {
  if (!end) return undefined;
  const beyond = effects.find((e) => e.seq >= end.count && e.seq < CHILD_SEQ_STRIDE);
  return beyond ? `${side}: effect seq ${beyond.seq} is beyond the end marker's count ${end.count}` : undefined;
}
