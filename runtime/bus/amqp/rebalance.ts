// Single-active-consumer gives a queue to whoever subscribed first, so a worker that starts
// later would idle. Every consumer subscribes to every partition; one that is active on more
// busy partitions than its share (partitions / consumers, counted on the presence queue)
// hands the excess on: it cancels, gives back what it holds from them, and subscribes again
// at the back of the line. The broker then activates a waiting consumer.
import { closeQuietly } from '../topology';
import type { Channel } from 'amqplib';
import type { ConsumeOptions } from '../bus';
import type { AmqpConnection, Connected } from './connection';

/** One `consume()` call's subscription across all partitions. */
export interface Registered {
  options: ConsumeOptions;
  cancelled: boolean;
  tags: Map<number, string>;
  /** Partition → when it last delivered to us: the partitions we are active on. */
  active: Map<number, number>;
}

/** Subscribes again to one partition at the back of the line; resolves to the new consumer tag. */
export type Resubscribe = (c: Connected, sub: Channel, partition: number) => Promise<string>;

export async function rebalance(connection: AmqpConnection, registered: Registered, every: number, resubscribe: Resubscribe): Promise<void> {
  const c = connection.current;
  if (!c?.sub || registered.cancelled) return;
  const busy = [...registered.active].filter(([, at]) => Date.now() - at < 2 * every).map(([p]) => p);
  if (busy.length <= 1) return;
  const ch = await c.model.createChannel();
  let consumers = 1;
  try {
    consumers = Math.max(1, (await ch.checkQueue(connection.names.presence)).consumerCount);
  } finally {
    await closeQuietly(ch);
  }
  const share = Math.ceil(connection.partitions / consumers);
  if (busy.length <= share) return;
  const give = busy.sort(() => Math.random() - 0.5).slice(share);
  connection.log.info({ partitions: give, consumers, share }, 'handing partitions to waiting consumers');
  for (const p of give) {
    const tag = registered.tags.get(p);
    if (connection.current !== c || !c.sub) return;
    if (!tag) continue;
    await c.sub.cancel(tag);
    registered.active.delete(p);
    registered.options.onRevoke?.(p);
    registered.tags.set(p, await resubscribe(c, c.sub, p));
  }
}
