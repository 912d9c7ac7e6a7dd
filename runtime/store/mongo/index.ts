// The MongoDB store. Works on MongoDB and on FerretDB 1.x alike: no transactions, change
// streams, $facet or $lookup, and retention by TTL index where the server has one with a
// periodic sweep as the fallback.
//
// Beside this file: documents.ts (collections and their documents), schema.ts (indexes,
// layout migration, retention), rollups.ts (the rollup version chain and the flush lease),
// insert-absent.ts (the write primitive for what is stored once).
import { type Db, MongoClient } from 'mongodb';
import { redactUrl } from '../../../core/net';
import type { SideRecord } from '../../../core/effect';
import { ShadowdiffError } from '../../../core/errors';
import { DEFAULT_RETENTION } from '../../../core/settings';
import type { Logger } from '../../../core/logger';
import type { Comparison, Rollup, Verdict } from '../../../compare/engine';
import { type Alert, type ComparisonQuery, type CutoverEvent, type Exchange, expiry, type ProxyCoverage, type PutResult, type ReevaluationJob, type Retention, type RunDataCounts, type RunInfo, searchValues, type Store, type StoredRules } from '../store';
import { type ComparisonDoc, collectionsOf, type Collections, comparisonId, fieldName, type RawDoc, retained, type UnfoldedDoc } from './documents';
import { DUPLICATE_KEY, insertAbsent } from './insert-absent';
import { RollupChain } from './rollups';
import { ensureSchema } from './schema';

