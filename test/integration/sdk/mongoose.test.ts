// Mongoose first-class (issue 19), on Mongoose 9 and 8 against the MongoDB-wire server:
// - `shadow.mongoose(mongoose)` before connecting, the obvious wiring, records save (new and
//   modified, with the `__v` increment), updateOne, findOneAndUpdate, deleteOne, deleteMany,
//   insertMany, the writes middleware makes and the reads populate and plugins issue;
// - the fidelity property: the same model calls, live on one database and dry-run on an identical
//   copy, record equal effects and return equal values, and the copy is left as it was;
// - a dry-run service starts and serves without sending one write command to the server, though
//   Mongoose's autoIndex and autoCreate ask for collections and indexes at startup;
// - the wiring that recorded nothing (`shadow.mongo(connection.getClient())`) now says so.
import { Writable } from 'node:stream';
import fc from 'fast-check';
import type { Db, MongoClient } from 'mongodb';
import { ObjectId } from 'mongodb';
import mongoose9, { type Model } from 'mongoose';
import pino from 'pino';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import type { EffectRecord } from '../../../core/effect';
import { createLogger } from '../../../core/logger';
import { connectMongo, MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { comparable, dump, memorySink, normalizer, shadowHeaders } from '../../helpers/sdk';

const quiet = createLogger({ level: 'silent' });
let client: MongoClient;
const dropped: string[] = [];

beforeAll(async () => {
  client = await connectMongo();
});

afterAll(async () => {
  for (const name of dropped) await client.db(name).dropDatabase().catch(() => undefined);
  await client?.close();
});

function freshDb(prefix: string): Db {
  const name = uniqueDbName(prefix);
  dropped.push(name);
  return client.db(name);
}

type MongooseModule = typeof mongoose9;
// Mongoose 8 under an alias (package.json: "mongoose8": "npm:mongoose@^8"); its type file declares
// the module "mongoose", so it is typed as 9's: the calls here are the same in both.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mongoose8 = require('mongoose8') as MongooseModule;
const VERSIONS: [string, MongooseModule][] = [
  ['Mongoose 9', mongoose9],
  ['Mongoose 8', mongoose8],
];
/** Models typed loosely: Mongoose's schema-inferred types are its users' concern, not this suite's. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Model<any>;

/**
 * The application's models, as a Mongoose app writes them: a unique check done by a plugin
 * (a count, as unique validators do), an audit entry written by save middleware, a reference
 * that populate follows.
 */
function models(m: InstanceType<MongooseModule['Mongoose']>): { Customer: Loose; Order: Loose; Audit: Loose } {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const uniqueEmail = (schema: mongoose9.Schema<any>) => {
    schema.pre('validate', async function (this: InstanceType<Loose>) {
      const taken = await (this.constructor as Loose).countDocuments({ email: this.get('email'), _id: { $ne: this._id } });
      if (taken > 0) this.invalidate('email', 'email is taken');
    });
  };
  const customerSchema = new m.Schema({ email: { type: String, index: true }, name: String });
  customerSchema.plugin(uniqueEmail);
  const orderSchema = new m.Schema({
    orderNo: { type: String, index: true },
    customer: { type: m.Schema.Types.ObjectId, ref: 'Customer' },
    total: Number,
    status: { type: String, default: 'new' },
    items: [{ _id: false, sku: String, qty: Number }],
  });
  const Audit = m.model('Audit', new m.Schema({ orderNo: String, action: String }));
  orderSchema.pre('save', async function (this: InstanceType<Loose>) {
    if (this.isNew) await Audit.create({ orderNo: this.get('orderNo'), action: 'created' });
  });
  return { Customer: m.model('Customer', customerSchema) as Loose, Order: m.model('Order', orderSchema) as Loose, Audit: Audit as Loose };
}

const HEX1 = '65a000000000000000000001';
const HEX2 = '65a000000000000000000002';
async function seed(db: Db): Promise<void> {
  const C1 = new ObjectId(HEX1);
  const C2 = new ObjectId(HEX2);
  await db.collection('customers').insertMany([
    { _id: C1, email: 'kim@example.com', name: 'Kim', __v: 0 },
    { _id: C2, email: 'lee@example.com', name: 'Lee', __v: 0 },
  ]);
  await db.collection('orders').insertMany([
    { _id: new ObjectId('65b000000000000000000001'), orderNo: 'A-1', customer: C1, total: 100, status: 'new', items: [{ sku: 'x', qty: 1 }], __v: 0 },
    { _id: new ObjectId('65b000000000000000000002'), orderNo: 'A-2', customer: C2, total: 50, status: 'paid', items: [], __v: 0 },
  ]);
}

for (const [version, mongoose] of VERSIONS) {
  describe(version, () => {
    // The app's own ObjectIds: Mongoose 8's driver serializes only its own bson's.
    const C1 = new mongoose.Types.ObjectId(HEX1);
    const C2 = new mongoose.Types.ObjectId(HEX2);
    test('shadow.mongoose(mongoose) before connect records every write Mongoose makes, the middleware\'s too, with before and after images', async () => {
      const db = freshDb('sdk_mongoose');
      await seed(db);
      const sink = memorySink();
      const sdk = createShadow({ side: 'legacy', sink, logger: quiet });
      const m = new mongoose.Mongoose();
      sdk.mongoose(m);
      await m.connect(MONGODB_URL, { dbName: db.databaseName, autoIndex: false });
      const { Customer, Order } = models(m);
      try {
        const populated = await sdk.withShadowContext(shadowHeaders('mg-live'), async () => {
          await Order.create({ orderNo: 'A-3', customer: C1, total: 70, items: [{ sku: 'y', qty: 2 }] });
          const a1 = (await Order.findOne({ orderNo: 'A-1' }))!;
          a1.items.push({ sku: 'z', qty: 3 });
          a1.set('total', 130);
          await a1.save(); // $set total, $push items, $inc __v
          await Order.updateOne({ orderNo: 'A-2' }, { $set: { status: 'shipped' } });
          await Order.findOneAndUpdate({ orderNo: 'A-3' }, { $inc: { total: 5 } }, { new: true });
          await Order.insertMany([{ orderNo: 'B-1', total: 1 }, { orderNo: 'B-2', total: 2 }]);
          await Order.deleteOne({ orderNo: 'B-1' });
          await Order.deleteMany({ orderNo: { $in: ['B-2'] } });
          await expect(Customer.create({ email: 'kim@example.com', name: 'Kim again' })).rejects.toThrow(/email is taken/);
          return Order.find({ customer: C1 }).sort({ orderNo: 1 }).populate('customer').lean();
        }, { method: 'POST', path: '/orders' });
        await sdk.flush();
        expect(populated.map((o) => [o.orderNo, (o.customer as unknown as { name: string }).name])).toEqual([['A-1', 'Kim'], ['A-3', 'Kim']]);
        const ns = db.databaseName;
        const effects = sink.records.filter((r): r is EffectRecord => r.type === 'effect');
        expect(effects.map((e) => [e.target.slice(ns.length + 1), e.op])).toEqual([
          ['audits', 'insert'], // pre('save') middleware, before the order itself
          ['orders', 'insert'],
          ['orders', 'update'],
          ['orders', 'update'],
          ['orders', 'update'],
          ['orders', 'insert'],
          ['orders', 'insert'],
          ['orders', 'delete'],
          ['orders', 'delete'],
        ]);
        expect(effects[2]).toMatchObject({ before: { total: 100, __v: 0, items: [{ sku: 'x', qty: 1 }] }, after: { total: 130, __v: 1, items: [{ sku: 'x', qty: 1 }, { sku: 'z', qty: 3 }] } });
        expect(effects[3]).toMatchObject({ before: { status: 'paid' }, after: { status: 'shipped' } });
        expect(effects[4]).toMatchObject({ before: { total: 70 }, after: { total: 75 } });
        expect(await db.collection('orders').findOne({ orderNo: 'A-1' })).toMatchObject({ total: 130, __v: 1 });
        expect(sdk.stats().mongo).toMatchObject({ instrumented: expect.any(Number), schemaSkipped: 0 });
        expect(sdk.stats().mongo.calls).toBeGreaterThan(10);
      } finally {
        await m.disconnect();
        await sdk.close();
      }
    });

    test('instrumenting a connection already open covers the models opened before it, and useDb', async () => {
      const db = freshDb('sdk_mongoose_late');
      await seed(db);
      const sink = memorySink();
      const sdk = createShadow({ side: 'legacy', sink, logger: quiet });
      const m = new mongoose.Mongoose();
      await m.connect(MONGODB_URL, { dbName: 'unused_default', autoIndex: false });
      const conn = m.connection.useDb(db.databaseName);
      const Order = conn.model('Order', new m.Schema({ orderNo: String, total: Number }));
      await Order.findOne({}); // opened: the model holds its driver collection now
      sdk.mongoose(conn);
      try {
        await sdk.withShadowContext(shadowHeaders('mg-late'), () => Order.updateOne({ orderNo: 'A-1' }, { $set: { total: 1 } }), { method: 'POST', path: '/x' });
        const other = conn.useDb(`${db.databaseName}_b`);
        dropped.push(`${db.databaseName}_b`);
        const Other = other.model('Other', new m.Schema({ n: Number }));
        await sdk.withShadowContext(shadowHeaders('mg-late-2'), () => Other.create({ n: 1 }), { method: 'POST', path: '/y' });
        await sdk.flush();
        const effects = sink.records.filter((r): r is EffectRecord => r.type === 'effect');
        expect(effects.map((e) => [e.shadowId, e.target, e.op])).toEqual([
          ['mg-late', `${db.databaseName}.orders`, 'update'],
          ['mg-late-2', `${db.databaseName}_b.others`, 'insert'],
        ]);
      } finally {
        await m.disconnect();
        await sdk.close();
      }
    });

    test('fidelity on models: live and dry-run record equal effects and return equal values; the dry-run copy is untouched', async () => {
      const liveDb = freshDb('sdk_mongoose_live');
      const dryDb = freshDb('sdk_mongoose_dry');
      const live = new mongoose.Mongoose();
      const dry = new mongoose.Mongoose();
      const liveSink = memorySink();
      const drySink = memorySink();
      const liveSdk = createShadow({ side: 'legacy', sink: liveSink, logger: quiet });
      const drySdk = createShadow({ side: 'candidate', sink: drySink, logger: quiet });
      liveSdk.mongoose(live);
      drySdk.mongoose(dry);
      await live.connect(MONGODB_URL, { dbName: liveDb.databaseName, autoIndex: false, autoCreate: false });
      await dry.connect(MONGODB_URL, { dbName: dryDb.databaseName, autoIndex: false, autoCreate: false });
      const sides = [
        { sdk: liveSdk, sink: liveSink, db: liveDb, models: models(live), headers: (id: string) => shadowHeaders(id, 'legacy', 'live') },
        { sdk: drySdk, sink: drySink, db: dryDb, models: models(dry), headers: (id: string) => shadowHeaders(id, 'candidate', 'dry-run') },
      ];
      const orderNo = fc.constantFrom('A-1', 'A-2', 'N-1', 'N-2');
      const n = fc.integer({ min: 1, max: 9 });
      type Step = [string, ...unknown[]];
      const step: fc.Arbitrary<Step> = fc.oneof(
        fc.tuple(fc.constant('create'), orderNo, n, fc.boolean()),
        fc.tuple(fc.constant('pushAndSave'), orderNo, n),
        fc.tuple(fc.constant('updateOne'), orderNo, fc.constantFrom('paid', 'shipped')),
        fc.tuple(fc.constant('findOneAndUpdate'), orderNo, n),
        fc.tuple(fc.constant('deleteOne'), orderNo),
        fc.tuple(fc.constant('deleteMany'), fc.constantFrom('new', 'paid', 'shipped')),
        fc.tuple(fc.constant('insertMany'), n),
        fc.tuple(fc.constant('customer'), fc.constantFrom('kim@example.com', 'new@example.com')),
        fc.tuple(fc.constant('populate'), fc.boolean()),
        fc.tuple(fc.constant('count'), fc.constantFrom('new', 'paid', 'shipped')),
        fc.tuple(fc.constant('upsert'), fc.constantFrom('kim@example.com', 'up@example.com')),
      );
      const perform = async ({ Customer, Order }: ReturnType<typeof models>, [op, a, b, c]: Step): Promise<unknown> => {
        switch (op) {
          case 'create':
            return (await Order.create({ orderNo: a, total: b, customer: c ? C1 : C2, items: [{ sku: 's', qty: b }] })).toObject();
          case 'pushAndSave': {
            const o = await Order.findOne({ orderNo: a });
            if (!o) return null;
            o.items.push({ sku: 'p', qty: b as number });
            o.set('total', (o.get('total') as number) + (b as number));
            return (await o.save()).toObject();
          }
          case 'updateOne':
            return (await Order.updateOne({ orderNo: a }, { $set: { status: b } })).modifiedCount;
          case 'findOneAndUpdate':
            return Order.findOneAndUpdate({ orderNo: a }, { $inc: { total: b } }, { new: true }).lean();
          case 'deleteOne':
            return (await Order.deleteOne({ orderNo: a })).deletedCount;
          case 'deleteMany':
            return (await Order.deleteMany({ status: a })).deletedCount;
          case 'insertMany':
            return (await Order.insertMany([{ orderNo: `M-${String(a)}`, total: a }, { orderNo: `M-${String(a)}b`, total: 0 }])).map((d) => d.toObject());
          case 'customer':
            return Customer.create({ email: a, name: 'x' }).then((d) => d.toObject(), (err: Error) => ({ rejected: err.name }));
          case 'upsert': {
            // The upserted id is the app's own ObjectId type, usable in its next query (Mongoose 8's
            // bson is not the SDK's). On customers: FerretDB 1.24 drops the empty array Mongoose puts
            // in $setOnInsert for an order's items, where MongoDB and the dry-run keep it.
            const up = await Customer.findOneAndUpdate({ email: a }, { $set: { name: 'upserted' } }, { upsert: true, new: true }).lean<{ _id: unknown }>();
            return [up, await Customer.findById(up!._id).lean()];
          }
          case 'populate':
            return Order.find(a ? { customer: C1 } : {}).sort({ orderNo: 1, _id: 1 }).populate('customer').lean();
          default:
            return Order.countDocuments({ status: a });
        }
      };
      let runs = 0;
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
            runs += 1;
            for (const side of sides) {
              for (const name of ['customers', 'orders', 'audits']) await side.db.collection(name).deleteMany({});
              await seed(side.db);
              side.sink.records.length = 0;
            }
            const before = await dump(dryDb);
            const results: unknown[][] = [];
            for (const side of sides) {
              results.push(await side.sdk.withShadowContext(side.headers(`mf${runs}`), async () => {
                const out: unknown[] = [];
                for (const s of steps) out.push(await perform(side.models, s));
                return out;
              }, { method: 'POST', path: '/fidelity' }));
              await side.sdk.flush();
            }
            const nl = normalizer();
            const nd = normalizer();
            expect(results[1]!.map(nd)).toEqual(results[0]!.map(nl));
            expect(comparable(drySink.records, nd)).toEqual(comparable(liveSink.records, nl));
            expect(await dump(dryDb)).toEqual(before);
          }),
          { numRuns: Number(process.env.FIDELITY_RUNS ?? 40) },
        );
        for (const s of [liveSdk.stats(), drySdk.stats()]) expect({ dropped: s.dropped, internalErrors: s.internalErrors, emulationFailures: s.emulationFailures }).toEqual({ dropped: 0, internalErrors: 0, emulationFailures: 0 });
      } finally {
        await live.disconnect();
        await dry.disconnect();
        await liveSdk.close();
        await drySdk.close();
      }
    }, 240_000);

    test('a dry-run service starts and serves without one write command reaching the server: autoIndex and autoCreate are skipped and logged', async () => {
      const db = freshDb('sdk_mongoose_ro');
      await seed(db);
      const collectionsBefore = (await db.listCollections().toArray()).map((c) => c.name).sort();
      const lines: string[] = [];
      const logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
      const sink = memorySink();
      const sdk = createShadow({ side: 'candidate', sink, logger });
      const m = new mongoose.Mongoose();
      sdk.mongoose(m);
      // Every command the driver sends, counted by name: the server's view of this service.
      await m.connect(MONGODB_URL, { dbName: db.databaseName, monitorCommands: true }); // autoIndex and autoCreate on, Mongoose's defaults
      const sent: string[] = [];
      m.connection.getClient().on('commandStarted', (e: { commandName: string }) => sent.push(e.commandName));
      const { Order, Customer, Audit } = models(m);
      await Promise.all([Order.init(), Customer.init(), Audit.init()]);
      try {
        await sdk.withShadowContext(shadowHeaders('ro-1', 'candidate', 'dry-run'), async () => {
          await Order.create({ orderNo: 'R-1', customer: C2, total: 3 });
          await Order.updateOne({ orderNo: 'A-1' }, { $set: { status: 'paid' } });
          await Order.deleteOne({ orderNo: 'A-2' });
        }, { method: 'POST', path: '/orders' });
        await sdk.flush();
        const writes = sent.filter((name) => WRITE_COMMANDS.has(name));
        expect(writes).toEqual([]);
        expect(sent).toContain('find'); // it did talk to the server: reads only
        expect((await db.listCollections().toArray()).map((c) => c.name).sort()).toEqual(collectionsBefore); // no audits collection
        expect((await db.collection('orders').listIndexes().toArray()).map((i) => i.name)).toEqual(['_id_']); // orderNo's index not made
        expect(await db.collection('orders').countDocuments()).toBe(2);
        expect(sdk.stats().mongo.schemaSkipped).toBeGreaterThanOrEqual(5); // 3 collections, 2 indexes
        expect(lines.join('')).toMatch(/dry-run: createIndex on sdk_mongoose_ro_\w+\.orders not sent to the server/);
        expect(sink.records.filter((r) => r.type === 'effect').map((r) => (r as EffectRecord).op)).toEqual(['insert', 'insert', 'update', 'delete']); // the audit entry, then the order
      } finally {
        await m.disconnect();
        await sdk.close();
      }
    });

    test('the wiring that recorded nothing (shadow.mongo on connection.getClient()) warns once; the right wiring does not', async () => {
      const db = freshDb('sdk_mongoose_wired');
      await seed(db);
      for (const wiring of ['getClient', 'mongoose'] as const) {
        const lines: string[] = [];
        const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
        const sdk: ShadowSdk = createShadow({ side: 'legacy', sink: memorySink(), logger });
        const m = new mongoose.Mongoose();
        if (wiring === 'mongoose') sdk.mongoose(m);
        await m.connect(MONGODB_URL, { dbName: db.databaseName, autoIndex: false });
        if (wiring === 'getClient') sdk.mongo(m.connection.getClient());
        const Order = m.model('Order', new m.Schema({ orderNo: String, total: Number }));
        try {
          for (const id of ['w1', 'w2']) await sdk.withShadowContext(shadowHeaders(`${wiring}-${id}`), () => Order.updateOne({ orderNo: 'A-1' }, { $inc: { total: 1 } }), { method: 'POST', path: '/orders/A-1' });
          await sdk.withShadowContext(shadowHeaders(`${wiring}-get`), () => Order.findOne({}), { method: 'GET', path: '/orders' });
          const warnings = lines.filter((l) => l.includes('ended with no recorded effect'));
          if (wiring === 'getClient') {
            expect(warnings).toHaveLength(1);
            expect(warnings[0]).toMatch(/POST \/orders\/A-1 ended with no recorded effect and nothing has gone through the objects shadow\.mongo\(\) returned/);
            expect(sdk.stats()).toMatchObject({ effects: 0, mongo: { calls: 0 } });
          } else {
            expect(warnings).toEqual([]);
            expect(sdk.stats().effects).toBe(2);
          }
        } finally {
          await m.disconnect();
          await sdk.close();
        }
      }
    });
  });
}

test('a service that never called shadow.mongo() is told so at its first state-changing request with no effect', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
  const sdk = createShadow({ side: 'candidate', sink: memorySink(), logger });
  await sdk.withShadowContext(shadowHeaders('nw-1', 'candidate', 'dry-run'), async () => undefined, { method: 'GET', path: '/a' });
  expect(lines).toEqual([]); // a read with no effect is expected
  await sdk.withShadowContext(shadowHeaders('nw-2', 'candidate', 'dry-run'), async () => undefined, { method: 'PUT', path: '/a' });
  await sdk.withShadowContext(shadowHeaders('nw-3', 'candidate', 'dry-run'), async () => undefined, { method: 'DELETE', path: '/a' });
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/PUT \/a ended with no recorded effect and shadow\.mongo\(\) or shadow\.mongoose\(\) was never called/);
  await sdk.close();
});

/** Commands that change data or schema on the server. */
const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'create', 'createIndexes', 'drop', 'dropIndexes', 'dropDatabase', 'renameCollection', 'collMod', 'bulkWrite']);
