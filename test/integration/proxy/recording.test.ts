// The whole path a pre-cutover run takes: client → proxy → legacy (live, SDK) and candidate
// (dry-run, SDK), both writing through the MongoDB driver; the proxy's exchanges and the SDKs'
// effects go through real RabbitMQ to a worker that finds the candidate's silent wrong write
// while the responses match. Redaction holds in the exchange; services without the SDK are
// compared on their responses alone.
import express from 'express';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { MongoClient } from 'mongodb';
import { startCollector, type Collector } from '../../../capture/collector';
import type { RunningProxy } from '../../../capture/proxy';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { compare } from '../../../compare/engine';
import { isReady, Join } from '../../../compare/join';
import { Worker } from '../../../pipeline/worker';
import type { ExchangeRecord, ShadowRecord } from '../../../core/effect';
import { type AmqpBus, connectAmqpBus } from '../../../runtime/bus/amqp';
import { deleteTopology } from '../../../runtime/bus/topology';
import { MemoryStore } from '../../../runtime/store/memory';
import { echo, eventually, httpServer, proxyFor, quiet, send, type TestServer } from '../../helpers/proxy';
import { AMQP_URL, connectMongo, connectRabbit, uniqueDbName } from '../../helpers/services';

const PARTITIONS = 2;
const SECRET = 'redaction-secret-0123456789';
const prefix = uniqueDbName('sdproxy');
let mongo: MongoClient;
let bus: AmqpBus;
let store: MemoryStore;
let worker: Worker;
const sdks: ShadowSdk[] = [];
const servers: Server[] = [];

