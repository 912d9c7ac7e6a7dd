// Dry-run semantics the fidelity test cannot reach on FerretDB 1.24 (no arrayFilters, no update
// pipelines, no positional `$`): a dry-run only reads the database, so these run against it and
// are checked against the examples in MongoDB's documentation. Also: overlay reads through every
// cursor path, image modes, unsupported operations, and Mongoose on the same driver.
import mongoose from 'mongoose';
import { type Db, Long, type MongoClient } from 'mongodb';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import type { EffectRecord, ShadowRecord } from '../../../core/effect';
import { createLogger } from '../../../core/logger';
import { MemoryHandoff } from '../../../runtime/handoff/memory';
import { connectMongo, uniqueDbName } from '../../helpers/services';
import { memorySink, shadowHeaders, type MemorySink } from '../../helpers/sdk';

const quiet = createLogger({ level: 'silent' });
let client: MongoClient;
let db: Db;

beforeAll(async () => {
  client = await connectMongo();
  db = client.db(uniqueDbName('sdk_dryrun'));
});

afterAll(async () => {
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
});

function dryRun(options: Partial<Parameters<typeof createShadow>[0]> = {}): { sdk: ShadowSdk; sink: MemorySink } {
  const sink = memorySink();
  return { sdk: createShadow({ side: 'candidate', sink, logger: quiet, ...options }), sink };
}

const effects = (records: ShadowRecord[]) => records.filter((r): r is EffectRecord => r.type === 'effect');
let n = 0;
/** Runs fn as one dry-run request, then waits for its records to reach the sink. */
async function inRequest<T>(sdk: ShadowSdk, fn: () => Promise<T>): Promise<T> {
  try {
    return await sdk.withShadowContext(shadowHeaders(`dr-${++n}`, 'candidate', 'dry-run'), fn);
  } finally {
    await sdk.flush();
  }
}

test('arrayFilters, update pipelines and the positional $ follow MongoDB’s documented examples', async () => {
  // https://www.mongodb.com/docs/manual/reference/operator/update/positional-filtered/ (students, grades >= 100 → 100)
  const students = db.collection('students');
  await students.insertMany([
    { _id: 1, grades: [95, 92, 90] },
    { _id: 2, grades: [98, 100, 102] },
    { _id: 3, grades: [95, 110, 100] },
  ] as never[]);
  // https://www.mongodb.com/docs/manual/tutorial/update-documents-with-aggregation-pipeline/
  const members = db.collection('members');
  await members.insertMany([{ _id: 1, member: 'abc123', status: 'A', points: 2, misc1: 'note to self: confirm status', misc2: 'Need to activate' }] as never[]);
  const stored = JSON.stringify([await students.find().toArray(), await members.find().toArray()]);

  const { sdk, sink } = dryRun();
  const c = sdk.mongo(db);
  const results = await inRequest(sdk, async () => [
    await c.collection('students').updateMany({ grades: { $gte: 100 } }, { $set: { 'grades.$[element]': 100 } }, { arrayFilters: [{ element: { $gte: 100 } }] }),
    await c.collection('students').updateOne({ _id: 1 as never, grades: 92 }, { $set: { 'grades.$': 82 } }),
    await c.collection('members').updateOne({ _id: 1 as never }, [{ $set: { status: 'Modified', comments: ['$misc1', '$misc2'] } }, { $unset: ['misc1', 'misc2'] }]),
    await c.collection('students').find().sort({ _id: 1 }).toArray(),
    await c.collection('members').findOne({ _id: 1 as never }),
  ]);
  expect(results.slice(0, 3)).toMatchObject([{ matchedCount: 2, modifiedCount: 2 }, { matchedCount: 1, modifiedCount: 1 }, { matchedCount: 1, modifiedCount: 1 }]);
  expect(results[3]).toEqual([
    { _id: 1, grades: [95, 82, 90] },
    { _id: 2, grades: [98, 100, 100] },
    { _id: 3, grades: [95, 100, 100] },
  ]);
  expect(results[4]).toEqual({ _id: 1, member: 'abc123', status: 'Modified', points: 2, comments: ['note to self: confirm status', 'Need to activate'] });
  expect(effects(sink.records).map((e) => [e.op, (e.key as { _id: number })._id])).toEqual([
    ['update', 2],
    ['update', 3],
    ['update', 1],
    ['update', 1],
  ]);
  expect(JSON.stringify([await students.find().toArray(), await members.find().toArray()])).toBe(stored);
});

