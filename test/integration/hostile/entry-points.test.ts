// Hostile input at every entry point — the HTTP collector, records on the bus, the report's API
// query parameters, recordings given to replay, config files — hand-picked and fuzzed
// (fast-check): malformed and truncated JSON, invalid UTF-8, 10,000-deep nesting, `__proto__` /
// `constructor.prototype` keys, huge arrays, wrong types, unknown versions. Each must end in a
// clear error or a dead letter with the reason: no crash, no hang, no 5xx, and Object.prototype
// untouched at the end.
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { startCollector } from '../../../capture/collector';
import { run } from '../../../cli/main';
import { Worker } from '../../../pipeline/worker';
import { reportApp } from '../../../report/server';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { echo, eventually, httpServer, proxyFor, quiet, send } from '../../helpers/proxy';
import { memorySink, shadowHeaders } from '../../helpers/sdk';
import { createShadow } from '../../../capture/sdk';
import { traffic } from '../../helpers/traffic';
import { fakeIo } from '../../helpers/cli';

jest.setTimeout(120_000);

const DEEP = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
const DEEP_RECORD = JSON.stringify({ ...traffic({ runId: 'h', requests: 1 }).records[0], payload: 'X' }).replace('"X"', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);

/** The hand-picked set: each is refused somewhere, for a reason a person can act on. */
const HOSTILE: [string, Buffer][] = [
  ['truncated JSON', Buffer.from('{"v":1,"type":"effect"')],
  ['not JSON', Buffer.from('hello')],
  ['empty', Buffer.alloc(0)],
  ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
  ['10,000-deep arrays', Buffer.from(DEEP)],
  ['a record 10,000 deep', Buffer.from(DEEP_RECORD)],
  ['__proto__ key', Buffer.from('{"__proto__":{"polluted":1}}')],
  ['constructor.prototype', Buffer.from('{"constructor":{"prototype":{"polluted":1}}}')],
  ['nested __proto__', Buffer.from('[{"v":1,"payload":{"a":{"__proto__":{"polluted":1}}}}]')],
  ['huge array of junk', Buffer.from(JSON.stringify(Array.from({ length: 200_000 }, (_, i) => i)))],
  ['unknown version', Buffer.from('{"v":99,"type":"effect","runId":"r","shadowId":"s","side":"legacy","seq":0}')],
  ['wrong types', Buffer.from('{"v":1,"type":"effect","runId":1,"shadowId":[],"side":"both","seq":"zero"}')],
];

const polluted = () => ({}) as Record<string, unknown>;

afterAll(() => {
  expect(polluted().polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty('polluted');
});

describe('the HTTP collector', () => {
  let url: string;
  let bus: MemoryBus;
  let close: () => Promise<void>;
  beforeAll(async () => {
    bus = new MemoryBus({ partitions: 2 });
    const c = await startCollector({ bus, logger: quiet, maxBodyBytes: 4 * 1024 * 1024 });
    url = `${c.url}/v1/records`;
    close = c.close;
  });
  afterAll(async () => {
    await close();
    await bus.close();
  });
  const post = async (body: Buffer) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(body) });
    return { status: res.status, body: (await res.json()) as { error?: string; accepted?: number; rejected?: { error: string }[] } };
  };

  it.each(HOSTILE)('%s: refused with the reason, nothing published', async (_name, body) => {
    const before = bus.stats().published;
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(r.body.error ?? r.body.rejected?.[0]?.error).toMatch(/JSON|UTF-8|__proto__|constructor|field|expected|nest|deep|version|Invalid/i);
    expect(bus.stats().published).toBe(before);
  });

  it('a body over the cap is refused with 413 and the reason, and the collector carries on', async () => {
    const r = await post(Buffer.alloc(5 * 1024 * 1024, 0x20));
    expect([r.status, r.body.error]).toEqual([413, 'body over 4194304 bytes: send smaller batches']);
    const ok = await post(Buffer.from(JSON.stringify(traffic({ runId: 'h', requests: 1 }).records)));
    expect(ok.status).toBe(200);
  });

  it('a client that hangs up mid-body does not take the collector down', async () => {
    const { request } = await import('node:http');
    await new Promise<void>((resolve) => {
      const req = request(url, { method: 'POST', headers: { 'content-length': '100000' } });
      req.on('error', () => resolve());
      req.write('[{"v":1,');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    expect((await post(Buffer.from('[]'))).status).toBeLessThan(500);
  });

  it('fuzzed bodies: never a 5xx, never a crash', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.string(), fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a).toString('latin1'))), async (text) => {
        const r = await post(Buffer.from(text, 'latin1'));
        expect(r.status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
  });
});

