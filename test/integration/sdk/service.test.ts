// The SDK inside real services: express apps on real sockets, a real MongoDB-compatible server,
// real RabbitMQ. A legacy (live) and a candidate (dry-run) instance of the same order handler;
// a partner service and a message consumer that receive the shadow context from them.
import amqp from 'amqplib';
import express from 'express';
import type { Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Db, MongoClient } from 'mongodb';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { startCollector, type Collector } from '../../../capture/collector';
import { type EffectRecord, type EndRecord, parseRecord, type ShadowRecord } from '../../../core/effect';
import { decodeBody } from '../../../runtime/bus/encoding';
import { createLogger } from '../../../core/logger';
import { declareTopology, deleteTopology, names } from '../../../runtime/bus/topology';
import { AMQP_URL, connectMongo, connectRabbit, uniqueDbName } from '../../helpers/services';
import { memorySink, shadowHeaders } from '../../helpers/sdk';
import { waitFor } from '../../helpers/traffic';

const quiet = createLogger({ level: 'silent' });
const PARTITIONS = 2;
const SECRET = 'a-secret-both-sides-share';

let mongo: MongoClient;
let db: Db;
let rabbit: amqp.ChannelModel;
const prefix = `sdk_${Date.now().toString(36)}`;
const servers: Server[] = [];
const sdks: ShadowSdk[] = [];
let partnerCalls: { headers: Record<string, unknown>; body: unknown }[] = [];
let partnerUrl: string;
let partner: ShadowSdk;
const partnerSink = memorySink();

async function listen(app: express.Express): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Consumes a topology's partition queues (as a worker would: decoded, and read with parseRecord, which rebuilds format 2's before-images) into a list. */
async function listenOn(prefixName: string, partitions: number): Promise<{ records: ShadowRecord[]; stop(): Promise<void> }> {
  const ch = await rabbit.createChannel();
  const records: ShadowRecord[] = [];
  for (let p = 0; p < partitions; p++) {
    await ch.consume(
      names(prefixName).partition(p),
      (msg) => {
        if (!msg) return;
        const body = JSON.parse(decodeBody(msg.content, msg.properties.contentEncoding as string | undefined).toString()) as unknown;
        records.push(...(Array.isArray(body) ? body : [body]).map((r) => parseRecord(r)));
      },
      { noAck: true },
    );
  }
  return { records, stop: () => ch.close() };
}

let onBus: Awaited<ReturnType<typeof listenOn>>;

function ofShadow(records: ShadowRecord[], shadowId: string, side?: string) {
  const mine = records.filter((r) => r.shadowId === shadowId && (!side || ('side' in r && r.side === side)));
  return {
    effects: mine.filter((r): r is EffectRecord => r.type === 'effect').sort((a, b) => a.seq - b.seq),
    ends: mine.filter((r): r is EndRecord => r.type === 'end'),
  };
}