export interface MongoStoreOptions {
  url: string;
  logger: Logger;
  dbName?: string;
  retention?: Retention;
  /** Comparisons folded into a rollup per round. */
  rollupBatch?: number;
}

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
  /** The collections, for tests and tools that reach past the port. */
  readonly collections: Collections;
  private readonly chain: RollupChain;

  constructor(
    private readonly client: MongoClient,
    options: MongoStoreOptions,
  ) {
    this.db = client.db(options.dbName ?? 'shadowdiff');
    this.retention = options.retention ?? DEFAULT_RETENTION;
    this.log = options.logger;
    this.collections = collectionsOf(this.db);
    this.chain = new RollupChain(this.collections, this.retention, options.rollupBatch ?? 10_000);
  }

  init(): Promise<void> {
    return ensureSchema(this.collections, this.log);
  }

  async putRun(run: RunInfo): Promise<void> {
    // Coverage counters only ever grow, through addCoverage and putProxyCoverage.
    const { coverage: _ignored, proxies: _also, ...rest } = run;
    await this.collections.runs.updateOne({ _id: run.runId }, { $set: rest }, { upsert: true });
  }

  async getRun(runId: string): Promise<RunInfo | undefined> {
    const doc = await this.collections.runs.findOne({ _id: runId });
    if (!doc) return undefined;
    const { _id, ...info } = doc;
    // A proxy that skipped nothing has no notMirrored field stored ($max writes only what it has).
    for (const p of Object.values(info.proxies ?? {})) p.notMirrored ??= {};
    return info;
  }

  async listRuns(): Promise<RunInfo[]> {
    const docs = await this.collections.runs.find({}).sort({ createdAt: -1 }).limit(1000).toArray();
    return docs.map(({ _id, ...info }) => info);
  }

  async addCoverage(runId: string, counts: Record<string, number>): Promise<void> {
    const inc = Object.fromEntries(Object.entries(counts).map(([k, n]) => [`coverage.${fieldName(k)}`, n]));
    await this.collections.runs.updateOne({ _id: runId }, { $inc: inc, $setOnInsert: { runId, createdAt: new Date().toISOString() } }, { upsert: true });
  }

  async putProxyCoverage(runId: string, source: string, totals: ProxyCoverage): Promise<void> {
    const at = `proxies.${fieldName(source)}`;
    const max: Record<string, unknown> = { [`${at}.at`]: totals.at, [`${at}.seen`]: totals.seen, [`${at}.mirrored`]: totals.mirrored, [`${at}.dropped`]: totals.dropped };
    for (const [why, n] of Object.entries(totals.notMirrored)) max[`${at}.notMirrored.${fieldName(why)}`] = n;
    await this.collections.runs.updateOne({ _id: runId }, { $max: max, $setOnInsert: { runId, createdAt: new Date().toISOString(), source: 'proxy' } }, { upsert: true });
  }

  async ensureRun(runId: string, source?: RunInfo['source']): Promise<void> {
    await this.collections.runs.updateOne({ _id: runId }, { $setOnInsert: { runId, createdAt: new Date().toISOString(), ...(source ? { source } : {}) } }, { upsert: true });
  }

  async putExchanges(exchanges: readonly Exchange[]): Promise<void> {
    if (!exchanges.length) return;
    const now = new Date();
    await this.collections.exchanges.bulkWrite(
      exchanges.map((x) => {
        const _id = JSON.stringify([x.runId, x.shadowId]);
        const doc: RawDoc = { _id, runId: x.runId, shadowId: x.shadowId, at: new Date(x.at), expireAt: expiry(now, this.retention.rawDays), body: JSON.stringify(x) };
        return { replaceOne: { filter: { _id }, replacement: doc, upsert: true } };
      }),
      { ordered: false },
    );
  }

  async getExchange(runId: string, shadowId: string): Promise<Exchange | undefined> {
    const doc = await this.collections.exchanges.findOne({ _id: JSON.stringify([runId, shadowId]) });
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
    await insertAbsent(this.collections.effects, docs);
  }

  async getEffects(runId: string, shadowId: string): Promise<SideRecord[]> {
    const docs = await this.collections.effects.find({ runId, shadowId }).sort({ _id: 1 }).toArray();
    return docs.map((d) => JSON.parse(d.body) as SideRecord);
  }

  async getEffectsOf(runId: string, shadowIds: readonly string[]): Promise<Map<string, SideRecord[]>> {
    const out = new Map<string, SideRecord[]>();
    if (!shadowIds.length) return out;
    // By the (runId, shadowId) index; the _id order keeps each request's records in sequence.
    const docs = await this.collections.effects.find({ runId, shadowId: { $in: [...shadowIds] } }).sort({ _id: 1 }).toArray();
    for (const d of docs) {
      const list = out.get(d.shadowId);
      if (list) list.push(JSON.parse(d.body) as SideRecord);
      else out.set(d.shadowId, [JSON.parse(d.body) as SideRecord]);
    }
    return out;
  }

  async getExchangesOf(runId: string, shadowIds: readonly string[]): Promise<Map<string, Exchange>> {
    const out = new Map<string, Exchange>();
    if (!shadowIds.length) return out;
    const docs = await this.collections.exchanges.find({ _id: { $in: shadowIds.map((id) => JSON.stringify([runId, id])) } }).toArray();
    for (const d of docs) out.set(d.shadowId, JSON.parse(d.body) as Exchange);
    return out;
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
    const ours = await insertAbsent(this.collections.comparisons, [...docs.values()]);
    // Only after the comparison is stored: a flusher never meets an entry without one. An entry
    // carries the comparison this call stored, so a flush reads nothing else; one stored before
    // may differ from ours, so its entry is folded from the stored one.
    await insertAbsent(
      this.collections.unfolded,
      [...docs.values()].map(({ _id, runId, c }): UnfoldedDoc => (ours.has(_id) ? { _id, runId, c } : { _id, runId, recheck: true })),
    );
    return { inserted: ours.size, existing: docs.size - ours.size };
  }

  async replaceComparisons(comparisons: readonly Comparison[]): Promise<number> {
    if (!comparisons.length) return 0;
    const now = new Date();
    const res = await this.collections.comparisons.bulkWrite(
      comparisons.map((c) => {
        const _id = comparisonId(c.runId, c.shadowId);
        return { replaceOne: { filter: { _id }, replacement: this.toDoc(c, now, _id), upsert: false } };
      }),
      { ordered: false },
    );
    return res.matchedCount;
  }

  rebuildRollup(runId: string): Promise<void> {
    return this.chain.rebuild(runId);
  }

  async getJob(runId: string): Promise<ReevaluationJob | undefined> {
    return (await this.collections.jobs.findOne({ _id: runId }, { projection: { _id: 0 } })) ?? undefined;
  }

  async listJobs(): Promise<ReevaluationJob[]> {
    return this.collections.jobs.find({}, { projection: { _id: 0 } }).limit(10_000).toArray();
  }

  async putJob(job: ReevaluationJob, expected?: Pick<ReevaluationJob, 'owner' | 'heartbeatAt'>): Promise<boolean> {
    const doc = { _id: job.runId, ...job };
    if (!expected) {
      try {
        await this.collections.jobs.insertOne(doc);
        return true;
      } catch (err) {
        if ((err as { code?: number }).code === DUPLICATE_KEY) return false;
        throw err;
      }
    }
    const res = await this.collections.jobs.replaceOne({ _id: job.runId, owner: expected.owner, heartbeatAt: expected.heartbeatAt }, doc);
    return res.matchedCount === 1;
  }

  async updateJob(runId: string, owner: string, patch: Partial<ReevaluationJob>): Promise<ReevaluationJob | undefined> {
    return withoutId(await this.collections.jobs.findOneAndUpdate({ _id: runId, owner }, { $set: patch }, { returnDocument: 'after' }));
  }

  async cancelJob(runId: string): Promise<ReevaluationJob | undefined> {
    return withoutId(await this.collections.jobs.findOneAndUpdate({ _id: runId, state: 'running' }, { $set: { cancelRequested: true } }, { returnDocument: 'after' }));
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
    const doc = await this.collections.comparisons.findOne({ _id: comparisonId(runId, shadowId) }, { projection: { c: 1 } });
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
    const docs = await this.collections.comparisons
      .find(filter, { projection: { c: 1 } })
      .sort({ shadowId: 1 })
      .limit(Math.min(q.limit ?? 100, 10_000))
      .toArray();
    return docs.map((d) => JSON.parse(d.c) as Comparison);
  }

  async countComparisons(runId: string, verdict?: Verdict): Promise<number> {
    return this.collections.comparisons.countDocuments(verdict === undefined ? { runId } : { runId, verdict });
  }

  flushRollups(runId?: string, options: { background?: boolean } = {}): Promise<boolean> {
    return this.chain.flush(runId, options);
  }

  getRollup(runId: string): Promise<Rollup> {
    return this.chain.get(runId);
  }

  async runData(runId: string): Promise<RunDataCounts> {
    const c = this.collections;
    const [run, comparisons, records, exchanges, rollups, alerts, rules, jobs, cutover] = await Promise.all([
      c.runs.countDocuments({ _id: runId }),
      c.comparisons.countDocuments({ runId }),
      c.effects.countDocuments({ runId }),
      c.exchanges.countDocuments({ runId }),
      c.rollups.countDocuments({ runId }),
      c.alerts.countDocuments({ runId }),
      c.rules.countDocuments({ runId }),
      c.jobs.countDocuments({ _id: runId }),
      c.cutover.countDocuments({ runId }),
    ]);
    return { run, comparisons, records, exchanges, rollups, alerts, rules, jobs, cutover };
  }

  async deleteRun(runId: string): Promise<RunDataCounts> {
    const c = this.collections;
    // The comparisons and their rollup inbox first: a flush meanwhile finds nothing to fold.
    const comparisons = (await c.comparisons.deleteMany({ runId })).deletedCount;
    await c.unfolded.deleteMany({ runId });
    await c.rolled.deleteMany({ runId });
    const [records, exchanges, rollups, alerts, rules, jobs, cutover, run] = await Promise.all([
      c.effects.deleteMany({ runId }),
      c.exchanges.deleteMany({ runId }),
      c.rollups.deleteMany({ runId }),
      c.alerts.deleteMany({ runId }),
      c.rules.deleteMany({ runId }),
      c.jobs.deleteOne({ _id: runId }),
      c.cutover.deleteMany({ runId }),
      c.runs.deleteOne({ _id: runId }),
    ]);
    return { run: run.deletedCount, comparisons, records: records.deletedCount, exchanges: exchanges.deletedCount, rollups: rollups.deletedCount, alerts: alerts.deletedCount, rules: rules.deletedCount, jobs: jobs.deletedCount, cutover: cutover.deletedCount };
  }

  async putAlert(alert: Alert): Promise<void> {
    await this.collections.alerts.insertOne({ ...alert });
  }

  async listAlerts(runId: string): Promise<Alert[]> {
    const docs = await this.collections.alerts.find({ runId }, { projection: { _id: 0 } }).sort({ at: 1 }).limit(1000).toArray();
    return docs as Alert[];
  }

  async putCutoverEvent(event: CutoverEvent): Promise<void> {
    const _id = `${event.runId}\u0000${event.at}\u0000${event.kind}\u0000${event.route}`;
    await this.collections.cutover.updateOne({ _id }, { $setOnInsert: { ...event, _id } }, { upsert: true });
  }

  async listCutoverEvents(runId: string): Promise<CutoverEvent[]> {
    const docs = await this.collections.cutover.find({ runId }, { projection: { _id: 0 } }).sort({ at: 1 }).limit(10_000).toArray();
    return docs as CutoverEvent[];
  }

  async putRules(runId: string, rules: unknown, meta: { reason: string; author: string }): Promise<number> {
    for (;;) {
      const last = await this.collections.rules.find({ runId }).sort({ version: -1 }).limit(1).next();
      const version = (last?.version ?? 0) + 1;
      try {
        // Rules are stored as JSON text: user paths may hold `.` and `$`.
        await this.collections.rules.insertOne({ runId, version, rules: JSON.stringify(rules), ...meta, createdAt: new Date().toISOString() });
        return version;
      } catch (err) {
        if ((err as { code?: number }).code !== DUPLICATE_KEY) throw err;
      }
    }
  }

  async getRules(runId: string): Promise<StoredRules | undefined> {
    const doc = await this.collections.rules.find({ runId }, { projection: { _id: 0 } }).sort({ version: -1 }).limit(1).next();
    return doc ? { ...doc, rules: JSON.parse(doc.rules as string) } : undefined;
  }

  async sweep(now: Date): Promise<number> {
    let removed = 0;
    for (const c of retained(this.collections)) {
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

/** A job document as the port's job (findAndModify takes no projection on FerretDB 1.x). */
function withoutId(doc: (ReevaluationJob & { _id: string }) | null): ReevaluationJob | undefined {
  if (!doc) return undefined;
  const { _id: _, ...job } = doc;
  return job;
}