test('every read path sees the request’s own writes: cursor options, iteration, countDocuments, distinct, aggregate', async () => {
  const items = db.collection('items');
  await items.insertMany([
    { _id: 1, sku: 'a', qty: 5, cat: 'x' },
    { _id: 2, sku: 'b', qty: 1, cat: 'y' },
    { _id: 3, sku: 'c', qty: 9, cat: 'x' },
  ] as never[]);
  const { sdk } = dryRun();
  const c = sdk.mongo(db).collection('items');
  const out = await inRequest(sdk, async () => {
    await c.insertOne({ _id: 4, sku: 'd', qty: 7, cat: 'z' } as never);
    await c.updateOne({ _id: 2 as never }, { $set: { qty: 8 } });
    await c.deleteOne({ _id: 3 as never });
    const sorted = await c.find({ qty: { $gt: 4 } }, { projection: { _id: 0, sku: 1 } }).sort({ qty: -1 }).skip(1).limit(2).toArray();
    const mapped = await c.find({}).map((d) => d.sku).toArray();
    const iterated: unknown[] = [];
    for await (const d of c.find({ cat: { $ne: 'q' } }).sort({ _id: 1 })) iterated.push(d._id);
    const cursor = c.find({}).sort({ _id: -1 });
    const first = await cursor.next();
    const hasMore = await cursor.hasNext();
    const rest = await cursor.toArray();
    return {
      sorted,
      mapped,
      iterated,
      first: first?._id,
      hasMore,
      rest: rest.map((d) => d._id),
      count: await c.countDocuments({ qty: { $gte: 5 } }),
      distinct: (await c.distinct('cat')).sort(),
      agg: await c.aggregate([{ $match: { qty: { $gte: 5 } } }, { $group: { _id: null, total: { $sum: '$qty' } } }]).toArray(),
      one: await c.findOne({ sku: 'd' }, { projection: { qty: 1 } }),
    };
  });
  expect(out).toEqual({
    sorted: [{ sku: 'd' }, { sku: 'a' }], // qty 8 (b), 7 (d), 5 (a): skip 1, limit 2
    mapped: ['a', 'b', 'd'],
    iterated: [1, 2, 4],
    first: 4,
    hasMore: true,
    rest: [2, 1],
    count: 3,
    distinct: ['x', 'y', 'z'],
    agg: [{ _id: null, total: 20 }],
    one: { _id: 4, qty: 7 },
  });
  expect(await items.countDocuments()).toBe(3);
  // Outside a request the same wrapped collection is the plain driver.
  expect(await c.countDocuments()).toBe(3);
});

test('image modes: full, after, and none (one effect per operation, no extra reads)', async () => {
  const coll = db.collection('modes');
  await coll.insertMany([{ _id: 1, v: 1 }, { _id: 2, v: 1 }] as never[]);
  const run = async (images: 'full' | 'after' | 'none') => {
    const { sdk, sink } = dryRun({ mongo: { images } });
    await inRequest(sdk, () => sdk.mongo(coll).updateMany({}, { $inc: { v: 1 } }));
    return effects(sink.records).map(({ op, key, before, after, meta }) => ({ op, key, before, after, meta }));
  };
  expect(await run('full')).toEqual([
    { op: 'update', key: { _id: 1 }, before: { _id: 1, v: 1 }, after: { _id: 1, v: 2 }, meta: undefined },
    { op: 'update', key: { _id: 2 }, before: { _id: 2, v: 1 }, after: { _id: 2, v: 2 }, meta: undefined },
  ]);
  expect((await run('after')).map((e) => e.before)).toEqual([undefined, undefined]);
  // On the wire, format 2 ships the before-image as its reverse delta; format 1 ships it whole.
  for (const format of [2, 1] as const) {
    const { sdk, sink } = dryRun({ format });
    await inRequest(sdk, () => sdk.mongo(coll).updateOne({ _id: 1 as never }, { $set: { tag: 'x' } }));
    const [sent] = sink.sent.filter((r) => r.type === 'effect') as EffectRecord[];
    expect(sent).toMatchObject(format === 2 ? { v: 2, after: { _id: 1, v: 1, tag: 'x' }, undo: [{ path: ['tag'] }] } : { v: 1, before: { _id: 1, v: 1 }, after: { _id: 1, v: 1, tag: 'x' } });
    expect(format === 2 ? sent!.before : sent!.undo).toBeUndefined();
    expect(effects(sink.records)[0]).toMatchObject({ before: { _id: 1, v: 1 }, after: { _id: 1, v: 1, tag: 'x' } });
  }
  expect(await run('none')).toEqual([{ op: 'update', key: {}, before: undefined, after: undefined, meta: { filter: {}, update: { $inc: { v: 1 } } } }]);
  // Per collection, by name.
  const { sdk, sink } = dryRun({ mongo: { images: 'full', collections: { modes: 'none' } } });
  await inRequest(sdk, () => sdk.mongo(coll).deleteMany({ v: 1 }));
  expect(effects(sink.records)).toMatchObject([{ op: 'delete', key: { v: 1 }, meta: { filter: { v: 1 } } }]);
});