/** The order service, as both sides run it: the same code, a different SDK instance. */
function orderApp(sdk: ShadowSdk, client: MongoClient, channel: amqp.ConfirmChannel): express.Express {
  const orders = sdk.mongo(client).db(db.databaseName).collection('orders');
  const ch = sdk.amqp(channel);
  const app = express();
  app.use(express.json());
  app.use(sdk.middleware());
  app.post('/orders/:id', async (req, res) => {
    const { items, card } = req.body as { items: { sku: string; price: number }[]; card?: { number: string } };
    const total = items.reduce((s, i) => s + i.price, 0);
    await orders.insertOne({ _id: req.params.id as never, items, total, status: 'new', card });
    const stored = await orders.findOne({ _id: req.params.id as never });
    await orders.updateOne({ _id: req.params.id as never }, { $set: { status: 'priced' }, $inc: { version: 1 } });
    await new Promise<void>((resolve, reject) => ch.publish('', `${prefix}.events`, Buffer.from(JSON.stringify({ type: 'order.created', id: req.params.id, total })), { contentType: 'application/json' }, (err) => (err ? reject(err) : resolve())));
    const approval = await sdk.fetch(`${partnerUrl}/payments/${req.params.id}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer t0ken' }, body: JSON.stringify({ amount: total }) }, { route: '/payments/:id', dryRun: () => Response.json({ approved: true, simulated: true }) });
    res.status(201).json({ order: stored, approved: ((await approval.json()) as { approved: boolean }).approved });
  });
  return app;
}

let legacyUrl: string;
let candidateUrl: string;
let legacy: ShadowSdk;
let candidate: ShadowSdk;
let collector: Collector;
const collected: ShadowRecord[] = [];
let consumerChannel: amqp.Channel;

beforeAll(async () => {
  mongo = await connectMongo();
  db = mongo.db(uniqueDbName('sdk_service'));
  rabbit = await connectRabbit();
  rabbit.on('error', () => undefined); // the outage test cuts connections on purpose
  // The partition queues a worker would declare: the SDK publishes into them.
  await declareTopology(rabbit, { prefix, partitions: PARTITIONS, queueType: 'auto', deliveryLimit: 20 }, quiet);
  onBus = await listenOn(prefix, PARTITIONS);
  const setup = await rabbit.createChannel();
  await setup.assertQueue(`${prefix}.events`, { durable: false, autoDelete: false });
  await setup.close();

  // The partner: a separate service with the SDK, reached by the legacy's fetch.
  partner = createShadow({ side: 'legacy', sink: partnerSink, logger: quiet });
  sdks.push(partner);
  const partnerApp = express();
  partnerApp.use(express.json());
  partnerApp.use(partner.middleware());
  partnerApp.post('/payments/:id', async (req, res) => {
    partnerCalls.push({ headers: req.headers, body: req.body });
    await partner.effect({ kind: 'http', target: 'POST bank/charge', payload: { amount: (req.body as { amount: number }).amount } }, async () => 'charged');
    res.json({ approved: true });
  });
  partnerUrl = await listen(partnerApp);

  const redact = { secret: SECRET, paths: ['card.number', '**.cvc'], headers: ['authorization'] };
  legacy = createShadow({ side: 'legacy', sink: AMQP_URL, prefix, partitions: PARTITIONS, logger: quiet, redact, callHeaders: ['content-type', 'authorization'] });
  collector = await startCollector({ bus: { publish: async (r) => void collected.push(...(r as ShadowRecord[])) }, logger: quiet });
  candidate = createShadow({ side: 'candidate', sink: collector.url, logger: quiet, redact, callHeaders: ['content-type', 'authorization'] });
  sdks.push(legacy, candidate);
  legacyUrl = await listen(orderApp(legacy, mongo, await rabbit.createConfirmChannel()));
  candidateUrl = await listen(orderApp(candidate, mongo, await rabbit.createConfirmChannel()));

  // A consumer in the legacy service: work it does for a message belongs to the same request.
  consumerChannel = legacy.amqp(await rabbit.createChannel());
  const audit = legacy.mongo(mongo).db(db.databaseName).collection('audit');
  await consumerChannel.consume(`${prefix}.events`, (msg) => {
    if (!msg) return;
    void audit.insertOne({ event: JSON.parse(msg.content.toString()) as unknown, at: 'consumer' }).then(() => consumerChannel.ack(msg));
  });
}, 30_000);

afterAll(async () => {
  for (const s of sdks) await s.close(1000);
  for (const s of servers) s.closeAllConnections?.();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await collector?.close();
  if (rabbit) {
    await onBus?.stop().catch(() => undefined);
    const ch = await rabbit.createChannel();
    await ch.deleteQueue(`${prefix}.events`);
    await ch.close();
    await deleteTopology(rabbit, prefix, PARTITIONS).catch(() => undefined);
    await rabbit.close();
  }
  await db?.dropDatabase().catch(() => undefined);
  await mongo?.close();
});

const order = { items: [{ sku: 'A', price: 12000 }, { sku: 'B', price: 3000 }], card: { number: '4111111111111111', cvc: '123' } };

test('legacy (live): the writes happen; every effect and the end marker reach RabbitMQ, redacted', async () => {
  partnerCalls = [];
  const res = await fetch(`${legacyUrl}/orders/A-1`, { method: 'POST', headers: { 'content-type': 'application/json', ...shadowHeaders('s-live-1', 'legacy', 'live') }, body: JSON.stringify(order) });
  expect(res.status).toBe(201);
  expect(await db.collection('orders').findOne({ _id: 'A-1' as never })).toMatchObject({ status: 'priced', version: 1, total: 15000 });
  await legacy.flush();

  let mine = ofShadow([], 's-live-1');
  const records = onBus.records;
  await waitFor(() => {
    mine = ofShadow(records, 's-live-1', 'legacy');
    return mine.ends.length === 1 && mine.effects.some((e) => e.target.endsWith('.audit'));
  }, 'the legacy records on RabbitMQ', 10_000);
  const [end] = mine.ends;
  expect(end).toMatchObject({ count: 4, status: 201, request: { method: 'POST', path: '/orders/A-1', route: '/orders/:id' } });
  const counted = mine.effects.filter((e) => e.seq < end!.count);
  expect(counted.map((e) => [e.kind, e.op])).toEqual([
    ['db', 'insert'],
    ['db', 'update'],
    ['message', 'publish'],
    ['http', 'call'],
  ]);
  const [insert, update, message, call] = counted as [EffectRecord, EffectRecord, EffectRecord, EffectRecord];
  expect(insert.target).toBe(`${db.databaseName}.orders`);
  expect(insert.after).toMatchObject({ _id: 'A-1', total: 15000, status: 'new' });
  // Redacted before it left the process: hashed number, hashed nested cvc.
  const card = (insert.after as { card: { number: string; cvc: string } }).card;
  expect(card.number).toMatch(/^hmac:[0-9a-f]{32}$/);
  expect(card.cvc).toMatch(/^hmac:/);
  expect(JSON.stringify(records)).not.toContain('4111111111111111');
  expect(update).toMatchObject({ before: { status: 'new' }, after: { status: 'priced', version: 1 } });
  expect(message).toMatchObject({ target: `queue:${prefix}.events`, payload: { type: 'order.created', id: 'A-1', total: 15000 } });
  expect(call).toMatchObject({ target: expect.stringMatching(/^POST 127\.0\.0\.1:\d+\/payments\/:id$/), payload: { method: 'POST', body: { amount: 15000 } } });
  expect((call.payload as { headers: Record<string, string> }).headers.authorization).toMatch(/^hmac:/);

  // The partner got the shadow context with the call, and attributes its own effect to it.
  expect(partnerCalls).toHaveLength(1);
  expect(partnerCalls[0]!.headers).toMatchObject({ 'x-shadow-id': 's-live-1', 'x-shadow-run': 'run1', 'x-shadow-seq-base': '4000' });
  await partner.flush();
  const downstream = ofShadow(partnerSink.records, 's-live-1');
  expect(downstream.ends).toEqual([]); // a child context sends no end marker
  expect(downstream.effects).toMatchObject([{ kind: 'http', target: 'POST bank/charge', seq: 4000 }]);

  // The consumer's write, caused by the published message, joins the same shadow id above the counted range.
  const audit = mine.effects.find((e) => e.target.endsWith('.audit'))!;
  expect(audit).toMatchObject({ op: 'insert', side: 'legacy', seq: 3000, after: { event: { type: 'order.created' }, at: 'consumer' } });
});

test('candidate (dry-run): nothing is written, published or called; reads see the request’s own writes; records go through the HTTP collector', async () => {
  partnerCalls = [];
  const before = await db.collection('orders').find().toArray();
  const res = await fetch(`${candidateUrl}/orders/B-1`, { method: 'POST', headers: { 'content-type': 'application/json', ...shadowHeaders('s-dry-1', 'candidate', 'dry-run') }, body: JSON.stringify(order) });
  expect(res.status).toBe(201);
  const body = (await res.json()) as { order: { _id: string; total: number }; approved: boolean };
  // The handler read back its own (never written) order, and got the simulated approval.
  expect(body).toMatchObject({ order: { _id: 'B-1', total: 15000, status: 'new' }, approved: true });
  expect(await db.collection('orders').find().toArray()).toEqual(before);
  expect(partnerCalls).toEqual([]);

  await candidate.flush();
  const mine = ofShadow(collected, 's-dry-1', 'candidate');
  expect(mine.ends).toMatchObject([{ count: 4, status: 201, request: { route: '/orders/:id' } }]);
  expect(mine.effects.map((e) => [e.kind, e.op])).toEqual([
    ['db', 'insert'],
    ['db', 'update'],
    ['message', 'publish'],
    ['http', 'call'],
  ]);
  expect(mine.effects[1]).toMatchObject({ before: { status: 'new' }, after: { status: 'priced', version: 1 } });
  // Equal secrets hash equal on both sides: the comparison still sees a wrong card number.
  expect(onBus.records.filter((r) => r.shadowId === 's-dry-1')).toEqual([]); // the candidate's records took the HTTP sink
  expect(((mine.effects[0]!.after as { card: { number: string } }).card.number)).toMatch(/^hmac:/);
  expect(collector.stats()).toMatchObject({ rejected: 0 });
  // Nothing reached the queue either.
  const ch = await rabbit.createChannel();
  expect((await ch.checkQueue(`${prefix}.events`)).messageCount).toBe(0);
  await ch.close();
});

test('plain channels: sendToQueue publishes with the shadow headers (live) or not at all (dry-run); both are recorded', async () => {
  const queue = `${prefix}.plain`;
  const setup = await rabbit.createChannel();
  await setup.assertQueue(queue, { durable: false });
  const liveCh = legacy.amqp(await rabbit.createChannel());
  const dryCh = candidate.amqp(await rabbit.createChannel());
  const body = Buffer.from('plain text, not JSON');
  expect(legacy.withShadowContext(shadowHeaders('s-q-1'), () => liveCh.sendToQueue(queue, body, { contentType: 'text/plain', headers: { 'x-app': '1' } }))).toBe(true);
  expect(candidate.withShadowContext(shadowHeaders('s-q-2', 'candidate', 'dry-run'), () => dryCh.sendToQueue(queue, body, { contentType: 'text/plain' }))).toBe(true);
  expect(liveCh.sendToQueue(queue, body)).toBe(true); // outside a request: just the driver

  await waitFor(async () => (await setup.checkQueue(queue)).messageCount === 2, 'two messages on the queue', 5000);
  const first = (await setup.get(queue, { noAck: true })) as amqp.GetMessage;
  expect(first.content.toString()).toBe('plain text, not JSON');
  expect(first.properties.headers).toMatchObject({ 'x-app': '1', 'x-shadow-id': 's-q-1', 'x-shadow-seq-base': '1000' });
  const second = (await setup.get(queue, { noAck: true })) as amqp.GetMessage;
  expect(second.properties.headers?.['x-shadow-id']).toBeUndefined();
  await setup.deleteQueue(queue);
  await setup.close();

  await legacy.flush();
  await candidate.flush();
  await waitFor(() => ofShadow(onBus.records, 's-q-1').effects.length === 1, 'the live message effect', 5000);
  expect(ofShadow(onBus.records, 's-q-1').effects[0]).toMatchObject({ kind: 'message', target: `queue:${queue}`, payload: 'plain text, not JSON', meta: { contentType: 'text/plain' } });
  expect(ofShadow(collected, 's-q-2').effects).toMatchObject([{ kind: 'message', target: `queue:${queue}`, payload: 'plain text, not JSON' }]);
});

test('a request without shadow headers records nothing, and the SDK stays out of its way', async () => {
  const statsBefore = legacy.stats();
  const res = await fetch(`${legacyUrl}/orders/C-1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order) });
  expect(res.status).toBe(201);
  expect(await db.collection('orders').findOne({ _id: 'C-1' as never })).toMatchObject({ status: 'priced' });
  await legacy.flush();
  const after = legacy.stats();
  expect(after.contexts).toBe(statsBefore.contexts);
  expect(after.effects).toBe(statsBefore.effects);
  // The stored card is the app's business: only what the SDK sends is redacted.
  expect((await db.collection('orders').findOne({ _id: 'C-1' as never }))?.card.number).toBe('4111111111111111');
});

