// The embedded bus: the same contract as RabbitMQ inside one process — partitions, one active
// consumer per partition (spread round-robin over the consumers, moved with a revoke when they
// come and go), prefetch, acks, requeue and a dead-letter list. Nothing is persisted: the
// process is the broker.
import type { WireRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import { DEFAULT_PARTITIONS } from '../../core/settings';
import {
  type Bus,
  type BusStats,
  type ConsumeOptions,
  type DeadLetter,
  type Delivery,
  type PublishOptions,
  partitionOf,
  serialize,
  type Subscription,
  type WireMessage,
} from './bus';
import { readableDeadLetter } from './encoding';

interface Message {
  body: Buffer;
  encoding?: string;
  deliveryCount: number;
}

interface Consumer {
  options: ConsumeOptions;
  /** Unacked deliveries per partition. */
  held: Map<number, Set<Message>>;
  cancelled: boolean;
}

export interface MemoryBusOptions {
  partitions?: number;
  /** Unacked records a consumer may hold per partition. */
  prefetch?: number;
}

export class MemoryBus implements Bus {
  readonly partitions: number;
  private readonly prefetch: number;
  private readonly queues: Message[][];
  /** Per partition, consumers in subscription order; the first is active. */
  private readonly consumers: Consumer[][];
  private readonly dead: DeadLetter[] = [];
  private readonly counters: BusStats = { published: 0, unroutable: 0, deadLettered: 0, resets: 0 };
  private readonly scheduled = new Set<number>();
  private readonly subscribed = new WeakMap<Subscription, Consumer>();
  /** Consumers in subscription order. */
  private readonly live: Consumer[] = [];
  private closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.partitions = options.partitions ?? DEFAULT_PARTITIONS;
    this.prefetch = options.prefetch ?? 200;
    this.queues = Array.from({ length: this.partitions }, () => []);
    this.consumers = Array.from({ length: this.partitions }, () => []);
  }

  publish(records: readonly WireRecord[], options?: PublishOptions): Promise<void> {
    return this.publishRaw(serialize(records, this.partitions, options));
  }

  async publishRaw(items: readonly WireMessage[]): Promise<void> {
    if (this.closed) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', 'the embedded bus is closed');
    for (const { shadowId, body, encoding } of items) {
      const p = partitionOf(shadowId, this.partitions);
      this.queues[p]!.push({ body, ...(encoding ? { encoding } : {}), deliveryCount: 0 });
      this.counters.published += 1;
      this.schedule(p);
    }
  }

  async consume(options: ConsumeOptions): Promise<Subscription> {
    const consumer: Consumer = { options, held: new Map(), cancelled: false };
    this.live.push(consumer);
    for (let p = 0; p < this.partitions; p++) this.consumers[p]!.push(consumer);
    this.rebalance();
    const subscription: Subscription = {
      // As on RabbitMQ: records delivered but not acked stay with the consumer (it may still
      // ack or requeue them); only new deliveries stop.
      cancel: async () => {
        if (consumer.cancelled) return;
        consumer.cancelled = true;
        this.remove(consumer);
      },
    };
    this.subscribed.set(subscription, consumer);
    return subscription;
  }

  /**
   * Simulates a consumer process dying: what it held goes back to the queues (as a broker does
   * when a connection drops) and its later acks are void. For tests.
   */
  crash(subscription: Subscription): void {
    const consumer = this.subscribed.get(subscription);
    if (!consumer) return;
    consumer.options.onReset?.('crashed');
    consumer.cancelled = true;
    for (let p = 0; p < this.partitions; p++) {
      const held = consumer.held.get(p);
      if (held?.size) this.queues[p]!.unshift(...held);
      held?.clear();
    }
    this.remove(consumer);
  }

  /**
   * A connection of its own to this bus, as a worker on another host would have: closing it
   * abruptly (`crash`) is what a killed process does to its broker connection.
   */
  connect(): MemoryConnection {
    return new MemoryConnection(this);
  }

  private remove(consumer: Consumer): void {
    this.live.splice(this.live.indexOf(consumer), 1);
    for (let p = 0; p < this.partitions; p++) {
      const list = this.consumers[p]!;
      const i = list.indexOf(consumer);
      if (i >= 0) list.splice(i, 1);
    }
    this.rebalance();
  }

  /** Partition p goes to live consumer p mod n; a consumer losing one is told to give it back. */
  private rebalance(): void {
    for (let p = 0; p < this.partitions; p++) {
      const list = this.consumers[p]!;
      const want = this.live.length ? this.live[p % this.live.length]! : undefined;
      const active = list[0];
      if (want && active !== want) {
        list.splice(list.indexOf(want), 1);
        list.unshift(want);
        if (active && !active.cancelled) active.options.onRevoke?.(p);
      }
      this.schedule(p);
    }
  }

  async drainDeadLetters(max: number): Promise<DeadLetter[]> {
    return this.dead.splice(0, max);
  }

  stats(): BusStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Records waiting in a partition (not delivered): for tests and progress. */
  depth(): number {
    return this.queues.reduce((n, q) => n + q.length, 0);
  }

  private schedule(p: number): void {
    if (this.scheduled.has(p)) return;
    this.scheduled.add(p);
    setImmediate(() => {
      this.scheduled.delete(p);
      this.pump(p);
    });
  }

  private pump(p: number): void {
    const consumer = this.consumers[p]![0];
    if (!consumer || this.closed) return;
    const queue = this.queues[p]!;
    let held = consumer.held.get(p);
    if (!held) consumer.held.set(p, (held = new Set()));
    while (queue.length && held.size < this.prefetch && !consumer.cancelled) {
      const msg = queue.shift()!;
      held.add(msg);
      const count = msg.deliveryCount;
      msg.deliveryCount += 1;
      const settle = (): boolean => {
        if (!held.has(msg)) return false;
        held.delete(msg);
        this.schedule(p);
        return true;
      };
      const delivery: Delivery = {
        body: msg.body,
        ...(msg.encoding ? { encoding: msg.encoding } : {}),
        partition: p,
        deliveryCount: count,
        ack: () => void settle(),
        requeue: () => {
          if (settle()) queue.unshift(msg);
        },
        deadLetter: async (reason) => {
          if (settle()) {
            this.dead.push({ ...readableDeadLetter(msg.body, msg.encoding), reason, partition: p });
            this.counters.deadLettered += 1;
          }
        },
        deadLetterPart: async (body, reason) => {
          this.dead.push({ body, reason, partition: p });
          this.counters.deadLettered += 1;
        },
      };
      try {
        consumer.options.onDelivery(delivery);
      } catch {
        delivery.requeue();
      }
    }
  }
}

export class MemoryConnection implements Bus {
  private readonly subscriptions: Subscription[] = [];

  constructor(private readonly bus: MemoryBus) {}

  get partitions(): number {
    return this.bus.partitions;
  }

  publish(records: readonly WireRecord[], options?: PublishOptions): Promise<void> {
    return this.bus.publish(records, options);
  }

  publishRaw(items: readonly WireMessage[]): Promise<void> {
    return this.bus.publishRaw(items);
  }

  async consume(options: ConsumeOptions): Promise<Subscription> {
    const sub = await this.bus.consume(options);
    this.subscriptions.push(sub);
    return sub;
  }

  drainDeadLetters(max: number): Promise<DeadLetter[]> {
    return this.bus.drainDeadLetters(max);
  }

  stats(): BusStats {
    return this.bus.stats();
  }

  /** The connection drops: what its consumers held is redelivered to others. */
  crash(): void {
    for (const s of this.subscriptions.splice(0)) this.bus.crash(s);
  }

  async close(): Promise<void> {
    for (const s of this.subscriptions.splice(0)) await s.cancel();
  }
}
