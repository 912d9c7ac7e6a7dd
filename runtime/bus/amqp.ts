// The RabbitMQ bus. amqplib's own connection recovery reconnects; on every connect we declare
// the topology, reopen the channels and resubscribe. Publishing is pipelined with confirms (up
// to `maxInFlight` unconfirmed), `mandatory` with a return handler, and waits for the socket to
// drain rather than letting amqplib buffer without bound. A batch resolves only when every
// record is confirmed; records lost with a connection are published again after it recovers.
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { once } from 'node:events';
import { redactUrl } from '../../core/config';
import type { ShadowRecord } from '../../core/effect';
import { ShadowdiffError } from '../../core/errors';
import type { Logger } from '../../core/logger';
import { type Bus, type BusStats, type ConsumeOptions, type DeadLetter, type Delivery, partitionOf, type PublishOptions, serialize, type Subscription } from './bus';
import { closeQuietly, DEAD_ROUTING_KEY, declareTopology, names, type Names, type QueueType } from './topology';

export interface AmqpBusOptions {
  url: string;
  logger: Logger;
  prefix?: string;
  partitions?: number;
  /** Unacked records per partition consumer. */
  prefetch?: number;
  /** Published records awaiting their confirm, at most. */
  maxInFlight?: number;
  queueType?: QueueType;
  deliveryLimit?: number;
  /** How long publish keeps retrying through a broker outage before it fails. */
  publishTimeoutMs?: number;
  /** How often a consumer checks it holds no more than its share of busy partitions (0: never). */
  rebalanceMs?: number;
}

interface Connected {
  model: ChannelModel;
  pub: ConfirmChannel;
  sub?: Channel;
  generation: number;
}

interface Registered {
  options: ConsumeOptions;
  cancelled: boolean;
  tags: Map<number, string>;
  /** Partition → when it last delivered to us: the partitions we are active on. */
  active: Map<number, number>;
}

class Unroutable extends Error {}

export async function connectAmqpBus(options: AmqpBusOptions): Promise<AmqpBus> {
  const bus = new AmqpBus(options);
  await bus.start();
  return bus;
}

export class AmqpBus implements Bus {
  readonly partitions: number;
  queueType: 'quorum' | 'classic' | undefined;
  private readonly names: Names;
  private readonly log: Logger;
  private conn?: amqp.RecoveringChannelModel;
  private current: Connected | undefined;
  private generation = 0;
  private waiters: ((c: Connected) => void)[] = [];
  private readonly consumers: Registered[] = [];
  private readonly returned = new Set<string>();
  private messageSeq = 0;
  private inFlight = 0;
  private slotWaiters: (() => void)[] = [];
  private drained: Promise<unknown> | undefined;
  private closing = false;
  private rebalancing = false;
  private readonly counters: BusStats = { published: 0, unroutable: 0, deadLettered: 0, resets: 0 };

  constructor(private readonly options: AmqpBusOptions) {
    this.partitions = options.partitions ?? 16;
    this.names = names(options.prefix ?? 'shadowdiff');
    this.log = options.logger;
  }