test('what the dry-run cannot emulate is recorded as a failed effect, never thrown, never silently wrong', async () => {
  // FerretDB 1.24 has no Decimal128: an Int64 read as Long (mingo's arithmetic knows neither).
  const coll = db.collection('money', { promoteLongs: false });
  await coll.insertOne({ _id: 1, amount: Long.fromString('9007199254740993') } as never);
  const { sdk, sink } = dryRun();
  const result = await inRequest(sdk, () => sdk.mongo(coll).updateOne({ _id: 1 as never }, { $inc: { amount: 1 } }));
  expect(result).toMatchObject({ matchedCount: 0, modifiedCount: 0 });
  expect(effects(sink.records)).toMatchObject([{ status: 'failed', error: expect.stringMatching(/dry-run could not emulate updateOne.*\$inc on a Long field \("amount"\)/) }]);
  expect(sdk.stats().emulationFailures).toBe(1);
  // Server errors a live write would raise are raised in dry-run too, and recorded as failed.
  const { sdk: sdk2, sink: sink2 } = dryRun();
  await expect(inRequest(sdk2, () => sdk2.mongo(coll).insertOne({ _id: 1 } as never))).rejects.toMatchObject({ code: 11000 });
  expect(effects(sink2.records)).toMatchObject([{ op: 'insert', status: 'failed', key: { _id: 1 } }]);
});

test('Mongoose models on an instrumented client are captured: live writes recorded, dry-run writes not made', async () => {
  const live = memorySink();
  const sdk = createShadow({ side: 'legacy', sink: live, logger: quiet });
  const raw = await connectMongo();
  const conn = mongoose.createConnection().setClient(sdk.mongo(raw));
  const name = db.databaseName;
  const Order = conn.useDb(name).model('Order', new mongoose.Schema({ orderNo: String, total: Number, status: String }));
  const created = await sdk.withShadowContext(shadowHeaders('mg-1'), async () => {
    const o = await Order.create({ orderNo: 'M-1', total: 100, status: 'new' });
    await Order.updateOne({ _id: o._id }, { $set: { status: 'paid' } });
    return o;
  });
  await sdk.flush();
  expect(effects(live.records)).toMatchObject([
    { kind: 'db', op: 'insert', target: `${name}.orders`, after: { orderNo: 'M-1', total: 100, status: 'new' } },
    { kind: 'db', op: 'update', before: { status: 'new' }, after: { status: 'paid' } },
  ]);
  expect(await db.collection('orders').findOne({ _id: created._id })).toMatchObject({ status: 'paid' });

  const dry = memorySink();
  const sdk2 = createShadow({ side: 'candidate', sink: dry, logger: quiet });
  const conn2 = mongoose.createConnection().setClient(sdk2.mongo(raw));
  const Order2 = conn2.useDb(name).model('Order', new mongoose.Schema({ orderNo: String, total: Number, status: String }));
  const found = await sdk2.withShadowContext(shadowHeaders('mg-2', 'candidate', 'dry-run'), async () => {
    await Order2.create({ orderNo: 'M-2', total: 5, status: 'new' });
    return Order2.findOne({ orderNo: 'M-2' }).lean();
  });
  await sdk2.flush();
  expect(found).toMatchObject({ orderNo: 'M-2', total: 5 });
  expect(await db.collection('orders').countDocuments({ orderNo: 'M-2' })).toBe(0);
  expect(effects(dry.records)).toMatchObject([{ op: 'insert', after: { orderNo: 'M-2' } }]);
  await conn.close();
  await conn2.close();
  await raw.close().catch(() => undefined);
});

