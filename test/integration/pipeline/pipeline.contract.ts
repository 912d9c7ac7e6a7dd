// The pipeline end to end — records published on the bus, workers joining, comparing and
// storing — run on both runtimes (RabbitMQ + MongoDB, and embedded) by the same tests.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../../core/logger';
import { Worker, type WorkerOptions } from '../../../pipeline/worker';
import { brotliCompressSync, constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { type Bus, type DeadLetter, partitionOf, serialize } from '../../../runtime/bus/bus';
import type { Store } from '../../../runtime/store/store';
import { webhookNotifier } from '../../../pipeline/webhook';
import { compileRules } from '../../../compare/engine';
import { shuffleNearby, traffic, waitFor } from '../../helpers/traffic';

export interface PipelineEnv {
  store: Store;
  /** A bus connection of its own (a worker on another host); embedded: the one bus. */
  connect(): Promise<Bus>;
  /** The worker on this bus dies at once: nothing more is acked, what it held is redelivered. */
  crash(bus: Bus): Promise<void>;
  deadLetters(bus: Bus): Promise<DeadLetter[]>;
  close(): Promise<void>;
}

export interface PipelineHarness {
  name: string;
  open(): Promise<PipelineEnv>;
}

export const logger = createLogger({ level: process.env.TEST_LOG ?? 'silent' });

/** Reads the dead-letter queue until it has given at least `n` (they arrive as the worker moves them). */
async function deadLetters(env: PipelineEnv, bus: Bus, n: number, what: string): Promise<DeadLetter[]> {
  const dead: DeadLetter[] = [];
  await waitFor(async () => {
    dead.push(...(await env.deadLetters(bus)));
    return dead.length >= n;
  }, what);
  return dead;
}

export function pipelineContract(h: PipelineHarness): void {
  describe(`pipeline: ${h.name}`, () => {
    let env: PipelineEnv;
    const workers: Worker[] = [];
    const start = async (bus: Bus, o: Partial<WorkerOptions> = {}) => {
      const w = new Worker({ bus, store: env.store, logger, settleMs: 20, timeoutMs: 5000, rollupFlushMs: 100, alerts: false, ...o });
      await w.start();
      workers.push(w);
      return w;
    };
    beforeEach(async () => {
      env = await h.open();
    });
    afterEach(async () => {
      for (const w of workers.splice(0)) await w.stop().catch(() => undefined);
      await env.close();
    });

    it('compares every request end to end and stores comparisons and rollups', async () => {
      const t = traffic({ runId: 'e2e', requests: 300, mismatchEvery: 7 });
      const bus = await env.connect();
      const worker = await start(bus);
      await bus.publish(shuffleNearby(t.records));
      await waitFor(async () => (await env.store.countComparisons('e2e')) === 300, '300 comparisons');
      await worker.drain();
      await env.store.flushRollups('e2e');
      const rollup = await env.store.getRollup('e2e');
      const routes = Object.values(rollup.routes);
      const sum = (k: 'match' | 'mismatch' | 'incomplete') => routes.reduce((n, r) => n + r.verdicts[k], 0);
      const expected = [...t.truth.values()];
      expect(sum('match')).toBe(expected.filter((v) => v === 'match').length);
      expect(sum('mismatch')).toBe(expected.filter((v) => v === 'mismatch').length);
      const mismatch = (await env.store.listComparisons({ runId: 'e2e', verdict: 'mismatch', limit: 1 }))[0]!;
      expect(mismatch.findings.map((f) => f.path)).toEqual(expect.arrayContaining(['total']));
      // Raw records are kept for what did not match: the report's drill-down.
      expect(await env.store.getEffects('e2e', mismatch.shadowId)).toHaveLength(6);
      expect(await env.store.getEffects('e2e', 'req-0000001')).toEqual([]);
      expect(worker.stats()).toMatchObject({ compared: 300, stored: 300, deadLettered: 0, openJoins: 0 });
      // Nobody registered the run (a proxy run's records only): it is listed from its comparisons.
      await waitFor(async () => (await env.store.listRuns()).some((r) => r.runId === 'e2e'), 'the run listed');
    });

    it('takes records batched per partition (JSON arrays), acking a message once all its records are stored', async () => {
      const t = traffic({ runId: 'batched', requests: 200, mismatchEvery: 9 });
      const bus = await env.connect();
      const worker = await start(bus);
      await bus.publish(shuffleNearby(t.records), { batch: 16_384 });
      await waitFor(async () => (await env.store.countComparisons('batched')) === 200, '200 comparisons');
      await worker.drain();
      expect(worker.stats()).toMatchObject({ received: 1200, compared: 200, deadLettered: 0 });
      const mismatches = await env.store.listComparisons({ runId: 'batched', verdict: 'mismatch', limit: 1000 });
      expect(mismatches).toHaveLength([...t.truth.values()].filter((v) => v === 'mismatch').length);
    });

    it('takes packed messages compressed with brotli and deflate, and compares them as the plain ones', async () => {
      const bus = await env.connect();
      const worker = await start(bus);
      for (const compression of ['br', 'deflate'] as const) {
        const runId = `packed-${compression}`;
        const t = traffic({ runId, requests: 150, mismatchEvery: 11 });
        const messages = serialize(shuffleNearby(t.records), bus.partitions, { batch: 16_384, compression });
        expect(messages.filter((m) => m.encoding === compression).length).toBeGreaterThan(0);
        await bus.publishRaw(messages);
        await waitFor(async () => (await env.store.countComparisons(runId)) === 150, `150 comparisons (${compression})`);
        const mismatches = await env.store.listComparisons({ runId, verdict: 'mismatch', limit: 1000 });
        expect(mismatches.map((c) => c.shadowId).sort()).toEqual([...t.truth].filter(([, v]) => v === 'mismatch').map(([id]) => id).sort());
      }
      expect(worker.stats().deadLettered).toBe(0);
      // One bad record in a compressed pack: it alone is dead-lettered, as its JSON; the rest is compared.
      const t = traffic({ runId: 'packed-bad', requests: 1 });
      const bad = { ...t.records[0]!, seq: -1 };
      const [message, ...more] = serialize([...t.records, bad], bus.partitions, { batch: 1_000_000, compression: 'br' });
      expect(more).toEqual([]);
      expect(message!.encoding).toBe('br');
      await bus.publishRaw([message!]);
      await waitFor(async () => (await env.store.countComparisons('packed-bad')) === 1 && worker.stats().deadLettered === 1, 'the good request compared, the bad record dead-lettered');
      const dead = await deadLetters(env, bus, 1, 'the dead letter to be readable');
      expect(dead).toHaveLength(1);
      expect(JSON.parse(dead[0]!.body.toString())).toEqual(bad);
    });

    it('compares format 2 records (updates as after-image and undo) exactly as the same requests in format 1', async () => {
      const bus = await env.connect();
      const worker = await start(bus);
      const results: Record<number, unknown[]> = {};
      for (const format of [1, 2] as const) {
        const runId = `format-${format}`;
        const t = traffic({ runId, requests: 120, mismatchEvery: 9, incompleteEvery: 13, updates: true, format });
        await bus.publish(shuffleNearby(t.records), { batch: 16_384, compression: 'br' });
        await waitFor(async () => (await env.store.countComparisons(runId)) === 120, `120 comparisons (format ${format})`, 15_000);
        const stored = await env.store.listComparisons({ runId, limit: 1000 });
        expect(new Map(stored.map((c) => [c.shadowId, c.verdict]))).toEqual(t.truth);
        results[format] = stored.map(({ shadowId, verdict, findings, incomplete }) => ({ shadowId, verdict, findings, incomplete })).sort((a, b) => a.shadowId.localeCompare(b.shadowId));
      }
      expect(results[2]).toEqual(results[1]);
      // The update's own difference is found in both: the item whose quantity the candidate changed.
      expect(JSON.stringify(results[2])).toContain('items');
      expect(worker.stats().deadLettered).toBe(0);
    });

    it('dead-letters, as they came and with the reason, messages it cannot decode: an unknown encoding, a corrupt body, a bomb', async () => {
      const bus = await env.connect();
      const worker = await start(bus);
      const rec = traffic({ runId: 'undecodable', requests: 1 }).records[0]!;
      const json = Buffer.from(JSON.stringify(rec));
      // 200 MiB of zeros compress to a few hundred KB: beyond the bound, refused without inflating it all.
      const bomb = brotliCompressSync(Buffer.alloc(200 * 1024 * 1024), { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 1 } });
      await bus.publishRaw([
        { shadowId: rec.shadowId, body: json, encoding: 'zstd' as 'br' },
        { shadowId: rec.shadowId, body: Buffer.from('not brotli at all'), encoding: 'br' },
        { shadowId: rec.shadowId, body: bomb, encoding: 'br' },
        // A dead letter of a compressed message that decoded is the JSON, readable by --drain-dead.
        { shadowId: rec.shadowId, body: deflateRawSync(Buffer.from('{"v":1,"type":"nonsense"}')), encoding: 'deflate' },
      ]);
      await waitFor(() => worker.stats().deadLettered === 4, 'four dead letters');
      const dead = await deadLetters(env, bus, 4, 'the dead letters to be readable');
      const reasons = dead.map((d) => d.reason);
      expect(reasons).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/content-encoding "zstd" is not one this shadowdiff reads \(br, deflate\)/),
          expect.stringMatching(/cannot decode its content-encoding br: the body is not valid br/),
          expect.stringMatching(/cannot decode its content-encoding br: it would decode to more than 134217728 bytes/),
          expect.stringMatching(/field "type" must be one of/),
        ]),
      );
      expect(dead.find((d) => /field "type"/.test(d.reason))!.body.toString()).toBe('{"v":1,"type":"nonsense"}');
      expect(dead.find((d) => /zstd/.test(d.reason))!.encoding).toBe('zstd');
    });

    it('dead-letters a record routed to the wrong partition, naming both', async () => {
      const bus = await env.connect();
      const worker = await start(bus);
      const rec = traffic({ runId: 'misrouted', requests: 1 }).records[0]!;
      const body = Buffer.from(JSON.stringify(rec));
      // Find a routing id whose partition differs from the record's own.
      let other = 0;
      while (partitionOf(`o${other}`, bus.partitions) === partitionOf(rec.shadowId, bus.partitions)) other += 1;
      await bus.publishRaw([{ shadowId: `o${other}`, body }]);
      await waitFor(() => worker.stats().deadLettered === 1, 'the dead letter');
      const dead = await deadLetters(env, bus, 1, 'the dead letter to be readable');
      expect(dead[0]!.reason).toMatch(/arrived on partition \d+ but belongs on \d+: its publisher routes with another hash/);
    });

    it('compares after the timeout what never completed, naming what is missing', async () => {
      const t = traffic({ runId: 'late', requests: 20, incompleteEvery: 5 });
      const bus = await env.connect();
      await start(bus, { timeoutMs: 400 });
      await bus.publish(t.records);
      await waitFor(async () => (await env.store.countComparisons('late')) === 20, '20 comparisons');
      const incomplete = await env.store.listComparisons({ runId: 'late', verdict: 'incomplete' });
      expect(incomplete.map((c) => c.shadowId)).toEqual([...t.truth].filter(([, v]) => v === 'incomplete').map(([id]) => id));
      expect(incomplete[0]!.incomplete).toEqual(['candidate: no end marker']);
      expect(incomplete[0]!.timedOutAfterMs).toBeGreaterThanOrEqual(350);
      await env.store.flushRollups('late');
      const rollup = await env.store.getRollup('late');
      const reasons = Object.values(rollup.routes).reduce((n, r) => n + (r.incomplete['candidate: no end marker'] ?? 0), 0);
      expect(reasons).toBe(4);
    });

    it('dead-letters records that are not valid, with the reason', async () => {
      const bus = await env.connect();
      const worker = await start(bus);
      const good = traffic({ runId: 'poison', requests: 3 }).records;
      await bus.publishRaw([
        { shadowId: 'x1', body: Buffer.from('{"v":1,"type":"effect"') },
        { shadowId: 'x2', body: Buffer.from(JSON.stringify({ ...good[0], seq: -1 })) },
        { shadowId: 'x3', body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) },
        { shadowId: 'x4', body: Buffer.from('{"__proto__":{"polluted":1}}') },
      ]);
      await bus.publish(good);
      await waitFor(async () => (await env.store.countComparisons('poison')) === 3 && worker.stats().deadLettered === 4, 'good compared, bad dead-lettered');
      const dead = await deadLetters(env, bus, 4, 'four dead letters');
      const reasons = dead.map((d) => d.reason);
      for (const expected of [/not valid JSON/, /field "seq": Too small/, /not valid UTF-8/, /refused a "__proto__"/]) {
        expect(reasons.filter((r) => expected.test(r))).toHaveLength(1);
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('two workers share the partitions, and each request is compared once', async () => {
      const a = await start(await env.connect(), { timeoutMs: 20_000 });
      const pub = await env.connect();
      const first = traffic({ runId: 'two', requests: 200, prefix: 'a' });
      await pub.publish(first.records);
      await waitFor(() => a.stats().compared >= 50, 'worker A comparing');
      const b = await start(await env.connect(), { timeoutMs: 20_000 });
      // Keep traffic flowing while the partitions are shared out.
      for (let round = 0; round < 12; round++) {
        await pub.publish(traffic({ runId: 'two', requests: 100, prefix: `b${round}` }).records);
        await new Promise((r) => setTimeout(r, 250));
      }
      await waitFor(async () => (await env.store.countComparisons('two')) === 1400, '1400 comparisons');
      await a.drain();
      await b.drain();
      expect(b.stats().compared).toBeGreaterThan(0);
      expect(a.stats().stored + b.stats().stored).toBe(1400);
      const all = await env.store.listComparisons({ runId: 'two', limit: 5000 });
      expect(all.filter((c) => c.verdict !== 'match').map((c) => `${c.shadowId} ${c.verdict} ${c.incomplete ?? ''}`)).toEqual([]);
    });

    it('a worker that dies loses nothing: another takes over and nothing is duplicated', async () => {
      const t = traffic({ runId: 'crash', requests: 600, mismatchEvery: 10 });
      const busA = await env.connect();
      const a = await start(busA, { batchMs: 5 });
      const busB = await env.connect();
      const pub = await env.connect();
      await pub.publish(t.records.slice(0, 1800));
      await waitFor(() => a.stats().compared >= 100, 'worker A comparing');
      await env.crash(busA);
      const b = await start(busB);
      await pub.publish(t.records.slice(1800));
      await waitFor(async () => (await env.store.countComparisons('crash')) === 600, '600 comparisons', 30_000);
      await b.drain();
      await env.store.flushRollups('crash');
      const rollup = await env.store.getRollup('crash');
      const total = Object.values(rollup.routes).reduce((n, r) => n + r.compared, 0);
      const mismatched = Object.values(rollup.routes).reduce((n, r) => n + r.verdicts.mismatch, 0);
      expect(total).toBe(600);
      expect(mismatched).toBe(60);
    });

    it('a stop waits for the background rollup flush in flight, instead of closing the store under it', async () => {
      // The store as it is, with its background flushes slowed down so that a stop meets one.
      let inFlight = 0;
      const store = new Proxy(env.store, {
        get(target, prop) {
          if (prop === 'flushRollups') {
            return async (runId?: string, options?: { background?: boolean }) => {
              inFlight += 1;
              try {
                if (options?.background) await new Promise((r) => setTimeout(r, 300));
                return await target.flushRollups(runId, options);
              } finally {
                inFlight -= 1;
              }
            };
          }
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      const worker = await start(await env.connect(), { store, rollupFlushMs: 10 });
      await waitFor(() => inFlight > 0, 'a background flush');
      await worker.stop();
      expect(inFlight).toBe(0);
    });

    it('raises an alert within seconds when a route starts to mismatch, and posts it to the webhook', async () => {
      const received: unknown[] = [];
      const server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c));
        req.on('end', () => {
          received.push(JSON.parse(body));
          res.end('ok');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
        const bus = await env.connect();
        await start(bus, { alerts: { windowSeconds: 60, threshold: 0.2, minRequests: 20, cooldownSeconds: 300 }, notify: webhookNotifier(url) });
        const started = Date.now();
        await bus.publish(traffic({ runId: 'alert', requests: 60, mismatchEvery: 2, routes: ['/orders'] }).records);
        await waitFor(() => received.length > 0, 'the webhook call', 10_000);
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(received).toHaveLength(1);
        expect(received[0]).toMatchObject({ text: expect.stringContaining('POST /orders'), alert: { runId: 'alert', route: 'POST /orders', threshold: 0.2 } });
        await waitFor(async () => (await env.store.listAlerts('alert')).length === 1, 'the stored alert');
      } finally {
        server.close();
      }
    });

    it("sends the alert to the webhooks of the consumers its findings touch too, and not to others'", async () => {
      const received: { path: string; body: { alert: { consumers?: string[]; reason: string; fields: { consumers?: string[] }[] } } }[] = [];
      const server = createServer((req: IncomingMessage, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c));
        req.on('end', () => {
          received.push({ path: req.url!, body: JSON.parse(body) });
          res.end('ok');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const rules = compileRules({
          consumers: [
            // `total` differs in the mismatching requests: finance reads it, critically.
            { name: 'finance', owner: 'finance team', critical: true, webhook: `${base}/finance`, reads: [{ target: 'shop.orders', paths: ['total'] }] },
            { name: 'search', owner: 'search team', webhook: `${base}/search`, reads: [{ target: 'shop.orders', paths: ['customerId'] }] },
          ],
        });
        const bus = await env.connect();
        await start(bus, { rules, alerts: { windowSeconds: 60, threshold: 0.5, minRequests: 50, cooldownSeconds: 300 }, notify: webhookNotifier(`${base}/run`) });
        await bus.publish(traffic({ runId: 'alert-consumers', requests: 10, mismatchEvery: 5, routes: ['/orders'] }).records);
        await waitFor(() => received.length >= 2, 'the run\'s and the consumer\'s webhook calls', 10_000);
        await new Promise((r) => setTimeout(r, 300));
        expect(received.map((r) => r.path).sort()).toEqual(['/finance', '/run']);
        // A finding on a critical consumer's field alerts at once (well before the rate's 50 requests).
        const alert = received[0]!.body.alert;
        expect(alert).toMatchObject({ reason: 'critical', consumers: ['finance'] });
        expect(alert.fields[0]).toMatchObject({ consumers: ['finance'] });
      } finally {
        server.close();
      }
    });
  });
}
