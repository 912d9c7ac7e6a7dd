// The MongoDB store. Works on MongoDB and on FerretDB 1.x alike: no transactions, change
// streams, $facet or $lookup, and retention by TTL index where the server has one with a
// periodic sweep as the fallback. Captured payloads are arbitrary JSON (keys with `.` or a
// leading `$`), so they are stored as JSON text beside the few fields that are queried.
//
// Rollups: each comparison is stored once (keyed by run and shadow id), and then gets an entry
// in the `unfolded` inbox, with a copy of the comparison so a flush reads nothing else. `flushRollups` folds the inbox into the run's rollup, remembering the
// batch's ids in the rollup until it has written their `rolled` markers and cleared their inbox
// entries. A rollup is a chain of versions, each a new document whose `_id` is
// `<run>#<version>`: a flusher that read version v writes v+1 with an insert, and the unique
// `_id` lets exactly one of two concurrent flushers win — on any server, including those whose
// conditional updates are not atomic (FerretDB 1.x lost rollup counts that way). Markers and
// inbox entries are inserts. A redelivered request whose comparison was stored already gets an
// inbox entry marked `recheck`, folded only if no marker says it was: a crash at any step
// neither loses nor double-counts a comparison. A flush reads the inbox, which holds only what
// came since the last one, so it costs the same at the end of a week-long run as at its start.
// Workers' periodic flushes take turns through a lease (an insert too), so N workers do not
// all read the same inbox only for N-1 of them to lose the race, nor flush N times as often.
import { randomUUID } from 'node:crypto';
import { type Collection, type Db, type Filter, type MongoBulkWriteError, MongoClient, type OptionalUnlessRequiredId } from 'mongodb';
import { redactUrl } from '../../core/config';
import type { SideRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { addComparison, type Comparison, emptyRollup, type Rollup } from '../../compare/engine';
import { type Alert, type ComparisonQuery, DEFAULT_RETENTION, type Exchange, expiry, type PutResult, type Retention, type RunInfo, searchValues, type Store, type StoredRules } from './store';

export interface MongoStoreOptions {
  url: string;
  logger: Logger;
  dbName?: string;
  retention?: Retention;
  /** Comparisons folded into a rollup per round. */
  rollupBatch?: number;
}

interface ComparisonDoc {
  /** comparisonId(runId, shadowId). */
  _id: string;
  runId: string;
  shadowId: string;
  route: string;
  verdict: string;
  comparedAt: Date;
  /** Targets, and `target\nfield`, with findings: what the report filters by. */
  tf: string[];
  /** What a value search finds it by (searchValues). */
  vals: string[];
  expireAt: Date;
  /** The comparison, as JSON. */
  c: string;
}

interface RollupDoc {
  /** `<runId>#<v>`. */
  _id: string;
  runId: string;
  v: number;
  rollup: string;
  /** Comparisons folded in whose `rolled` markers may not be written, nor inbox entries cleared, yet. */
  applied: string[];
}

interface RawDoc {
  _id: string;
  runId: string;
  shadowId: string;
  at: Date;
  expireAt: Date;
  body: string;
}

/** Stored, not yet in the rollup. */
interface UnfoldedDoc {
  /** The comparison's `_id`. */
  _id: string;
  runId: string;
  /** The comparison as stored (JSON), when the entry was written with it. */
  c?: string;
  /** Written for a comparison that was stored before (a redelivery): it may be folded already. */
  recheck?: true;
}

/** A version 2 database keeps the rollup inbox; earlier ones found unfolded comparisons by scanning. */
const LAYOUT = 2;

const DUPLICATE_KEY = 11000;

const FLUSH_LEASE = 'flush-lease';
/** A flusher that died holding the lease holds up the others this long at most. */
const FLUSH_LEASE_MS = 60_000;

export async function connectMongoStore(options: MongoStoreOptions): Promise<MongoStore> {
  const client = new MongoClient(options.url, { serverSelectionTimeoutMS: 10_000, retryWrites: true });
  const safeUrl = redactUrl(options.url);
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `MongoDB is not reachable at ${safeUrl}: ${(err as Error).message}.`, { url: safeUrl }, { cause: err });
  }
  const store = new MongoStore(client, options);
  await store.init();
  return store;
}

