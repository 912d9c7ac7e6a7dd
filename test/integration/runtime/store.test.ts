// The store contract on both adapters: MongoDB (the MongoDB-wire test server) and embedded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rollupOf } from '../../../compare/engine';
import { createLogger } from '../../../core/logger';
import { MemoryStore } from '../../../runtime/store/memory';
import { connectMongoStore, type MongoStore } from '../../../runtime/store/mongo';
import { MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { comparisonFor, storeContract } from './store.contract';

const logger = createLogger({ level: 'silent' });

storeContract({
  name: 'MongoDB',
  open: () => connectMongoStore({ url: MONGODB_URL, logger, dbName: uniqueDbName('store') }),
  dispose: async (store) => {
    await (store as MongoStore).drop();
    await store.close();
  },
});

storeContract({
  name: 'embedded',
  open: async () => new MemoryStore(),
  dispose: async () => undefined,
});

describe('MongoDB store: rollup folding', () => {
  let store: MongoStore;
  const dbName = uniqueDbName('fold');
  const run = (runId: string, from: number, n: number) =>
    Array.from({ length: n }, (_, i) => comparisonFor(runId, `s${String(from + i).padStart(5, '0')}`, 1, (from + i) % 4 ? 1 : 2));
  beforeEach(async () => {
    store = await connectMongoStore({ url: MONGODB_URL, logger, dbName });
  });
  afterEach(async () => {
    await store.drop();
    await store.close();
  });

  it('folds from an inbox that holds only what was stored since the last flush', async () => {
    await store.putComparisons(run('f1', 0, 300));
    expect(await store.collections.unfolded.countDocuments({ runId: 'f1' })).toBe(300);
    await store.flushRollups();
    expect(await store.collections.unfolded.countDocuments({})).toBe(0);
    await store.putComparisons(run('f1', 300, 7));
    expect(await store.collections.unfolded.countDocuments({ runId: 'f1' })).toBe(7);
    // The entries carry their comparisons: a flush reads nothing else (here, one whose stored
    // document retention removed before the flush is still counted).
    await store.collections.comparisons.deleteOne({ runId: 'f1', shadowId: 's00306' });
    await store.flushRollups();
    expect(await store.getRollup('f1')).toEqual(rollupOf('f1', run('f1', 0, 307)));
  });

  it('counts a redelivered comparison once, whether or not it was folded before the redelivery', async () => {
    const all = run('f2', 0, 20);
    await store.putComparisons(all.slice(0, 10));
    await store.flushRollups('f2');
    // A worker died between storing these and writing their inbox entries.
    await store.putComparisons(all.slice(10));
    await store.collections.unfolded.deleteMany({ _id: { $in: (await store.collections.unfolded.find({ runId: 'f2' }).toArray()).slice(0, 5).map((e) => e._id) } });
    // Their messages come again: every comparison is there already.
    expect(await store.putComparisons(all)).toEqual({ inserted: 0, existing: 20 });
    await store.flushRollups();
    expect(await store.getRollup('f2')).toEqual(rollupOf('f2', all));
  });

  it('lets one background flush run at a time; a lease left by a dead flusher expires', async () => {
    await store.putComparisons(run('f3', 0, 50));
    const meta = store.collections.comparisons.db.collection<{ _id: string; owner: string; until: Date }>('meta');
    // Another worker is flushing: a background flush steps aside and folds nothing.
    await meta.insertOne({ _id: 'flush-lease', owner: 'another worker', until: new Date(Date.now() + 30_000) });
    expect(await store.flushRollups(undefined, { background: true })).toBe(false);
    expect(await store.collections.unfolded.countDocuments({ runId: 'f3' })).toBe(50);
    // A flush that is not in the background (the report's, a stopping worker's) always runs.
    await store.putComparisons(run('f3', 50, 10));
    expect(await store.flushRollups('f3')).toBe(true);
    expect(await store.getRollup('f3')).toEqual(rollupOf('f3', run('f3', 0, 60)));
    // Its holder died a while ago: the next background flush takes over.
    await store.putComparisons(run('f3', 60, 5));
    await meta.updateOne({ _id: 'flush-lease' }, { $set: { until: new Date(Date.now() - 1) } });
    const started = Date.now();
    expect(await store.flushRollups(undefined, { background: true })).toBe(true);
    const took = Date.now() - started;
    expect(await store.getRollup('f3')).toEqual(rollupOf('f3', run('f3', 0, 65)));
    // It keeps the lease for three times as long as it flushed, then the next one may go.
    const lease = (await meta.findOne({ _id: 'flush-lease' }))!;
    expect(lease.owner).not.toBe('another worker');
    expect(lease.until.getTime()).toBeLessThanOrEqual(Date.now() + 3 * took);
    await new Promise((r) => setTimeout(r, Math.max(0, lease.until.getTime() - Date.now()) + 10));
    await store.putComparisons(run('f3', 65, 1));
    expect(await store.flushRollups(undefined, { background: true })).toBe(true);
    expect(await store.getRollup('f3')).toEqual(rollupOf('f3', run('f3', 0, 66)));
  });

  it('fills the inbox of a database written by an earlier build, counting nothing twice', async () => {
    const all = run('old', 0, 40);
    await store.putComparisons(all);
    // The earlier layout: no inbox and no layout mark; a marker document per folded comparison,
    // and the rollup holding exactly the marked ones.
    await store.collections.unfolded.deleteMany({});
    await store.collections.comparisons.db.collection('meta').deleteMany({});
    const ids = (await store.collections.comparisons.find({ runId: 'old' }, { projection: { _id: 1 } }).sort({ shadowId: 1 }).toArray()).map((d) => d._id);
    await store.collections.rollups.insertOne({ _id: 'old#1', runId: 'old', v: 1, rollup: JSON.stringify(rollupOf('old', all.slice(0, 25))), applied: [] });
    await store.collections.rolled.insertMany(ids.slice(0, 25).map((_id) => ({ _id, runId: 'old', expireAt: new Date(Date.now() + 86_400_000) })));

    const upgraded = await connectMongoStore({ url: MONGODB_URL, logger, dbName });
    try {
      expect(await upgraded.collections.unfolded.countDocuments({ runId: 'old' })).toBe(15);
      await upgraded.flushRollups();
      expect(await upgraded.getRollup('old')).toEqual(rollupOf('old', all));
      // Once: opening it again adds nothing.
      const again = await connectMongoStore({ url: MONGODB_URL, logger, dbName });
      await again.close();
      expect(await upgraded.collections.unfolded.countDocuments({})).toBe(0);
    } finally {
      await upgraded.close();
    }
  });
});

describe('embedded store on disk', () => {
  it('saves a run to a directory that opens with the same data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sd-run-'));
    try {
      const store = new MemoryStore();
      await store.putRun({ runId: 'r1', createdAt: '2026-11-24T10:00:00.000Z', label: 'ci' });
      await store.putComparisons([comparisonFor('r1', 's1', 1, 2), comparisonFor('r1', 's2', 1, 1)]);
      await store.save(dir);
      const back = await MemoryStore.open(dir);
      expect(await back.getRun('r1')).toMatchObject({ label: 'ci' });
      expect(await back.getRollup('r1')).toEqual(await store.getRollup('r1'));
      expect(await back.listComparisons({ runId: 'r1' })).toEqual(await store.listComparisons({ runId: 'r1' }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says clearly when a directory is not a saved run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sd-run-'));
    try {
      await expect(MemoryStore.open(dir)).rejects.toThrow(/cannot open saved run .*run\.json ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
