// What shadowdiff declares on RabbitMQ, idempotently, on every (re)connect: a direct exchange,
// P durable partition queues with single-active-consumer (quorum where the broker has them,
// with a delivery limit that dead-letters poison), and the dead-letter exchange and queue.
import type { Channel, ChannelModel } from 'amqplib';
import type { Logger } from '../../core/logger';

export type QueueType = 'auto' | 'quorum' | 'classic';

export interface TopologyOptions {
  prefix: string;
  partitions: number;
  queueType: QueueType;
  /** Quorum queues: deliveries before a record is dead-lettered as poison. */
  deliveryLimit: number;
}

export interface Names {
  exchange: string;
  deadExchange: string;
  deadQueue: string;
  /** Every consumer subscribes here and never gets a message: its consumer count is how many there are. */
  presence: string;
  partition(p: number): string;
  routingKey(p: number): string;
}

export const DEAD_ROUTING_KEY = 'dead';

export function names(prefix: string): Names {
  return {
    exchange: prefix,
    deadExchange: `${prefix}.dlx`,
    deadQueue: `${prefix}.dead`,
    presence: `${prefix}.presence`,
    partition: (p) => `${prefix}.p${p}`,
    routingKey: (p) => `p${p}`,
  };
}

/** Declares everything; returns the queue type the partitions have. */
export async function declareTopology(model: ChannelModel, options: TopologyOptions, log: Logger): Promise<'quorum' | 'classic'> {
  const n = names(options.prefix);
  let ch = await model.createChannel();
  await ch.assertExchange(n.exchange, 'direct', { durable: true });
  await ch.assertExchange(n.deadExchange, 'direct', { durable: true });
  await ch.assertQueue(n.deadQueue, { durable: true });
  await ch.bindQueue(n.deadQueue, n.deadExchange, DEAD_ROUTING_KEY);
  // Single-active-consumer queues report only the active consumer; this one counts them all.
  await ch.assertQueue(n.presence, { durable: false, autoDelete: false });

  const args = (type: 'quorum' | 'classic'): Record<string, unknown> => ({
    'x-single-active-consumer': true,
    'x-dead-letter-exchange': n.deadExchange,
    'x-dead-letter-routing-key': DEAD_ROUTING_KEY,
    ...(type === 'quorum' ? { 'x-queue-type': 'quorum', 'x-delivery-limit': options.deliveryLimit } : {}),
  });
  let type: 'quorum' | 'classic' = options.queueType === 'classic' ? 'classic' : 'quorum';
  for (let p = 0; p < options.partitions; p++) {
    const queue = n.partition(p);
    try {
      await ch.assertQueue(queue, { durable: true, arguments: args(type) });
    } catch (err) {
      // A failed declare closes the channel; open another to go on.
      ch = await model.createChannel();
      const code = (err as { code?: number }).code;
      if (code === 406) {
        // The queue exists with other arguments (another type, limit or an older shadowdiff):
        // use it as it is rather than fail the worker; say so once.
        await ch.checkQueue(queue);
        log.warn({ queue, err: (err as Error).message }, 'partition queue exists with other arguments; using it as it is');
      } else if (type === 'quorum' && options.queueType === 'auto') {
        log.warn({ err: (err as Error).message }, 'broker has no quorum queues; declaring classic partition queues (no delivery limit)');
        type = 'classic';
        await ch.assertQueue(queue, { durable: true, arguments: args(type) });
      } else {
        throw err;
      }
    }
    await ch.bindQueue(queue, n.exchange, n.routingKey(p));
  }
  await closeQuietly(ch);
  return type;
}

/** One queue or exchange of a prefix's topology, as the broker has it. */
export interface TopologyPart {
  kind: 'queue' | 'exchange';
  name: string;
  /** Queues: messages waiting in it, and consumers attached. */
  messages?: number;
  consumers?: number;
}

/**
 * What the broker holds of a prefix: its exchanges and queues, with the partition queues found by
 * counting up from p0 until one is missing. A missing name is left out (a passive check closes
 * the channel, so each check gets its own).
 */
export async function inspectTopology(model: ChannelModel, prefix: string, maxPartitions = 1024): Promise<TopologyPart[]> {
  const n = names(prefix);
  const out: TopologyPart[] = [];
  /** Whether `check` found it: a passive check of a missing name closes its channel (404), so each gets one of its own. */
  const exists = async (check: (ch: Channel) => Promise<void>): Promise<boolean> => {
    const ch = await model.createChannel();
    ch.on('error', () => undefined); // the 404 of a missing name: expected here
    try {
      await check(ch);
      return true;
    } catch {
      return false;
    } finally {
      await closeQuietly(ch);
    }
  };
  const queue = (name: string) =>
    exists(async (ch) => {
      const q = await ch.checkQueue(name);
      out.push({ kind: 'queue', name, messages: q.messageCount, consumers: q.consumerCount });
    });
  for (const name of [n.exchange, n.deadExchange]) {
    if (await exists(async (ch) => void (await ch.checkExchange(name)))) out.push({ kind: 'exchange', name });
  }
  for (let p = 0; p < maxPartitions && (await queue(n.partition(p))); p++);
  for (const q of [n.deadQueue, n.presence]) await queue(q);
  return out;
}

/** Deletes the parts inspectTopology found; returns the messages the deleted queues held. */
export async function deleteParts(model: ChannelModel, parts: readonly TopologyPart[]): Promise<number> {
  const ch = await model.createChannel();
  let dropped = 0;
  try {
    for (const q of parts.filter((x) => x.kind === 'queue')) dropped += (await ch.deleteQueue(q.name)).messageCount;
    for (const x of parts.filter((y) => y.kind === 'exchange')) await ch.deleteExchange(x.name);
  } finally {
    await closeQuietly(ch);
  }
  return dropped;
}

/** Removes what declareTopology made (for tests and benchmarks that use a throwaway prefix). */
export async function deleteTopology(model: ChannelModel, prefix: string, partitions: number): Promise<void> {
  const n = names(prefix);
  const ch = await model.createChannel();
  for (let p = 0; p < partitions; p++) await ch.deleteQueue(n.partition(p));
  for (const q of [n.deadQueue, n.presence]) await ch.deleteQueue(q);
  for (const x of [n.exchange, n.deadExchange]) await ch.deleteExchange(x);
  await closeQuietly(ch);
}

export async function closeQuietly(ch: Channel | undefined): Promise<void> {
  try {
    await ch?.close();
  } catch {
    // already closed with its connection
  }
}
