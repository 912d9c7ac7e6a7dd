// The control channel on RabbitMQ: a durable fanout exchange `<prefix>.control`; each listener
// binds an exclusive, server-named queue to it on every (re)connect. Decisions are small and
// rare: published with a confirm, consumed without acks.
import type { Channel } from 'amqplib';
import type { Logger } from '../../../core/logger';
import { type ControlChannel, type ControlMessage, controlMessageSchema } from '../control';
import { AmqpConnection, type Connected } from './connection';

export function controlExchange(prefix: string): string {
  return `${prefix}.control`;
}

export async function connectAmqpControl(options: { url: string; prefix: string; partitions: number; logger: Logger }): Promise<ControlChannel> {
  const connection = new AmqpConnection(options);
  const exchange = controlExchange(options.prefix);
  const listeners = new Set<(m: ControlMessage) => void>();
  let channel: Channel | undefined;
  const bind = async (c: Connected) => {
    const ch = await c.model.createChannel();
    ch.on('error', (err: Error) => options.logger.warn({ err: err.message }, 'control channel error'));
    await ch.assertExchange(exchange, 'fanout', { durable: true });
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await ch.bindQueue(q.queue, exchange, '');
    await ch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        let m: ControlMessage;
        try {
          m = controlMessageSchema.parse(JSON.parse(msg.content.toString('utf8')));
        } catch (err) {
          options.logger.warn({ err: (err as Error).message }, 'control message ignored: not a decision this version knows');
          return;
        }
        for (const l of listeners) l(m);
      },
      { noAck: true },
    );
    channel = ch;
  };
  connection.attach({ connected: bind, lost: () => void (channel = undefined) });
  await connection.start();
  return {
    async publish(message) {
      const c = await connection.connected(Date.now() + 10_000);
      c.pub.publish(exchange, '', Buffer.from(JSON.stringify(controlMessageSchema.parse(message))), { contentType: 'application/json', messageId: message.id });
      await c.pub.waitForConfirms();
    },
    async listen(onMessage) {
      listeners.add(onMessage);
      return { cancel: async () => void listeners.delete(onMessage) };
    },
    async close() {
      listeners.clear();
      await channel?.close().catch(() => undefined);
      await connection.close();
    },
  };
}