/** One order service; the candidate's rewrite charges one won more when it stores the payment. */
async function orderService(side: 'legacy' | 'candidate', dbName: string): Promise<string> {
  const sdk = createShadow({ side, sink: AMQP_URL, prefix, partitions: PARTITIONS, logger: quiet, redact: { secret: SECRET, paths: ['card.number'] } });
  sdks.push(sdk);
  const payments = sdk.mongo(mongo.db(dbName)).collection('payments');
  const app = express();
  app.use(express.json());
  app.use(sdk.middleware());
  app.post('/orders/:id/pay', async (req, res) => {
    const amount = side === 'legacy' ? req.body.amount : req.body.amount + 1; // the silent bug
    await payments.insertOne({ orderId: req.params.id, amount, card: { number: req.body.card.number } });
    res.json({ paid: true, orderId: req.params.id });
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  mongo = await connectMongo();
  bus = await connectAmqpBus({ url: AMQP_URL, logger: quiet, prefix, partitions: PARTITIONS, rebalanceMs: 0 });
  store = new MemoryStore();
  worker = new Worker({ bus, store, logger: quiet, settleMs: 50, timeoutMs: 10_000, keepEffects: 'all' });
  await worker.start();
});

afterAll(async () => {
  await worker.stop();
  for (const s of sdks) await s.close();
  for (const s of servers) await new Promise((r) => s.close(r));
  await bus.close();
  const conn = await connectRabbit();
  await deleteTopology(conn, prefix, PARTITIONS);
  await conn.close();
  await mongo.db(`${prefix}_shop`).dropDatabase();
  await mongo.close();
});

it('finds the candidate’s wrong write behind a matching response; the exchange is redacted', async () => {
  const legacyUrl = await orderService('legacy', `${prefix}_shop`);
  const candidateUrl = await orderService('candidate', `${prefix}_shop`);
  const proxy = await proxyFor({
    legacy: legacyUrl,
    candidate: candidateUrl,
    sink: AMQP_URL,
    prefix,
    partitions: PARTITIONS,
    run: 'run-e2e',
    record: { redact: { secret: SECRET, paths: ['card.number'], headers: ['x-session'] } },
  });
  try {
    const r = await send(`${proxy.url}/orders/A-7/pay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer live-credential', 'x-session': 'sess-123' },
      body: JSON.stringify({ amount: 12000, card: { number: '4111111111111111' } }),
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ paid: true, orderId: 'A-7' });
    // Both services use the same database; only legacy wrote to it: the candidate ran in dry-run.
    await eventually(async () => (await store.countComparisons('run-e2e')) === 1, 15_000, 'the comparison');
    expect(await mongo.db(`${prefix}_shop`).collection('payments').find({}, { projection: { _id: 0, amount: 1 } }).toArray()).toEqual([{ amount: 12000 }]);

    await eventually(async () => (await store.countComparisons('run-e2e')) === 1, 15_000, 'the comparison');
    const [c] = await store.listComparisons({ runId: 'run-e2e' });
    expect(c!.route).toBe('POST /orders/:id/pay');
    expect(c!.verdict).toBe('mismatch');
    expect(c!.findings).toEqual([expect.objectContaining({ effectKind: 'db', target: `${prefix}_shop.payments`, path: 'amount', legacy: 12000, candidate: 12001 })]);
    // The responses (from the exchange) were compared and matched.
    expect(c!.pairs).toEqual(expect.arrayContaining([expect.objectContaining({ effectKind: 'response', legacySeq: -1, candidateSeq: -1 })]));

    const x = await store.getExchange('run-e2e', c!.shadowId);
    expect(x).toBeDefined();
    expect(x!.request).toMatchObject({ method: 'POST', path: '/orders/A-7/pay' });
    expect(x!.request.headers!.authorization).toBeUndefined();
    expect(x!.request.headers!['x-session']).toMatch(/^hmac:[0-9a-f]{32}$/);
    expect((x!.request.body as { card: { number: string } }).card.number).toMatch(/^hmac:/);
    expect(JSON.stringify(x)).not.toContain('4111111111111111');
    expect(x!.responses.legacy).toMatchObject({ status: 200, body: { paid: true, orderId: 'A-7' } });
    expect(x!.responses.candidate).toMatchObject({ status: 200, body: { paid: true, orderId: 'A-7' } });
  } finally {
    await proxy.close();
  }
});

describe('services without the SDK (--no-sdk)', () => {
  let legacy: TestServer;
  let candidate: TestServer;
  let collector: Collector;
  const collected: ShadowRecord[] = [];

  beforeAll(async () => {
    legacy = await httpServer(echo('legacy'));
    candidate = await httpServer((req, res, body) => (req.url === '/teapot' ? res.writeHead(418).end() : echo('candidate')(req, res, body)));
    collector = await startCollector({ bus: { publish: async (r) => void collected.push(...(r as ShadowRecord[])) }, logger: quiet });
  });
  afterAll(async () => {
    await legacy.close();
    await candidate.close();
    await collector.close();
  });

  it('the proxy alone records complete exchanges (through an HTTP collector), and they compare', async () => {
    const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, sink: collector.url, sdk: false, run: 'run-nosdk' });
    try {
      await send(`${proxy.url}/teapot`);
      await send(`${proxy.url}/same`, { method: 'POST', body: 'x'.repeat(10) });
    } finally {
      await proxy.close(); // flushes the exchanges
    }
    const exchanges = collected.filter((r): r is ExchangeRecord => r.type === 'exchange');
    expect(exchanges).toHaveLength(2);
    expect(exchanges.every((x) => x.sdk === false && x.runId === 'run-nosdk')).toBe(true);
    const teapot = exchanges.find((x) => x.request.path === '/teapot')!;
    expect(teapot.responses.legacy).toMatchObject({ status: 200, body: { name: 'legacy', method: 'GET', url: '/teapot', length: 0 } });
    expect(teapot.responses.candidate).toMatchObject({ status: 418 });
    expect(typeof teapot.responses.candidate!.ms).toBe('number');
    // Each exchange is complete on its own: the join is ready and the engine compares the responses.
    const join = new Join();
    const entry = join.add(teapot);
    expect(isReady(entry)).toBe(true);
    const c = compare(entry, { now: new Date().toISOString() });
    expect(c.verdict).toBe('mismatch');
    expect(c.findings).toEqual(expect.arrayContaining([expect.objectContaining({ effectKind: 'response', path: 'status', legacy: 200, candidate: 418 })]));
  });
});
