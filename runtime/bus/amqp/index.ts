// The RabbitMQ bus: one connection (connection.ts) shared by a publisher (publisher.ts) and a
// consumer (consumer.ts, rebalance.ts), with dead letters beside them (dead-letters.ts).
import type { WireRecord } from '../../../core/effect';
import type { Bus, BusStats, ConsumeOptions, DeadLetter, PublishOptions, Subscription, WireMessage } from '../bus';
import { AmqpConnection, type AmqpConnectionOptions } from './connection';
import { AmqpConsumer, type AmqpConsumerOptions } from './consumer';
import { drainDeadLetters } from './dead-letters';
import { AmqpPublisher, type AmqpPublisherOptions } from './publisher';

export type AmqpBusOptions = AmqpConnectionOptions & AmqpPublisherOptions & AmqpConsumerOptions;

export async function connectAmqpBus(options: AmqpBusOptions): Promise<AmqpBus> {
  const bus = new AmqpBus(options);
  await bus.start();
  return bus;
}

export class AmqpBus implements Bus {
  readonly partitions: number;
  private readonly connection: AmqpConnection;
  // The consumer attaches first: on a lost connection its subscriptions reset before waiting publishers go on.
  private readonly consumer: AmqpConsumer;
  private readonly publisher: AmqpPublisher;

  constructor(options: AmqpBusOptions) {
    this.connection = new AmqpConnection(options);
    this.consumer = new AmqpConsumer(this.connection, options);
    this.publisher = new AmqpPublisher(this.connection, options);
    this.partitions = this.connection.partitions;
  }

  /** The queue type the topology was declared with (known once connected). */
  get queueType(): 'quorum' | 'classic' | undefined {
    return this.connection.queueType;
  }

  start(): Promise<void> {
    return this.connection.start();
  }

  publish(records: readonly WireRecord[], options?: PublishOptions): Promise<void> {
    return this.publisher.publish(records, options);
  }

  publishRaw(items: readonly WireMessage[]): Promise<void> {
    return this.publisher.publishRaw(items);
  }

  consume(options: ConsumeOptions): Promise<Subscription> {
    return this.consumer.consume(options);
  }

  drainDeadLetters(max: number): Promise<DeadLetter[]> {
    return drainDeadLetters(this.connection, max);
  }

  stats(): BusStats {
    return { published: this.publisher.published, unroutable: this.publisher.unroutable, deadLettered: this.consumer.deadLettered, resets: this.connection.resets };
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}
