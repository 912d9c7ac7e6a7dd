// A ramp plan on the embedded runtime (in-process bus and store, as `shadowdiff demo` runs):
// proxy → two express services with the SDK → worker with the guard → proxy. The plan advances
// while its gates hold, holds when one fails, and ends when the guard rolls the route back;
// every step, hold and rollback is on the run's timeline with its figures.
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveProxyConfig, startProxy } from '../../../capture/proxy';
import { createShadow } from '../../../capture/sdk';
import { busSink } from '../../../capture/sdk/sinks';
import { parsePlan, runPlan, type PlanOutcome } from '../../../pipeline/cutover-plan';
import { Worker } from '../../../pipeline/worker';
import { reportApp } from '../../../report/server';
import { Guard } from '../../../pipeline/worker/guard';
import { memoryControl } from '../../../runtime/bus/control';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { MemoryMongoClient } from '../../../examples/orders/memory-mongo';
import { eventually, quiet, send } from '../../helpers/proxy';

jest.setTimeout(60_000);
const KEY = 'ramp-test-signing-key-001';

async function rig(bug: boolean, withGuard = true) {
  const bus = new MemoryBus({ partitions: 2 });
  const store = new MemoryStore();
  const control = memoryControl();
  const guard = withGuard ? new Guard({ control, logger: quiet, record: (e) => store.putCutoverEvent(e) }) : undefined;
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 2_000, alerts: false, guard });
  await worker.start();
  const mongo = new MemoryMongoClient();
  const db = mongo.db('shop');
  const servers: Server[] = [];
  const sdks: ReturnType<typeof createShadow>[] = [];
  const service = async (side: 'legacy' | 'candidate') => {
    const sdk = createShadow({ side, ...(side === 'candidate' ? { mode: 'live' as const } : {}), sink: bus, logger: quiet, signing: { key: KEY }, buffer: { lingerMs: 0 } });
    sdks.push(sdk);
    const orders = (sdk.mongo(db) as unknown as { collection(name: string): { insertOne(d: unknown): Promise<unknown> } }).collection('orders');
    const app = express();
    app.use(sdk.middleware());
    app.use(express.json());
    app.post('/orders', async (req, res) => {
      const { orderNo, price, coupon } = req.body as { orderNo: string; price: number; coupon?: number };
      const share = (price * (coupon ?? 0)) / 100;
      await orders.insertOne({ orderNo, price, total: price - (bug && side === 'candidate' ? Math.ceil(share) : Math.floor(share)) });
      res.status(201).json({ orderNo });
    });
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const proxy = await startProxy(
    resolveProxyConfig({ listen: '127.0.0.1:0', legacy: await service('legacy'), candidate: await service('candidate'), run: 'ramp', signing: { key: KEY }, cutover: { routes: [{ route: 'POST /orders', percent: 0 }], key: { header: 'x-customer-id' } }, logLevel: 'silent' }),
    { logger: quiet, defaultMetrics: false, sink: busSink(bus), control },
  );
  let n = 0;
  const traffic = { on: true, coupon: false };
  // Orders keep coming while the plan runs, as production traffic would.
  const flow = (async () => {
    while (traffic.on) {
      await send(`${proxy.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-customer-id': `c-${n % 97}` }, body: JSON.stringify({ orderNo: `O-${n++}`, price: 12_345, ...(traffic.coupon ? { coupon: 15 } : {}) }) });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const logs: string[] = [];
  let stop: () => void = () => {};
  const deps = {
    read: async () => ({ runId: proxy.runId, ...proxy.live.state }),
    set: async (percent: number, reason: string) => void proxy.live.set({ route: 'POST /orders', percent, reason, by: 'plan' }),
    store,
    log: (l: string) => logs.push(l),
    by: 'plan',
    file: 'plan.json',
    stopped: new Promise<void>((r) => (stop = r)),
  };
  const close = async () => {
    traffic.on = false;
    stop();
    await flow;
    await proxy.close();
    await worker.stop();
    guard?.close();
    for (const s of sdks) await s.close();
    for (const s of servers) await new Promise((r) => s.close(r));
  };
  return { proxy, store, traffic, logs, deps, close };
}

const plan = (gates: Record<string, unknown> = {}) =>
  parsePlan(
    {
      version: 1,
      route: 'POST /orders',
      pollSeconds: 0.1,
      steps: [
        { percent: 5, dwellSeconds: 0.5, gates: { minCompared: 20, ...gates } },
        { percent: 20, dwellSeconds: 0.5, gates: { minCompared: 20, ...gates } },
        { percent: 50, dwellSeconds: 30, gates: { minCompared: 20, ...gates } },
      ],
    },
    'plan.json',
  );

test('the plan ramps POST /orders through 5% to 20%; the coupon bug appears, the guard rolls it back within 5 s and the plan ends', async () => {
  const { proxy, store, traffic, logs, deps, close } = await rig(true);
  try {
    let outcome: PlanOutcome | undefined;
    const running = runPlan(plan(), deps).then((o) => (outcome = o));
    await eventually(() => proxy.live.state.routes[0]!.percent === 50, 20_000, 'the ramp to reach its third step');
    expect(proxy.live.audit().map((e) => [e.action, e.to])).toEqual([
      ['set', 5],
      ['set', 20],
      ['set', 50],
    ]);
    // Coupons arrive: the candidate's rounding is wrong, and the first order it serves wrong ends the ramp.
    traffic.coupon = true;
    const from = Date.now();
    await eventually(() => proxy.live.state.routes[0]!.held !== undefined, 5_000, 'the guard to roll the ramp back');
    expect(Date.now() - from).toBeLessThan(5_000);
    await running;
    expect(outcome).toBe('rolled-back');
    expect(logs.at(-1)).toMatch(/rolled back by guard .*did not match legacy: .*orders total/);

    const timeline = await store.listCutoverEvents('ramp');
    expect(timeline.map((e) => [e.kind, e.percent])).toEqual([
      ['step', 5],
      ['step', 20],
      ['step', 50],
      ['rollback', 0],
    ]);
    // Each step that ended carries what it compared and served.
    const second = timeline[1]!;
    expect(second.ended).toMatchObject({ index: 1, percent: 5, mismatched: 0 });
    expect(second.ended!.compared).toBeGreaterThanOrEqual(20);
    expect(timeline[3]!.evidence).toMatchObject({ served: 'candidate', verdict: 'mismatch' });

    // The report's cutover page: the timeline, what the candidate served, the rollback's evidence with its requests.
    const report = reportApp({ store, logger: quiet }).listen(0, '127.0.0.1');
    try {
      await new Promise((r) => report.once('listening', r));
      const base = `http://127.0.0.1:${(report.address() as AddressInfo).port}/runs/ramp`;
      const page = await (await fetch(`${base}/cutover`)).text();
      expect(page).toMatch(/<table id="timeline">/);
      expect(page).toMatch(/ROLLED BACK/);
      expect(page).toMatch(/step 2\/3/);
      expect(page).toContain('shadowdiff corrections --run ramp');
      const shadowId = (timeline[3]!.evidence as { shadowIds: string[] }).shadowIds[0]!;
      expect(page).toContain(`href="/runs/ramp/requests/${shadowId}"`);
      expect((await fetch(`${base}/requests/${shadowId}`)).status).toBe(200);
      const api = (await (await fetch(`http://127.0.0.1:${(report.address() as AddressInfo).port}/api/runs/ramp/cutover`)).json()) as { events: unknown[]; served: { route: string; served: number; wrong: number }[] };
      expect(api.events).toHaveLength(4);
      // At least the one that rolled it back; orders that came while its comparison was made were served as the share said.
      expect(api.served[0]).toMatchObject({ route: 'POST /orders' });
      expect(api.served[0]!.wrong).toBeGreaterThanOrEqual(1);
      expect(await (await fetch(base)).text()).toContain(`href="/runs/ramp/cutover"`);
    } finally {
      report.close();
    }
  } finally {
    await close();
  }
});

test('a gate that fails holds the ramp where it is, on the timeline; a stop leaves the share as it is', async () => {
  // The bug, without the guard: the mismatches are the gate's to see.
  const { proxy, store, traffic, logs, deps, close } = await rig(true, false);
  try {
    traffic.coupon = true;
    const running = runPlan(plan({ minCompared: 5 }), deps);
    await eventually(async () => (await store.listCutoverEvents('ramp')).some((e) => e.kind === 'hold'), 10_000, 'the gate to hold the ramp');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(proxy.live.state.routes[0]!.percent).toBe(5); // held at the first step, not advanced
    const hold = (await store.listCutoverEvents('ramp')).find((e) => e.kind === 'hold')!;
    expect(hold.reason).toMatch(/the gates of step 1 do not hold: mismatch rate .* over the maximum 0\.00%/);
    expect(logs.some((l) => /^holding at 5%: mismatch rate/.test(l))).toBe(true);
    await close();
    expect(await running).toBe('stopped');
    expect((await store.listCutoverEvents('ramp')).map((e) => e.kind)).toEqual(['step', 'hold', 'stopped']);
    expect(logs.at(-1)).toMatch(/stopped; POST \/orders stays at 5%/);
  } finally {
    await close().catch(() => undefined);
  }
});

test('a plan is checked before it runs: steps ramp up, gates are known, a bad file names its field', () => {
  expect(() => parsePlan({ version: 1, steps: [{ percent: 20, dwellSeconds: 1 }, { percent: 5, dwellSeconds: 1 }] }, 'p.json')).toThrow(/p\.json: steps: each step's percent must be at least the one before/);
  expect(() => parsePlan({ version: 1, steps: [{ percent: 5, dwellSeconds: 1, gates: { maxMismatch: 0 } }] }, 'p.json')).toThrow(/p\.json: steps\.0\.gates: .*maxMismatch/);
  expect(() => parsePlan({ version: 1, route: 'orders', steps: [{ percent: 5, dwellSeconds: 1 }] }, 'p.json')).toThrow(/must be a path pattern/);
  expect(() => parsePlan({ steps: [{ percent: 5, dwellSeconds: 1 }] }, 'p.json')).toThrow(/p\.json: version: must be 1 \(the plan format's version: begin the file with "version": 1\)/);
  expect(() => parsePlan({ version: 1, steps: [{ percent: 5 }] }, 'p.json')).toThrow(/p\.json: steps\.0\.dwellSeconds: is missing\. See docs\/cutover\.md/);
  expect(parsePlan({ version: 1, steps: [{ percent: 5, dwellSeconds: 60 }] }, 'p.json').steps[0]!.gates).toEqual({ minCompared: 0, maxMismatchRate: 0, noCritical: true });
});