  async start(): Promise<void> {
    const safeUrl = redactUrl(this.options.url);
    try {
      this.conn = await amqp.connect(this.options.url, {
        timeout: 5000,
        recovery: {
          initialDelay: 200,
          maxDelay: 5000,
          initialMaxRetries: 2,
          maxRetries: Infinity,
          setup: (model: ChannelModel) => this.setup(model),
        },
      });
    } catch (err) {
      throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `RabbitMQ is not reachable at ${safeUrl}: ${(err as Error).message}.`, { url: safeUrl }, { cause: err });
    }
    this.conn.on('disconnect', (err: Error) => this.lost(`connection lost: ${err?.message ?? 'closed'}`));
    this.conn.on('error', (err: Error) => this.log.warn({ err: err.message }, 'RabbitMQ connection error'));
    this.conn.on('blocked', (reason: string) => this.log.warn({ reason }, 'RabbitMQ blocked publishing (resource alarm)'));
    this.conn.on('unblocked', () => this.log.info('RabbitMQ unblocked publishing'));
  }

  private async setup(model: ChannelModel): Promise<void> {
    this.queueType = await declareTopology(
      model,
      {
        prefix: this.names.exchange,
        partitions: this.partitions,
        queueType: this.options.queueType ?? 'auto',
        deliveryLimit: this.options.deliveryLimit ?? 20,
      },
      this.log,
    );
    const pub = await model.createConfirmChannel();
    pub.on('return', (msg: ConsumeMessage) => {
      this.counters.unroutable += 1;
      if (msg.properties.messageId) this.returned.add(String(msg.properties.messageId));
    });
    pub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'publish channel error'));
    const generation = ++this.generation;
    const connected: Connected = { model, pub, generation };
    this.current = connected;
    if (this.generation > 1) this.log.info({ generation }, 'RabbitMQ connection recovered');
    for (const c of this.consumers) if (!c.cancelled) await this.subscribe(connected, c);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(connected);
  }

  private lost(reason: string): void {
    if (!this.current) return;
    this.current = undefined;
    this.counters.resets += 1;
    if (this.closing) return;
    this.log.warn({ reason }, 'RabbitMQ connection lost; deliveries not acked will come again');
    for (const c of this.consumers) {
      c.tags.clear();
      c.active.clear();
      if (!c.cancelled) c.options.onReset?.(reason);
    }
    // Publishers waiting for a slot go on; their records fail and are retried after recovery.
    this.inFlight = 0;
    this.releaseSlots();
  }

  private connected(deadline: number): Promise<Connected> {
    if (this.current) return Promise.resolve(this.current);
    if (this.closing) return Promise.reject(new Error('the bus is closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', 'RabbitMQ stayed unreachable longer than the publish timeout.'));
      }, Math.max(0, deadline - Date.now()));
      const waiter = (c: Connected) => {
        clearTimeout(timer);
        resolve(c);
      };
      this.waiters.push(waiter);
    });
  }

  publish(records: readonly ShadowRecord[], options?: PublishOptions): Promise<void> {
    return this.publishRaw(serialize(records, this.partitions, options));
  }

  async publishRaw(items: readonly { shadowId: string; body: Buffer }[]): Promise<void> {
    const deadline = Date.now() + (this.options.publishTimeoutMs ?? 30_000);
    let pending = items;
    let unroutable = 0;
    while (pending.length) {
      const c = await this.connected(deadline);
      const outcomes = await this.publishOnce(c, pending);
      const retry: { shadowId: string; body: Buffer }[] = [];
      outcomes.forEach((o, i) => {
        if (o === 'unroutable') unroutable += 1;
        else if (o === 'retry') retry.push(pending[i]!);
      });
      pending = retry;
      if (pending.length) {
        if (Date.now() > deadline) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `RabbitMQ did not confirm ${pending.length} record(s) within the publish timeout.`);
        // Lost with the connection, or nacked: wait for the channel to come back.
        if (this.current === c) await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (unroutable) {
      throw new ShadowdiffError('SHADOWDIFF_UNROUTABLE', `${unroutable} record(s) could not be routed: exchange "${this.names.exchange}" has no queue bound for their partition.`, {
        unroutable,
      });
    }
  }

  private async publishOnce(c: Connected, items: readonly { shadowId: string; body: Buffer }[]): Promise<('ok' | 'retry' | 'unroutable')[]> {
    const results: Promise<'ok' | 'retry' | 'unroutable'>[] = [];
    for (const item of items) {
      await this.slot();
      if (this.drained) await this.drained;
      if (this.current !== c) {
        results.push(Promise.resolve('retry'));
        continue;
      }
      const p = partitionOf(item.shadowId, this.partitions);
      const messageId = String(++this.messageSeq);
      this.inFlight += 1;
      results.push(
        new Promise((resolve) => {
          try {
            const ok = c.pub.publish(
              this.names.exchange,
              this.names.routingKey(p),
              item.body,
              { persistent: true, mandatory: true, contentType: 'application/json', messageId },
              (err) => {
                this.release();
                if (this.returned.delete(messageId)) resolve('unroutable');
                else if (err) resolve('retry');
                else {
                  this.counters.published += 1;
                  resolve('ok');
                }
              },
            );
            if (!ok && !this.drained) {
              // Drained, or gone with its connection (then the records are retried): never stuck.
              this.drained = Promise.race([once(c.pub, 'drain'), once(c.pub, 'close')])
                .catch(() => undefined)
                .finally(() => (this.drained = undefined));
            }
          } catch {
            this.release();
            resolve('retry');
          }
        }),
      );
    }
    return Promise.all(results);
  }

  private slot(): Promise<void> {
    if (this.inFlight < (this.options.maxInFlight ?? 1000)) return Promise.resolve();
    return new Promise((r) => this.slotWaiters.push(r));
  }

  private release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.slotWaiters.shift()?.();
  }

  private releaseSlots(): void {
    const w = this.slotWaiters;
    this.slotWaiters = [];
    for (const r of w) r();
    this.drained = undefined;
  }

  async consume(options: ConsumeOptions): Promise<Subscription> {
    const registered: Registered = { options, cancelled: false, tags: new Map(), active: new Map() };
    this.consumers.push(registered);
    if (this.current) await this.subscribe(this.current, registered);
    const every = this.options.rebalanceMs ?? 5000;
    const timer = every > 0 ? setInterval(() => void this.rebalance(registered, every).catch((err: Error) => this.log.warn({ err: err.message }, 'rebalance failed')), every) : undefined;
    timer?.unref();
    return {
      cancel: async () => {
        clearInterval(timer);
        registered.cancelled = true;
        const c = this.current;
        if (c?.sub) for (const tag of registered.tags.values()) await c.sub.cancel(tag).catch(() => undefined);
        registered.tags.clear();
      },
    };
  }

  private async subscribe(c: Connected, registered: Registered): Promise<void> {
    if (!c.sub) {
      c.sub = await c.model.createChannel();
      c.sub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'consume channel error'));
      await c.sub.prefetch(this.options.prefetch ?? 200);
    }
    const sub = c.sub;
    await sub.consume(this.names.presence, () => undefined, { noAck: true });
    // A random rotation: workers starting together split the partitions between them (with
    // single-active-consumer the first subscriber of a queue is the active one).
    const start = Math.floor(Math.random() * this.partitions);
    for (let i = 0; i < this.partitions; i++) {
      const p = (start + i) % this.partitions;
      const { consumerTag } = await sub.consume(this.names.partition(p), (msg) => {
        if (msg) this.deliver(c, sub, registered, p, msg);
      });
      registered.tags.set(p, consumerTag);
    }
  }

  /**
   * Single-active-consumer gives a queue to whoever subscribed first, so a worker that starts
   * later would idle. Every consumer subscribes to every partition; one that is active on more
   * busy partitions than its share (partitions / consumers, counted on the presence queue)
   * hands the excess on: it cancels, gives back what it holds from them, and subscribes again
   * at the back of the line. The broker then activates a waiting consumer.
   */
  private async rebalance(registered: Registered, every: number): Promise<void> {
    const c = this.current;
    if (!c?.sub || registered.cancelled || this.rebalancing) return;
    this.rebalancing = true;
    try {
      const busy = [...registered.active].filter(([, at]) => Date.now() - at < 2 * every).map(([p]) => p);
      if (busy.length <= 1) return;
      const ch = await c.model.createChannel();
      let consumers = 1;
      try {
        consumers = Math.max(1, (await ch.checkQueue(this.names.presence)).consumerCount);
      } finally {
        await closeQuietly(ch);
      }
      const share = Math.ceil(this.partitions / consumers);
      if (busy.length <= share) return;
      const give = busy.sort(() => Math.random() - 0.5).slice(share);
      this.log.info({ partitions: give, consumers, share }, 'handing partitions to waiting consumers');
      for (const p of give) {
        const tag = registered.tags.get(p);
        if (this.current !== c || !c.sub) return;
        if (!tag) continue;
        await c.sub.cancel(tag);
        registered.active.delete(p);
        registered.options.onRevoke?.(p);
        const { consumerTag } = await c.sub.consume(this.names.partition(p), (msg) => {
          if (msg) this.deliver(c, c.sub!, registered, p, msg);
        });
        registered.tags.set(p, consumerTag);
      }
    } finally {
      this.rebalancing = false;
    }
  }

  private deliver(c: Connected, sub: Channel, registered: Registered, partition: number, msg: ConsumeMessage): void {
    registered.active.set(partition, Date.now());
    const live = () => this.current === c && c.sub === sub;
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
    const delivery: Delivery = {
      body: msg.content,
      partition,
      deliveryCount: Number.isFinite(count) ? count : 1,
      ack: () => settle(() => sub.ack(msg)),
      requeue: () => settle(() => sub.nack(msg, false, true)),
      deadLetter: async (reason) => {
        if (settled || !live()) return;
        await this.publishDead(c, msg.content, reason, partition);
        settle(() => sub.ack(msg));
        this.counters.deadLettered += 1;
      },
    };
    if (registered.cancelled) return delivery.requeue();
    try {
      registered.options.onDelivery(delivery);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'consumer threw; record requeued');
      delivery.requeue();
    }
  }

  private publishDead(c: Connected, body: Buffer, reason: string, partition: number): Promise<void> {
    return new Promise((resolve, reject) => {
      c.pub.publish(
        this.names.deadExchange,
        DEAD_ROUTING_KEY,
        body,
        { persistent: true, contentType: 'application/json', headers: { 'x-shadowdiff-reason': reason.slice(0, 2000), 'x-shadowdiff-partition': partition } },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  async drainDeadLetters(max: number): Promise<DeadLetter[]> {
    const c = await this.connected(Date.now() + 5000);
    const ch = await c.model.createChannel();
    const out: DeadLetter[] = [];
    try {
      while (out.length < max) {
        const msg = await ch.get(this.names.deadQueue, { noAck: true });
        if (!msg) break;
        out.push({ body: msg.content, reason: deadReason(msg), ...partitionHeader(msg) });
      }
    } finally {
      await closeQuietly(ch);
    }
    return out;
  }

  stats(): BusStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // Deliveries from here on are void: no ack may reach a closing channel.
    this.current = undefined;
    await this.conn?.close().catch(() => undefined);
  }
}

/** Our own reason header, or the broker's (x-death: delivery limit, rejected, expired). */
function deadReason(msg: { properties: { headers?: Record<string, unknown> } }): string {
  const h = msg.properties.headers ?? {};
  if (typeof h['x-shadowdiff-reason'] === 'string') return h['x-shadowdiff-reason'];
  const death = Array.isArray(h['x-death']) ? (h['x-death'][0] as Record<string, unknown>) : undefined;
  if (death) return `dead-lettered by the broker: ${String(death.reason)} (queue ${String(death.queue)}, ${String(death.count)} time(s)); the record crashed or stalled a worker repeatedly`;
  return 'unknown';
}

function partitionHeader(msg: { properties: { headers?: Record<string, unknown> } }): { partition?: number } {
  const p = msg.properties.headers?.['x-shadowdiff-partition'];
  return typeof p === 'number' ? { partition: p } : {};
}
