// The example order services under a ramp (docs/cutover.md), embedded and on RabbitMQ and the
// MongoDB-wire server: a plan ramps POST /orders through 5% to 20% with the coupon-rounding bug
// in the candidate, which keeps both schemas so that legacy serves the orders it created. The
// guard drops the share within 5 s of the first order the candidate serves wrong, nothing is
// served by it afterwards, and the corrections are exactly the orders it served wrong — by
// the seeded bug's arithmetic, not by the comparison's word. Applying them makes those orders
// what legacy would have written, in both schemas; one changed since is a conflict.
import type { Db } from 'mongodb';
import { run } from '../../../cli/main';
import { resolveConfig } from '../../../core/config';
import { createLogger } from '../../../core/logger';
import { COUPONS } from '../../../examples/orders/catalog';
import { type DemoResult, runDemo } from '../../../examples/orders/demo';
import { parsePlan } from '../../../pipeline/cutover-plan';
import { fakeIo } from '../../helpers/cli';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, removeTraces, uniqueDbName } from '../../helpers/services';

jest.setTimeout(120_000);

// Gates that let it through to 20% (the mirrored comparisons show the bug from the start): the guard is what stops it.
const PLAN = parsePlan(
  {
    version: 1,
    route: 'POST /orders',
    pollSeconds: 0.1,
    steps: [
      { percent: 5, dwellSeconds: 0.5, gates: { minCompared: 3, maxMismatchRate: 1, noCritical: false } },
      { percent: 20, dwellSeconds: 60, gates: { maxMismatchRate: 1, noCritical: false } },
    ],
  },
  'test plan',
);

type Order = { _id: unknown; orderNo: string; schemaVersion?: number; subtotal: number; couponCode: string | null; couponDiscount: number; total: number; amounts?: { couponDiscount: number; total: number } };

/** The orders the seeded bug made wrong: created by the candidate (v2 fields) with a percentage coupon whose share is not whole and rounds up. */
async function wronglyServed(db: Db, tag: string): Promise<string[]> {
  const orders = (await db.collection<Order>('orders').find({ schemaVersion: 2, orderNo: { $regex: tag } }).toArray()) as Order[];
  return orders
    .filter((o) => {
      const coupon = COUPONS.find((c) => c._id === o.couponCode);
      if (coupon?.type !== 'percent') return false;
      const share = (o.subtotal * coupon.value) / 100;
      return Math.round(share) !== Math.floor(share);
    })
    .map((o) => o.orderNo)
    .sort();
}

function expectRolledBack(demo: DemoResult) {
  const c = demo.cutover!;
  expect([[5], [5, 20]]).toContainEqual(c.steps);
  expect(c.outcome).toBe('rolled-back');
  expect(c.rollback).toMatchObject({ by: 'guard', action: 'rollback', route: 'POST /orders', to: 0 });
  expect(c.rollback!.reason).toMatch(/the candidate served live did not match legacy: .*orders couponDiscount/);
  expect(c.detectedMs).toBeLessThan(5_000);
  expect(c.servedAfter).toBe(0);
  expect(c.servedWrong).toBeGreaterThanOrEqual(1);
}

async function orderNosOf(db: Db, corrections: { action: string; key?: unknown; target: string }[]): Promise<string[]> {
  const ids = corrections.filter((c) => c.action === 'update' && c.target.endsWith('.orders')).map((c) => (c.key as { _id: unknown })._id);
  const { BSON } = await import('mongodb');
  const docs = await Promise.all(ids.map((id) => db.collection<Order>('orders').findOne({ _id: BSON.EJSON.deserialize({ id } as never).id } as never)));
  return docs.map((d) => d!.orderNo).sort();
}

