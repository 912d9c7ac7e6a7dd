// The cutover guard end to end: proxy → two express services with the SDK on one MongoDB-wire
// database → RabbitMQ → worker → guard → control exchange → proxy. The candidate rounds coupon
// discounts wrong; it serves half the customers live. The first order it serves wrong rolls the
// share back within 5 s, with the store down at that moment, and no request reaches the
// candidate live after that; the audit trail and the webhook say why.
import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectId } from 'mongodb';
import { resolveProxyConfig, startProxy } from '../../../capture/proxy';
import { createShadow } from '../../../capture/sdk';
import { Worker } from '../../../pipeline/worker';
import { Guard } from '../../../pipeline/worker/guard';
import { rollbackNotifier } from '../../../pipeline/webhook';
import { connectAmqpBus } from '../../../runtime/bus/amqp';
import { connectAmqpControl } from '../../../runtime/bus/amqp/control';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { run } from '../../../cli/main';
import { fakeIo } from '../../helpers/cli';
import { eventually, quiet, send } from '../../helpers/proxy';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, privateMongo, removeTraces, uniqueDbName } from '../../helpers/services';

jest.setTimeout(90_000);

const KEY = 'guard-test-signing-key-01';

/** Proxy, the two services on one MongoDB-wire database, RabbitMQ, a worker (with the guard or without) and a store to kill. */
async function rig(o: { guard: boolean; run: string }) {
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
  const guard = o.guard ? new Guard({ control, logger: quiet, record: (e) => store.putCutoverEvent(e), notify: rollbackNotifier(`http://127.0.0.1:${(hook.address() as AddressInfo).port}`) }) : undefined;
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
  const settings = { listen: '127.0.0.1:0', legacy: await service('legacy'), candidate: await service('candidate'), run: o.run, sink: AMQP_URL, prefix, partitions, signing: { key: KEY }, cutover: { percent: 50, key: { header: 'x-customer-id' } }, logLevel: 'silent' as const };
  const proxy = await startProxy(resolveProxyConfig(settings), { logger: quiet, defaultMetrics: false });
  // A second instance behind the same balancer: the guard's decision must reach it too.
  const other = await startProxy(resolveProxyConfig(settings), { logger: quiet, defaultMetrics: false });
  const order = (n: number, customer: string, coupon?: number) =>
    send(`${proxy.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-customer-id': customer }, body: JSON.stringify({ orderNo: `O-${n}`, price: 12_345, ...(coupon ? { coupon } : {}) }) });
  const close = async () => {
    await proxy.close();
    await other.close();
    await worker.stop();
    guard?.close();
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
  };
  const customers = Array.from({ length: 40 }, (_, i) => `c-${i}`);
  return { prefix, db, store, results, proxy, other, hooks, order, close, customers, theirs: customers.filter((c) => proxy.live.decide('POST', '/orders', c).served === 'candidate'), candidateLive: () => candidateLive, env: { MONGODB_URL: results.url, SHADOWDIFF_DB: 'results' } };
}

it('the first order the candidate serves wrong rolls its share back within 5 s, with the store down; nothing is served by it afterwards', async () => {
  const { prefix, db, store, results, proxy, other, hooks, order, close, customers, theirs, candidateLive: live, env } = await rig({ guard: true, run: 'guard-run' });
  try {
    expect(theirs.length).toBeGreaterThan(5);
    // Without coupons the two agree: the share holds.
    for (let i = 0; i < 40; i++) expect((await order(i, customers[i]!)).status).toBe(201);
    await eventually(async () => (await store.countComparisons('guard-run')) === 40, 20_000, '40 comparisons stored');
    expect(proxy.live.state.percent).toBe(50);
    expect(proxy.live.state.held).toBeUndefined();
    const liveBefore = live();
    expect(liveBefore).toBeGreaterThan(5);

    // The store goes down; the candidate serves one coupon order wrong.
    await results.kill();
    expect((await order(100, theirs[0]!, 15)).status).toBe(201);
    const served = Date.now();
    expect(live()).toBe(liveBefore + 1);
    await eventually(() => proxy.live.state.held !== undefined || proxy.live.state.routes.some((r) => r.held), 5_000, 'the guard to roll the share back');
    const tookMs = Date.now() - served;
    expect(tookMs).toBeLessThan(5_000);
    // Every instance holds it, not only the one that served the order.
    await eventually(() => other.live.state.held !== undefined || other.live.state.routes.some((r) => r.held), 5_000, 'the second proxy to hold the share too');

    // No request is served by the candidate after that, its customers' included.
    for (let i = 0; i < 40; i++) expect((await order(200 + i, theirs[i % theirs.length]!, 15)).status).toBe(201);
    expect(live()).toBe(liveBefore + 1);
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
    // The rollback is on the run's cutover timeline too, put once the store was back.
    await eventually(async () => (await store.listCutoverEvents('guard-run')).some((e) => e.kind === 'rollback' && e.by === 'guard'), 10_000, 'the rollback on the timeline');
    // The 40 after the rollback were served by legacy and mirrored to the candidate in dry-run, as before the cutover.
    expect(wrong).toHaveLength(41);
    expect(wrong.filter((c) => c.served === 'candidate')).toHaveLength(1);
    // eslint-disable-next-line no-console
    console.log(`guard: rolled back ${tookMs} ms after the candidate served a wrong order (store down)`);

    // What to repair: that one order, no other; the guarded update makes it what legacy would have written.
    const listed = fakeIo({ env });
    expect(await run(['corrections', '--run', 'guard-run'], listed.io)).toBe(0);
    const corrections = listed.out.map((l) => JSON.parse(l) as { action: string; target: string; changes: { path: string; live: unknown; reference: unknown }[] });
    expect(corrections).toEqual([expect.objectContaining({ action: 'update', target: `${prefix}_shop.orders` })]);
    expect(Object.fromEntries(corrections[0]!.changes.map((c) => [c.path, [c.live, c.reference]]))).toEqual({ discount: [1852, 1851], total: [10493, 10494] });
    const applied = fakeIo({ env });
    expect(await run(['corrections', '--run', 'guard-run', '--apply', '--mongodb', MONGODB_URL], applied.io)).toBe(0);
    expect(JSON.parse(applied.out[0]!)).toMatchObject({ applied: 1, conflicts: [] });
    expect(await db.collection('orders').findOne({ orderNo: 'O-100' }, { projection: { _id: 0 } })).toEqual({ orderNo: 'O-100', price: 12_345, discount: 1851, total: 10_494 });
  } finally {
    await close();
  }
});

it('corrections list exactly the orders the candidate served wrong; applying them repairs those, and one changed since is a conflict, not overwritten', async () => {
  const { prefix, db, store, proxy, order, close, customers, theirs, env } = await rig({ guard: false, run: 'corrections-run' });
  try {
    // Every coupon order the candidate serves is wrong (it rounds 15% of 12,345 up); none of legacy's.
    for (let i = 0; i < 40; i++) expect((await order(i, customers[i]!, i % 2 ? 15 : undefined)).status).toBe(201);
    await eventually(async () => (await store.countComparisons('corrections-run')) === 40, 20_000, '40 comparisons stored');
    const truth = customers.map((c, i) => ({ c, i })).filter(({ c, i }) => i % 2 === 1 && theirs.includes(c)).map(({ i }) => `O-${i}`).sort();
    expect(truth.length).toBeGreaterThan(2);

    const listed = fakeIo({ env });
    expect(await run(['corrections', '--run', 'corrections-run'], listed.io)).toBe(0);
    const corrections = listed.out.map((l) => JSON.parse(l) as { action: string; key: { _id: { $oid: string } } });
    const orders = db.collection('orders');
    const named = await Promise.all(corrections.map(async (c) => (await orders.findOne({ _id: new ObjectId(c.key._id.$oid) }))!.orderNo as string));
    expect(named.sort()).toEqual(truth);
    expect(corrections.every((c) => c.action === 'update')).toBe(true);

    // After the bad write, someone changed one of them: its correction must not overwrite that.
    await orders.updateOne({ orderNo: truth[0] }, { $set: { total: 1 } });
    const dry = fakeIo({ env });
    expect(await run(['corrections', '--run', 'corrections-run', '--apply', '--dry-run', '--mongodb', MONGODB_URL], dry.io)).toBe(1);
    expect(JSON.parse(dry.out[0]!)).toMatchObject({ dryRun: true, applied: truth.length - 1, conflicts: [{ why: 'changed' }] });
    expect((await orders.find({ orderNo: { $in: truth.slice(1) }, discount: 1852 }).toArray()).length).toBe(truth.length - 1); // a dry run changes nothing

    const applied = fakeIo({ env });
    expect(await run(['corrections', '--run', 'corrections-run', '--apply', '--mongodb', MONGODB_URL], applied.io)).toBe(1);
    expect(JSON.parse(applied.out[0]!)).toMatchObject({ applied: truth.length - 1, conflicts: [{ why: 'changed' }] });
    expect(applied.err.join('\n')).toMatch(/conflicts 1 \(the document changed since/);
    for (const no of truth.slice(1)) expect(await orders.findOne({ orderNo: no }, { projection: { _id: 0, orderNo: 0 } })).toEqual({ price: 12_345, discount: 1851, total: 10_494 });
    expect(await orders.findOne({ orderNo: truth[0] }, { projection: { _id: 0, orderNo: 0 } })).toEqual({ price: 12_345, discount: 1852, total: 1 });

    // CSV and a mongosh script say the same.
    const csv = fakeIo({ env });
    expect(await run(['corrections', '--run', 'corrections-run', '--format', 'csv'], csv.io)).toBe(0);
    expect(csv.out.join('\n').split('\n').filter((l) => l.includes(',update,')).length).toBe(truth.length * 2); // discount and total
    const script = fakeIo({ env });
    expect(await run(['corrections', '--run', 'corrections-run', '--format', 'mongosh'], script.io)).toBe(0);
    expect(script.out.join('\n')).toMatch(new RegExp(`getSiblingDB\\("${prefix}_shop"\\)\\.getCollection\\("orders"\\)\\.updateOne\\(EJSON\\.parse`));
  } finally {
    await close();
  }
});
