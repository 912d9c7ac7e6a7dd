// The store contract on both adapters: MongoDB (the MongoDB-wire test server) and embedded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
