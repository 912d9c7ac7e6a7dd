// The bus port: records published in confirmed batches, consumed per partition with manual
// acks. Records of one shadow id always land in the same partition (hash of the shadow id), so
// one consumer sees both sides of a request. Adapters: RabbitMQ (amqp.ts), in-process (memory.ts).
import type { SideRecord } from '../../core/effect';

export interface Delivery {
  /** The record as published (JSON); the worker validates it. */
  readonly body: Buffer;
  readonly partition: number;
  /** How many times the broker handed this record out before (0 on first delivery). */
  readonly deliveryCount: number;
  /** Done with it: the broker forgets it. Ignored if the connection it came on is gone. */
  ack(): void;
  /** Give it back to be delivered again (to this or another consumer). */
  requeue(): void;
  /** Move it to the dead-letter queue with the reason, then ack it. */
  deadLetter(reason: string): Promise<void>;
}

export interface ConsumeOptions {
  /** Called for every record; must not throw (a thrown error requeues the record). */
  onDelivery(delivery: Delivery): void;
  /**
   * The connection was lost: every delivery not yet acked will be delivered again, and acks of
   * the old ones are void. The consumer drops what it holds and starts over.
   */
  onReset?(reason: string): void;
  /**
   * The partition moved to another consumer (partitions are rebalanced as consumers come and
   * go). The consumer must requeue every delivery it holds from that partition, so that all of
   * a request's records meet again in one place.
   */
  onRevoke?(partition: number): void;
}

export interface Subscription {
  /** Stop receiving; records delivered but not acked stay with this consumer until close. */
  cancel(): Promise<void>;
}

export interface DeadLetter {
  body: Buffer;
  reason: string;
  partition?: number;
}

export interface BusStats {
  published: number;
  /** Records the broker could not route (no queue bound): a topology problem, counted. */
  unroutable: number;
  deadLettered: number;
  /** Connection losses survived. */
  resets: number;
}

export interface Bus {
  readonly partitions: number;
  /** Resolves once every record is confirmed by the broker; rejects if any was not. */
  publish(records: readonly SideRecord[]): Promise<void>;
  /** Publishes already-serialized records (one JSON record per buffer) with their shadow ids. */
  publishRaw(items: readonly { shadowId: string; body: Buffer }[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<Subscription>;
  /** Reads (and removes) up to `max` dead letters: for tests, the CLI and the report. */
  drainDeadLetters(max: number): Promise<DeadLetter[]>;
  stats(): BusStats;
  close(): Promise<void>;
}

export const DEFAULT_PARTITIONS = 16;

/** The partition of a shadow id: FNV-1a (32-bit) of its UTF-16 code units, mod P. */
export function partitionOf(shadowId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < shadowId.length; i++) {
    h ^= shadowId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

export function serialize(records: readonly SideRecord[]): { shadowId: string; body: Buffer }[] {
  return records.map((r) => ({ shadowId: r.shadowId, body: Buffer.from(JSON.stringify(r)) }));
}
