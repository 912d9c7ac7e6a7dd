// Consuming the partition queues. Every consumer subscribes to every partition (single active
// consumer: the broker delivers a queue to one of them at a time, so a partition's records
// stay in order); a delivery is acked, requeued or dead-lettered only on the channel it came
// from, and only while that channel lives. Rebalancing is in rebalance.ts.
import type { Channel, ConsumeMessage } from 'amqplib';
import type { ConsumeOptions, Delivery, Subscription } from '../bus';
import type { AmqpConnection, Connected } from './connection';
import { publishDead } from './dead-letters';
import { rebalance, type Registered } from './rebalance';

export interface AmqpConsumerOptions {
  /** Unacked records per partition consumer. */
  prefetch?: number;
  /** How often a consumer checks it holds no more than its share of busy partitions (0: never). */
  rebalanceMs?: number;
}

export class AmqpConsumer {
  deadLettered = 0;
  private readonly consumers: Registered[] = [];
  private rebalancing = false;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: AmqpConsumerOptions = {},
  ) {
    connection.attach({
      connected: async (c) => {
        for (const r of this.consumers) if (!r.cancelled) await this.subscribe(c, r);
      },
      lost: (reason) => {
        for (const r of this.consumers) {
          r.tags.clear();
          r.active.clear();
          if (!r.cancelled) r.options.onReset?.(reason);
        }
      },
    });
  }

  async consume(options: ConsumeOptions): Promise<Subscription> {
    const registered: Registered = { options, cancelled: false, tags: new Map(), active: new Map() };
    this.consumers.push(registered);
    const live = this.connection.current;
    if (live) await this.subscribe(live, registered);
    const every = this.options.rebalanceMs ?? 5000;
    const timer = every > 0 ? setInterval(() => void this.rebalanceOnce(registered, every).catch((err: Error) => this.connection.log.warn({ err: err.message }, 'rebalance failed')), every) : undefined;
    timer?.unref();
    return {
      cancel: async () => {
        clearInterval(timer);
        registered.cancelled = true;
        const c = this.connection.current;
        if (c?.sub) for (const tag of registered.tags.values()) await c.sub.cancel(tag).catch(() => undefined);
        registered.tags.clear();
      },
    };
  }

  private async subscribe(c: Connected, registered: Registered): Promise<void> {
    const { names, partitions, log } = this.connection;
    if (!c.sub) {
      c.sub = await c.model.createChannel();
      c.sub.on('error', (err: Error) => log.warn({ err: err.message }, 'consume channel error'));
      await c.sub.prefetch(this.options.prefetch ?? 200);
    }
    const sub = c.sub;
    await sub.consume(names.presence, () => undefined, { noAck: true });
    // A random rotation: workers starting together split the partitions between them (with
    // single-active-consumer the first subscriber of a queue is the active one).
    const start = Math.floor(Math.random() * partitions);
    for (let i = 0; i < partitions; i++) {
      const p = (start + i) % partitions;
      registered.tags.set(p, await this.subscribePartition(c, sub, registered, p));
    }
  }

  /** Subscribes to one partition's queue; resolves to the consumer tag. */
  private subscribePartition(c: Connected, sub: Channel, registered: Registered, partition: number): Promise<string> {
    return sub
      .consume(this.connection.names.partition(partition), (msg) => {
        if (msg) this.deliver(c, sub, registered, partition, msg);
      })
      .then((r) => r.consumerTag);
  }

  private async rebalanceOnce(registered: Registered, every: number): Promise<void> {
    if (this.rebalancing) return;
    this.rebalancing = true;
    try {
      await rebalance(this.connection, registered, every, (c, sub, p) => this.subscribePartition(c, sub, registered, p));
    } finally {
      this.rebalancing = false;
    }
  }

  private deliver(c: Connected, sub: Channel, registered: Registered, partition: number, msg: ConsumeMessage): void {
    registered.active.set(partition, Date.now());
    const live = () => this.connection.current === c && c.sub === sub;
    let settled = false;
    const settle = (f: () => void) => {
      if (settled || !live()) return;
      settled = true;
      try {
        f();
      } catch {
        // The channel is closing under us: the broker redelivers what was not acked.
      }
    };
    const headers = msg.properties.headers ?? {};
    const count = Number(headers['x-delivery-count'] ?? (msg.fields.redelivered ? 1 : 0));
    const encoding = msg.properties.contentEncoding as string | undefined;
    const delivery: Delivery = {
      body: msg.content,
      ...(encoding ? { encoding } : {}),
      partition,
      deliveryCount: Number.isFinite(count) ? count : 1,
      ack: () => settle(() => sub.ack(msg)),
      requeue: () => settle(() => sub.nack(msg, false, true)),
      deadLetter: async (reason) => {
        if (settled || !live()) return;
        await publishDead(c, this.connection.names, msg.content, reason, partition, encoding);
        settle(() => sub.ack(msg));
        this.deadLettered += 1;
      },
      deadLetterPart: async (body, reason) => {
        await publishDead(c, this.connection.names, body, reason, partition);
        this.deadLettered += 1;
      },
    };
    if (registered.cancelled) return delivery.requeue();
    try {
      registered.options.onDelivery(delivery);
    } catch (err) {
      this.connection.log.error({ err: (err as Error).message }, 'consumer threw; record requeued');
      delivery.requeue();
    }
  }
}
