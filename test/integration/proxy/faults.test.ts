// Faults on the mirror side never reach the primary path: with the candidate down, hanging,
// slow, failing or resetting connections, or the sink down, every client still gets legacy's
// response, and the latency distribution stays that of a run without mirroring (measured just
// before, same process, same load).
import { createServer, type Server } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { ExchangeRecord } from '../../../core/effect';
import { deadUrl, echo, eventually, httpServer, load, type LoadResult, proxyFor, type TestServer } from '../../helpers/proxy';
import { memorySink } from '../../helpers/sdk';

const TOTAL = 300;
const CONCURRENCY = 10;
let legacy: TestServer;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  legacy = await httpServer(echo('legacy'));
});

afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
  await legacy.close();
});

/** A TCP server that accepts connections and never answers (a black hole past the handshake). */
async function hangingServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function candidateServer(handler: Parameters<typeof httpServer>[0]): Promise<string> {
  const s = await httpServer(handler);
  cleanup.push(() => s.close());
  return s.url;
}

/** Legacy through a proxy that mirrors nothing: the distribution to compare with. */
async function baseline(): Promise<LoadResult> {
  const proxy = await proxyFor({ legacy: legacy.url, candidate: await deadUrl(), sampling: { percent: 0 } });
  try {
    return await load(proxy.url, TOTAL, CONCURRENCY);
  } finally {
    await proxy.close();
  }
}

function expectUntouched(run: LoadResult, base: LoadResult) {
  expect(Object.fromEntries(run.statuses)).toEqual({ 200: TOTAL });
  // Every body is legacy's (request numbers aside).
  expect([...run.bodies].sort()).toEqual([...base.bodies].sort());
  // Unchanged within the noise of a shared 2-core VM: no mirror wait leaks into the primary.
  expect(run.p50).toBeLessThan(base.p50 * 2 + 10);
  expect(run.p99).toBeLessThan(base.p99 * 3 + 40);
}

const cases: [string, () => Promise<string>, Record<string, unknown>][] = [
  ['candidate down (connection refused)', () => deadUrl(), {}],
  ['candidate hanging (accepts, never answers)', () => hangingServer(), { mirror: { timeoutMs: 1000 } }],
  ['candidate slow (2 s)', () => candidateServer((req, res, body) => setTimeout(() => echo('candidate')(req, res, body), 2000)), {}],
  ['candidate answering 500', () => candidateServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('boom')), {}],
  ['candidate resetting connections', () => candidateServer((req) => req.socket.destroy()), {}],
];

it.each(cases)('%s: primary responses all correct, latency unchanged', async (_name, candidate, settings) => {
  const base = await baseline();
  const sink = memorySink();
  const proxy = await proxyFor({ legacy: legacy.url, candidate: await candidate(), ...settings }, sink);
  let run: LoadResult;
  try {
    run = await load(proxy.url, TOTAL, CONCURRENCY);
  } finally {
    await proxy.close();
  }
  expectUntouched(run, base);
  // What the mirror met is recorded, not hidden.
  const exchanges = sink.records.filter((r): r is ExchangeRecord => r.type === 'exchange');
  expect(exchanges.length).toBeGreaterThan(0);
  expect(exchanges.every((x) => x.responses.legacy?.status === 200)).toBe(true);
});

it('a down candidate opens the circuit: after a few failures mirrors are skipped, not attempted', async () => {
  const sink = memorySink();
  const proxy = await proxyFor({ legacy: legacy.url, candidate: await deadUrl(), admin: { listen: '127.0.0.1:0' }, mirror: { breakerFailures: 3, breakerOpenMs: 60_000 } }, sink);
  try {
    await load(proxy.url, 100, 1);
    await eventually(() => proxy.stats().pendingExchanges === 0, 5000, 'mirrors to settle');
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/shadowdiff_proxy_breaker_state\{target="candidate"\} 1/);
    expect(metrics).toMatch(/shadowdiff_proxy_mirror_errors_total\{target="candidate",reason="refused"\} 3\b/);
    expect(metrics).toMatch(/shadowdiff_proxy_mirror_skipped_total\{reason="circuit-open"\} 97\b/);
  } finally {
    await proxy.close();
  }
  const exchanges = sink.records.filter((r): r is ExchangeRecord => r.type === 'exchange');
  expect(exchanges.map((x) => x.responses.candidate?.error)).toEqual(['connection refused', 'connection refused', 'connection refused']);
});

it('sink down: primary untouched, exchanges dropped and counted', async () => {
  const base = await baseline();
  const healthy = await candidateServer(echo('candidate'));
  const proxy = await proxyFor({ legacy: legacy.url, candidate: healthy, sink: await deadUrl(), record: { maxBuffered: 50 } });
  let run: LoadResult;
  try {
    run = await load(proxy.url, TOTAL, CONCURRENCY);
    await eventually(() => proxy.stats().pendingExchanges === 0, 5000, 'mirrors to settle');
    const stats = proxy.stats().exchanges!;
    expect(stats.sent).toBe(0);
    expect(stats.dropped + stats.buffered).toBe(TOTAL); // every exchange is accounted for
    expect(stats.dropped).toBeGreaterThanOrEqual(TOTAL - 50);
  } finally {
    await proxy.close();
  }
  expectUntouched(run, base);
});
