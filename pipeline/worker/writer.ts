// The worker's store writes: finished comparisons wait in a batch (up to `batchSize`, or
// `batchMs`), one write at a time, retried with backoff until the store takes it. Nothing is
// acked before the store has it; the caller hears of each batch once it is stored. Every
// `deadlineMs` a write goes unacknowledged counts as a store error: a store that stops
// answering (a hung server keeps its connections open) shows, instead of a silence.
import type { ExchangeRecord, ShadowRecord, SideRecord } from '../../core/effect';
import type { Logger } from '../../core/logger';
import type { Comparison } from '../../compare/engine';
import type { Store } from '../../runtime/store/store';

/** A compared request waiting to be stored, with the records kept for drill-down. */
export interface Done<T> {
  comparison: Comparison;
  records: ShadowRecord[];
  /** The caller's (the worker acks the deliveries behind it). */
  tag: T;
}

export interface WriterOptions<T> {
  store: Store;
  logger: Logger;
  batchSize: number;
  batchMs: number;
  deadlineMs: number;
  keepEffects: 'all' | 'non-match' | 'none';
  stored(batch: Done<T>[]): void;
}

export class BatchWriter<T> {
  stored = 0;
  alreadyStored = 0;
  storeErrors = 0;
  /** Since when the write in flight has waited (performance.now()), undefined while none waits. */
  private writingSince: number | undefined;
  private batch: Done<T>[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;

  constructor(private readonly o: WriterOptions<T>) {}

  add(done: Done<T>): void {
    this.batch.push(done);
    if (this.batch.length >= this.o.batchSize) this.write();
    else this.batchTimer ??= setTimeout(() => this.write(), this.o.batchMs);
  }

  /** How long the oldest write in flight has waited for the store, in seconds (0: none). */
  pendingSeconds(): number {
    return this.writingSince === undefined ? 0 : (performance.now() - this.writingSince) / 1000;
  }

  /** Resolves when nothing is waiting to be written. */
  async drain(): Promise<void> {
    while (this.batch.length || this.writing) {
      if (!this.writing) this.write();
      await this.writing;
    }
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

  private async writeBatch(batch: Done<T>[]): Promise<void> {
    this.writingSince = performance.now();
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await this.within(this.put(batch));
        this.stored += result.inserted;
        this.alreadyStored += result.existing;
        break;
      } catch (err) {
        // The store is down or refusing: hold the records unacked (the prefetch stops the
        // flow) and try again; nothing is acked before the store has it.
        this.storeErrors += 1;
        const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
        if (attempt % 10 === 0) this.o.logger.warn({ err: (err as Error).message, attempt, retryInMs: delay }, 'store write failed; retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    this.writingSince = undefined;
    this.o.stored(batch);
  }

  private async put(batch: Done<T>[]): Promise<{ inserted: number; existing: number }> {
    const { store } = this.o;
    if (this.o.keepEffects !== 'none') {
      const records = batch.flatMap((d) => d.records);
      const exchanges = records.filter((r): r is ExchangeRecord => r.type === 'exchange');
      if (exchanges.length) await store.putExchanges(exchanges.map(({ v: _v, type: _t, ...exchange }) => exchange));
      await store.putEffects(exchanges.length ? records.filter((r): r is SideRecord => r.type !== 'exchange') : (records as SideRecord[]));
    }
    return store.putComparisons(batch.map((d) => d.comparison));
  }

  /**
   * The write, with a store error counted for every `deadlineMs` it goes unacknowledged. It is
   * not sent again meanwhile: a slow store would only get more load. A hung one shows in
   * `storeErrors` and `pendingSeconds`; the driver's own error, if any, is retried as usual.
   */
  private async within<R>(write: Promise<R>): Promise<R> {
    let late = 0;
    const timer = setInterval(() => {
      this.storeErrors += 1;
      if (late++ % 10 === 0) this.o.logger.warn({ deadlineMs: this.o.deadlineMs, waitedMs: Math.round(this.pendingSeconds() * 1000) }, 'the store has not acknowledged a write within the deadline; still waiting for it');
    }, this.o.deadlineMs);
    try {
      return await write;
    } finally {
      clearInterval(timer);
    }
  }
}
