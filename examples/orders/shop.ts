// Starting the example services: each with its own SDK instance (legacy live, candidate
// dry-run), on MongoDB and RabbitMQ when their URLs are given, on the in-memory stand-ins
// otherwise. In production they are two processes; the demo runs both in one.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type express from 'express';
import { type Db, MongoClient } from 'mongodb';
import { createShadow, type ShadowSdk } from '../../capture/sdk';
import type { RunningProxy } from '../../capture/proxy';
import type { ShadowOptions } from '../../capture/sdk/options';
import type { Logger } from '../../core/logger';
import { listeningUrl } from '../../core/net';
import { candidateApp } from './candidate';
import { seedShop } from './catalog';
import { EVENTS_EXCHANGE, legacyApp, type ServiceDeps } from './legacy';
import { MemoryChannel } from './memory-channel';
import { MemoryMongoClient } from './memory-mongo';
import { simulatedPartners } from './partners';

export type Side = 'legacy' | 'candidate';

export interface ShopBackends {
  db: Db;
  /** A channel per service, as two processes would have. */
  channel(): Promise<ConfirmChannel | MemoryChannel>;
  kind: 'memory' | 'mongodb+rabbitmq' | 'mixed';
  close(): Promise<void>;
}

/** The shop database (seeded when `seed`) and the events broker. */
export async function openBackends(o: { mongodbUrl?: string | undefined; amqpUrl?: string | undefined; dbName: string; seed: boolean }): Promise<ShopBackends> {
  const client = o.mongodbUrl ? await MongoClient.connect(o.mongodbUrl, { serverSelectionTimeoutMS: 5_000 }) : new MemoryMongoClient();
  const db = client.db(o.dbName) as Db;
  let connection: ChannelModel | undefined;
  try {
    if (o.seed) await seedShop(db);
    if (o.amqpUrl) connection = await amqp.connect(o.amqpUrl);
  } catch (err) {
    await client.close();
    throw err;
  }
  return {
    db,
    kind: o.mongodbUrl && o.amqpUrl ? 'mongodb+rabbitmq' : !o.mongodbUrl && !o.amqpUrl ? 'memory' : 'mixed',
    async channel() {
      if (!connection) return new MemoryChannel();
      const ch = await connection.createConfirmChannel();
      await ch.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true });
      return ch;
    },
    async close() {
      await connection?.close().catch(() => undefined);
      await client.close();
    },
  };
}

export interface RunningService {
  side: Side;
  url: string;
  shadow: ShadowSdk;
  close(): Promise<void>;
}

/** One example service with its SDK, listening on host:port (port 0: any free one). */
export async function startService(
  side: Side,
  o: { backends: ShopBackends; sink: ShadowOptions['sink']; partnerLatencyMs: number; logger: Logger; host?: string; port?: number; sdk?: Partial<ShadowOptions>; service?: Pick<ServiceDeps, 'schema' | 'bugs'> },
): Promise<RunningService> {
  const shadow = createShadow({ ...o.sdk, side, sink: o.sink, logger: o.logger });
  const channel = await o.backends.channel();
  const deps: ServiceDeps = { shadow, db: shadow.mongo(o.backends.db), events: shadow.amqp(channel as ConfirmChannel), partners: simulatedPartners(o.partnerLatencyMs), ...o.service };
  const app: express.Express = side === 'legacy' ? legacyApp(deps) : candidateApp(deps);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(o.port ?? 0, o.host ?? '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  return {
    side,
    url: listeningUrl(server.address() as AddressInfo),
    shadow,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await shadow.close();
      await channel.close().catch(() => undefined);
    },
  };
}

/** Waits (up to `timeoutMs`) until the proxy has no exchange waiting for a mirror or for its sink. */
export async function settleExchanges(proxy: RunningProxy, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = proxy.stats();
    if ((s.pendingExchanges === 0 && (s.exchanges?.buffered ?? 0) === 0) || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
