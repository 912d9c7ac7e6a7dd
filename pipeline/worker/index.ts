// The comparator worker: records from the bus are joined per (run, shadow id) in memory,
// compared when both sides are complete (after a short settle window) or when the join times
// out, stored as one idempotent write per comparison, and acked only after the store has
// acknowledged that write. Whatever is not acked comes again after a crash; what is stored
// twice is stored once. Memory is bounded by the bus's prefetch: records held unacked.
//
// Beside this file: decode.ts (a delivery's records), writer.ts (batched, retried writes),
// recent.ts (late records), run-rules.ts (each run's rules), alerting.ts, options.ts.
import type { CoverageRecord, ShadowRecord } from '../../core/effect';
import { bounded, compare } from '../../compare/engine';
import { isReady, Join, type JoinEntry } from '../../compare/join';
import type { Delivery, Subscription } from '../../runtime/bus/bus';
import { AlertRelay } from './alerting';
import { decodeDelivery, type Refused } from './decode';
import { type WorkerOptions, type WorkerTuning, workerTuning } from './options';
import { RecentRequests } from './recent';
import { RunRules } from './run-rules';
import { BatchWriter, type Done } from './writer';

export { workerTuningSchema, type WorkerOptions } from './options';

export interface WorkerStats {
  received: number;
  deadLettered: number;
  compared: number;
  stored: number;
  /** Comparisons already stored (redelivery after a crash, another worker): not duplicated. */
  alreadyStored: number;
  timedOut: number;
  /** Records that came after their request was compared: acked and counted as coverage. */
  late: number;
  storeErrors: number;
  resets: number;
  openJoins: number;
  alerts: number;
  /** How long the store write in flight has waited, in seconds (0: none waits). */
  storePendingSeconds: number;
}

/** A message and how many of its records still wait to be stored. */
interface Shared {
  delivery: Delivery;
  refs: number;
}

function release(s: Shared): void {
  s.refs -= 1;
  if (s.refs === 0) s.delivery.ack();
}

interface Pending {
  entry: JoinEntry;
  deliveries: Shared[];
  records: ShadowRecord[];
  firstAt: number;
  timer?: NodeJS.Timeout;
  settling: boolean;
}

/** What the worker keeps with a comparison until it is stored. */
interface Stored {
  deliveries: Shared[];
  newestRecordAt: number | undefined;
}

const joinKey = (runId: string, shadowId: string) => `${runId}\u0000${shadowId}`;

/** When the newest of a request's records was made (epoch ms), for the detection latency. */
function newestAt(records: readonly ShadowRecord[]): number | undefined {
  let newest: number | undefined;
  for (const r of records) {
    const at = Date.parse(r.at);
    if (Number.isFinite(at) && (newest === undefined || at > newest)) newest = at;
  }
  return newest;
}

