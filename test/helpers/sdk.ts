// Helpers for the SDK suites: an in-process sink that keeps what it is sent, shadow headers,
// and a normal form for comparing two runs whose generated ObjectIds differ.
import { type CoverageRecord, type EffectRecord, type EndRecord, parseWireRecord, type ShadowRecord, type WireRecord } from '../../core/effect';
import { EJSON } from 'bson';
import type { Db } from 'mongodb';
import type { RecordSink } from '../../capture/sdk';

export interface MemorySink extends RecordSink {
  /** What was sent, as a worker reads it: through JSON and parseWireRecord (format 2's before-images rebuilt). */
  readonly records: ShadowRecord[];
  /** A proxy's coverage records, kept apart. */
  readonly coverage: CoverageRecord[];
  /** What was sent, as it was sent. */
  readonly sent: WireRecord[];
}

/**
 * Keeps what it is sent. The records are read as a worker reads them when a test looks at them,
 * not in write(): the SDK or proxy under test shares this process, and a timing test must not
 * pay for the test's own parsing on its event loop.
 */
export function memorySink(): MemorySink {
  const sent: WireRecord[] = [];
  const records: ShadowRecord[] = [];
  const coverage: CoverageRecord[] = [];
  let read = 0;
  const catchUp = () => {
    for (; read < sent.length; read++) {
      const r = parseWireRecord(JSON.parse(JSON.stringify(sent[read])));
      if (r.type === 'coverage') coverage.push(r);
      else records.push(r);
    }
  };
  return {
    get records() {
      catchUp();
      return records;
    },
    get coverage() {
      catchUp();
      return coverage;
    },
    sent,
    description: 'test memory sink',
    write: async (batch) => void sent.push(...batch),
  };
}

/** One side of one request as the engine takes it: its effects and end marker among `records` (of `side`, when given). */
export function sideOf(records: readonly ShadowRecord[], shadowId: string, side?: string): { effects: EffectRecord[]; end: EndRecord | undefined } {
  const mine = records.filter((r): r is EffectRecord | EndRecord => r.shadowId === shadowId && r.type !== 'exchange' && (side === undefined || r.side === side));
  return { effects: mine.filter((r): r is EffectRecord => r.type === 'effect'), end: mine.find((r): r is EndRecord => r.type === 'end') };
}

export function shadowHeaders(shadowId: string, side = 'legacy', mode = 'live', runId = 'run1'): Record<string, string> {
  return { 'x-shadow-id': shadowId, 'x-shadow-run': runId, 'x-shadow-side': side, 'x-shadow-mode': mode };
}

/**
 * A comparable form of driver values and records: ObjectIds become `oid#n` in order of first
 * appearance, key order is sorted, driver errors become their code.
 */
export function normalizer(): (value: unknown) => unknown {
  const ids = new Map<string, string>();
  const norm = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    // Duck-typed: errors may come from another realm (jest's module sandbox).
    if (v instanceof Error || (typeof (v as Error).stack === 'string' && typeof (v as Error).message === 'string')) return { error: (v as { code?: unknown }).code ?? (v as Error).name };
    if (Array.isArray(v)) return v.map(norm);
    const bson = (v as { _bsontype?: string })._bsontype;
    if (bson === 'ObjectId') return oid((v as { toHexString(): string }).toHexString());
    if (v instanceof Date) return { $date: v.toISOString() };
    const obj = v as Record<string, unknown>;
    if (Object.keys(obj).length === 1 && typeof obj.$oid === 'string') return oid(obj.$oid);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(obj).sort()) out[k] = norm(obj[k]);
    return out;
  };
  const oid = (hex: string) => {
    if (!ids.has(hex)) ids.set(hex, `oid#${ids.size}`);
    return ids.get(hex)!;
  };
  return norm;
}

/** Every collection of the database, in _id order, as canonical EJSON: equal only if byte for byte the same data. */
export async function dump(db: Db): Promise<string> {
  const names = (await db.listCollections().toArray()).map((c) => c.name).sort();
  const out: string[] = [];
  for (const n of names) out.push(n, EJSON.stringify(await db.collection(n).find().sort({ _id: 1 }).toArray(), { relaxed: false }));
  return out.join('\n');
}

/**
 * The effects as a sorted list without seq (a bulk write lists documents in _id order, and ids
 * the server generates sort differently from the SDK's), with seqs checked to be 0…n-1.
 */
export function comparable(records: MemorySink['records'], norm: (v: unknown) => unknown): unknown[] {
  const effects = records.filter((r): r is EffectRecord => r.type === 'effect');
  if (effects.some((e, i) => e.seq !== i)) throw new Error(`effect seqs are not 0…n-1: ${effects.map((e) => e.seq).join(',')}`);
  return effects
    .map(({ at: _at, side: _side, seq: _seq, error, target, ...rest }) => norm({ ...rest, target: target.replace(/^[^.]+\./, ''), ...(error ? { error: /\b(\d{1,5}):/.exec(error)?.[1] ?? 'error' } : {}) }))
    .map((e) => JSON.stringify(e))
    .sort();
}
