// The join: records of any side, in any order, gathered per (run, shadow id) until both sides
// can be compared. Pure data structure; the offline compare and the worker both use it.
import type { EffectRecord, EndRecord, ExchangeRecord, ShadowRecord, Side } from '../core/effect';

export interface SideRecords {
  effects: EffectRecord[];
  end?: EndRecord;
}

export interface JoinEntry {
  runId: string;
  shadowId: string;
  legacy: SideRecords;
  candidate: SideRecords;
  secondary?: SideRecords;
  /** The request and responses as the proxy or replay saw them. */
  exchange?: ExchangeRecord;
}

export class Join {
  private readonly entries = new Map<string, JoinEntry>();
  /** The seqs each side has received: a redelivered effect must not count twice. */
  private readonly seqs = new WeakMap<SideRecords, Set<number>>();

  get size(): number {
    return this.entries.size;
  }

  add(record: ShadowRecord): JoinEntry {
    const id = joinKey(record.runId, record.shadowId);
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { runId: record.runId, shadowId: record.shadowId, legacy: { effects: [] }, candidate: { effects: [] } };
      this.entries.set(id, entry);
    }
    if (record.type === 'exchange') {
      entry.exchange ??= record;
      return entry;
    }
    const side = record.side === 'secondary' ? (entry.secondary ??= { effects: [] }) : entry[record.side];
    if (record.type === 'end') side.end ??= record;
    else {
      let seen = this.seqs.get(side);
      if (!seen) this.seqs.set(side, (seen = new Set()));
      if (!seen.has(record.seq)) {
        seen.add(record.seq);
        side.effects.push(record);
      }
    }
    return entry;
  }

  take(runId: string, shadowId: string): JoinEntry | undefined {
    const id = joinKey(runId, shadowId);
    const entry = this.entries.get(id);
    this.entries.delete(id);
    return entry;
  }

  /** Entries in shadow-id order (ULIDs sort by time). */
  sorted(): JoinEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.runId + a.shadowId < b.runId + b.shadowId ? -1 : 1));
  }
}

/**
 * Both sides have their end marker and every effect it counted that will ever arrive (effects
 * the SDK dropped never will: the comparison is then ready, and incomplete). The end marker
 * counts seqs 0 … count-1; effects caused elsewhere (a consumer of a message the request
 * published) carry higher seqs and join whoever is still waiting, within the settle window.
 * An end marker that says a recorder sends an exchange also waits for the exchange; an
 * exchange from services without the SDK is all there will be.
 */
export function isReady(entry: JoinEntry): boolean {
  const x = entry.exchange;
  if (x?.sdk === false) return true;
  // A side that never answered the recorder sends no end marker: waiting for one is pointless.
  const done = (s: SideRecords, name: Side) =>
    s.end === undefined ? x?.responses[name]?.error !== undefined : counted(s.effects, s.end.count) + (s.end.dropped ?? 0) >= s.end.count;
  const sides = done(entry.legacy, 'legacy') && done(entry.candidate, 'candidate') && (entry.secondary === undefined || done(entry.secondary, 'secondary'));
  if (!sides) return false;
  const waitsForExchange = entry.legacy.end?.exchange || entry.candidate.end?.exchange || entry.secondary?.end?.exchange;
  return !waitsForExchange || entry.exchange !== undefined;
}

function counted(effects: readonly EffectRecord[], count: number): number {
  let n = 0;
  for (const e of effects) if (e.seq < count) n += 1;
  return n;
}

function joinKey(runId: string, shadowId: string): string {
  return `${runId}\u0000${shadowId}`;
}