it('embedded: the guard rolls the ramp back at the first wrong order, and the corrections are exactly the orders served wrong', async () => {
  const demo = await runDemo({ config: resolveConfig({}), requests: 600, concurrency: 8, seed: 5, serve: { host: '127.0.0.1', port: 0 }, partnerLatencyMs: 0, shopDb: 'unused', logger: createLogger({ level: 'silent' }), cutover: true, plan: PLAN });
  try {
    expectRolledBack(demo);
    const tag = demo.runId.slice(5);
    const truth = await wronglyServed(demo.shop, tag);
    expect(truth.length).toBe(demo.cutover!.servedWrong);
    expect(await orderNosOf(demo.shop, demo.cutover!.corrections)).toEqual(truth);
    // Legacy serves the candidate's orders afterwards: they were paid and cancelled through it, in legacy's fields.
    const paidByLegacy = await demo.shop.collection('orders').countDocuments({ schemaVersion: 2, status: { $in: ['paid', 'partially-cancelled', 'cancelled'] }, state: 'CREATED' });
    expect(paidByLegacy).toBeGreaterThan(0);
    expect(demo.result.routes.find((r) => r.route === 'POST /orders/:orderNo/pay')!.mismatch).toBe(0);
    // The report's cutover page shows the ramp and the rollback.
    const page = await (await fetch(`${demo.reportUrl!}/cutover`)).text();
    expect(page).toMatch(/ROLLED BACK/);
  } finally {
    await demo.close();
  }
});

it('RabbitMQ and the MongoDB-wire server: the same, and applying the corrections repairs those orders in both schemas; one changed since is a conflict', async () => {
  await (await connectRabbit()).close();
  const client = await connectMongo();
  const prefix = uniqueDbName('cutover');
  const results = `${prefix}_results`;
  try {
    const demo = await runDemo({
      config: resolveConfig({ amqpUrl: AMQP_URL, mongodbUrl: MONGODB_URL, prefix, database: results, partitions: 4 }),
      requests: 600,
      concurrency: 8,
      seed: 7,
      serve: undefined,
      partnerLatencyMs: 0,
      shopDb: `${prefix}_shop`,
      logger: createLogger({ level: 'silent' }),
      cutover: true,
      plan: PLAN,
    });
    expectRolledBack(demo);
    const shop = client.db(`${prefix}_shop`);
    const truth = await wronglyServed(shop, demo.runId.slice(5));
    const env = { MONGODB_URL, SHADOWDIFF_DB: results };
    const listed = fakeIo({ env });
    const listedCode = await run(['corrections', '--run', demo.runId, '--rules', 'dist/examples/orders/rules.js'], listed.io);
    expect({ listedCode, err: listed.err }).toEqual({ listedCode: 0, err: [expect.stringMatching(/served live by the candidate did not match/)] });
    const corrections = listed.out.map((l) => JSON.parse(l) as { action: string; key?: unknown; target: string; changes: { path: string }[]; update?: { update: { $set: Record<string, unknown> } } });
    expect(await orderNosOf(shop, corrections)).toEqual(truth);
    // The rules' hook makes each correction in the rewrite's fields too.
    for (const c of corrections.filter((x) => x.action === 'update' && x.target.endsWith('.orders'))) expect(Object.keys(c.update!.update.$set)).toEqual(expect.arrayContaining(['couponDiscount', 'amounts.couponDiscount']));

    // One of them changed since the bad write (a person fixed its total by hand).
    await shop.collection('orders').updateOne({ orderNo: truth[0] }, { $set: { total: 1 } });
    const applied = fakeIo({ env });
    expect(await run(['corrections', '--run', demo.runId, '--rules', 'dist/examples/orders/rules.js', '--apply', '--mongodb', MONGODB_URL], applied.io)).toBe(1); // a conflict is worth a look
    expect(JSON.parse(applied.out[0]!)).toMatchObject({ applied: truth.length - 1, conflicts: [{ why: 'changed' }] });
    for (const orderNo of truth) {
      const o = (await shop.collection<Order>('orders').findOne({ orderNo })) as Order;
      const coupon = COUPONS.find((c) => c._id === o.couponCode)!;
      const right = Math.floor((o.subtotal * coupon.value) / 100);
      if (orderNo === truth[0]) {
        expect(o.total).toBe(1); // not overwritten
        expect(o.couponDiscount).toBe(right + 1);
      } else {
        expect([o.couponDiscount, o.amounts!.couponDiscount]).toEqual([right, right]);
        expect(o.amounts!.total).toBe(o.total);
      }
    }
  } finally {
    await client.close();
    await removeTraces(prefix, 4, [`${prefix}_shop`, results]);
  }
});
