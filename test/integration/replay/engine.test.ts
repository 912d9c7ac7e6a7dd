// The replay engine against real HTTP servers: per-key order holds under concurrency, the rate
// limit holds within tolerance, original timing scales, Ctrl-C (an abort) stops cleanly with
// what was sent accounted for, and bodies are sent as recorded.
import type { ExchangeRecord, ShadowRecord } from '../../../core/effect';
import { orderingKey, replay } from '../../../replay/engine';
import type { RecordedRequest } from '../../../replay/recording';
import { httpServer, quiet } from '../../helpers/proxy';

function recorded(n: number, make: (i: number) => Partial<ExchangeRecord['request']> & { at?: string }): RecordedRequest[] {
  return Array.from({ length: n }, (_, i) => {
    const { at, ...request } = make(i);
    const exchange = {
      v: 1,
      type: 'exchange',
      runId: 'rec',
      shadowId: `s${i}`,
      at: at ?? new Date(0).toISOString(),
      request: { method: 'GET', path: `/r/${i}`, ...request },
      responses: { legacy: { status: 200 } },
      sdk: false,
    } as ExchangeRecord;
    return { exchange, legacy: [], line: i + 1 };
  });
}

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

const published: ShadowRecord[] = [];
const publish = async (records: ShadowRecord[]) => void published.push(...records);

it('keeps order per key under concurrency: a key’s next request starts only after its last one answered', async () => {
  const events: { key: string; n: number; kind: 'start' | 'end'; at: number }[] = [];
  const server = await httpServer((req, res) => {
    const [, , key, n] = req.url!.split('/');
    events.push({ key: key!, n: Number(n), kind: 'start', at: performance.now() });
    setTimeout(() => {
      events.push({ key: key!, n: Number(n), kind: 'end', at: performance.now() });
      res.end('ok');
    }, 5 + Math.random() * 25);
  });
  try {
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const requests = recorded(100, (i) => ({ path: `/orders/${keys[i % 5]}/${i}` }));
    const summary = await replay(iterate(requests), { candidate: server.url, runId: 'r', concurrency: 8, key: orderingKey('path:/orders/([^/]+)'), publish, logger: quiet });
    expect(summary).toMatchObject({ sent: 100, errors: 0 });
    for (const key of keys) {
      const mine = events.filter((e) => e.key === key);
      const starts = mine.filter((e) => e.kind === 'start').map((e) => e.n);
      expect(starts).toEqual([...starts].sort((x, y) => x - y)); // recording order
      for (let i = 1; i < starts.length; i++) {
        const prevEnd = mine.find((e) => e.kind === 'end' && e.n === starts[i - 1])!.at;
        const start = mine.find((e) => e.kind === 'start' && e.n === starts[i])!.at;
        expect(start).toBeGreaterThanOrEqual(prevEnd);
      }
    }
    // …while different keys did run at the same time.
    let inFlight = 0;
    let peak = 0;
    for (const e of [...events].sort((x, y) => x.at - y.at)) {
      inFlight += e.kind === 'start' ? 1 : -1;
      peak = Math.max(peak, inFlight);
    }
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(5);
  } finally {
    await server.close();
  }
});

it('holds a rate limit within tolerance (60 requests at 40/s take about 1.5 s)', async () => {
  const server = await httpServer((_req, res) => res.end('ok'));
  try {
    const t0 = performance.now();
    const summary = await replay(iterate(recorded(60, () => ({}))), { candidate: server.url, runId: 'r', rate: 40, concurrency: 16, publish, logger: quiet });
    const seconds = (performance.now() - t0) / 1000;
    expect(summary.sent).toBe(60);
    expect(seconds).toBeGreaterThan(1.475 * 0.9); // the 60th request is due at 59/40 s
    expect(seconds).toBeLessThan(1.475 * 1.3);
  } finally {
    await server.close();
  }
});

it('replays original timing scaled by a speed factor', async () => {
  const server = await httpServer((_req, res) => res.end('ok'));
  try {
    // Recorded over 2 s; at speed 4 the replay takes about half a second.
    const requests = recorded(5, (i) => ({ at: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, i * 500)).toISOString() }));
    const t0 = performance.now();
    await replay(iterate(requests), { candidate: server.url, runId: 'r', speed: 4, publish, logger: quiet });
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThan(450);
    expect(ms).toBeLessThan(900);
  } finally {
    await server.close();
  }
});

it('an abort (Ctrl-C) stops taking requests; those in flight finish and are accounted for', async () => {
  const server = await httpServer((_req, res) => setTimeout(() => res.end('ok'), 20));
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    published.length = 0;
    const summary = await replay(iterate(recorded(1000, () => ({}))), { candidate: server.url, runId: 'r', concurrency: 4, signal: controller.signal, publish, logger: quiet });
    expect(summary.stopped).toBe(true);
    expect(summary.sent).toBeGreaterThan(0);
    expect(summary.sent).toBeLessThan(1000);
    expect(summary.inFlight).toBe(0);
    // Every request sent has its exchange: nothing half-done.
    expect(published.filter((r) => r.type === 'exchange')).toHaveLength(summary.sent);
  } finally {
    await server.close();
  }
});

it('sends bodies as recorded (JSON, text, binary) and skips, counted, those the recording did not keep', async () => {
  const server = await httpServer((_req, res) => res.end('ok'));
  try {
    const bodies: [unknown, string][] = [
      [{ a: 1, b: [1, 2] }, '{"a":1,"b":[1,2]}'],
      ['plain text', 'plain text'],
      [{ $binary: { base64: Buffer.from([0, 1, 2, 255]).toString('base64'), subType: '00' } }, Buffer.from([0, 1, 2, 255]).toString('latin1')],
    ];
    const requests = recorded(4, (i) => (i < 3 ? { method: 'POST', body: bodies[i]![0] } : { method: 'POST', body: { $truncated: 'body over 262144 bytes' } }));
    const summary = await replay(iterate(requests), { candidate: server.url, runId: 'r', concurrency: 1, publish, logger: quiet });
    expect(summary).toMatchObject({ sent: 3, skipped: 1, skippedBy: { 'request body not recorded (over the size cap)': 1 } });
    expect(server.seen.map((s) => s.body.toString('latin1'))).toEqual(bodies.map((b) => b[1]));
  } finally {
    await server.close();
  }
});

it('an unknown --key kind is refused with the forms it accepts', () => {
  expect(() => orderingKey('cookie:x')).toThrow(/must be header:NAME or path:REGEX/);
  expect(orderingKey('header:X-Order')({ request: { headers: { 'x-order': '7' } } } as unknown as ExchangeRecord)).toBe('7');
});