export class MongoStore implements Store {
  private readonly db: Db;
  private readonly retention: Retention;
  private readonly log: Logger;
  readonly runs: Collection<RunInfo & { _id: string }>;
  readonly comparisons: Collection<ComparisonDoc>;
  readonly effects: Collection<RawDoc>;
  readonly exchanges: Collection<RawDoc>;
  readonly rollups: Collection<RollupDoc>;
  readonly alerts: Collection<Alert>;
  readonly rules: Collection<StoredRules>;
  /** One marker per comparison folded into its run's rollup. */
  readonly rolled: Collection<{ _id: string; runId: string; expireAt: Date }>;
  readonly unfolded: Collection<UnfoldedDoc>;
  /** The layout version, and the background flush lease. */
  private readonly meta: Collection<{ _id: string; layout?: number; owner?: string; until?: Date }>;

  constructor(
    private readonly client: MongoClient,
    private readonly options: MongoStoreOptions,
  ) {
    this.db = client.db(options.dbName ?? 'shadowdiff');
    this.retention = options.retention ?? DEFAULT_RETENTION;
    this.log = options.logger;
    this.runs = this.db.collection('runs');
    this.comparisons = this.db.collection('comparisons');
    this.effects = this.db.collection('effects');
    this.exchanges = this.db.collection('exchanges');
    this.rollups = this.db.collection('rollups');
    this.alerts = this.db.collection('alerts');
    this.rules = this.db.collection('rules');
    this.rolled = this.db.collection('rolled');
    this.unfolded = this.db.collection('unfolded');
    this.meta = this.db.collection('meta');
  }

  async init(): Promise<void> {
    // The unique index is what makes concurrent upserts of one comparison safe.
    await this.comparisons.createIndex({ runId: 1, shadowId: 1 }, { unique: true, name: 'run_shadow' });
    await this.comparisons.createIndex({ runId: 1, verdict: 1, shadowId: 1 }, { name: 'run_verdict' });
    await this.comparisons.createIndex({ runId: 1, route: 1, shadowId: 1 }, { name: 'run_route' });
    await this.comparisons.createIndex({ runId: 1, tf: 1 }, { name: 'run_findings' });
    await this.comparisons.createIndex({ runId: 1, vals: 1 }, { name: 'run_values' });
    await this.rolled.createIndex({ runId: 1 }, { name: 'run' });
    await this.unfolded.createIndex({ runId: 1 }, { name: 'run' });
    await this.rollups.createIndex({ runId: 1, v: -1 }, { name: 'run_version' });
    await this.effects.createIndex({ runId: 1, shadowId: 1 }, { name: 'run_shadow' });
    await this.alerts.createIndex({ runId: 1, at: 1 }, { name: 'run_at' });
    await this.rules.createIndex({ runId: 1, version: 1 }, { unique: true, name: 'run_version' });
    await this.migrate();
    for (const c of this.retained()) {
      try {
        await c.createIndex({ expireAt: 1 }, { expireAfterSeconds: 0, name: 'retention' });
      } catch (err) {
        // No TTL indexes here (FerretDB 1.x): `sweep` deletes what expired instead.
        this.log.info({ collection: c.collectionName, err: (err as Error).message }, 'no TTL index; retention by periodic sweep');
        await c.createIndex({ expireAt: 1 }, { name: 'retention_sweep' });
      }
    }
  }

