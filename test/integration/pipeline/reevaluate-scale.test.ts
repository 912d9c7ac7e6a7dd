// Re-evaluation at the scale that stalled the store (issue 20): a run of 10,000 comparisons on
// the MongoDB-wire test server, re-evaluated under new rules while a worker keeps comparing and
// storing another run's traffic. The job answers at once, shows its progress, stops on close and
// is resumed by the next process from its cursor, and ends with the rollup exact; the workers'
// writes go on meanwhile, with no store error.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Reevaluator } from '../../../pipeline/reevaluate';
import { Worker } from '../../../pipeline/worker';
import { reportApp } from '../../../report/server';
import { MemoryBus } from '../../../runtime/bus/memory';
import { connectMongoStore } from '../../../runtime/store/mongo';
import type { ReevaluationJob } from '../../../runtime/store/store';
import { eventually, quiet } from '../../helpers/proxy';
import { privateMongo } from '../../helpers/services';
import { traffic } from '../../helpers/traffic';

const RUN = 'big';
const REQUESTS = 10_000;
const MISMATCH_EVERY = 40; // 250 mismatches (2.5%), each with its records kept
const BATCH = 100;

it(`re-evaluating ${REQUESTS} comparisons on the MongoDB-wire server while a worker stores: answered at once, resumed after a restart, rollup exact, the worker never stalls`, async () => {
  const mongo = await privateMongo();
  const store = await connectMongoStore({ url: mongo.url, dbName: 'scale', logger: quiet });
  const bus = new MemoryBus({ partitions: 4, prefetch: 200 });
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 60_000, alerts: false, batchMs: 50, storeDeadlineMs: 5_000 });
  await worker.start();
  const servers: Server[] = [];
  const serve = async (reevaluator: Reevaluator) => {
    const server = reportApp({ store, logger: quiet, reevaluator }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  let first: Reevaluator | undefined;
  let second: Reevaluator | undefined;
  try {
    const big = traffic({ runId: RUN, requests: REQUESTS, mismatchEvery: MISMATCH_EVERY, prefix: 'b' });
    await store.ensureRun(RUN, 'proxy');
    await bus.publish(big.records);
    await eventually(async () => (await store.countComparisons(RUN)) === REQUESTS, 600_000, `${REQUESTS} comparisons stored`);
    await worker.drain();
    const mismatches = REQUESTS / MISMATCH_EVERY;
    expect(await store.countComparisons(RUN, 'mismatch')).toBe(mismatches);
    // The candidate's total is off by one: a rule that tolerates it turns every mismatch into a match.
    await store.putRules(RUN, { ignore: ['**.total'] }, { reason: 'total rounded by the gateway', author: 'kim' });

    first = new Reevaluator({ store, logger: quiet, batch: BATCH });
    const base = await serve(first);
    const asked = Date.now();
    const post = await fetch(`${base}/api/runs/${RUN}/reevaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'kim' }) });
    expect(post.status).toBe(202);
    expect(Date.now() - asked).toBeLessThan(5_000); // it reads the rules and two counts, then answers
    expect((await post.json()) as ReevaluationJob).toMatchObject({ state: 'running', total: mismatches, reevaluated: 0, rulesVersion: 1 });
    const again = await fetch(`${base}/api/runs/${RUN}/reevaluate`, { method: 'POST' });
    expect(again.status).toBe(409);

    // Another run's traffic goes on all along, a little at a time, as production sends it.
    const live = traffic({ runId: 'live', requests: 4_000, mismatchEvery: 9, prefix: 'l' });
    const perRequest = live.records.length / 4_000;
    let sent = 0;
    let jobOver = false;
    const feeding = (async () => {
      while (!jobOver && sent < 4_000) {
        await bus.publish(live.records.slice(sent * perRequest, (sent + 10) * perRequest));
        sent += 10;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    // What the report and the workers see while the job runs: the report answers, the worker stores.
    let slowestGetMs = 0;
    const watch = async () => {
      const asked = Date.now();
      const job = (await (await fetch(`${base}/api/runs/${RUN}/reevaluate`)).json()) as ReevaluationJob;
      slowestGetMs = Math.max(slowestGetMs, Date.now() - asked);
      return job;
    };

    // Progress, then a restart mid-job: the first process stops after its batch.
    await eventually(async () => (await watch()).reevaluated > 0, 120_000, 'progress on the re-evaluation');
    const storedAtProgress = worker.stats().stored;
    await first.close();
    const left = (await store.getJob(RUN))!;
    expect(left.state).toBe('running');
    expect(left.reevaluated).toBeGreaterThan(0);
    expect(left.reevaluated).toBeLessThan(mismatches);

    second = new Reevaluator({ store, logger: quiet, batch: BATCH });
    expect(await second.resumeStale()).toEqual([RUN]);
    await eventually(async () => (await watch()).state !== 'running', 300_000, 'the resumed re-evaluation to end');
    const done = (await second.wait(RUN))!;
    jobOver = true;
    await feeding;
    expect(done).toMatchObject({ state: 'done', total: mismatches, reevaluated: mismatches, changed: mismatches, withoutRecords: 0 });
    expect(done.startedAt).toBe(left.startedAt); // resumed, not started over

    // The worker kept storing through the job, none of its writes missed the deadline, and the
    // report answered throughout.
    expect(worker.stats().stored).toBeGreaterThan(storedAtProgress);
    await eventually(async () => (await store.countComparisons('live')) === sent, 60_000, "the live run's comparisons");
    expect(worker.stats().storeErrors).toBe(0);
    expect(slowestGetMs).toBeLessThan(2_000);

    // Exact: every comparison of the run is a match now, and the rollup says so.
    expect(await store.countComparisons(RUN, 'mismatch')).toBe(0);
    const routes = Object.values((await store.getRollup(RUN)).routes);
    expect(routes.reduce((n, r) => n + r.compared, 0)).toBe(REQUESTS);
    expect(routes.reduce((n, r) => n + r.verdicts.match, 0)).toBe(REQUESTS);
    expect(routes.reduce((n, r) => n + r.verdicts.mismatch, 0)).toBe(0);
  } finally {
    await first?.close();
    await second?.close();
    for (const s of servers) await new Promise((r) => s.close(r));
    await worker.stop();
    await bus.close();
    await store.close();
    await mongo.dispose();
  }
}, 900_000);
