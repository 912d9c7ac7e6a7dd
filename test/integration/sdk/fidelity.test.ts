// The heart of the SDK's promise (design decision 3): the same writes, run live against one
// database and dry-run against an identical copy, record the same effects and return the same
// values — and the dry-run database is left byte for byte as it was. A third copy runs the
// writes through the bare driver: live recording must not change what the driver does.
import fc from 'fast-check';
import type { Collection, Db, MongoClient } from 'mongodb';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { connectMongo, uniqueDbName } from '../../helpers/services';
import { comparable, dump, memorySink, normalizer, shadowHeaders } from '../../helpers/sdk';

type Step = { op: string; args: unknown[] };

const SEED = [
  { _id: 1, n: 1, tag: 'a', arr: [1, 2], sub: { x: 1 } },
  { _id: 2, n: 5, tag: 'b', arr: [3] },
  { _id: 3, n: 5, tag: 'a', arr: [] },
  { _id: 4, n: 9, tag: 'c', arr: [2, 2], sub: { x: 2 } },
];

const id = fc.integer({ min: 1, max: 7 });
const threshold = fc.integer({ min: 0, max: 10 });
// From 1: FerretDB 1.24 counts a no-op update ($inc by 0, $mul of 0) as modified; MongoDB does not.
const num = fc.integer({ min: 1, max: 10 });
const tag = fc.constantFrom('a', 'b', 'c', 'd');
const filter = fc.oneof(
  id.map((i) => ({ _id: i })),
  threshold.map((n) => ({ n: { $gt: n } })),
  tag.map((t) => ({ tag: t })),
  // Not `{arr: n}`: an upsert would seed arr with a number, and FerretDB 1.24 panics on array operators over it.
  num.map((n) => ({ arr: { $elemMatch: { $eq: n } } })),
  fc.constant({}),
  fc.tuple(tag, threshold).map(([t, n]) => ({ tag: t, n: { $lte: n } })),
);
const update = fc.oneof(
  num.map((n) => ({ $set: { n } })),
  num.map((n) => ({ $inc: { n } })),
  tag.map((t) => ({ $set: { tag: t, 'sub.y': t } })),
  fc.constant({ $unset: { sub: '' } }),
  num.map((n) => ({ $push: { arr: n } })),
  num.map((n) => ({ $pull: { arr: n } })),
  num.map((n) => ({ $addToSet: { arr: n } })),
  num.map((n) => ({ $min: { n }, $max: { top: n } })),
  fc.constant({ $mul: { n: 2 } }),
  fc.constant({ $pop: { arr: 1 } }),
  fc.constant({ $rename: { tag: 'label' } }),
  tag.map((t) => ({ $set: { flag: true }, $setOnInsert: { created: t } })),
);
const doc = fc.record({ _id: id, n: num, tag }, { requiredKeys: ['n', 'tag'] });
const upsert = fc.boolean();

const step: fc.Arbitrary<Step> = fc.oneof(
  doc.map((d) => ({ op: 'insertOne', args: [d] })),
  fc.array(doc, { minLength: 1, maxLength: 3 }).map((ds) => ({ op: 'insertMany', args: [ds] })),
  fc.tuple(filter, update, upsert).map(([f, u, up]) => ({ op: 'updateOne', args: [f, u, { upsert: up }] })),
  fc.tuple(filter, update, upsert).map(([f, u, up]) => ({ op: 'updateMany', args: [f, u, { upsert: up }] })),
  fc.tuple(filter, doc, upsert).map(([f, d, up]) => ({ op: 'replaceOne', args: [f, { n: d.n, tag: d.tag }, { upsert: up }] })),
  filter.map((f) => ({ op: 'deleteOne', args: [f] })),
  filter.map((f) => ({ op: 'deleteMany', args: [f] })),
  fc.tuple(filter, update, upsert, fc.constantFrom('before', 'after')).map(([f, u, up, r]) => ({ op: 'findOneAndUpdate', args: [f, u, { upsert: up, returnDocument: r }] })),
  // _id filters only: FerretDB 1.24 panics on some findAndModify replacements by other fields.
  fc.tuple(id, doc, fc.constantFrom('before', 'after')).map(([i, d, r]) => ({ op: 'findOneAndReplace', args: [{ _id: i }, { n: d.n }, { returnDocument: r }] })),
  filter.map((f) => ({ op: 'findOneAndDelete', args: [f] })),
  fc
    .array(
      fc.oneof(
        doc.map((d) => ({ insertOne: { document: d } })),
        fc.tuple(filter, update, upsert).map(([f, u, up]) => ({ updateOne: { filter: f, update: u, upsert: up } })),
        fc.tuple(filter, update).map(([f, u]) => ({ updateMany: { filter: f, update: u } })),
        filter.map((f) => ({ deleteOne: { filter: f } })),
      ),
      { minLength: 1, maxLength: 3 },
    )
    .map((ops) => ({ op: 'bulkWrite', args: [ops] })),
  // Reads: a dry-run request must see its own would-be writes.
  filter.map((f) => ({ op: 'find', args: [f] })),
  fc.tuple(filter, fc.constantFrom(1, -1), fc.integer({ min: 1, max: 3 })).map(([f, dir, limit]) => ({ op: 'findSorted', args: [f, dir, limit] })),
  filter.map((f) => ({ op: 'findOne', args: [f] })),
  filter.map((f) => ({ op: 'countDocuments', args: [f] })),
);