  /**
   * A database written before the inbox (layout 1) has comparisons that were never folded and
   * have no inbox entry: give each comparison without a marker a `recheck` entry, once.
   */
  private async migrate(): Promise<void> {
    if (await this.meta.findOne({ _id: 'layout', layout: LAYOUT })) return;
    let entries = 0;
    for (const runId of (await this.comparisons.distinct('runId')) as string[]) {
      const marked = new Set((await this.rolled.find({ runId }, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
      const ids = (await this.comparisons.find({ runId }, { projection: { _id: 1 } }).toArray()).map((d) => d._id).filter((id) => !marked.has(id));
      await insertAbsent(this.unfolded, ids.map((_id): UnfoldedDoc => ({ _id, runId, recheck: true })));
      entries += ids.length;
    }
    await this.meta.replaceOne({ _id: 'layout' }, { layout: LAYOUT }, { upsert: true });
    if (entries) this.log.info({ entries }, 'rollup inbox filled from a database written by an earlier shadowdiff');
  }

  /** The collections whose documents expire. */
  private retained(): Collection[] {
    return [this.comparisons, this.effects, this.exchanges, this.rolled].map((c) => this.db.collection(c.collectionName));
  }

  async putRun(run: RunInfo): Promise<void> {
    // Coverage counters only ever grow, through addCoverage.
    const { coverage: _ignored, ...rest } = run;
    await this.runs.updateOne({ _id: run.runId }, { $set: rest }, { upsert: true });
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    const doc = await this.runs.findOne({ _id: runId });
    if (!doc) return undefined;
    const { _id, ...info } = doc;
    return info;
  }

  async listRuns(): Promise<RunInfo[]> {
    const docs = await this.runs.find({}).sort({ createdAt: -1 }).limit(1000).toArray();
    return docs.map(({ _id, ...info }) => info);
  }

  async addCoverage(runId: string, counts: Record<string, number>): Promise<void> {
    const inc = Object.fromEntries(Object.entries(counts).map(([k, n]) => [`coverage.${fieldName(k)}`, n]));
    await this.runs.updateOne({ _id: runId }, { $inc: inc, $setOnInsert: { runId, createdAt: new Date().toISOString() } }, { upsert: true });
  }

  async putExchanges(exchanges: readonly Exchange[]): Promise<void> {
    if (!exchanges.length) return;
    const now = new Date();
    await this.exchanges.bulkWrite(
      exchanges.map((x) => {
        const _id = JSON.stringify([x.runId, x.shadowId]);
        const doc: RawDoc = { _id, runId: x.runId, shadowId: x.shadowId, at: new Date(x.at), expireAt: expiry(now, this.retention.rawDays), body: JSON.stringify(x) };
        return { replaceOne: { filter: { _id }, replacement: doc, upsert: true } };
      }),
      { ordered: false },
    );
  }

  async getExchange(runId: string, shadowId: string): Promise<Exchange | undefined> {
    const doc = await this.exchanges.findOne({ _id: JSON.stringify([runId, shadowId]) });
    return doc ? (JSON.parse(doc.body) as Exchange) : undefined;
  }

  async putEffects(records: readonly SideRecord[]): Promise<void> {
    if (!records.length) return;
    const now = new Date();
    const docs: RawDoc[] = records.map((r) => ({
      _id: JSON.stringify([r.runId, r.shadowId, r.side, r.type === 'end' ? -1 : r.seq]),
      runId: r.runId,
      shadowId: r.shadowId,
      at: new Date(r.at),
      expireAt: expiry(now, this.retention.rawDays),
      body: JSON.stringify(r),
    }));
    // Stored before (a redelivery): keeping one is the point.
    await insertAbsent(this.effects, docs);
  }

  async getEffects(runId: string, shadowId: string): Promise<SideRecord[]> {
    const docs = await this.effects.find({ runId, shadowId }).sort({ _id: 1 }).toArray();
    return docs.map((d) => JSON.parse(d.body) as SideRecord);
  }

  /**
   * Insert-if-absent with a deterministic `_id` (run and shadow id): the first comparison stored
   * for a request stays. The unique index on (runId, shadowId) backs it on any server; keying by
   * `_id` keeps the write a point operation on servers that cannot use secondary indexes for
   * upserts (FerretDB 1.x scans the collection for each). Then each gets its inbox entry.
   */
  async putComparisons(comparisons: readonly Comparison[]): Promise<PutResult> {
    if (!comparisons.length) return { inserted: 0, existing: 0 };
    const now = new Date();
    const docs = new Map(
      comparisons.map((c) => {
        const id = comparisonId(c.runId, c.shadowId);
        return [id, this.toDoc(c, now, id)];
      }),
    );
    const ours = await insertAbsent(this.comparisons, [...docs.values()]);
    // Only after the comparison is stored: a flusher never meets an entry without one. An entry
    // carries the comparison this call stored, so a flush reads nothing else; one stored before
    // may differ from ours, so its entry is folded from the stored one.
    await insertAbsent(
      this.unfolded,
      [...docs.values()].map(({ _id, runId, c }): UnfoldedDoc => (ours.has(_id) ? { _id, runId, c } : { _id, runId, recheck: true })),
    );
    return { inserted: ours.size, existing: docs.size - ours.size };
  }

  async replaceComparisons(comparisons: readonly Comparison[]): Promise<number> {
    if (!comparisons.length) return 0;
    const now = new Date();
    const res = await this.comparisons.bulkWrite(
      comparisons.map((c) => {
        const _id = comparisonId(c.runId, c.shadowId);
        return { replaceOne: { filter: { _id }, replacement: this.toDoc(c, now, _id), upsert: false } };
      }),
      { ordered: false },
    );
    // The rollups counted the old verdicts: drop them and their markers, and fold everything again.
    for (const runId of new Set(comparisons.map((c) => c.runId))) {
      await this.rollups.deleteMany({ runId });
      await this.rolled.deleteMany({ runId });
      let page: string[] = [];
      const refill = async () => {
        await insertAbsent(this.unfolded, page.map((_id): UnfoldedDoc => ({ _id, runId })));
        page = [];
      };
      for await (const d of this.comparisons.find({ runId }, { projection: { _id: 1 } })) {
        page.push(d._id);
        if (page.length >= 10_000) await refill();
      }
      await refill();
      await this.compact(runId);
    }
    return res.matchedCount;
  }

  private toDoc(c: Comparison, now: Date, _id: string): ComparisonDoc {
    const tf = new Set<string>();
    for (const f of c.findings) {
      tf.add(f.target);
      tf.add(`${f.target}\n${f.field}`);
    }
    return {
      _id,
      runId: c.runId,
      shadowId: c.shadowId,
      route: c.route,
      verdict: c.verdict,
      comparedAt: new Date(c.comparedAt),
      tf: [...tf],
      vals: searchValues(c),
      expireAt: expiry(now, this.retention.resultDays),
      c: JSON.stringify(c),
    };
  }

  async getComparison(runId: string, shadowId: string): Promise<Comparison | undefined> {
    const doc = await this.comparisons.findOne({ _id: comparisonId(runId, shadowId) }, { projection: { c: 1 } });
    return doc ? (JSON.parse(doc.c) as Comparison) : undefined;
  }

  async listComparisons(q: ComparisonQuery): Promise<Comparison[]> {
    const filter: Record<string, unknown> = { runId: q.runId };
    if (q.verdict) filter.verdict = q.verdict;
    if (q.route) filter.route = q.route;
    if (q.target) filter.tf = q.field === undefined ? q.target : `${q.target}\n${q.field}`;
    if (q.after !== undefined) filter.shadowId = { $gt: q.after };
    if (q.since !== undefined || q.until !== undefined) {
      filter.comparedAt = { ...(q.since !== undefined ? { $gte: new Date(q.since) } : {}), ...(q.until !== undefined ? { $lt: new Date(q.until) } : {}) };
    }
    if (q.value !== undefined) filter.vals = q.value;
    const docs = await this.comparisons
      .find(filter, { projection: { c: 1 } })
      .sort({ shadowId: 1 })
      .limit(Math.min(q.limit ?? 100, 10_000))
      .toArray();
    return docs.map((d) => JSON.parse(d.c) as Comparison);
  }

  async countComparisons(runId: string): Promise<number> {
    return this.comparisons.countDocuments({ runId });
  }

  async flushRollups(runId?: string, options: { background?: boolean } = {}): Promise<boolean> {
    const lease = options.background ? await this.takeFlushLease() : undefined;
    if (lease === null) return false;
    const started = Date.now();
    try {
      // Runs with something in the inbox, and runs whose latest fold a crash left unsettled.
      const runIds = runId
        ? [runId]
        : [...((await this.unfolded.distinct('runId')) as string[]), ...((await this.rollups.distinct('runId', { 'applied.0': { $exists: true } })) as string[])];
      // A background flush folds one batch per run and lets the worker back off before the next.
      for (const id of new Set(runIds)) await this.compact(id, lease ? 1 : Infinity);
      return true;
    } finally {
      // Held on for three times as long as the flush took: all workers together flush at most a
      // quarter of the time (on FerretDB each of a flush's queries scans a collection).
      const rest = Math.min(FLUSH_LEASE_MS, 3 * (Date.now() - started));
      if (lease) await this.meta.updateOne({ _id: FLUSH_LEASE, owner: lease }, { $set: { until: new Date(Date.now() + rest) } }).catch(() => undefined);
    }
  }

  /**
   * The background flush lease, taken by an insert (atomic on any server): its owner id, or null
   * while another process holds it or rests after its flush. One left by a process that died
   * expires after a minute.
   */
  private async takeFlushLease(): Promise<string | null> {
    const owner = randomUUID();
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.meta.insertOne({ _id: FLUSH_LEASE, owner, until: new Date(Date.now() + FLUSH_LEASE_MS) });
        return owner;
      } catch (err) {
        if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      }
      const held = await this.meta.findOne({ _id: FLUSH_LEASE });
      if (held?.until && held.until.getTime() > Date.now()) return null;
      // Expired: remove exactly that one (a lease another process took meanwhile stays).
      if (held) await this.meta.deleteOne({ _id: FLUSH_LEASE, owner: held.owner });
    }
    return null;
  }

  /** Folds the run's inbox, `folds` batches at most (a flush under load would never end). */
  private async compact(runId: string, folds = Infinity): Promise<void> {
    const batch = this.options.rollupBatch ?? 10_000;
    let folded = 0;
    for (let round = 0; round < 100_000; round++) {
      const doc = await this.latestRollup(runId);
      const v = doc?.v ?? 0;
      if (doc?.applied.length) {
        // Folded in by an earlier round (ours or a crashed flusher's): mark them and clear them
        // from the inbox (in that order: a recheck entry finds the marker), then forget.
        await insertAbsent(
          this.rolled,
          doc.applied.map((_id) => ({ _id, runId, expireAt: expiry(new Date(), this.retention.resultDays) })),
        );
        await this.unfolded.deleteMany({ _id: { $in: doc.applied } });
        await this.nextVersion({ runId, v: v + 1, rollup: doc.rollup, applied: [] });
        continue;
      }
      if (folded >= folds) return;
      const entries = await this.unfolded.find({ runId }).limit(batch).toArray();
      if (!entries.length) return;
      // Entries carry their comparison; those that do not (a redelivery's, a rebuild's) are read
      // from the comparisons, unless a marker says a redelivered one was folded already.
      const pending = entries.filter((e): e is UnfoldedDoc & { c: string } => e.c !== undefined).map(({ _id, c }) => ({ _id, c }));
      const recheck = entries.filter((e) => e.recheck).map((e) => e._id);
      const marked = new Set(recheck.length ? (await this.rolled.find({ _id: { $in: recheck } }, { projection: { _id: 1 } }).toArray()).map((d) => d._id) : []);
      const wanted = entries.filter((e) => e.c === undefined && !marked.has(e._id)).map((e) => e._id);
      if (wanted.length) pending.push(...(await this.comparisons.find({ _id: { $in: wanted } }, { projection: { c: 1 } }).toArray()));
      // Entries with nothing to fold: counted before, or the comparison expired unfolded.
      const found = new Set(pending.map((p) => p._id));
      const done = entries.map((e) => e._id).filter((id) => !found.has(id));
      if (done.length) await this.unfolded.deleteMany({ _id: { $in: done } });
      if (!pending.length) continue;
      const rollup = doc ? (JSON.parse(doc.rollup) as Rollup) : emptyRollup(runId);
      for (const p of pending) addComparison(rollup, JSON.parse(p.c) as Comparison);
      // Lost the race to another flusher: the next round reads its version and goes on from there.
      await this.nextVersion({ runId, v: v + 1, rollup: JSON.stringify(rollup), applied: pending.map((p) => p._id) });
      folded += 1;
    }
  }

  private async latestRollup(runId: string): Promise<RollupDoc | null> {
    return this.rollups.find({ runId }).sort({ v: -1 }).limit(1).next();
  }

  /** Writes version v of a run's rollup unless another flusher wrote it first; drops versions two behind. */
  private async nextVersion(doc: Omit<RollupDoc, '_id'>): Promise<void> {
    try {
      await this.rollups.insertOne({ _id: `${doc.runId}#${doc.v}`, ...doc });
    } catch (err) {
      if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      return;
    }
    // Version v-1 stays for a reader that just found it; older ones are history nobody reads.
    if (doc.v > 2) await this.rollups.deleteMany({ runId: doc.runId, v: { $lt: doc.v - 1 } });
  }

  async getRollup(runId: string): Promise<Rollup> {
    const doc = await this.latestRollup(runId);
    return doc ? (JSON.parse(doc.rollup) as Rollup) : emptyRollup(runId);
  }

  async putAlert(alert: Alert): Promise<void> {
    await this.alerts.insertOne({ ...alert });
  }

  async listAlerts(runId: string): Promise<Alert[]> {
    const docs = await this.alerts.find({ runId }, { projection: { _id: 0 } }).sort({ at: 1 }).limit(1000).toArray();
    return docs as Alert[];
  }

  async putRules(runId: string, rules: unknown, meta: { reason: string; author: string }): Promise<number> {
    for (;;) {
      const last = await this.rules.find({ runId }).sort({ version: -1 }).limit(1).next();
      const version = (last?.version ?? 0) + 1;
      try {
        // Rules are stored as JSON text: user paths may hold `.` and `$`.
        await this.rules.insertOne({ runId, version, rules: JSON.stringify(rules), ...meta, createdAt: new Date().toISOString() });
        return version;
      } catch (err) {
        if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      }
    }
  }

  async getRules(runId: string): Promise<StoredRules | undefined> {
    const doc = await this.rules.find({ runId }, { projection: { _id: 0 } }).sort({ version: -1 }).limit(1).next();
    return doc ? { ...doc, rules: JSON.parse(doc.rules as string) } : undefined;
  }

  async sweep(now: Date): Promise<number> {
    let removed = 0;
    for (const c of this.retained()) {
      const { deletedCount } = await c.deleteMany({ expireAt: { $lt: now } });
      if (c.collectionName !== 'rolled') removed += deletedCount;
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Drops the database: for tests. */
  async drop(): Promise<void> {
    await this.db.dropDatabase();
  }
}

function comparisonId(runId: string, shadowId: string): string {
  return JSON.stringify([runId, shadowId]);
}

/**
 * Inserts the documents whose `_id` is not stored yet; returns those this call stored for
 * certain. A server may stop at the first duplicate even unordered, so after a refusal it looks
 * up what is there and inserts the rest.
 */
async function insertAbsent<T extends { _id: string }>(collection: Collection<T>, docs: readonly T[]): Promise<Set<string>> {
  const ours = new Set<string>();
  let todo = docs;
  for (let attempt = 1; todo.length; attempt++) {
    try {
      await collection.insertMany(todo as OptionalUnlessRequiredId<T>[], { ordered: false });
      for (const d of todo) ours.add(d._id);
      break;
    } catch (err) {
      if (!onlyDuplicates(err) || attempt >= 10) throw err;
      // A server that went on past the refusals stored every other document; one that stopped
      // at the first stored those before it.
      // Without the indexes of the refusals, claim none: an entry not claimed is only rechecked.
      const refused = new Set(writeErrors(err).map((e) => e.index));
      const insertedCount = (err as MongoBulkWriteError).insertedCount ?? 0;
      const wentOn = insertedCount === todo.length - refused.size;
      const first = refused.size ? Math.min(...refused) : -1;
      todo.forEach((d, i) => {
        if (!refused.has(i) && (wentOn || i < first)) ours.add(d._id);
      });
      const ids = todo.map((d) => d._id);
      const present = new Set((await collection.find({ _id: { $in: ids } } as Filter<T>, { projection: { _id: 1 } }).toArray()).map((d) => d._id as string));
      todo = todo.filter((d) => !present.has(d._id));
    }
  }
  return ours;
}

function writeErrors(err: unknown): { code?: number; index: number }[] {
  const w = (err as MongoBulkWriteError).writeErrors as unknown;
  return (Array.isArray(w) ? w : w ? [w] : []) as { code?: number; index: number }[];
}

function onlyDuplicates(err: unknown): boolean {
  if ((err as { name?: string }).name === 'MongoBulkWriteError') {
    const errors = writeErrors(err);
    return errors.length > 0 && errors.every((e) => e.code === DUPLICATE_KEY);
  }
  return (err as { code?: number }).code === DUPLICATE_KEY;
}

/** A counter name safe as a MongoDB field name. */
function fieldName(key: string): string {
  return key.replace(/\./g, '_').replace(/^\$/, '_') || '_';
}
