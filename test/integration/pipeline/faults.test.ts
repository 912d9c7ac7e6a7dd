// Faults inside the pipeline, during load: the MongoDB-wire server killed and restarted, the store
// refusing writes as a full disk would, and the two sides' clocks hours apart. After recovery every request has exactly one comparison
// with its true verdict; nothing is lost, nothing duplicated. (The candidate's faults are in
// proxy/faults.test.ts; RabbitMQ restarts and SIGKILLed workers in chaos.test.ts.)
import { Worker } from '../../../pipeline/worker';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { connectMongoStore } from '../../../runtime/store/mongo';
import type { Store } from '../../../runtime/store/store';
import { eventually, quiet } from '../../helpers/proxy';
import { privateMongo } from '../../helpers/services';
import { traffic } from '../../helpers/traffic';

jest.setTimeout(60_000);

/** The store with writes failing as on a full disk while `failing()` says so. */
function fullDisk(inner: Store, failing: () => boolean): Store & { refused: number } {
  let refused = 0;
  const refuse = (name: string) => async (...args: unknown[]) => {
    if (failing()) {
      refused += 1;
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    return (inner[name as keyof Store] as (...a: unknown[]) => Promise<unknown>).apply(inner, args);
  };
  const writes = new Set(['putComparisons', 'putEffects', 'putExchanges', 'flushRollups', 'addCoverage']);
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'refused') return refused;
      if (typeof prop === 'string' && writes.has(prop)) return refuse(prop);
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as Store & { refused: number };
}

it('the MongoDB-wire server killed mid-load and restarted: every request compared exactly once, nothing dead-lettered', async () => {
  const mongo = await privateMongo();
  const bus = new MemoryBus({ partitions: 4, prefetch: 100 });
  const store = await connectMongoStore({ url: mongo.url, dbName: 'restart', logger: quiet });
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 60_000, alerts: false, batchMs: 20 });
  await worker.start();
  try {
    const first = traffic({ runId: 'restart', requests: 600, mismatchEvery: 9, prefix: 'a' });
    const second = traffic({ runId: 'restart', requests: 600, mismatchEvery: 9, prefix: 'b' });
    await bus.publish(first.records);
    await eventually(async () => (await store.countComparisons('restart')) > 100, 20_000, 'comparisons before the fault');
    await mongo.kill(); // no clean shutdown
    await bus.publish(second.records); // arrives while the store is gone
    await new Promise((r) => setTimeout(r, 2_000));
    await mongo.start();
    await eventually(async () => (await store.countComparisons('restart').catch(() => 0)) === 1200, 60_000, 'every request compared after the restart');
    expect(worker.stats().storeErrors).toBeGreaterThan(0);
    await worker.drain();
    const all = await store.listComparisons({ runId: 'restart', limit: 5000 });
    expect(all).toHaveLength(1200);
    const truth = new Map([...first.truth, ...second.truth]);
    expect(all.filter((c) => c.verdict !== truth.get(c.shadowId)).map((c) => c.shadowId)).toEqual([]);
    expect(bus.stats().deadLettered).toBe(0);
  } finally {
    await worker.stop();
    await bus.close();
    await store.close();
    await mongo.dispose();
  }
}, 120_000);

it('a store that stops answering (the server frozen): each write past the deadline is a store error, the pending gauge rises, and nothing is lost when it thaws', async () => {
  const mongo = await privateMongo();
  const bus = new MemoryBus({ partitions: 4, prefetch: 100 });
  const store = await connectMongoStore({ url: mongo.url, dbName: 'frozen', logger: quiet });
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 60_000, alerts: false, batchMs: 20, storeDeadlineMs: 500 });
  await worker.start();
  try {
    const t = traffic({ runId: 'frozen', requests: 600, mismatchEvery: 9, prefix: 'f' });
    await bus.publish(t.records.slice(0, 600));
    await eventually(() => worker.stats().stored > 0, 20_000, 'comparisons before the freeze');
    mongo.pause();
    await bus.publish(t.records.slice(600));
    // Before: a hung store showed nothing at all (storeErrors stayed 0). Now within seconds:
    await eventually(() => worker.stats().storeErrors >= 2 && worker.stats().storePendingSeconds > 1, 15_000, 'store errors and a pending write while the server is frozen');
    const during = worker.stats();
    mongo.resume();
    await eventually(async () => (await store.countComparisons('frozen').catch(() => 0)) === 600, 60_000, 'every request compared after the thaw');
    await worker.drain();
    expect(worker.stats().storePendingSeconds).toBe(0);
    const all = await store.listComparisons({ runId: 'frozen', limit: 5000 });
    expect(all.filter((c) => c.verdict !== t.truth.get(c.shadowId)).map((c) => c.shadowId)).toEqual([]);
    expect(bus.stats().deadLettered).toBe(0);
    expect(during.stored).toBeLessThan(600);
  } finally {
    mongo.resume();
    await worker.stop();
    await bus.close();
    await store.close();
    await mongo.dispose();
  }
}, 120_000);

