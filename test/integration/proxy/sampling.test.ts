// Sampling hits its share, per route and by key; it changes live through the admin API and the
// `shadowdiff sampling` command (token-protected) and applies within a second; /metrics counts.
import type { RunningProxy } from '../../../capture/proxy';
import { run } from '../../../cli/main';
import { echo, eventually, httpServer, proxyFor, send, type TestServer } from '../../helpers/proxy';
import { fakeIo } from '../../helpers/cli';
import { promtoolProblems } from '../../helpers/promtool';

const TOKEN = 'test-admin-token-0123456789';
let legacy: TestServer;
let candidate: TestServer;
let proxy: RunningProxy;

beforeAll(async () => {
  legacy = await httpServer(echo('legacy'));
  candidate = await httpServer(echo('candidate'));
  proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, sampling: { percent: 30 }, admin: { listen: '127.0.0.1:0', token: TOKEN } });
});

afterAll(async () => {
  await proxy.close();
  await legacy.close();
  await candidate.close();
});

beforeEach(async () => {
  await settle();
  legacy.seen.length = 0;
  candidate.seen.length = 0;
});

/** Mirrors still in flight land before the next count. */
async function settle() {
  await eventually(() => proxy.stats().pendingExchanges === 0, 5000, 'mirrors to finish');
}

async function traffic(n: number, path: (i: number) => string, headers: (i: number) => Record<string, string> = () => ({})) {
  for (let i = 0; i < n; i += 20) await Promise.all(Array.from({ length: Math.min(20, n - i) }, (_, j) => send(`${proxy.url}${path(i + j)}`, { headers: headers(i + j) })));
  await settle();
}

const io = () => fakeIo({ env: { SHADOWDIFF_ADMIN_TOKEN: TOKEN } });

const admin = (path: string, init: RequestInit = {}) => fetch(`${proxy.adminUrl}${path}`, init);
const put = (body: unknown, token = TOKEN) =>
  admin('/v1/sampling', { method: 'PUT', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });

it('mirrors its share of requests (30% of 1,000, within 4.5 standard deviations)', async () => {
  await traffic(1000, (i) => `/orders/${i}`);
  expect(legacy.seen).toHaveLength(1000);
  // Binomial(1000, 0.3): sd ≈ 14.5.
  expect(candidate.seen.length).toBeGreaterThan(300 - 65);
  expect(candidate.seen.length).toBeLessThan(300 + 65);
  const mirrored = new Set(candidate.seen.map((s) => s.headers['x-shadow-id']));
  const tagged = legacy.seen.filter((s) => s.headers['x-shadow-id'] !== undefined);
  expect(tagged).toHaveLength(candidate.seen.length); // legacy is tagged exactly when mirrored
  expect(tagged.every((s) => mirrored.has(s.headers['x-shadow-id']))).toBe(true);
});

it('changes live through the admin API: per route, kill switch, back on — each within a second', async () => {
  let res = await put({ percent: 0, routes: [{ route: 'GET /orders/:id/pay', percent: 100 }] });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ percent: 0, routes: [{ route: 'GET /orders/:id/pay', percent: 100 }] });
  await traffic(40, (i) => (i % 2 ? `/orders/${i}/pay` : `/orders/${i}`));
  expect(candidate.seen).toHaveLength(20);
  expect(candidate.seen.every((s) => /\/pay$/.test(s.url))).toBe(true);

  res = await put({ enabled: false });
  expect((await res.json()).enabled).toBe(false);
  candidate.seen.length = 0;
  await traffic(20, (i) => `/orders/${i}/pay`);
  expect(candidate.seen).toHaveLength(0);

  res = await put({ enabled: true, percent: 100, routes: [] });
  expect(res.status).toBe(200);
  await traffic(10, (i) => `/orders/${i}`);
  expect(candidate.seen).toHaveLength(10);
});

