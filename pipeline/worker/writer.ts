// The worker's store writes: finished comparisons wait in a batch (up to `batchSize`, or
// `batchMs`), one write at a time, retried with backoff until the store takes it. Nothing is
// acked before the store has it; the caller hears of each batch once it is stored.
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
  keepEffects: 'all' | 'non-match' | 'none';
  stored(batch: Done<T>[]): void;
}

export class BatchWriter<T> {
  stored = 0;
  alreadyStored = 0;
  storeErrors = 0;
  private batch: Done<T>[] = [];
  private batchTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;

  constructor(private readonly o: WriterOptions<T>) {}

  add(done: Done<T>): void {
    this.batch.push(done);
    if (this.batch.length >= this.o.batchSize) this.write();
    else this.batchTimer ??= setTimeout(() => this.write(), this.o.batchMs);
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
    const { store } = this.o;
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.o.keepEffects !== 'none') {
          const records = batch.flatMap((d) => d.records);
          const exchanges = records.filter((r): r is ExchangeRecord => r.type === 'exchange');
          if (exchanges.length) await store.putExchanges(exchanges.map(({ v: _v, type: _t, ...exchange }) => exchange));
          await store.putEffects(exchanges.length ? records.filter((r): r is SideRecord => r.type !== 'exchange') : (records as SideRecord[]));
        }
        const result = await store.putComparisons(batch.map((d) => d.comparison));
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
    this.o.stored(batch);
  }
}
