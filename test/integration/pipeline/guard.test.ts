// The cutover guard end to end: proxy → two express services with the SDK on one MongoDB-wire
// database → RabbitMQ → worker → guard → control exchange → proxy. The candidate rounds coupon
// discounts wrong; it serves half the customers live. The first order it serves wrong rolls the
// share back within 5 s, with the store down at that moment, and no request reaches the
// candidate live after that; the audit trail and the webhook say why.
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MongoClient } from 'mongodb';
import { resolveProxyConfig, startProxy } from '../../../capture/proxy';
import { createShadow } from '../../../capture/sdk';
import { Worker } from '../../../pipeline/worker';
import { Guard } from '../../../pipeline/worker/guard';
import { rollbackNotifier } from '../../../pipeline/webhook';
import { connectAmqpBus } from '../../../runtime/bus/amqp';
import { connectAmqpControl } from '../../../runtime/bus/amqp/control';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { eventually, quiet, send } from '../../helpers/proxy';
import { AMQP_URL, connectMongo, connectRabbit, privateMongo, removeTraces, uniqueDbName } from '../../helpers/services';

jest.setTimeout(90_000);

const KEY = 'guard-test-signing-key-01';

it('the first order the candidate serves wrong rolls its share back within 5 s, with the store down; nothing is served by it afterwards', async () => {
  await (await connectRabbit()).close();
  const prefix = uniqueDbName('guard');
  const partitions = 2;
  const results = await privateMongo(); // the store, to kill
  const shop = await connectMongo();
  const db = shop.db(`${prefix}_shop`);
  const bus = await connectAmqpBus({ url: AMQP_URL, logger: quiet, prefix, partitions });
  const store = await connectMongoStore({ url: results.url, logger: quiet, dbName: 'results' });
  const control = await connectAmqpControl({ url: AMQP_URL, prefix, partitions, logger: quiet });
  const hooks: unknown[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      hooks.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const guard = new Guard({ control, logger: quiet, notify: rollbackNotifier(`http://127.0.0.1:${(hook.address() as AddressInfo).port}`) });
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 20, timeoutMs: 3_000, alerts: false, guard });
  await worker.start();

  const servers: Server[] = [];
  const sdks: ReturnType<typeof createShadow>[] = [];
  let candidateLive = 0;
  const service = async (side: 'legacy' | 'candidate') => {
    const sdk = createShadow({ side, ...(side === 'candidate' ? { mode: 'live' as const } : {}), sink: AMQP_URL, prefix, partitions, logger: quiet, signing: { key: KEY }, buffer: { lingerMs: 0 } });
    sdks.push(sdk);
    const orders = sdk.mongo(db).collection('orders');
    const app = express();
    if (side === 'candidate') app.use((req, _res, next) => void ((candidateLive += req.headers['x-shadow-mode'] === 'live' ? 1 : 0), next()));
    app.use(sdk.middleware());
    app.use(express.json());
    app.post('/orders', async (req, res) => {
      const { orderNo, price, coupon } = req.body as { orderNo: string; price: number; coupon?: number };
      // The rewrite's bug: the coupon's share rounded up instead of down.
      const discount = coupon ? (side === 'legacy' ? Math.floor((price * coupon) / 100) : Math.ceil((price * coupon) / 100)) : 0;
      await orders.insertOne({ orderNo, price, discount, total: price - discount });
      res.status(201).json({ orderNo });
    });
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const proxy = await startProxy(
    resolveProxyConfig({ listen: '127.0.0.1:0', legacy: await service('legacy'), candidate: await service('candidate'), run: 'guard-run', sink: AMQP_URL, prefix, partitions, signing: { key: KEY }, cutover: { percent: 50, key: { header: 'x-customer-id' } }, logLevel: 'silent' }),
    { logger: quiet, defaultMetrics: false },
  );
  const order = (n: number, customer: string, coupon?: number) =>
    send(`${proxy.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-customer-id': customer }, body: JSON.stringify({ orderNo: `O-${n}`, price: 12_345, ...(coupon ? { coupon } : {}) }) });
  try {
    const customers = Array.from({ length: 40 }, (_, i) => `c-${i}`);
    const theirs = customers.filter((c) => proxy.live.decide('POST', '/orders', c).served === 'candidate');
    expect(theirs.length).toBeGreaterThan(5);
    // Without coupons the two agree: the share holds.
    for (let i = 0; i < 40; i++) expect((await order(i, customers[i]!)).status).toBe(201);
    await eventually(async () => (await store.countComparisons('guard-run')) === 40, 20_000, '40 comparisons stored');
    expect(proxy.live.state.percent).toBe(50);
    expect(proxy.live.state.held).toBeUndefined();
    const liveBefore = candidateLive;
    expect(liveBefore).toBeGreaterThan(5);

    // The store goes down; the candidate serves one coupon order wrong.
    await results.kill();
    expect((await order(100, theirs[0]!, 15)).status).toBe(201);
    const served = Date.now();
    expect(candidateLive).toBe(liveBefore + 1);
    await eventually(() => proxy.live.state.held !== undefined || proxy.live.state.routes.some((r) => r.held), 5_000, 'the guard to roll the share back');
    const tookMs = Date.now() - served;
    expect(tookMs).toBeLessThan(5_000);

    // No request is served by the candidate after that, its customers' included.
    for (let i = 0; i < 40; i++) expect((await order(200 + i, theirs[i % theirs.length]!, 15)).status).toBe(201);
    expect(candidateLive).toBe(liveBefore + 1);
    const rollback = proxy.live.audit().find((e) => e.action === 'rollback')!;
    expect(rollback).toMatchObject({ by: 'guard', to: 0 });
    expect(rollback.reason).toMatch(/the candidate served live did not match legacy: .*orders (discount|total)/);
    expect(JSON.stringify(rollback.evidence)).toContain('"served":"candidate"');
    await eventually(() => hooks.length > 0, 5_000, 'the rollback webhook');
    expect(hooks[0]).toMatchObject({ text: expect.stringMatching(/guard rolled back POST \/orders/), rollback: { runId: 'guard-run', route: 'POST /orders' } });

    // The store comes back; nothing was lost meanwhile.
    await results.start();
    await eventually(async () => (await store.countComparisons('guard-run').catch(() => 0)) === 81, 30_000, 'every comparison stored once the store is back');
    const wrong = await store.listComparisons({ runId: 'guard-run', verdict: 'mismatch', limit: 100 });
    // The 40 after the rollback were served by legacy and mirrored to the candidate in dry-run, as before the cutover.
    expect(wrong).toHaveLength(41);
    expect(wrong.filter((c) => c.served === 'candidate')).toHaveLength(1);
    // eslint-disable-next-line no-console
    console.log(`guard: rolled back ${tookMs} ms after the candidate served a wrong order (store down)`);
  } finally {
    await proxy.close();
    await worker.stop();
    guard.close();
    await control.close();
    for (const s of sdks) await s.close();
    for (const s of servers) await new Promise((r) => s.close(r));
    hook.close();
    await bus.close();
    await store.close().catch(() => undefined);
    await results.dispose();
    await db.dropDatabase().catch(() => undefined);
    await shop.close();
    await removeTraces(prefix, partitions, []);
  }
});
