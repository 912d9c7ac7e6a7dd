// Dead letters: a record no worker could take is published to the dead exchange with its
// reason and partition; `shadowdiff worker --drain-dead` reads them back with that reason, or
// the broker's own (x-death) where the delivery limit put it there.
import type { DeadLetter } from '../bus';
import { readableDeadLetter } from '../encoding';
import { closeQuietly, DEAD_ROUTING_KEY, type Names } from '../topology';
import type { AmqpConnection, Connected } from './connection';

/** `encoding`: the body's content-encoding, kept with it (a dead-lettered message is as it came). */
export function publishDead(c: Connected, names: Names, body: Buffer, reason: string, partition: number, encoding?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    c.pub.publish(
      names.deadExchange,
      DEAD_ROUTING_KEY,
      body,
      { persistent: true, contentType: 'application/json', ...(encoding ? { contentEncoding: encoding } : {}), headers: { 'x-shadowdiff-reason': reason.slice(0, 2000), 'x-shadowdiff-partition': partition } },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

export async function drainDeadLetters(connection: AmqpConnection, max: number): Promise<DeadLetter[]> {
  const c = await connection.connected(Date.now() + 5000);
  const ch = await c.model.createChannel();
  const out: DeadLetter[] = [];
  try {
    while (out.length < max) {
      const msg = await ch.get(connection.names.deadQueue, { noAck: true });
      if (!msg) break;
      out.push({ ...readableDeadLetter(msg.content, msg.properties.contentEncoding as string | undefined), reason: deadReason(msg), ...partitionHeader(msg) });
    }
  } finally {
    await closeQuietly(ch);
  }
  return out;
}

type Headed = { properties: { headers?: Record<string, unknown> } };

/** Our own reason header, or the broker's (x-death: delivery limit, rejected, expired). */
function deadReason(msg: Headed): string {
  const h = msg.properties.headers ?? {};
  if (typeof h['x-shadowdiff-reason'] === 'string') return h['x-shadowdiff-reason'];
  const death = Array.isArray(h['x-death']) ? (h['x-death'][0] as Record<string, unknown>) : undefined;
  if (death) return `dead-lettered by the broker: ${String(death.reason)} (queue ${String(death.queue)}, ${String(death.count)} time(s)); the record crashed or stalled a worker repeatedly`;
  return 'unknown';
}

function partitionHeader(msg: Headed): { partition?: number } {
  const p = msg.properties.headers?.['x-shadowdiff-partition'];
  return typeof p === 'number' ? { partition: p } : {};
}
