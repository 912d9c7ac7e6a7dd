// Rollups: each comparison is stored once (keyed by run and shadow id), and then gets an entry
// in the `unfolded` inbox, with a copy of the comparison so a flush reads nothing else. A flush
// folds the inbox into the run's rollup, remembering the batch's ids in the rollup until it has
// written their `rolled` markers and cleared their inbox entries. A rollup is a chain of
// versions, each a new document whose `_id` is `<run>#<version>`: a flusher that read version v
// writes v+1 with an insert, and the unique `_id` lets exactly one of two concurrent flushers
// win — on any server, including those whose conditional updates are not atomic (FerretDB 1.x
// lost rollup counts that way). Markers and inbox entries are inserts. A redelivered request
// whose comparison was stored already gets an inbox entry marked `recheck`, folded only if no
// marker says it was: a crash at any step neither loses nor double-counts a comparison. A flush
// reads the inbox, which holds only what came since the last one, so it costs the same at the
// end of a week-long run as at its start.
//
// Workers' periodic flushes take turns through a lease (an insert too), so N workers do not all
// read the same inbox only for N-1 of them to lose the race, nor flush N times as often.
import { randomUUID } from 'node:crypto';
import { addComparison, type Comparison, emptyRollup, type Rollup } from '../../../compare/engine';
import { expiry, type Retention } from '../store';
import type { Collections, RollupDoc, UnfoldedDoc } from './documents';
import { DUPLICATE_KEY, insertAbsent } from './insert-absent';

const FLUSH_LEASE = 'flush-lease';
/** A flusher that died holding the lease holds up the others this long at most. */
const FLUSH_LEASE_MS = 60_000;

export class RollupChain {
  constructor(
    private readonly c: Collections,
    private readonly retention: Retention,
    /** Comparisons folded into a rollup per round. */
    private readonly batch: number,
  ) {}

  async get(runId: string): Promise<Rollup> {
    const doc = await this.latest(runId);
    return doc ? (JSON.parse(doc.rollup) as Rollup) : emptyRollup(runId);
  }

  async flush(runId?: string, options: { background?: boolean } = {}): Promise<boolean> {
    const lease = options.background ? await this.takeLease() : undefined;
    if (lease === null) return false;
    const started = Date.now();
    try {
      // Runs with something in the inbox, and runs whose latest fold a crash left unsettled.
      const runIds = runId
        ? [runId]
        : [...((await this.c.unfolded.distinct('runId')) as string[]), ...((await this.c.rollups.distinct('runId', { 'applied.0': { $exists: true } })) as string[])];
      // A background flush folds one batch per run and lets the worker back off before the next.
      for (const id of new Set(runIds)) await this.compact(id, lease ? 1 : Infinity);
      return true;
    } finally {
      // Held on for three times as long as the flush took: all workers together flush at most a
      // quarter of the time (on FerretDB each of a flush's queries scans a collection).
      const rest = Math.min(FLUSH_LEASE_MS, 3 * (Date.now() - started));
      if (lease) await this.c.meta.updateOne({ _id: FLUSH_LEASE, owner: lease }, { $set: { until: new Date(Date.now() + rest) } }).catch(() => undefined);
    }
  }

  /** The run's comparisons changed (re-evaluated): drop its rollups and markers and fold everything again. */
  async rebuild(runId: string): Promise<void> {
    await this.c.rollups.deleteMany({ runId });
    await this.c.rolled.deleteMany({ runId });
    let page: string[] = [];
    const refill = async () => {
      await insertAbsent(this.c.unfolded, page.map((_id): UnfoldedDoc => ({ _id, runId })));
      page = [];
    };
    for await (const d of this.c.comparisons.find({ runId }, { projection: { _id: 1 } })) {
      page.push(d._id);
      if (page.length >= 10_000) await refill();
    }
    await refill();
    await this.compact(runId);
  }

