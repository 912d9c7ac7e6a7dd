// Publishing to the partitioned exchange: pipelined with confirms (up to `maxInFlight`
// unconfirmed), `mandatory` with a return handler, and waiting for the socket to drain rather
// than letting amqplib buffer without bound. A batch resolves only when every record is
// confirmed; records lost with a connection are published again after it recovers. The SDK's
// RabbitMQ sink is this alone (`connectAmqpPublisher`); workers get it inside the bus.
import { once } from 'node:events';
import type { WireRecord } from '../../../core/effect';
import { ShadowdiffError } from '../../../core/errors';
import { partitionOf, type PublishOptions, serialize, type WireMessage } from '../bus';
import { encodeBodyOffThread } from '../encoding';
import { AmqpConnection, type AmqpConnectionOptions, type Connected } from './connection';

export interface AmqpPublisherOptions {
  /** Published records awaiting their confirm, at most. */
  maxInFlight?: number;
  /** How long publish keeps retrying through a broker outage before it fails. */
  publishTimeoutMs?: number;
}

type Outcome = 'ok' | 'retry' | 'unroutable';

export class AmqpPublisher {
  published = 0;
  unroutable = 0;
  private readonly returned = new Set<string>();
  private messageSeq = 0;
  private inFlight = 0;
  private slotWaiters: (() => void)[] = [];
  private drained: Promise<unknown> | undefined;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly options: AmqpPublisherOptions = {},
  ) {
    connection.attach({
      returned: (msg) => {
        this.unroutable += 1;
        if (msg.properties.messageId) this.returned.add(String(msg.properties.messageId));
      },
      // Publishers waiting for a slot go on; their records fail and are retried after recovery.
      lost: () => {
        this.inFlight = 0;
        this.releaseSlots();
      },
    });
  }

  /** Compression, if any, happens off the event loop (the SDK and the proxy publish from their host's process). */
  async publish(records: readonly WireRecord[], options: PublishOptions = {}): Promise<void> {
    const { compression, ...packing } = options;
    const plain = serialize(records, this.connection.partitions, packing);
    if (!compression || compression === 'none') return this.publishRaw(plain);
    return this.publishRaw(await Promise.all(plain.map(async (m) => ({ shadowId: m.shadowId, ...(await encodeBodyOffThread(m.body, compression)) }))));
  }

  async publishRaw(items: readonly WireMessage[]): Promise<void> {
    const deadline = Date.now() + (this.options.publishTimeoutMs ?? 30_000);
    let pending = items;
    let unroutable = 0;
    while (pending.length) {
      const c = await this.connection.connected(deadline);
      const outcomes = await this.publishOnce(c, pending);
      const retry: WireMessage[] = [];
      outcomes.forEach((o, i) => {
        if (o === 'unroutable') unroutable += 1;
        else if (o === 'retry') retry.push(pending[i]!);
      });
      pending = retry;
      if (pending.length) {
        if (Date.now() > deadline) throw new ShadowdiffError('SHADOWDIFF_SERVICE_UNAVAILABLE', `RabbitMQ did not confirm ${pending.length} record(s) within the publish timeout.`);
        // Lost with the connection, or nacked: wait for the channel to come back.
        if (this.connection.current === c) await new Promise((r) => setTimeout(r, 50));
      }
    }
    if (unroutable) {
      throw new ShadowdiffError('SHADOWDIFF_UNROUTABLE', `${unroutable} record(s) could not be routed: exchange "${this.connection.names.exchange}" has no queue bound for their partition.`, {
        unroutable,
      });
    }
  }

  private async publishOnce(c: Connected, items: readonly WireMessage[]): Promise<Outcome[]> {
    const { names, partitions } = this.connection;
    const results: Promise<Outcome>[] = [];
    for (const item of items) {
      await this.slot();
      if (this.drained) await this.drained;
      if (this.connection.current !== c) {
        results.push(Promise.resolve('retry'));
        continue;
      }
      const p = partitionOf(item.shadowId, partitions);
      const messageId = String(++this.messageSeq);
      this.inFlight += 1;
      results.push(
        new Promise((resolve) => {
          try {
            const ok = c.pub.publish(names.exchange, names.routingKey(p), item.body, { persistent: true, mandatory: true, contentType: 'application/json', messageId, ...(item.encoding ? { contentEncoding: item.encoding } : {}) }, (err) => {
              this.release();
              if (this.returned.delete(messageId)) resolve('unroutable');
              else if (err) resolve('retry');
              else {
                this.published += 1;
                resolve('ok');
              }
            });
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
}

/** A publisher with a connection of its own: what the SDK's and the proxy's sinks use. */
export interface StandalonePublisher {
  publish(records: readonly WireRecord[], options?: PublishOptions): Promise<void>;
  close(): Promise<void>;
}

export async function connectAmqpPublisher(options: AmqpConnectionOptions & AmqpPublisherOptions): Promise<StandalonePublisher> {
  const connection = new AmqpConnection(options);
  const publisher = new AmqpPublisher(connection, options);
  await connection.start();
  return { publish: (records, o) => publisher.publish(records, o), close: () => connection.close() };
}