let client: MongoClient;
const dbs: Db[] = [];

beforeAll(async () => {
  client = await connectMongo();
  const name = uniqueDbName('sdk_fidelity');
  for (const suffix of ['live', 'dry', 'bare']) dbs.push(client.db(`${name}_${suffix}`));
});

afterAll(async () => {
  for (const db of dbs) await db.dropDatabase().catch(() => undefined);
  await client?.close();
});

async function reset(c: Collection): Promise<void> {
  await c.deleteMany({});
  await c.insertMany(SEED.map((d) => structuredClone(d)) as never[]);
}

/** Runs the steps in one request (one shadow context) and returns what each call returned. */
async function run(sdk: ShadowSdk | undefined, c: Collection, steps: Step[], headers: Record<string, string>): Promise<unknown[]> {
  const body = async () => {
    const results: unknown[] = [];
    for (const s of structuredClone(steps)) {
      try {
        if (s.op === 'find') results.push(await c.find(s.args[0] as object).toArray());
        else if (s.op === 'findSorted') {
          const [f, dir, limit] = s.args as [object, 1 | -1, number];
          results.push(await c.find(f).sort({ n: dir, _id: 1 }).limit(limit).toArray());
        } else results.push(await (c as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[s.op]!(...s.args));
      } catch (err) {
        results.push(err);
      }
    }
    return results;
  };
  return sdk ? sdk.withShadowContext(headers, body, { method: 'POST', path: '/fidelity' }) : body();
}

/** FerretDB 1.24 numbers a bulk write's upserts within the server batch, not by the write's index as MongoDB does: compare the ids only. */
function upsertIndexFree(result: unknown): unknown {
  const r = result as { upsertedIds?: Record<string, unknown> } | null;
  if (!r || typeof r !== 'object' || 'stack' in r || !r.upsertedIds || typeof r.upsertedIds !== 'object') return result;
  return { ...r, upsertedIds: Object.values(r.upsertedIds) };
}

test('live and dry-run record equal effects and return equal values; the dry-run database is untouched', async () => {
  const [liveDb, dryDb, bareDb] = dbs as [Db, Db, Db];
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
      runs += 1;
      const liveSink = memorySink();
      const drySink = memorySink();
      const live = createShadow({ side: 'legacy', sink: liveSink });
      const dry = createShadow({ side: 'candidate', sink: drySink });
      const bare = bareDb.collection('orders');
      await Promise.all([reset(liveDb.collection('orders')), reset(dryDb.collection('orders')), reset(bare)]);
      const before = await dump(dryDb);

      const shadowId = `fid${runs}`;
      const liveResults = await run(live, live.mongo(liveDb).collection('orders'), steps, shadowHeaders(shadowId, 'legacy', 'live'));
      const dryResults = await run(dry, dry.mongo(dryDb).collection('orders'), steps, shadowHeaders(shadowId, 'candidate', 'dry-run'));
      const bareResults = await run(undefined, bare, steps, {});
      await live.close();
      await dry.close();

      // Live recording changes nothing the driver does: same results, same final data.
      const nb = normalizer();
      const nl = normalizer();
      expect(liveResults.map(nl)).toEqual(bareResults.map(nb));
      // As sets: ObjectIds generated by the driver and by the server (an upsert) do not sort the
      // same way in two databases, so `_id` order is not comparable across them.
      const asSet = (docs: unknown) => (docs as unknown[]).map((d) => JSON.stringify(d)).sort();
      expect(asSet(nl(await liveDb.collection('orders').find().sort({ _id: 1 }).toArray()))).toEqual(asSet(nb(await bare.find().sort({ _id: 1 }).toArray())));

      // Dry-run: the same effects and return values, and not one byte written.
      const nd = normalizer();
      const nl2 = normalizer();
      expect(dryResults.map(upsertIndexFree).map(nd)).toEqual(liveResults.map(upsertIndexFree).map(nl2));
      expect(comparable(drySink.records, nd)).toEqual(comparable(liveSink.records, nl2));
      expect(await dump(dryDb)).toEqual(before);
      for (const s of [live.stats(), dry.stats()]) expect({ dropped: s.dropped, internalErrors: s.internalErrors, emulationFailures: s.emulationFailures }).toEqual({ dropped: 0, internalErrors: 0, emulationFailures: 0 });
    }),
    { numRuns: Number(process.env.FIDELITY_RUNS ?? 150) },
  );
}, 240_000);
