// The comparator worker: records from the bus are joined per (run, shadow id) in memory,
// compared when both sides are complete (after a short settle window) or when the join times
// out, stored as one idempotent write per comparison, and acked only after the store has
// acknowledged that write. Whatever is not acked comes again after a crash; what is stored
// twice is stored once. Memory is bounded by the bus's prefetch: records held unacked.
import { type ExchangeRecord, parseRecord, type ShadowRecord, type SideRecord } from '../core/effect';
import { parseJson } from '../core/json';
import type { Logger } from '../core/logger';
import { type Bus, type Delivery, partitionOf, type Subscription } from '../runtime/bus/bus';
import type { Store } from '../runtime/store/store';
import { AlertMonitor, type AlertPolicy, type RaisedAlert } from '../compare/alerts';
import { bounded, compare, type Comparison, type CompiledRules, compileRules, layerRules } from '../compare/engine';
import { isReady, Join, type JoinEntry } from '../compare/join';

export interface WorkerOptions {
  bus: Bus;
  store: Store;
  logger: Logger;
  /** The base rules; a run's stored rules (the report edits those) are layered over them. */
  rules?: CompiledRules;
  /** Wait after a join is complete, for records that come late (duplicates, extras). */
  settleMs?: number;
  /** Compare anyway (as `incomplete`, naming what is missing) after this long. */
  timeoutMs?: number;
  /** Which requests' raw records to keep for drill-down. */
  keepEffects?: 'all' | 'non-match' | 'none';
  /** Largest store write batch, and how long a batch may wait to fill. */
  batchSize?: number;
  batchMs?: number;
  rollupFlushMs?: number;
  sweepMs?: number;
  /** Requests remembered as compared, so their late records are recognised (default 200,000). */
  recentMax?: number;
  /** Deliveries after which a record is poison (where the broker does not count: classic queues). */
  maxDeliveries?: number;
  alerts?: AlertPolicy | false;
  /** Where an alert goes besides the log and the store (a webhook). */
  notify?: (alert: RaisedAlert) => Promise<void>;
  now?: () => Date;
}

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

interface Done {
  comparison: Comparison;
  deliveries: Shared[];
  records: ShadowRecord[];
}