it('a store refusing writes (disk full) for seconds mid-load: after it recovers, every request is compared exactly once', async () => {
  const bus = new MemoryBus({ partitions: 4, prefetch: 100 });
  const inner = new MemoryStore();
  let full = false;
  const store = fullDisk(inner, () => full);
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 20_000, alerts: false, batchMs: 20 });
  await worker.start();
  try {
    const first = traffic({ runId: 'disk', requests: 500, mismatchEvery: 7, prefix: 'a' });
    const second = traffic({ runId: 'disk', requests: 1500, mismatchEvery: 7, prefix: 'b' });
    await bus.publish(first.records);
    await eventually(async () => (await inner.countComparisons('disk')) > 100, 10_000, 'comparisons before the fault');
    full = true;
    await bus.publish(second.records); // arrives while nothing can be written
    await new Promise((r) => setTimeout(r, 3_000));
    expect(store.refused).toBeGreaterThan(0);
    expect(worker.stats().storeErrors).toBeGreaterThan(0);
    const during = await inner.countComparisons('disk');
    full = false;
    await eventually(async () => (await inner.countComparisons('disk')) === 2000, 30_000, 'every request compared after recovery');
    expect(during).toBeLessThan(2000);
    await worker.drain();
    const all = await inner.listComparisons({ runId: 'disk', limit: 5000 });
    expect(all).toHaveLength(2000);
    const truth = new Map([...first.truth, ...second.truth]);
    expect(all.filter((c) => c.verdict !== truth.get(c.shadowId)).map((c) => c.shadowId)).toEqual([]);
    await inner.flushRollups();
    const rollup = await inner.getRollup('disk');
    const verdicts = Object.values(rollup.routes).reduce((n, r) => ({ match: n.match + r.verdicts.match, mismatch: n.mismatch + r.verdicts.mismatch }), { match: 0, mismatch: 0 });
    expect(verdicts).toEqual({ match: [...truth.values()].filter((v) => v === 'match').length, mismatch: [...truth.values()].filter((v) => v === 'mismatch').length });
    expect(bus.stats().deadLettered).toBe(0);
  } finally {
    await worker.stop();
    await bus.close();
  }
});

it('the sides\' clocks hours apart: compared as usual, the verdicts unchanged', async () => {
  const bus = new MemoryBus({ partitions: 2 });
  const store = new MemoryStore();
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 5_000, alerts: false });
  await worker.start();
  try {
    const t = traffic({ runId: 'skew', requests: 200, mismatchEvery: 5 });
    // The candidate's host is 3 hours and 17 seconds ahead; legacy's 40 minutes behind.
    const skewed = t.records.map((r) => ({ ...r, at: new Date(Date.parse(r.at) + (r.side === 'candidate' ? 3 * 3_600_000 + 17_000 : -40 * 60_000)).toISOString() }));
    await bus.publish(skewed);
    await eventually(async () => (await store.countComparisons('skew')) === 200, 10_000, 'the comparisons');
    const all = await store.listComparisons({ runId: 'skew', limit: 500 });
    expect(all.filter((c) => c.verdict !== t.truth.get(c.shadowId))).toEqual([]);
    expect(all.every((c) => c.findings.every((f) => f.field === 'total'))).toBe(true); // no finding about time
  } finally {
    await worker.stop();
    await bus.close();
  }
});
