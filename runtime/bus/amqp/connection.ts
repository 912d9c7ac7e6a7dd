// One RabbitMQ connection and what every part of the bus shares through it. amqplib's own
// recovery reconnects; on every connect the topology is declared, the confirm channel opened,
// and each part told (the consumer resubscribes). Parts wait here for a live connection.
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { redactUrl } from '../../../core/net';
import { ShadowdiffError } from '../../../core/errors';
import type { Logger } from '../../../core/logger';
import { DEFAULT_DELIVERY_LIMIT, DEFAULT_PARTITIONS, DEFAULT_PREFIX } from '../../../core/settings';
import { declareTopology, names, type Names, type QueueType } from '../topology';

export interface AmqpConnectionOptions {
  url: string;
  logger: Logger;
  prefix?: string;
  partitions?: number;
  queueType?: QueueType;
  deliveryLimit?: number;
}

/** One connection's generation: its channels, void once the connection is lost. */
export interface Connected {
  model: ChannelModel;
  pub: ConfirmChannel;
  sub?: Channel;
  generation: number;
}

/** What a part of the bus hears from the connection; hooks run in registration order. */
export interface ConnectionPart {
  /** A connection came up (or back): resubscribe. Awaited before waiting publishers go on. */
  connected?(c: Connected): Promise<void>;
  lost?(reason: string): void;
  /** A `mandatory` publish came back unroutable. */
  returned?(msg: ConsumeMessage): void;
}

export class AmqpConnection {
  readonly partitions: number;
  readonly names: Names;
  readonly log: Logger;
  queueType: 'quorum' | 'classic' | undefined;
  resets = 0;
  private conn?: amqp.RecoveringChannelModel;
  private live: Connected | undefined;
  private generation = 0;
  private waiters: ((c: Connected) => void)[] = [];
  private readonly parts: ConnectionPart[] = [];
  private closing = false;

  constructor(private readonly options: AmqpConnectionOptions) {
    this.partitions = options.partitions ?? DEFAULT_PARTITIONS;
    this.names = names(options.prefix ?? DEFAULT_PREFIX);
    this.log = options.logger;
  }

  /** The live connection, or undefined while it is down or closed. */
  get current(): Connected | undefined {
    return this.live;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  attach(part: ConnectionPart): void {
    this.parts.push(part);
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
        deliveryLimit: this.options.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT,
      },
      this.log,
    );
    const pub = await model.createConfirmChannel();
    pub.on('return', (msg: ConsumeMessage) => {
      for (const p of this.parts) p.returned?.(msg);
    });
    pub.on('error', (err: Error) => this.log.warn({ err: err.message }, 'publish channel error'));
    const generation = ++this.generation;
    const connected: Connected = { model, pub, generation };
    this.live = connected;
    if (this.generation > 1) this.log.info({ generation }, 'RabbitMQ connection recovered');
    for (const p of this.parts) await p.connected?.(connected);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(connected);
  }

  private lost(reason: string): void {
    if (!this.live) return;
    this.live = undefined;
    this.resets += 1;
    if (this.closing) return;
    this.log.warn({ reason }, 'RabbitMQ connection lost; deliveries not acked will come again');
    for (const p of this.parts) p.lost?.(reason);
  }

  /** The live connection, waiting for recovery until `deadline` (epoch ms). */
  connected(deadline: number): Promise<Connected> {
    if (this.live) return Promise.resolve(this.live);
    if (this.closing) return Promise.reject(new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', 'the bus is closed'));
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

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    // Deliveries from here on are void: no ack may reach a closing channel.
    this.live = undefined;
    await this.conn?.close().catch(() => undefined);
  }
}