test('malformed shadow headers are counted and the request runs as without them', async () => {
  const res = await fetch(`${legacyUrl}/orders/D-1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-shadow-id': 'bad id with spaces', 'x-shadow-run': 'run1' }, body: JSON.stringify(order) });
  expect(res.status).toBe(201);
  expect(legacy.stats().invalidHeaders).toBe(1);
});

describe('a RabbitMQ outage during requests', () => {
  // A TCP relay in front of the real broker, so the test can cut and restore the connection.
  let relay: net.Server;
  let sockets: net.Socket[] = [];
  let port = 0;
  const openRelay = () =>
    new Promise<void>((resolve) => {
      relay = net.createServer((client) => {
        const upstream = net.connect(5672, '127.0.0.1');
        sockets.push(client, upstream);
        client.pipe(upstream).pipe(client);
        client.on('error', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
      });
      relay.listen(port, '127.0.0.1', () => {
        port = (relay.address() as AddressInfo).port;
        resolve();
      });
    });
  const cut = async () => {
    const closed = new Promise((r) => relay.close(r)); // resolves once its connections are gone
    for (const s of sockets) s.destroy();
    sockets = [];
    await closed;
  };

  test('the app is unaffected, drops are counted in the end markers, and sending resumes after', async () => {
    await openRelay();
    const outagePrefix = `${prefix}_outage`;
    await declareTopology(rabbit, { prefix: outagePrefix, partitions: 1, queueType: 'auto', deliveryLimit: 20 }, quiet);
    const arrived = await listenOn(outagePrefix, 1);
    const sdk = createShadow({ side: 'legacy', sink: AMQP_URL.replace(':5672', `:${port}`), prefix: outagePrefix, partitions: 1, logger: quiet, buffer: { maxRecords: 20, batchSize: 10, maxBackoffMs: 200 } });
    sdks.push(sdk);
    const coll = sdk.mongo(mongo).db(db.databaseName).collection('outage');
    const app = express();
    app.use(sdk.middleware());
    app.post('/x/:n', async (req, res) => {
      await coll.insertOne({ n: Number(req.params.n) });
      res.status(204).end();
    });
    const url = await listen(app);
    const post = (n: number, id: string) => fetch(`${url}/x/${n}`, { method: 'POST', headers: shadowHeaders(id) });

    expect((await post(0, 'o-0')).status).toBe(204);
    expect(await sdk.flush(10_000)).toBe(true); // connected, topology declared

    await cut();
    const started = Date.now();
    for (let i = 1; i <= 40; i++) expect((await post(i, `o-${i}`)).status).toBe(204);
    const elapsed = Date.now() - started;
    expect(await db.collection('outage').countDocuments()).toBe(41); // every write happened
    expect(elapsed).toBeLessThan(5_000);
    const during = sdk.stats();
    expect(during.dropped).toBeGreaterThan(0);
    expect(during.buffered).toBeGreaterThan(0);

    await openRelay(); // the broker is back
    expect(await sdk.flush(20_000)).toBe(true);
    const after = sdk.stats();
    expect(after.buffered).toBe(0);
    expect(after.sent + after.dropped).toBe(after.effects + 41);

    // What arrived says what was lost: end markers carry the drops.
    const got = arrived.records;
    await waitFor(() => got.length === after.sent, 'every sent record to arrive', 10_000);
    await arrived.stop();
    const ends = got.filter((r): r is EndRecord => r.type === 'end');
    expect(ends.some((e) => (e.dropped ?? 0) > 0)).toBe(true);
    for (const e of ends) {
      const effects = got.filter((r) => r.type === 'effect' && r.shadowId === e.shadowId).length;
      expect(effects + (e.dropped ?? 0)).toBe(e.count);
    }
    await sdk.close(2000);
    await cut();
    await deleteTopology(rabbit, outagePrefix, 1).catch(() => undefined);
  }, 60_000);
});