describe('requests through the proxy', () => {
  it('hostile bodies reach legacy byte for byte and its answer comes back; the records stay bounded', async () => {
    const legacy = await httpServer(echo('legacy'));
    const candidate = await httpServer(echo('candidate'));
    const sink = memorySink();
    const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, sampling: { percent: 100 }, mirror: { maxBodyBytes: 1024 * 1024 } }, sink);
    try {
      const big = Buffer.alloc(50 * 1024 * 1024, 0x61); // 50 MB: forwarded, not mirrored
      for (const [name, body] of [...HOSTILE, ['50 MB', big] as [string, Buffer]]) {
        const r = await send(`${proxy.url}/orders?case=${encodeURIComponent(name)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        expect({ name, status: r.status, length: (JSON.parse(r.body.toString()) as { length: number }).length }).toEqual({ name, status: 200, length: body.length });
        expect(legacy.seen.at(-1)!.body.equals(body)).toBe(true);
      }
      await eventually(async () => proxy.stats().pendingExchanges === 0 && (proxy.stats().exchanges?.buffered ?? 0) === 0, 10_000, 'the exchanges recorded');
      expect(candidate.seen.map((x) => x.body.length)).not.toContain(big.length);
      // What was recorded (as sent: a hostile body's constructor.prototype key is the worker's to refuse) is bounded,
      // and can be serialized again (no value deeper than the SDK's 200 levels).
      for (const rec of sink.sent) expect(() => JSON.stringify(rec)).not.toThrow();
      expect(sink.sent.map((r) => JSON.stringify(r).length).reduce((a, b) => Math.max(a, b), 0)).toBeLessThan(4 * 1024 * 1024);
      // Fuzzed paths, methods and headers: legacy's answer, or the proxy's own clear 4xx/5xx upstream mapping — never a crash.
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 200 }), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.dictionary(fc.stringMatching(/^x-[a-z]{1,10}$/), fc.string({ maxLength: 100 }).filter((v) => !/[\r\n\0]/.test(v) && /^[\x20-\x7e]*$/.test(v))), async (path, method, headers) => {
          const r = await send(`${proxy.url}/${encodeURIComponent(path)}`, { method, headers, ...(method === 'GET' || method === 'DELETE' ? {} : { body: path }) });
          expect(r.status).toBe(200);
        }),
        { numRuns: 200 },
      );
    } finally {
      await proxy.close();
      await legacy.close();
      await candidate.close();
    }
  });
});

describe('records on the bus', () => {
  it('every hostile message is dead-lettered with its reason; good records around them are compared', async () => {
    const bus = new MemoryBus({ partitions: 2 });
    const store = new MemoryStore();
    const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 1_000, alerts: false });
    await worker.start();
    try {
      await bus.publishRaw(HOSTILE.map(([name, body]) => ({ shadowId: name, body })));
      await bus.publish(traffic({ runId: 'good', requests: 5 }).records);
      await eventually(async () => (await store.countComparisons('good')) === 5 && worker.stats().deadLettered === HOSTILE.length, 10_000, 'good compared, hostile dead-lettered');
      const dead = await bus.drainDeadLetters(100);
      expect(dead).toHaveLength(HOSTILE.length);
      for (const d of dead) expect(d.reason).toMatch(/JSON|UTF-8|__proto__|constructor|field|expected|deep|nest|version|Invalid|empty/i);
    } finally {
      await worker.stop();
      await bus.close();
    }
  });
});

describe('a __proto__ key in one record', () => {
  it('costs only its own record: the rest of its pack is compared, it alone is dead-lettered', async () => {
    // One message holding every record of three requests, as an SDK packs them; one record holds
    // the key (a producer that does not escape it, docs/effect-format.md).
    const bus = new MemoryBus({ partitions: 1 });
    const store = new MemoryStore();
    const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 1_000, alerts: false });
    await worker.start();
    try {
      const records = traffic({ runId: 'pack', requests: 3 }).records;
      const text = JSON.stringify(records).replace('"payload":{"orderNo":"A-0"', '"payload":{"__proto__":{"polluted":1},"orderNo":"A-0"');
      expect(text).toContain('__proto__');
      await bus.publishRaw([{ shadowId: 'req-0000000', body: Buffer.from(text) }]);
      await eventually(async () => (await store.countComparisons('pack')) === 3, 10_000, 'the three requests compared');
      const verdicts = Object.fromEntries((await store.listComparisons({ runId: 'pack', limit: 10 })).map((c) => [c.shadowId, c.verdict]));
      // Its own request lacks that record: incomplete, never a finding; the others are untouched.
      expect(verdicts).toEqual({ 'req-0000000': 'incomplete', 'req-0000001': 'match', 'req-0000002': 'match' });
      const dead = await bus.drainDeadLetters(10);
      expect(dead).toHaveLength(1);
      expect(dead[0]!.reason).toMatch(/__proto__/);
      expect(JSON.parse(dead[0]!.body.toString())).toMatchObject({ shadowId: 'req-0000000', seq: 1, side: 'legacy' });
    } finally {
      await worker.stop();
      await bus.close();
    }
  });

  it('written by the SDK from an application document, is carried escaped and compares', async () => {
    const bus = new MemoryBus({ partitions: 2 });
    const store = new MemoryStore();
    const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 2_000, alerts: false });
    await worker.start();
    const sides = (['legacy', 'candidate'] as const).map((side) => createShadow({ side, sink: bus, logger: quiet, packBytes: 64 * 1024 }));
    try {
      for (let i = 0; i < 6; i++) {
        for (const [n, shadow] of sides.entries()) {
          // Only request 0 holds the key; the others share its packs.
          const doc = JSON.parse(i === 0 ? '{"__proto__":{"isAdmin":true},"orderNo":"A-0"}' : `{"orderNo":"A-${i}"}`) as Record<string, unknown>;
          await shadow.withShadowContext(shadowHeaders(`s-${i}`, n === 0 ? 'legacy' : 'candidate', n === 0 ? 'live' : 'dry-run', 'proto'), () => shadow.effect({ kind: 'message', target: 'orders/order.created', payload: doc }, async () => true, true), { method: 'POST', path: '/orders' });
        }
      }
      for (const shadow of sides) await shadow.flush(5_000);
      await eventually(async () => (await store.countComparisons('proto')) === 6, 10_000, 'the six requests compared');
      expect((await store.listComparisons({ runId: 'proto', limit: 10 })).map((c) => c.verdict)).toEqual(Array(6).fill('match'));
      expect(worker.stats().deadLettered).toBe(0);
      expect(Object.prototype).not.toHaveProperty('isAdmin');
    } finally {
      for (const shadow of sides) await shadow.close();
      await worker.stop();
      await bus.close();
    }
  });
});

describe('the report API', () => {
  it('fuzzed query parameters get a 200, 400 or 404 — never a 500', async () => {
    const store = new MemoryStore();
    await store.putRun({ runId: 'q', createdAt: '2026-11-25T00:00:00.000Z' });
    const app = reportApp({ store, logger: quiet });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const names = ['route', 'target', 'field', 'verdict', 'since', 'until', 'value', 'after', 'limit', 'severity', 'kind', 'shadowId', 'token'];
      const paths = ['/api/runs/q/comparisons', '/api/runs/q/differences', '/api/runs/q/causes', '/api/runs/q', '/runs/q/requests', '/runs/q/differences', '/runs/q/find', '/runs/q/checklist'];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...paths), fc.dictionary(fc.constantFrom(...names), fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.integer().map(String), fc.constant('2026-11-25T00:00Z'))), async (path, params) => {
          const res = await fetch(`${base}${path}?${new URLSearchParams(params).toString()}`);
          expect([200, 400, 404]).toContain(res.status);
        }),
        { numRuns: 400 },
      );
      // Repeated parameters arrive as arrays: refused or ignored, not a crash.
      expect((await fetch(`${base}/api/runs/q/comparisons?limit=1&limit=2&verdict=a&verdict=b`)).status).toBeLessThan(500);
      expect((await fetch(`${base}/api/runs/%E0%A4%A/comparisons`)).status).toBeLessThan(500); // a malformed escape in the path
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('files given to the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd-hostile-'));
  const cli = () => fakeIo();
  const expectClearError = (c: ReturnType<typeof cli>, code: number) => {
    expect(code).toBe(2);
    const text = c.err.join('\n');
    expect(text).toMatch(/^shadowdiff: .+ \[SHADOWDIFF_[A-Z_]+\]$/m);
    expect(text).not.toMatch(/\n\s+at |SHADOWDIFF_INTERNAL/);
  };

  it.each(HOSTILE)('a recording that is %s: one line naming the file and line, exit 2', async (name, body) => {
    const file = join(dir, `rec-${name.replace(/\W+/g, '-')}.jsonl`);
    writeFileSync(file, Buffer.concat([Buffer.from(`${JSON.stringify(traffic({ runId: 'h', requests: 1 }).records[0])}\n`), body, Buffer.from('\n')]));
    const c = cli();
    const code = await run(['replay', file, '--candidate', 'http://127.0.0.1:9', '--no-progress'], c.io);
    expectClearError(c, code);
    if (body.length) expect(c.err.join('\n')).toContain(`${file}:2`);
  });

  it.each(HOSTILE)('a config file that is %s: one clear line, exit 2', async (name, body) => {
    const file = join(dir, `config-${name.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, body);
    for (const argv of [
      ['worker', '--config', file],
      ['proxy', '--config', file],
    ]) {
      const c = cli();
      expectClearError(c, await run(argv, c.io));
    }
  });

  it('fuzzed config files: a clear error or a valid config, never an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const file = join(dir, 'fuzz.json');
        writeFileSync(file, JSON.stringify(value));
        const c = cli();
        // No AMQP_URL/MONGODB_URL: a worker stops at configuration whatever the file says.
        const code = await run(['worker', '--config', file], c.io);
        expectClearError(c, code);
      }),
      { numRuns: 150 },
    );
  });
});
