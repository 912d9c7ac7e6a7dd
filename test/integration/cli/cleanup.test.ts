// Clean-up after a shadow run (issue 19): `shadowdiff topology --delete` removes a prefix's
// exchanges and queues on the real RabbitMQ, and `shadowdiff delete-run` a run's data in the
// MongoDB-wire store. Both say what they would remove and refuse without --yes; topology refuses
// while a consumer is attached, and reports the messages deleting drops.
import { run } from '../../../cli/main';
import { createLogger } from '../../../core/logger';
import { declareTopology, inspectTopology } from '../../../runtime/bus/topology';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { fakeIo } from '../../helpers/cli';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { comparisonFor } from '../runtime/store.contract';

const quiet = createLogger({ level: 'silent' });

it('topology lists a prefix, refuses to delete without --yes or with a consumer attached, then deletes it and counts what it held', async () => {
  const prefix = `sd-cleanup-${Date.now().toString(36)}`;
  const model = await connectRabbit();
  try {
    await declareTopology(model, { prefix, partitions: 3, queueType: 'auto', deliveryLimit: 5 }, quiet);
    const ch = await model.createConfirmChannel();
    ch.publish(prefix, 'p1', Buffer.from('[]'));
    await ch.waitForConfirms();
    const cli = (...args: string[]) => {
      const f = fakeIo({ env: { AMQP_URL } });
      return run(['topology', '--prefix', prefix, ...args], f.io).then((code) => ({ code, out: f.out.join('\n'), err: f.err.join('\n') }));
    };
    const list = await cli();
    expect(list.code).toBe(0);
    expect(list.out).toMatch(new RegExp(`exchange ${prefix}\\b`));
    expect(list.out).toMatch(new RegExp(`queue +${prefix}\\.p1 +1 message\\(s\\), 0 consumer\\(s\\)`));
    expect(list.out.split('\n').filter((l) => l.startsWith('queue'))).toHaveLength(5); // 3 partitions, dead, presence

    const dry = await cli('--delete');
    expect(dry).toMatchObject({ code: 2 });
    expect(dry.err).toMatch(/would delete 7 exchange\(s\) and queue\(s\) of prefix "sd-cleanup-\w+", dropping 1 message\(s\) they hold; run again with --yes/);

    const consumer = await model.createChannel();
    await consumer.consume(`${prefix}.presence`, () => undefined);
    const busy = await cli('--delete', '--yes');
    expect(busy.code).toBe(2);
    expect(busy.err).toMatch(new RegExp(`not deleting prefix "${prefix}": ${prefix}\\.presence has 1 consumer\\(s\\)\\. Stop the workers`));
    await consumer.close();

    const done = await cli('--delete', '--yes');
    expect(done).toMatchObject({ code: 0 });
    expect(done.out).toMatch(/deleted 7 exchange\(s\) and queue\(s\) of prefix "sd-cleanup-\w+"; 1 message\(s\) they held were dropped/);
    expect(await inspectTopology(model, prefix)).toEqual([]);
    expect((await cli()).out).toMatch(/nothing of prefix/);
    await ch.close();
  } finally {
    await model.close();
  }
});

it('delete-run removes one run\'s data and leaves the others; it says what it would remove and refuses without --yes', async () => {
  const dbName = uniqueDbName('cleanup');
  const store = await connectMongoStore({ url: MONGODB_URL, dbName, logger: quiet });
  try {
    for (const runId of ['old', 'keep']) {
      await store.putRun({ runId, createdAt: '2026-12-01T00:00:00.000Z', source: 'proxy' });
      await store.putComparisons([comparisonFor(runId, 'a', 1, 2), comparisonFor(runId, 'b', 1, 1)]);
      await store.putExchanges([{ runId, shadowId: 'a', at: '2026-12-01T00:00:00.000Z', request: { method: 'POST', path: '/x' }, responses: {} }]);
      await store.putRules(runId, { ignore: ['x'] }, { reason: 'r', author: 'a' });
      await store.flushRollups(runId);
    }
    const cli = async (...args: string[]) => {
      const f = fakeIo({ env: { MONGODB_URL, SHADOWDIFF_DB: dbName } });
      const code = await run(['delete-run', ...args], f.io);
      return { code, out: f.out.join('\n'), err: f.err.join('\n') };
    };
    const dry = await cli('--run', 'old');
    expect(dry.code).toBe(2);
    expect(dry.err).toMatch(/would remove from run old: 2 comparison\(s\), 0 kept record\(s\), 1 exchange\(s\), \d+ rollup version\(s\), 0 alert\(s\), 1 rules version\(s\), the run; run again with --yes/);
    expect((await store.runData('old')).comparisons).toBe(2);

    const done = await cli('--run', 'old', '--yes');
    expect(done.code).toBe(0);
    expect(done.out).toMatch(/removed from run old: 2 comparison\(s\).*the run$/);
    expect(await store.runData('old')).toEqual({ run: 0, comparisons: 0, records: 0, exchanges: 0, rollups: 0, alerts: 0, rules: 0, jobs: 0, cutover: 0 });
    expect(await store.runData('keep')).toMatchObject({ run: 1, comparisons: 2, exchanges: 1, rules: 1 });
    expect((await store.listRuns()).map((r) => r.runId)).toEqual(['keep']);

    const missing = await cli('--run', 'old', '--yes');
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/run "old" has nothing in this store/);
  } finally {
    await store.close();
    const client = await connectMongo();
    await client.db(dbName).dropDatabase();
    await client.close();
  }
});