test('writes a handler issues at once on one document are emulated one after another: both $inc count, as on MongoDB', async () => {
  const wallets = db.collection('wallets');
  await wallets.insertOne({ _id: 'w1', balance: 100 } as never);
  for (const handoff of [undefined, true]) {
    const store = new MemoryHandoff();
    const { sdk, sink } = dryRun(handoff ? { handoff: { store } } : {});
    const c = sdk.mongo(db).collection('wallets');
    const after = await inRequest(sdk, async () => {
      const results = await Promise.all([c.updateOne({ _id: 'w1' } as never, { $inc: { balance: 1 } }), c.updateOne({ _id: 'w1' } as never, { $inc: { balance: 2 } }), c.findOneAndUpdate({ _id: 'w1' } as never, { $inc: { balance: 4 } }, { returnDocument: 'after' })]);
      return { results, read: await c.findOne({ _id: 'w1' } as never) };
    });
    expect(after.read).toEqual({ _id: 'w1', balance: 107 });
    expect((after.results[2] as unknown as { balance: number }).balance).toBe(107);
    expect(effects(sink.records).map((e) => (e.after as { balance: number }).balance)).toEqual([101, 103, 107]);
    await sdk.close();
    await store.close();
  }
  expect(await wallets.findOne({ _id: 'w1' } as never)).toEqual({ _id: 'w1', balance: 100 }); // never written
});

test('with a handoff, reads see the live side\'s pre-state: find, count, distinct and a leading $match are rewound; an aggregate that cannot be is said to be', async () => {
  const vaults = db.collection('vaults');
  // As if the live side of request `rw-1` had already written: v1 changed, v2 inserted, v3 deleted.
  await vaults.insertMany([{ _id: 'v1', balance: 999, tier: 'gold' }, { _id: 'v2', balance: 10, tier: 'gold' }, { _id: 'v4', balance: 5, tier: 'basic' }] as never[]);
  const store = new MemoryHandoff();
  const ns = `${db.databaseName}.vaults`;
  await store.put('run1', 'rw-1', {
    images: [
      { ns, id: 'v1', before: { _id: 'v1', balance: 100, tier: 'basic' } },
      { ns, id: 'v2', before: null },
      { ns, id: 'v3', before: { _id: 'v3', balance: 30, tier: 'gold' } },
    ],
  });
  const { sdk, sink } = dryRun({ handoff: { store } });
  const c = sdk.mongo(db).collection('vaults');
  const seen = await sdk.withShadowContext(shadowHeaders('rw-1', 'candidate', 'dry-run'), async () => ({
    all: await c.find({}).sort({ _id: 1 }).toArray(),
    gold: await c.countDocuments({ tier: 'gold' }),
    tiers: (await c.distinct('tier')).sort(),
    one: await c.findOne({ balance: { $gt: 50 } }),
    matched: await c.aggregate([{ $match: { tier: 'gold' } }, { $project: { _id: 1 } }]).toArray(),
  }));
  expect(seen).toEqual({
    all: [{ _id: 'v1', balance: 100, tier: 'basic' }, { _id: 'v3', balance: 30, tier: 'gold' }, { _id: 'v4', balance: 5, tier: 'basic' }],
    gold: 1,
    tiers: ['basic', 'gold'],
    one: { _id: 'v1', balance: 100, tier: 'basic' },
    matched: [{ _id: 'v3' }],
  });
  await sdk.withShadowContext(shadowHeaders('rw-1', 'candidate', 'dry-run'), async () => c.aggregate([{ $group: { _id: null, n: { $sum: 1 } } }]).toArray());
  await sdk.flush();
  const ends = sink.records.filter((r) => r.type === 'end') as { prestate?: string; prestateReason?: string }[];
  expect(ends[0]).toMatchObject({ prestate: 'handoff' });
  expect(ends[1]).toMatchObject({ prestate: 'unknown', prestateReason: expect.stringContaining('an aggregate without a leading $match read') });
  await sdk.close();
  await store.close();
});
