// The bus port: records published in confirmed batches, consumed per partition with manual
// acks. Records of one shadow id always land in the same partition (hash of the shadow id), so
// one consumer sees both sides of a request. Adapters: RabbitMQ (amqp.ts), in-process (memory.ts).
import type { WireRecord } from '../../core/effect';
import type { Compression } from '../../core/settings';
import { encodeBody, type WireMessage } from './encoding';

export type { WireMessage } from './encoding';

export interface Delivery {
  /** The record as published (JSON, compressed when `encoding` says so: decodeBody); the worker validates it. */
  readonly body: Buffer;
  /** The message's content-encoding (br, deflate), absent for plain JSON. */
  readonly encoding?: string;
  readonly partition: number;
  /** How many times the broker handed this record out before (0 on first delivery). */
  readonly deliveryCount: number;
  /** Done with it: the broker forgets it. Ignored if the connection it came on is gone. */
  ack(): void;
  /** Give it back to be delivered again (to this or another consumer). */
  requeue(): void;
  /** Move it to the dead-letter queue with the reason, then ack it. */
  deadLetter(reason: string): Promise<void>;
  /**
   * Put one part of it (a record of a pack) in the dead-letter queue with the reason, leaving the
   * message itself to be acked or requeued as usual.
   */
  deadLetterPart(body: Buffer, reason: string): Promise<void>;
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
  /** The message's JSON; still compressed only when it could not be decoded (then `encoding` says how). */
  body: Buffer;
  encoding?: string;
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
  /**
   * Resolves once every record is confirmed by the broker; rejects if any was not. With
   * `batch`, records of the same partition travel together, up to `batch` bytes a message.
   */
  publish(records: readonly WireRecord[], options?: PublishOptions): Promise<void>;
  /** Publishes already-serialized messages (`serialize`'s) with their shadow ids and content-encodings. */
  publishRaw(items: readonly WireMessage[]): Promise<void>;
  consume(options: ConsumeOptions): Promise<Subscription>;
  /** Reads (and removes) up to `max` dead letters: for tests, the CLI and the report. */
  drainDeadLetters(max: number): Promise<DeadLetter[]>;
  stats(): BusStats;
  close(): Promise<void>;
}

export interface PublishOptions {
  /** Pack records of one partition into JSON-array messages of at most this many bytes. */
  batch?: number;
  /** Compress each message (absent: none). Packed messages are where it pays (docs/pipeline.md). */
  compression?: Compression;
}

/** The partition of a shadow id: FNV-1a (32-bit) of its UTF-16 code units, mod P. */
export function partitionOf(shadowId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < shadowId.length; i++) {
    h ^= shadowId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

export function serialize(records: readonly WireRecord[], partitions: number, options: PublishOptions = {}): WireMessage[] {
  const compression = options.compression ?? 'none';
  const message = (shadowId: string, json: string): WireMessage => ({ shadowId, ...encodeBody(Buffer.from(json), compression) });
  if (!options.batch) return records.map((r) => message(r.shadowId, JSON.stringify(r)));
  // One message per partition and size step: a JSON array of records that all hash there.
  const open = new Map<number, { shadowId: string; parts: string[]; bytes: number }>();
  const out: WireMessage[] = [];
  const close = (m: { shadowId: string; parts: string[] }) => out.push(message(m.shadowId, `[${m.parts.join(',')}]`));
  for (const r of records) {
    const text = JSON.stringify(r);
    const p = partitionOf(r.shadowId, partitions);
    let m = open.get(p);
    if (m && m.bytes + text.length > options.batch) {
      close(m);
      m = undefined;
    }
    if (!m) open.set(p, (m = { shadowId: r.shadowId, parts: [], bytes: 2 }));
    m.parts.push(text);
    m.bytes += text.length + 1;
  }
  for (const m of open.values()) close(m);
  return out;
}