const RECENT_MAX = 200_000;
const RECENT_MS = 10 * 60_000;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export class Worker {
  private readonly join = new Join();
  private readonly pending = new Map<string, Pending>();
  /** Requests compared lately: records that come after are late, not a new join. */
  private readonly recent = new Map<string, number>();
  private batch: Done[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private subscription: Subscription | undefined;
  private timers: NodeJS.Timeout[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly monitor: AlertMonitor | undefined;
  private readonly rulesCache = new Map<string, { rules: CompiledRules; at: number }>();
  private readonly lateByRun = new Map<string, number>();
  private stopping = false;
  private readonly counters: WorkerStats = {
    received: 0,
    deadLettered: 0,
    compared: 0,
    stored: 0,
    alreadyStored: 0,
    timedOut: 0,
    late: 0,
    storeErrors: 0,
    resets: 0,
    openJoins: 0,
    alerts: 0,
  };
  private readonly o: Required<Omit<WorkerOptions, 'rules' | 'notify' | 'alerts'>> & Pick<WorkerOptions, 'rules' | 'notify'>;

  constructor(options: WorkerOptions) {
    this.o = {
      settleMs: 100,
      timeoutMs: 30_000,
      keepEffects: 'non-match',
      batchSize: 500,
      batchMs: 20,
      rollupFlushMs: 1000,
      sweepMs: 10 * 60_000,
      maxDeliveries: 20,
      recentMax: RECENT_MAX,
      now: () => new Date(),
      ...options,
    };
    this.monitor = options.alerts === false ? undefined : new AlertMonitor(options.alerts);
  }

  async start(): Promise<void> {
    this.subscription = await this.o.bus.consume({
      onDelivery: (d) => this.onDelivery(d),
      onReset: (reason) => this.reset(reason),
      onRevoke: (partition) => this.revoke(partition),
    });
    const every = (ms: number, f: () => Promise<unknown>) => {
      const t = setInterval(() => void f().catch((err: Error) => this.o.logger.warn({ err: err.message }, 'background task failed; will retry')), ms);
      t.unref();
      this.timers.push(t);
    };
    // Rollups are folded at most every rollupFlushMs, and never busier than a quarter of the
    // time: on a slow store the flush backs off instead of starving the comparison writes.
    const flush = async () => {
      if (this.stopping) return;
      const started = Date.now();
      await this.flushRollups({ background: true }).catch((err: Error) => this.o.logger.warn({ err: err.message }, 'rollup flush failed; will retry'));
      const t = setTimeout(() => void flush(), Math.max(this.o.rollupFlushMs, 3 * (Date.now() - started)));
      t.unref();
      this.flushTimer = t;
    };
    this.flushTimer = setTimeout(() => void flush(), this.o.rollupFlushMs);
    this.flushTimer.unref();
    every(this.o.sweepMs, async () => {
      const removed = await this.o.store.sweep(this.o.now());
      if (removed) this.o.logger.info({ removed }, 'retention sweep');
    });
  }

  stats(): WorkerStats {
    return { ...this.counters, openJoins: this.pending.size };
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
    await this.flushRollups();
  }

  /** Resolves when nothing is waiting to be written. */
  async drain(): Promise<void> {
    while (this.batch.length || this.writing) {
      if (!this.writing) this.write();
      await this.writing;
    }
  }

  private onDelivery(d: Delivery): void {
    if (this.stopping) return d.requeue();
    let records: ShadowRecord[];
    try {
      records = this.decode(d);
    } catch (err) {
      return this.poison(d, (err as Error).message);
    }
    this.counters.received += records.length;
    if (d.deliveryCount >= this.o.maxDeliveries) return this.poison(d, `delivered ${d.deliveryCount} times without being compared (it may crash the worker)`);
    // A message is acked when every record in it has been stored (or found late).
    const shared: Shared = { delivery: d, refs: records.length };
    for (const record of records) this.accept(record, shared);
  }

  /** One record, or a JSON array of records of one partition; throws the reason to dead-letter it. */
  private decode(d: Delivery): ShadowRecord[] {
    let text: string;
    try {
      text = utf8.decode(d.body);
    } catch {
      throw new Error('record: not valid UTF-8 (records are JSON text in UTF-8)');
    }
    const value = parseJson(text, 'record');
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0) throw new Error('record: an empty array (a batch holds one or more records)');
    return list.map((v, i) => {
      const record = parseRecord(v, Array.isArray(value) ? `record[${i}]` : 'record');
      const home = partitionOf(record.shadowId, this.o.bus.partitions);
      if (home !== d.partition) {
        throw new Error(
          `record for shadow id ${JSON.stringify(record.shadowId)} arrived on partition ${d.partition} but belongs on ${home}: its publisher routes with another hash or partition count (docs/pipeline.md)`,
        );
      }
      return record;
    });
  }

  private accept(record: ShadowRecord, shared: Shared): void {
    const key = `${record.runId}\u0000${record.shadowId}`;
    if (this.recent.has(key) && !this.pending.has(key)) {
      // Its request was compared already: a duplicate or an effect beyond the settle window.
      this.counters.late += 1;
      this.lateByRun.set(record.runId, (this.lateByRun.get(record.runId) ?? 0) + 1);
      return release(shared);
    }
    const entry = this.join.add(record);
    let p = this.pending.get(key);
    if (!p) {
      p = { entry, deliveries: [], records: [], firstAt: Date.now(), settling: false };
      this.pending.set(key, p);
      const joined = p;
      p.timer = setTimeout(() => this.finish(joined, true), this.o.timeoutMs);
    }
    p.deliveries.push(shared);
    p.records.push(record);
    if (!p.settling && isReady(entry)) {
      p.settling = true;
      clearTimeout(p.timer);
      const ready = p;
      p.timer = setTimeout(() => this.finish(ready, false), this.o.settleMs);
    }
  }

  private poison(d: Delivery, reason: string): void {
    this.counters.deadLettered += 1;
    this.o.logger.warn({ partition: d.partition, reason }, 'record dead-lettered');
    d.deadLetter(reason).catch((err: Error) => {
      // Could not move it: leave it to the broker (it comes again, or hits the delivery limit).
      this.o.logger.warn({ err: err.message }, 'dead-lettering failed; record requeued');
      d.requeue();
    });
  }

  private finish(p: Pending, timedOut: boolean): void {
    const { runId, shadowId } = p.entry;
    const key = `${runId}\u0000${shadowId}`;
    if (this.pending.get(key) !== p) return;
    this.pending.delete(key);
    clearTimeout(p.timer);
    this.join.take(runId, shadowId);
    let comparison = compare(p.entry, { now: this.o.now().toISOString(), rules: this.rulesFor(runId) });
    if (timedOut) {
      this.counters.timedOut += 1;
      comparison = { ...comparison, timedOutAfterMs: Date.now() - p.firstAt };
    }
    this.counters.compared += 1;
    // Records kept for drill-down only; the others are let go now rather than after the write.
    const keep = this.o.keepEffects === 'all' || (this.o.keepEffects === 'non-match' && comparison.verdict !== 'match');
    this.batch.push({ comparison: bounded(comparison), deliveries: p.deliveries, records: keep ? p.records : [] });
    if (this.batch.length >= this.o.batchSize) this.write();
    else this.batchTimer ??= setTimeout(() => this.write(), this.o.batchMs);
  }

  private rulesFor(runId: string): CompiledRules | undefined {
    return this.rulesCache.get(runId)?.rules ?? this.o.rules;
  }

  /** One write at a time; batches build up behind it. Failed writes are retried, never dropped. */
  private write(): void {
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    if (this.writing || !this.batch.length) return;
    const batch = this.batch.splice(0, this.o.batchSize);
    this.writing = this.writeBatch(batch).finally(() => {
      this.writing = undefined;
      if (this.batch.length) this.write();
    });
  }

  private async writeBatch(batch: Done[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const keep = this.o.keepEffects;
        if (keep !== 'none') {
          const records = batch.flatMap((d) => d.records);
          const exchanges = records.filter((r): r is ExchangeRecord => r.type === 'exchange');
          if (exchanges.length) await this.o.store.putExchanges(exchanges.map(({ v: _v, type: _t, ...exchange }) => exchange));
          await this.o.store.putEffects(exchanges.length ? records.filter((r): r is SideRecord => r.type !== 'exchange') : (records as SideRecord[]));
        }
        const result = await this.o.store.putComparisons(batch.map((d) => d.comparison));
        this.counters.stored += result.inserted;
        this.counters.alreadyStored += result.existing;
        break;
      } catch (err) {
        // The store is down or refusing: hold the records unacked (the prefetch stops the
        // flow) and try again; nothing is acked before the store has it.
        this.counters.storeErrors += 1;
        const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
        if (attempt % 10 === 0) this.o.logger.warn({ err: (err as Error).message, attempt, retryInMs: delay }, 'store write failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    // Only now, stored, is a later record of the same request late rather than needed.
    const now = Date.now();
    for (const d of batch) {
      this.recent.set(`${d.comparison.runId}\u0000${d.comparison.shadowId}`, now);
      for (const shared of d.deliveries) release(shared);
    }
    this.trimRecent();
    if (this.monitor) for (const d of batch) this.observe(d.comparison);
  }

  private observe(c: Comparison): void {
    const alert = this.monitor!.observe(c, Date.now());
    if (!alert) return;
    this.counters.alerts += 1;
    this.o.logger.warn({ alert }, `ALERT ${alert.route}: ${(alert.window.rate * 100).toFixed(1)}% of ${alert.window.compared} requests mismatch in the last ${alert.window.seconds}s (threshold ${(alert.threshold * 100).toFixed(1)}%)`);
    void this.o.store.putAlert(alert).catch((err: Error) => this.o.logger.warn({ err: err.message }, 'could not store the alert'));
    void this.o.notify?.(alert).catch((err: Error) => this.o.logger.warn({ err: err.message }, 'alert webhook failed'));
  }

  /** Background flushes step aside while another worker flushes; the last one, at stop, does not. */
  private async flushRollups(options: { background?: boolean } = {}): Promise<void> {
    await this.o.store.flushRollups(undefined, options);
    if (this.lateByRun.size) {
      const late = [...this.lateByRun];
      this.lateByRun.clear();
      for (const [runId, n] of late) await this.o.store.addCoverage(runId, { 'records after comparison (late)': n });
    }
    await this.refreshRules();
  }

  /** Stored rules for the runs in flight: the report's "mark as expected" reaches new comparisons. */
  private async refreshRules(): Promise<void> {
    const runs = new Set([...this.pending.values()].map((p) => p.entry.runId));
    for (const runId of runs) {
      const cached = this.rulesCache.get(runId);
      if (cached && Date.now() - cached.at < 5000) continue;
      const stored = await this.o.store.getRules(runId);
      if (stored) {
        try {
          this.rulesCache.set(runId, { rules: layerRules(this.o.rules, compileRules(stored.rules, `rules of run ${runId} v${stored.version}`)), at: Date.now() });
        } catch (err) {
          this.o.logger.warn({ runId, err: (err as Error).message }, 'stored rules are not valid; using the base rules');
        }
      }
    }
  }

  private trimRecent(): void {
    const cutoff = Date.now() - RECENT_MS;
    for (const [key, at] of this.recent) {
      if (at >= cutoff && this.recent.size <= this.o.recentMax) break;
      this.recent.delete(key);
    }
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
    this.o.logger.info({ reason }, 'joins dropped after a bus reset; records will be delivered again');
  }
}