  /**
   * The background flush lease, taken by an insert (atomic on any server): its owner id, or null
   * while another process holds it or rests after its flush. One left by a process that died
   * expires after a minute.
   */
  private async takeLease(): Promise<string | null> {
    const owner = randomUUID();
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.c.meta.insertOne({ _id: FLUSH_LEASE, owner, until: new Date(Date.now() + FLUSH_LEASE_MS) });
        return owner;
      } catch (err) {
        if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      }
      const held = await this.c.meta.findOne({ _id: FLUSH_LEASE });
      if (held?.until && held.until.getTime() > Date.now()) return null;
      // Expired: remove exactly that one (a lease another process took meanwhile stays).
      if (held) await this.c.meta.deleteOne({ _id: FLUSH_LEASE, owner: held.owner });
    }
    return null;
  }

  /** Folds the run's inbox, `folds` batches at most (a flush under load would never end). */
  private async compact(runId: string, folds = Infinity): Promise<void> {
    const { c } = this;
    let folded = 0;
    for (let round = 0; round < 100_000; round++) {
      const doc = await this.latest(runId);
      const v = doc?.v ?? 0;
      if (doc?.applied.length) {
        // Folded in by an earlier round (ours or a crashed flusher's): mark them and clear them
        // from the inbox (in that order: a recheck entry finds the marker), then forget.
        await insertAbsent(
          c.rolled,
          doc.applied.map((_id) => ({ _id, runId, expireAt: expiry(new Date(), this.retention.resultDays) })),
        );
        await c.unfolded.deleteMany({ _id: { $in: doc.applied } });
        await this.nextVersion({ runId, v: v + 1, rollup: doc.rollup, applied: [] });
        continue;
      }
      if (folded >= folds) return;
      const entries = await c.unfolded.find({ runId }).limit(this.batch).toArray();
      if (!entries.length) return;
      // Entries carry their comparison; those that do not (a redelivery's, a rebuild's) are read
      // from the comparisons, unless a marker says a redelivered one was folded already.
      const pending = entries.filter((e): e is UnfoldedDoc & { c: string } => e.c !== undefined).map(({ _id, c: json }) => ({ _id, c: json }));
      const recheck = entries.filter((e) => e.recheck).map((e) => e._id);
      const marked = new Set(recheck.length ? (await c.rolled.find({ _id: { $in: recheck } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id) : []);
      const wanted = entries.filter((e) => e.c === undefined && !marked.has(e._id)).map((e) => e._id);
      if (wanted.length) pending.push(...(await c.comparisons.find({ _id: { $in: wanted } }, { projection: { c: 1 } }).toArray()));
      // Entries with nothing to fold: counted before, or the comparison expired unfolded.
      const found = new Set(pending.map((p) => p._id));
      const done = entries.map((e) => e._id).filter((id) => !found.has(id));
      if (done.length) await c.unfolded.deleteMany({ _id: { $in: done } });
      if (!pending.length) continue;
      const rollup = doc ? (JSON.parse(doc.rollup) as Rollup) : emptyRollup(runId);
      for (const p of pending) addComparison(rollup, JSON.parse(p.c) as Comparison);
      // Lost the race to another flusher: the next round reads its version and goes on from there.
      await this.nextVersion({ runId, v: v + 1, rollup: JSON.stringify(rollup), applied: pending.map((p) => p._id) });
      folded += 1;
    }
  }

  private latest(runId: string): Promise<RollupDoc | null> {
    return this.c.rollups.find({ runId }).sort({ v: -1 }).limit(1).next();
  }

  /** Writes version v of a run's rollup unless another flusher wrote it first; drops versions two behind. */
  private async nextVersion(doc: Omit<RollupDoc, '_id'>): Promise<void> {
    try {
      await this.c.rollups.insertOne({ _id: `${doc.runId}#${doc.v}`, ...doc });
    } catch (err) {
      if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      return;
    }
    // Version v-1 stays for a reader that just found it; older ones are history nobody reads.
    if (doc.v > 2) await this.c.rollups.deleteMany({ runId: doc.runId, v: { $lt: doc.v - 1 } });
  }
}
