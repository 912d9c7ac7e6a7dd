// The soak, short: 20 seconds of mirrored order traffic through the proxy, RabbitMQ, a
// `shadowdiff worker` process and the MongoDB-wire server. Every mirrored request has exactly one
// comparison, nothing is dropped, and the primary path answers as it does without shadowdiff.
// `npm run soak` runs the same for 10 minutes (docs/operations.md).
import { createLogger } from '../../../core/logger';
import { runSoak } from '../../../examples/orders/soak';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, uniqueDbName } from '../../helpers/services';

jest.setTimeout(180_000);

it('20 s of mirrored load: every mirrored request compared exactly once, nothing dropped, the primary path unharmed', async () => {
  await (await connectRabbit()).close();
  // runSoak drops its databases and queues itself.
  const r = await runSoak({ amqpUrl: AMQP_URL, mongodbUrl: MONGODB_URL, seconds: 20, concurrency: 6, workers: 1, partnerLatencyMs: 100, prefix: uniqueDbName('soak'), logger: createLogger({ level: 'warn' }) });
  expect(r.mirrored).toBeGreaterThan(100);
  expect({ lost: r.lost, duplicated: r.duplicated, compared: r.compared }).toEqual({ lost: 0, duplicated: 0, compared: r.mirrored });
  expect(r.records.dropped + r.records.exchangesDropped).toBe(0);
  // Every primary answer was legacy's: no proxy errors, no requests without an answer.
  expect(Object.keys(r.load.statuses).filter((s) => !['200', '201'].includes(s))).toEqual([]);
  expect(Object.keys(r.through.statuses)).toEqual(['200']);
  // Loose on a shared CI machine; the 10-minute figures are in docs/operations.md.
  expect(r.through.p50).toBeLessThan(r.without.p50 * 3 + 50);
  expect(r.samples.length).toBeGreaterThan(3);
  const client = await connectMongo();
  const left = (await client.db('admin').admin().listDatabases()).databases.map((d) => d.name).filter((n) => n.startsWith(r.runId.slice(5)));
  await client.close();
  expect(left).toEqual([]);
});