export class Worker {
  private readonly join = new Join();
  private readonly pending = new Map<string, Pending>();
  private readonly recent: RecentRequests;
  private readonly writer: BatchWriter<Stored>;
  private readonly rules: RunRules;
  private readonly alerts: AlertRelay | undefined;
  private subscription: Subscription | undefined;
  private timers: NodeJS.Timeout[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** The background rollup flush in flight, which a stop waits for before the store closes. */
  private flushing: Promise<unknown> | undefined;
  private stopping = false;
  private readonly counters = { received: 0, deadLettered: 0, compared: 0, timedOut: 0, resets: 0 };
  private readonly tuning: Readonly<WorkerTuning>;
  private readonly now: () => Date;

  constructor(private readonly options: WorkerOptions) {
    this.tuning = workerTuning(options);
    this.now = options.now ?? (() => new Date());
    this.recent = new RecentRequests(this.tuning.recentMax);
    this.rules = new RunRules(options.rules, options.store, options.logger);
    this.alerts = options.alerts === false ? undefined : new AlertRelay(options.alerts, options.store, options.logger, options.notify);
    this.writer = new BatchWriter<Stored>({
      store: options.store,
      logger: options.logger,
      batchSize: this.tuning.batchSize,
      batchMs: this.tuning.batchMs,
      deadlineMs: this.tuning.storeDeadlineMs,
      keepEffects: this.tuning.keepEffects,
      stored: (batch) => this.stored(batch),
    });
  }

  async start(): Promise<void> {
    const { bus, store, logger } = this.options;
    this.subscription = await bus.consume({
      onDelivery: (d) => this.onDelivery(d),
      onReset: (reason) => this.reset(reason),
      onRevoke: (partition) => this.revoke(partition),
    });
    const every = (ms: number, f: () => Promise<unknown>) => {
      const t = setInterval(() => void f().catch((err: Error) => logger.warn({ err: err.message }, 'background task failed; will retry')), ms);
      t.unref();
      this.timers.push(t);
    };
    // Rollups are folded at most every rollupFlushMs, and never busier than a quarter of the
    // time: on a slow store the flush backs off instead of starving the comparison writes.
    const flush = async () => {
      if (this.stopping) return;
      const started = Date.now();
      this.flushing = this.flushRollups({ background: true }).catch((err: Error) => logger.warn({ err: err.message }, 'rollup flush failed; will retry'));
      await this.flushing;
      this.flushing = undefined;
      if (this.stopping) return;
      const t = setTimeout(() => void flush(), Math.max(this.tuning.rollupFlushMs, 3 * (Date.now() - started)));
      t.unref();
      this.flushTimer = t;
    };
    this.flushTimer = setTimeout(() => void flush(), this.tuning.rollupFlushMs);
    this.flushTimer.unref();
    every(this.tuning.sweepMs, async () => {
      const removed = await store.sweep(this.now());
      if (removed) logger.info({ removed }, 'retention sweep');
    });
  }

  stats(): WorkerStats {
    const w = this.writer;
    return { ...this.counters, stored: w.stored, alreadyStored: w.alreadyStored, storeErrors: w.storeErrors, late: this.recent.late, alerts: this.alerts?.raised ?? 0, openJoins: this.pending.size, storePendingSeconds: w.pendingSeconds() };
  }

  /**
   * Graceful stop: take no more records, compare what is complete, store it and ack it; joins
   * still open stay unacked and go back to the broker for another worker.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.subscription?.cancel();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.flushTimer);
    for (const p of [...this.pending.values()]) if (isReady(p.entry)) this.finish(p, false);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      for (const d of p.deliveries) d.delivery.requeue();
    }
    this.pending.clear();
    await this.drain();
    // A background flush still running would meet a closed store: it ends first.
    await this.flushing;
    await this.flushRollups();
  }

  /** Resolves when nothing is waiting to be written. */
  drain(): Promise<void> {
    return this.writer.drain();
  }

  private onDelivery(d: Delivery): void {
    if (this.stopping) return d.requeue();
    let records: ShadowRecord[];
    let coverage: CoverageRecord[];
    try {
      const decoded = decodeDelivery(d.body, d.encoding, d.partition, this.options.bus.partitions);
      records = decoded.records;
      coverage = decoded.coverage;
      for (const r of decoded.refused) this.refuse(d, r);
    } catch (err) {
      return this.poison(d, (err as Error).message);
    }
    this.counters.received += records.length + coverage.length;
    if (d.deliveryCount >= this.tuning.maxDeliveries) return this.poison(d, `delivered ${d.deliveryCount} times without being compared (it may crash the worker)`);
    // A message is acked when every record in it has been stored (or found late).
    const shared: Shared = { delivery: d, refs: records.length + coverage.length };
    for (const record of records) this.accept(record, shared);
    for (const c of coverage) this.foldCoverage(c, shared);
  }

  /**
   * A proxy's totals into its run. Best effort: each record holds totals, so one that cannot be
   * stored is made good by the next, a few seconds later.
   */
  private foldCoverage(c: CoverageRecord, shared: Shared): void {
    const { store, logger } = this.options;
    store
      .putProxyCoverage(c.runId, c.source, { at: c.at, seen: c.seen, mirrored: c.mirrored, notMirrored: c.notMirrored, dropped: c.dropped })
      .catch((err: Error) => logger.warn({ err: err.message, runId: c.runId }, 'could not store a proxy\'s coverage (its next totals make it good)'))
      .finally(() => release(shared));
  }

  private accept(record: ShadowRecord, shared: Shared): void {
    const key = joinKey(record.runId, record.shadowId);
    if (this.recent.has(key) && !this.pending.has(key)) {
      // Its request was compared already: a duplicate or an effect beyond the settle window.
      this.recent.countLate(record.runId);
      return release(shared);
    }
    const entry = this.join.add(record);
    let p = this.pending.get(key);
    if (!p) {
      p = { entry, deliveries: [], records: [], firstAt: Date.now(), settling: false };
      this.pending.set(key, p);
      const joined = p;
      p.timer = setTimeout(() => this.finish(joined, true), this.tuning.timeoutMs);
    }
    p.deliveries.push(shared);
    p.records.push(record);
    if (!p.settling && isReady(entry)) {
      p.settling = true;
      clearTimeout(p.timer);
      const ready = p;
      p.timer = setTimeout(() => this.finish(ready, false), this.tuning.settleMs);
    }
  }

  /** One record of a pack goes to the dead-letter queue; the rest of the pack goes on. */
  private refuse(d: Delivery, r: Refused): void {
    const { logger } = this.options;
    this.counters.deadLettered += 1;
    logger.warn({ partition: d.partition, shadowId: r.shadowId, reason: r.reason }, 'record dead-lettered (the rest of its pack goes on)');
    d.deadLetterPart(r.body, r.reason).catch((err: Error) => logger.error({ err: err.message, shadowId: r.shadowId }, 'could not dead-letter a refused record: it is lost (counted as dead-lettered)'));
  }

  private poison(d: Delivery, reason: string): void {
    const { logger } = this.options;
    this.counters.deadLettered += 1;
    logger.warn({ partition: d.partition, reason }, 'record dead-lettered');
    d.deadLetter(reason).catch((err: Error) => {
      // Could not move it: leave it to the broker (it comes again, or hits the delivery limit).
      logger.warn({ err: err.message }, 'dead-lettering failed; record requeued');
      d.requeue();
    });
  }

  private finish(p: Pending, timedOut: boolean): void {
    const { runId, shadowId } = p.entry;
    const key = joinKey(runId, shadowId);
    if (this.pending.get(key) !== p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    this.join.take(runId, shadowId);
    let comparison = compare(p.entry, { now: this.now().toISOString(), rules: this.rules.for(runId) });
    if (timedOut) {
      this.counters.timedOut += 1;
      comparison = { ...comparison, timedOutAfterMs: Date.now() - p.firstAt };
    }
    this.counters.compared += 1;
    try {
      this.options.guard?.observe(comparison);
    } catch (err) {
      this.options.logger.error({ err: (err as Error).message }, 'the cutover guard failed on a comparison');
    }
    // Records kept for drill-down only; the others are let go now rather than after the write.
    const keep = this.tuning.keepEffects === 'all' || (this.tuning.keepEffects === 'non-match' && comparison.verdict !== 'match');
    const newestRecordAt = this.options.observe ? newestAt(p.records) : undefined;
    this.writer.add({ comparison: bounded(comparison), records: keep ? p.records : [], tag: { deliveries: p.deliveries, newestRecordAt } });
  }

  /** Runs this worker has made sure exist in the store: a run is listed from its first comparison on. */
  private readonly knownRuns = new Set<string>();

  /** Only now, stored, is a later record of the same request late rather than needed. */
  private stored(batch: Done<Stored>[]): void {
    for (const d of batch) {
      const { runId } = d.comparison;
      if (this.knownRuns.has(runId)) continue;
      this.knownRuns.add(runId);
      this.options.store.ensureRun(runId).catch((err: Error) => {
        this.knownRuns.delete(runId); // tried again at its next comparison
        this.options.logger.warn({ err: err.message, runId }, 'could not create the run in the store');
      });
    }
    this.recent.add(batch.map((d) => joinKey(d.comparison.runId, d.comparison.shadowId)));
    for (const d of batch) for (const shared of d.tag.deliveries) release(shared);
    if (this.alerts) for (const d of batch) this.alerts.observe(d.comparison, this.rules.for(d.comparison.runId));
    if (this.options.observe) for (const d of batch) this.options.observe(d.comparison, d.tag.newestRecordAt);
  }

  /** Background flushes step aside while another worker flushes; the last one, at stop, does not. */
  private async flushRollups(options: { background?: boolean } = {}): Promise<void> {
    await this.options.store.flushRollups(undefined, options);
    await this.recent.flush(this.options.store);
    // Stored rules for the runs in flight: the report's "mark as expected" reaches new comparisons.
    await this.rules.refresh([...this.pending.values()].map((p) => p.entry.runId));
  }

  /** The partition went to another worker: give back its records so its joins meet there. */
  private revoke(partition: number): void {
    for (const [key, p] of this.pending) {
      if (p.deliveries[0]?.delivery.partition !== partition) continue;
      clearTimeout(p.timer);
      this.join.take(p.entry.runId, p.entry.shadowId);
      this.pending.delete(key);
      for (const d of p.deliveries) d.delivery.requeue();
    }
  }

  /** The bus lost its connection: every unacked record comes again, so drop the joins. */
  private reset(reason: string): void {
    this.counters.resets += 1;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      this.join.take(p.entry.runId, p.entry.shadowId);
    }
    this.pending.clear();
    this.options.logger.info({ reason }, 'joins dropped after a bus reset; records will be delivered again');
  }
}