it('refuses changes without the token, and bad values with the reason', async () => {
  const before = await (await admin('/v1/sampling')).json();
  let res = await put({ percent: 5 }, '');
  expect(res.status).toBe(401);
  res = await put({ percent: 5 }, 'wrong-token-wrong-token-wrong');
  expect(res.status).toBe(401);
  res = await put({ percent: 150 });
  expect(res.status).toBe(400);
  expect((await res.json()).error).toMatch(/sampling\.percent: must be 0-100/);
  res = await put({ routes: [{ route: 'orders', percent: 5 }] });
  expect((await res.json()).error).toMatch(/must be a path pattern/);
  res = await admin('/v1/sampling', { method: 'PUT', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: '{"percent": ' });
  expect(res.status).toBe(400);
  expect((await res.json()).error).toMatch(/not valid JSON/);
  expect(await (await admin('/v1/sampling')).json()).toEqual(before);
});

it('the `shadowdiff sampling` command reads and changes it', async () => {
  const a = io();
  expect(await run(['sampling', '--admin', proxy.adminUrl!, '--percent', '10', '--route', 'POST /orders/:id=75', '--key', 'x-user-id'], a.io)).toBe(0);
  expect(JSON.parse(a.out.join(''))).toMatchObject({ percent: 10, key: 'x-user-id', routes: [{ route: 'POST /orders/:id', percent: 75 }] });
  const b = io();
  expect(await run(['sampling', '--admin', proxy.adminUrl!], b.io)).toBe(0);
  expect(JSON.parse(b.out.join('')).percent).toBe(10);
  const c = io();
  expect(await run(['sampling', '--admin', proxy.adminUrl!, '--percent', '200'], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/--percent must be a percentage 0-100/);
  const d = io();
  expect(await run(['sampling', '--admin', 'http://127.0.0.1:1', '--off'], d.io)).toBe(2);
  expect(d.err.join('\n')).toMatch(/cannot reach the proxy's admin API/);
  expect(d.err.join('\n')).not.toMatch(/\n\s+at /); // no stack trace for a user's mistake
});

it('deterministic sampling by key: all of one customer or none, stable, about its share', async () => {
  await put({ percent: 40, routes: [], key: 'x-user-id', enabled: true });
  const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  await traffic(600, (i) => `/orders/${i}`, (i) => ({ 'x-user-id': users[i % 200]! }));
  const byUser = new Map<string, number>();
  for (const s of candidate.seen) byUser.set(String(s.headers['x-user-id']), (byUser.get(String(s.headers['x-user-id'])) ?? 0) + 1);
  expect([...byUser.values()].every((n) => n === 3)).toBe(true); // each mirrored user: all 3 requests
  expect(byUser.size).toBeGreaterThan(80 - 35); // Binomial(200, 0.4): sd ≈ 6.9
  expect(byUser.size).toBeLessThan(80 + 35);
  // The same users again: the same ones are mirrored.
  const first = new Set(byUser.keys());
  candidate.seen.length = 0;
  await traffic(200, (i) => `/orders/${i}`, (i) => ({ 'x-user-id': users[i]! }));
  expect(new Set(candidate.seen.map((s) => String(s.headers['x-user-id'])))).toEqual(first);
});

it('/metrics counts requests, mirrors and skips by reason; /healthz answers', async () => {
  const text = await (await admin('/metrics')).text();
  expect(text).toMatch(/shadowdiff_proxy_requests_total\{outcome="ok"\} \d+/);
  expect(text).toMatch(/shadowdiff_proxy_mirrored_total\{target="candidate"\} \d+/);
  expect(text).toMatch(/shadowdiff_proxy_mirror_skipped_total\{reason="sampled-out"\} \d+/);
  expect(text).toMatch(/shadowdiff_proxy_mirror_skipped_total\{reason="disabled"\} 20/);
  expect(text).toMatch(/shadowdiff_proxy_breaker_state\{target="candidate"\} 0/);
  // No secondary is configured: no series pretends there is one. Labelled series exist from the start.
  expect(text).not.toMatch(/target="secondary"/);
  expect(text).toMatch(/shadowdiff_proxy_mirror_skipped_total\{reason="circuit-open"\} 0/);
  expect(promtoolProblems(text)).toEqual([]);
  expect(text).toMatch(/shadowdiff_proxy_mirror_duration_seconds_bucket/);
  expect(await (await admin('/healthz')).json()).toMatchObject({ status: 'ok', active: 0 });
});
