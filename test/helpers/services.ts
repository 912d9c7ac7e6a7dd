// Connections to the real services the integration suites use. A suite that cannot reach
// one fails with a message naming what to start; it never skips.
import amqp from 'amqplib';
import { MongoClient } from 'mongodb';
import { redactUrl } from '../../core/config';

export const AMQP_URL = process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const MONGODB_URL = process.env.TEST_MONGODB_URL ?? 'mongodb://127.0.0.1:27017';

const HOW = 'Start the test services with `npm run services` (RabbitMQ on 127.0.0.1:5672, a MongoDB-compatible server on 127.0.0.1:27017), or set TEST_AMQP_URL / TEST_MONGODB_URL.';

export async function connectRabbit(): Promise<amqp.ChannelModel> {
  try {
    return await amqp.connect(AMQP_URL, { timeout: 5000 });
  } catch (err) {
    throw new Error(`RabbitMQ is not reachable at ${redactUrl(AMQP_URL)}: ${(err as Error).message}. ${HOW}`);
  }
}

export async function connectMongo(): Promise<MongoClient> {
  const client = new MongoClient(MONGODB_URL, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw new Error(`The MongoDB-compatible server is not reachable at ${MONGODB_URL}: ${(err as Error).message}. ${HOW}`);
  }
}

/** A database name no other test uses. */
export function uniqueDbName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
