// The handoff must never harm the live side (design decision 7): with the store down, slow or
// black-holed, no live request fails, its latency grows by at most the configured wait, and
// every comparison it affects is `inconclusive` with the reason, never a mismatch or a match.
// Real pieces: an Express service on the MongoDB-wire server, the SDK in live and dry-run, Redis
// behind a TCP relay the test can slow down, black-hole or shut.
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import type { MongoClient } from 'mongodb';
import { request } from 'undici';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { compare } from '../../../compare/engine';
import { connectMongo, REDIS_URL, uniqueDbName } from '../../helpers/services';
import { listen, plainService } from '../../helpers/plain-service';
import { quiet } from '../../helpers/proxy';
import { memorySink, type MemorySink, shadowHeaders, sideOf } from '../../helpers/sdk';

jest.setTimeout(120_000);

type Fault = 'none' | 'slow' | 'black-hole' | 'down';

/** A TCP relay in front of Redis: passes bytes, delays them, swallows them, or refuses connections. */
async function relay(target: URL): Promise<{ url: string; set(f: Fault): void; close(): Promise<void> }> {
  let fault: Fault = 'none';
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (fault === 'down') return void client.destroy();
    const upstream = connect(Number(target.port || 6379), target.hostname);
    // No Nagle on either leg: small commands would wait for the peer's delayed ACK (40 ms).
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    const pass = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        if (fault === 'black-hole') return;
        if (fault === 'slow') setTimeout(() => to.writable && to.write(chunk), 60);
        else if (fault === 'down') from.destroy();
        else to.write(chunk);
      });
    pass(client, upstream);
    pass(upstream, client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    set(f) {
      fault = f;
      // Shut means shut: existing connections go too.
      if (f === 'down') for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const quantile = (xs: number[], q: number) => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;

describe('pre-state handoff faults (Redis behind a relay)', () => {
  // Redis answers a put in 0.3 ms at the median on this 2-core machine, but its p99 reaches 4 ms
  // while FerretDB and jest share the cores: 20 ms keeps the healthy baseline clean.
  const WAIT_MS = 20;
  let client: MongoClient;
  let r: Awaited<ReturnType<typeof relay>>;
  let legacy: ShadowSdk;
  let candidate: ShadowSdk;
  let sinks: { legacy: MemorySink; candidate: MemorySink };
  let services: { legacy: Awaited<ReturnType<typeof listen>>; candidate: Awaited<ReturnType<typeof listen>> };
  const dbName = uniqueDbName('handoff_faults');
  let seq = 0;

  beforeAll(async () => {
    client = await connectMongo();
    r = await relay(new URL(REDIS_URL));
    sinks = { legacy: memorySink(), candidate: memorySink() };
    const handoff = { store: r.url, waitMs: WAIT_MS, lookupTimeoutMs: 200, breakerFailures: 3, breakerOpenMs: 300, prefix: `sdfault${process.pid}` };
    legacy = createShadow({ side: 'legacy', sink: sinks.legacy, handoff, logger: quiet });
    // The candidate's waits are its own time, not the live path's: a longer pause keeps the test
    // short. Its lookups may take 400 ms: with the whole suite on 2 cores a healthy lookup through
    // the relay has taken over 100 ms three times in a row, opening the breaker in the baseline.
    candidate = createShadow({ side: 'candidate', sink: sinks.candidate, handoff: { ...handoff, lookupTimeoutMs: 400, breakerOpenMs: 2_000 }, logger: quiet });
    services = { legacy: await listen(plainService(legacy, client, dbName)), candidate: await listen(plainService(candidate, client, dbName)) };
  });
  afterAll(async () => {
    await services?.legacy.close();
    await services?.candidate.close();
    await legacy?.close();
    await candidate?.close();
    await r?.close();
    await client?.db(dbName).dropDatabase();
    await client?.close();
  });

  /** `n` mirrored requests, each sent to legacy and candidate at once; legacy's latency, statuses and each comparison. */
  async function drive(n: number) {
    const ms: number[] = [];
    const statuses: number[] = [];
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const shadowId = `f${(seq += 1)}`;
      ids.push(shadowId);
      const [path, body] = i % 3 === 0 ? ['/users', { email: `u${seq % 40}@x` }] : i % 3 === 1 ? [`/accounts/a${seq % 7}/credit`, {}] : [`/accounts/a${seq % 7}`, undefined];
      const send = (url: string, side: string, mode: string) =>
        request(`${url}${path}`, { method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json', ...shadowHeaders(shadowId, side, mode, 'faults') }, body: body ? JSON.stringify(body) : undefined });
      const t0 = performance.now();
      const [l, c] = await Promise.all([
        send(services.legacy.url, 'legacy', 'live').then(async (res) => {
          await res.body.text();
          ms.push(performance.now() - t0);
          return res.statusCode;
        }),
        send(services.candidate.url, 'candidate', 'dry-run').then(async (res) => (await res.body.text(), res.statusCode)),
      ]);
      statuses.push(l, c);
    }
    await legacy.flush(5_000);
    await candidate.flush(5_000);
    const comparisons = ids.map((shadowId) => compare({ runId: 'faults', shadowId, legacy: sideOf(sinks.legacy.records, shadowId), candidate: sideOf(sinks.candidate.records, shadowId) }, { now: '2026-12-02T00:00:00.000Z' }));
    return { ms, statuses, comparisons };
  }

  let healthy: Awaited<ReturnType<typeof drive>>;

  /**
   * `n` requests with the store healthy: never a finding, and whatever is not a match is
   * inconclusive because a put missed the wait (or the breaker opened after three such). With
   * the whole suite on 2 cores a put now and then misses the 20 ms wait, by design with its
   * reason; a healthy store keeps that under `rare` of the requests. Where a run has more, it
   * runs once more after the breakers' pause, and fails if the second has more too: three slow
   * puts in a row open the breaker for a stretch of requests, a pause of the machine, while a
   * handoff that fails when healthy misses every time.
   */
  async function drivenHealthy(n: number, rare: number, reasons: RegExp) {
    const once = async () => {
      const d = await drive(n);
      expect(d.statuses.every((s) => s < 500)).toBe(true);
      const other = d.comparisons.filter((c) => c.verdict !== 'match');
      expect(other.filter((c) => c.verdict !== 'inconclusive' || !c.inconclusive?.every((why) => reasons.test(why))).map((c) => [c.verdict, c.inconclusive, c.findings])).toEqual([]);
      return { d, other: other.length };
    };
    let m = await once();
    if (m.other > rare) {
      await new Promise((res) => setTimeout(res, 2_100)); // past both breakers' pause
      m = await once();
    }
    expect(m.other).toBeLessThanOrEqual(rare);
    return m.d;
  }

  it('healthy: every request compares as a plain match (the baseline)', async () => {
    r.set('none');
    await drive(30); // warm connections and the JIT
    healthy = await drivenHealthy(150, 150 * 0.05, /did not acknowledge within|circuit is open/);
  });

  for (const fault of ['slow', 'black-hole', 'down'] as const) {
    it(`${fault}: no live request fails, legacy waits at most the wait, every affected comparison is inconclusive`, async () => {
      r.set(fault);
      const hurt = await drive(150);
      r.set('none');
      expect(hurt.statuses.every((s) => s < 500)).toBe(true);
      // The same answers as without the fault: the live path was not changed.
      expect(hurt.statuses.filter((s) => s === 201 || s === 409).length + hurt.statuses.filter((s) => s === 200).length).toBe(hurt.statuses.length);
      // Latency: bounded by one wait per request (a request already unknown waits no more). The
      // SDK measures its own waits: the wait plus a timer's lateness on a loaded event loop.
      const s = legacy.stats().handoff!;
      expect(s.longestWaitMs).toBeLessThanOrEqual(WAIT_MS + 25);
      // End to end, the median grows by the wait; the tail also carries the noise of 2 shared
      // cores (CI once saw p99 grow by 36.7 ms with a 20 ms wait, so the tail is checked at p95).
      const grown = (q: number) => quantile(hurt.ms, q) - quantile(healthy.ms, q);
      if (process.env.SHADOWDIFF_TEST_FIGURES) process.stderr.write(`handoff fault ${fault}: legacy p50 +${grown(0.5).toFixed(1)} ms, p95 +${grown(0.95).toFixed(1)} ms, p99 +${grown(0.99).toFixed(1)} ms, longest wait ${s.longestWaitMs.toFixed(1)} ms (wait ${WAIT_MS} ms)\n`);
      expect(grown(0.5)).toBeLessThanOrEqual(WAIT_MS + 5);
      expect(grown(0.95)).toBeLessThanOrEqual(WAIT_MS + 20);
      // Never a mismatch; a request whose live side wrote is inconclusive with the reason.
      const verdicts = new Set(hurt.comparisons.map((c) => c.verdict));
      expect(verdicts.has('mismatch')).toBe(false);
      const writing = hurt.comparisons.filter((c) => c.sides.legacy.effects > 0);
      expect(writing.length).toBeGreaterThanOrEqual(40);
      for (const c of writing) {
        expect(c.verdict).toBe('inconclusive');
        expect(c.inconclusive!.join(' ')).toMatch(/pre-state unknown \(the handoff (did not acknowledge within 20 ms|failed|could not be read|circuit is open)/);
      }
      // The stats say what happened.
      expect(s.timeouts + s.failures + s.skipped).toBeGreaterThan(0);
    });
  }

  it('after the fault, the breaker closes again and comparisons are evidence again', async () => {
    r.set('none');
    await new Promise((res) => setTimeout(res, 2_100)); // past both breakers' pause: the next handoff is a probe
    await drive(10);
    // As in the baseline: evidence again, but for the rare put a loaded machine delays past the wait.
    await drivenHealthy(60, 3, /did not acknowledge within/);
  });
});
