// Baseline replay gets production's pre-state: the recorded legacy before-images are handed to
// the candidate under each replayed shadow id, so its dry-run computes from the state legacy
// saw, not from whatever the CI database holds. Real pieces: the plain service on the
// MongoDB-wire server, recorded in "production" by the live SDK, replayed at a candidate whose
// database differs.
import type { MongoClient } from 'mongodb';
import { request } from 'undici';
import { createShadow } from '../../../capture/sdk';
import { compare } from '../../../compare/engine';
import type { EffectRecord, EndRecord, ExchangeRecord, ShadowRecord } from '../../../core/effect';
import { replay } from '../../../replay/engine';
import type { RecordedRequest } from '../../../replay/recording';
import { MemoryHandoff } from '../../../runtime/handoff/memory';
import { listen, plainService } from '../../helpers/plain-service';
import { quiet } from '../../helpers/proxy';
import { memorySink, shadowHeaders, sideOf } from '../../helpers/sdk';
import { connectMongo, uniqueDbName } from '../../helpers/services';

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

describe('baseline replay with the recorded pre-state', () => {
  let client: MongoClient;
  // CI's database has production's name (images are keyed by namespace), on another server in real life: here the same one, after production's is gone.
  const prod = uniqueDbName('replay_prestate');
  const ci = prod;
  const recording: RecordedRequest[] = [];

  beforeAll(async () => {
    client = await connectMongo();
    // Production: accounts at 100; legacy credits them, registers users, all recorded live.
    await client.db(prod).collection('accounts').insertMany(['a1', 'a2', 'a3'].map((_id) => ({ _id, balance: 100 })) as never[]);
    const sink = memorySink();
    const legacy = createShadow({ side: 'legacy', sink, logger: quiet });
    const service = await listen(plainService(legacy, client, prod));
    try {
      for (let i = 0; i < 30; i++) {
        const shadowId = `rec${i}`;
        const [method, path, body] = i % 2 ? ['POST', `/accounts/a${(i % 3) + 1}/credit`, {}] : ['POST', '/users', { email: `u${i % 7}@x` }];
        const res = await request(`${service.url}${path}`, { method: method as 'POST', headers: { 'content-type': 'application/json', ...shadowHeaders(shadowId, 'legacy', 'live', 'rec') }, body: JSON.stringify(body) });
        const answer = await res.body.json();
        await legacy.flush(2_000);
        const exchange: ExchangeRecord = {
          v: 1,
          type: 'exchange',
          runId: 'rec',
          shadowId,
          at: new Date().toISOString(),
          request: { method, path, route: path.replace(/a\d/, ':id'), headers: { 'content-type': 'application/json' }, body },
          responses: { legacy: { status: res.statusCode, headers: { 'content-type': 'application/json; charset=utf-8' }, body: answer } },
        };
        recording.push({ exchange, legacy: sink.records.filter((r): r is EffectRecord | EndRecord => r.shadowId === shadowId && r.type !== 'exchange'), line: i + 1 });
      }
    } finally {
      await service.close();
      await legacy.close();
      await client.db(prod).dropDatabase();
    }
  });
  afterAll(async () => {
    await client?.db(ci).dropDatabase();
    await client?.close();
  });

  /** Replays the recording at an identical candidate whose database has other balances and no users; the comparisons. */
  async function replayAt(withHandoff: boolean) {
    await client.db(ci).dropDatabase();
    await client.db(ci).collection('accounts').insertMany(['a1', 'a2', 'a3'].map((_id) => ({ _id, balance: 7 })) as never[]);
    const handoff = new MemoryHandoff();
    const sink = memorySink();
    const candidate = createShadow({ side: 'candidate', sink, logger: quiet, ...(withHandoff ? { handoff: { store: handoff } } : {}) });
    const service = await listen(plainService(candidate, client, ci));
    const published: ShadowRecord[] = [];
    try {
      const summary = await replay(iterate(recording), { candidate: service.url, runId: 'ci', concurrency: 1, publish: async (r) => void published.push(...r), logger: quiet, ...(withHandoff ? { handoff } : {}) });
      await candidate.flush(2_000);
      const all = [...published, ...sink.records];
      const ids = [...new Set(published.filter((r) => r.type === 'exchange').map((r) => r.shadowId))];
      const comparisons = ids.map((shadowId) => {
        const exchange = all.find((r): r is ExchangeRecord => r.type === 'exchange' && r.shadowId === shadowId);
        return compare({ runId: 'ci', shadowId, legacy: sideOf(all, shadowId, 'legacy'), candidate: sideOf(all, shadowId, 'candidate'), exchange }, { now: '2026-12-02T00:00:00.000Z' });
      });
      return { summary, comparisons };
    } finally {
      await service.close();
      await candidate.close();
      await handoff.close();
    }
  }

  it('without it, the candidate computes from the CI database and every credit differs', async () => {
    const { comparisons } = await replayAt(false);
    const credits = comparisons.filter((c) => c.route.includes('credit'));
    expect(credits.length).toBe(15);
    expect(credits.every((c) => c.verdict === 'mismatch')).toBe(true);
  });

  it('with it, the identical candidate matches on every request that wrote what it read, and the summary counts what was handed over', async () => {
    const { summary, comparisons } = await replayAt(true);
    expect(comparisons).toHaveLength(30);
    const credits = comparisons.filter((c) => c.route.includes('credit'));
    expect(credits.filter((c) => c.verdict !== 'match').map((c) => [c.route, c.verdict, c.findings[0], c.inconclusive])).toEqual([]);
    // Registering depends on users legacy only read (or counted): the handoff cannot know them; that is what --seed is for.
    expect(comparisons.filter((c) => c.route === 'POST /users').some((c) => c.verdict === 'mismatch')).toBe(true);
    expect(summary.preloaded).toMatchObject({ failed: 0 });
    expect(summary.preloaded!.requests).toBeGreaterThanOrEqual(15);
  });
});
