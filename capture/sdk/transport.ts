// The SDK's outbox: a bounded in-memory buffer between the request path and the sink. Offering
// a record never blocks and never throws; a background loop sends batches and retries through
// outages. When the buffer is full the record is dropped and counted, so the side's end marker
// can say so and the comparator reports `incomplete` rather than a false mismatch. End markers
// get a small reserve above the cap: losing one costs a whole comparison, not one effect.
import { isCallerError } from '../../core/errors';
import type { WireRecord } from '../../core/effect';
import type { RateLimitedLog } from './safety';

/** Where records go: RabbitMQ, a shadowdiff collector over HTTP, or an in-process bus. */
export interface RecordSink {
  /** Resolves once the records are safely accepted (confirmed); rejects to have them retried. */
  write(records: readonly WireRecord[]): Promise<void>;
  close?(): Promise<void>;
  /** For logs: where the records go, credentials masked. */
  readonly description?: string;
}

export interface TransportOptions {
  /** Records held at most while the sink is slow or down; beyond, new records are dropped. */
  maxRecords: number;
  /** Records per write to the sink. */
  batchSize: number;
  /** Longest wait between retries while the sink is failing. */
  maxBackoffMs: number;
  /**
   * How long a partial batch waits for company before it is sent: at a few hundred requests a
   * second, sending each record alone costs the host a broker message and a confirm apiece.
   */
  lingerMs: number;
}

export interface TransportStats {
  buffered: number;
  sent: number;
  dropped: number;
  /** Writes the sink rejected (each retried). */
  sinkErrors: number;
}

export class Transport {
  private queue: WireRecord[] = [];
  private head = 0;
  private sending = false;
  private backoff = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idle: (() => void)[] = [];
  private readonly counters = { sent: 0, dropped: 0, sinkErrors: 0 };

  constructor(
    private readonly sink: RecordSink,
    private readonly options: TransportOptions,
    private readonly log: RateLimitedLog,
  ) {}

  /** Queues a record; false when it had to be dropped (buffer full, or closed). */
  offer(record: WireRecord, reserve = false): boolean {
    const limit = reserve ? this.options.maxRecords + Math.ceil(this.options.maxRecords / 10) : this.options.maxRecords;
    if (this.closed || this.size() >= limit) {
      this.counters.dropped += 1;
      if (this.closed) this.log.warn('closed', {}, 'shadowdiff SDK is closed: dropping records (counted)');
      else this.log.warn('buffer-full', { buffered: this.size(), sink: this.sink.description }, 'shadowdiff SDK buffer full: dropping records (counted in the end marker)');
      return false;
    }
    this.queue.push(record);
    if (!this.sending && !this.timer) {
      this.timer = setTimeout(() => this.pump(), this.size() >= this.options.batchSize ? 0 : this.options.lingerMs);
    }
    return true;
  }

  stats(): TransportStats {
    return { buffered: this.size(), ...this.counters };
  }

  /** Resolves when everything offered so far was sent, or false after `timeoutMs`. */
  async flush(timeoutMs = 10_000): Promise<boolean> {
    if (this.size() === 0 && !this.sending) return true;
    if (this.timer && !this.sending && this.backoff === 0) {
      clearTimeout(this.timer); // no point lingering when someone waits
      this.timer = setTimeout(() => this.pump(), 0);
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idle = this.idle.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idle.push(done);
    });
  }

  /** Sends what is buffered (up to `timeoutMs`), then closes the sink; records left are counted as dropped. */
  async close(timeoutMs = 5_000): Promise<void> {
    await this.flush(timeoutMs);
    this.closed = true;
    clearTimeout(this.timer);
    this.counters.dropped += this.size();
    this.queue = [];
    this.head = 0;
    await this.sink.close?.().catch(() => undefined);
  }

  private size(): number {
    return this.queue.length - this.head;
  }

  private async pump(): Promise<void> {
    this.timer = undefined;
    if (this.sending || this.closed) return;
    this.sending = true;
    try {
      while (this.size() > 0 && !this.closed) {
        const batch = this.queue.slice(this.head, this.head + this.options.batchSize);
        try {
          await this.sink.write(batch);
        } catch (err) {
          this.counters.sinkErrors += 1;
          if (isCallerError(err)) {
            // The sink refused these records for good (e.g. a collector's 4xx): retrying cannot help.
            this.counters.dropped += batch.length;
            this.head += batch.length;
            this.log.warn('sink-refused', { err: (err as Error).message, sink: this.sink.description, records: batch.length }, 'shadowdiff sink refused records; dropped and counted');
            continue;
          }
          this.backoff = Math.min(this.options.maxBackoffMs, Math.max(50, this.backoff * 2));
          this.log.warn('sink-failed', { err: (err as Error).message, sink: this.sink.description, buffered: this.size() }, 'shadowdiff SDK could not send records; retrying');
          this.timer = setTimeout(() => this.pump(), this.backoff);
          this.timer.unref();
          return;
        }
        this.backoff = 0;
        this.counters.sent += batch.length;
        this.head += batch.length;
        // Compact now and then rather than shifting an array per record.
        if (this.head > 4096 && this.head * 2 > this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.head = 0;
        }
      }
    } finally {
      this.sending = false;
    }
    if (this.size() === 0) {
      this.queue = [];
      this.head = 0;
      const idle = this.idle;
      this.idle = [];
      for (const w of idle) w();
    } else if (!this.timer && !this.closed) {
      this.timer = setTimeout(() => this.pump(), 0);
    }
  }
}
