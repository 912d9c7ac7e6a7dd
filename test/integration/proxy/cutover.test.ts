// Cutover through the real proxy: a live share served by the candidate, sticky by a key and
// consistent as it grows, legacy getting the mirror in dry-run with a signature its SDK checks,
// set through the admin API with a reason, and kept across a restart. With two express services
// on one MongoDB-wire database, each write happens once: by whoever served the request.
import express from 'express';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Db, MongoClient } from 'mongodb';
import { createShadow } from '../../../capture/sdk';
import { run } from '../../../cli/main';
import type { ExchangeRecord } from '../../../core/effect';
import { createLogger } from '../../../core/logger';
import { SIGNATURE_HEADER, verifyShadow } from '../../../core/signing';
import { echo, httpServer, proxyFor, send, type TestServer } from '../../helpers/proxy';
import { fakeIo } from '../../helpers/cli';
import { memorySink, sideOf } from '../../helpers/sdk';
import { connectMongo, uniqueDbName } from '../../helpers/services';

const KEY = 'cutover-signing-key-0001';
const TOKEN = 'admin-token-for-the-cutover';
const quiet = createLogger({ level: 'silent' });
let legacy: TestServer;
let candidate: TestServer;

beforeAll(async () => {
  legacy = await httpServer(echo('legacy'));
  candidate = await httpServer(echo('candidate'));
});

afterAll(async () => {
  await legacy.close();
  await candidate.close();
});

const admin = (proxy: { adminUrl: string | undefined }, path: string, method: string, body?: unknown, token: string | undefined = TOKEN) =>
  fetch(`${proxy.adminUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** Which customers the candidate served: each customer sends `perCustomer` requests. */
async function servedBy(url: string, customers: number, perCustomer = 2): Promise<{ candidate: Set<string>; split: string[] }> {
  const bySide = new Map<string, Set<string>>();
  for (let c = 0; c < customers; c++) {
    for (let i = 0; i < perCustomer; i++) {
      const r = await send(`${url}/orders/${c}-${i}`, { headers: { 'x-customer-id': `customer-${c}` } });
      const name = (JSON.parse(r.body.toString()) as { name: string }).name;
      const set = bySide.get(`customer-${c}`) ?? new Set();
      set.add(name);
      bySide.set(`customer-${c}`, set);
    }
  }
  const split = [...bySide].filter(([, s]) => s.size > 1).map(([c]) => c);
  return { candidate: new Set([...bySide].filter(([, s]) => s.has('candidate')).map(([c]) => c)), split };
}

test('a live share set through the admin API: sticky by customer, consistent as it grows, legacy mirrored in dry-run with a good signature', async () => {
  const sink = memorySink();
  const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, signing: { key: KEY }, cutover: { key: { header: 'x-customer-id' } }, admin: { listen: '127.0.0.1:0', token: TOKEN } }, sink);
  try {
    expect((await servedBy(proxy.url, 20, 1)).candidate.size).toBe(0);

    // Changes need the token and a reason.
    expect((await admin(proxy, '/v1/cutover', 'PUT', { percent: 10, reason: 'step 1' }, '')).status).toBe(401);
    const noReason = await admin(proxy, '/v1/cutover', 'PUT', { percent: 10 });
    expect(noReason.status).toBe(400);
    expect(((await noReason.json()) as { error: string }).error).toMatch(/needs a reason/);
    expect((await admin(proxy, '/v1/cutover', 'PUT', { percent: 10, reason: 'plan step 1', by: 'kim' })).status).toBe(200);

    const ten = await servedBy(proxy.url, 200);
    expect(ten.split).toEqual([]); // one customer, one system
    expect(ten.candidate.size).toBeGreaterThan(8);
    expect(ten.candidate.size).toBeLessThan(40);

    await admin(proxy, '/v1/cutover', 'PUT', { percent: 30, reason: 'plan step 2', by: 'kim' });
    const thirty = await servedBy(proxy.url, 200);
    expect(thirty.split).toEqual([]);
    for (const c of ten.candidate) expect(thirty.candidate.has(c)).toBe(true); // the first 10% stayed
    expect(thirty.candidate.size).toBeGreaterThan(ten.candidate.size);

    // A request without the key stays on legacy, counted.
    expect(JSON.parse((await send(`${proxy.url}/orders/x`)).body.toString()).name).toBe('legacy');
    expect(await (await fetch(`${proxy.adminUrl}/metrics`)).text()).toMatch(/shadowdiff_proxy_live_no_key_total 1\b/);

    // The candidate got its requests live; legacy got their mirror in dry-run, signed for legacy.
    // (Legacy-served requests are mirrored to the candidate as ever, in dry-run.)
    const live = candidate.seen.filter((s) => s.headers['x-shadow-mode'] === 'live');
    expect(live.some((s) => s.url === '/orders/x')).toBe(false);
    expect(live.length).toBe(ten.candidate.size * 2 + thirty.candidate.size * 2);
    for (const s of live) {
      const id = s.headers['x-shadow-id'] as string;
      const mirror = legacy.seen.find((l) => l.headers['x-shadow-id'] === id)!;
      expect(mirror.url).toBe(s.url);
      expect(mirror.headers).toMatchObject({ 'x-shadow-side': 'legacy', 'x-shadow-mode': 'dry-run' });
      expect(verifyShadow({ key: KEY, previousKeys: [], maxAgeMs: 60_000 }, mirror.headers[SIGNATURE_HEADER] as string, { shadowId: id, runId: proxy.runId, side: 'legacy', mode: 'dry-run' })).toBe('good');
      expect(s.headers[SIGNATURE_HEADER]).toBeUndefined(); // a live side needs none
    }
    // The exchange says who served, with both responses for the comparison.
    await proxy.close();
    const served = sink.records.filter((r): r is ExchangeRecord => r.type === 'exchange' && r.served === 'candidate');
    expect(served.length).toBe(live.length);
    expect(served.every((x) => x.responses.candidate?.status === 200 && x.responses.legacy?.status === 200)).toBe(true);

    const metrics = proxy.metrics.registry.getSingleMetricAsString('shadowdiff_proxy_live_share_percent');
    expect(await metrics).toMatch(/shadowdiff_proxy_live_share_percent\{rule="\*"\} 30/);
  } finally {
    await proxy.close();
  }
});

test('a proxy without a signing key refuses any share above 0, at start and through the admin API', async () => {
  await expect(proxyFor({ legacy: legacy.url, candidate: candidate.url, cutover: { percent: 5 } })).rejects.toThrow(/signing\.key.*SHADOWDIFF_SIGNING_KEY/);
  const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, admin: { listen: '127.0.0.1:0', token: TOKEN } });
  try {
    const r = await admin(proxy, '/v1/cutover', 'PUT', { percent: 5, reason: 'first step' });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/write it a second time/);
  } finally {
    await proxy.close();
  }
});

test('a rolled-back share stays at 0 across a restart, only a resume with a reason lifts it, and the audit trail says who and why', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'proxy-cutover-'));
  const settings = { legacy: legacy.url, candidate: candidate.url, signing: { key: KEY }, cutover: { stateFile: join(dir, 'cutover.json') }, admin: { listen: '127.0.0.1:0', token: TOKEN } };
  try {
    let proxy = await proxyFor(settings);
    await admin(proxy, '/v1/cutover', 'PUT', { percent: 100, reason: 'all in', by: 'kim' });
    expect(JSON.parse((await send(`${proxy.url}/a`)).body.toString()).name).toBe('candidate');
    const rolled = await admin(proxy, '/v1/cutover/rollback', 'POST', { reason: 'critical finding on shop.orders', by: 'guard', evidence: { shadowId: 's-1' } });
    expect(((await rolled.json()) as { changed: boolean }).changed).toBe(true);
    expect(JSON.parse((await send(`${proxy.url}/a`)).body.toString()).name).toBe('legacy');
    await proxy.close();

    proxy = await proxyFor(settings);
    try {
      expect(JSON.parse((await send(`${proxy.url}/a`)).body.toString()).name).toBe('legacy');
      const refused = await admin(proxy, '/v1/cutover', 'PUT', { percent: 50, reason: 'try again' });
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as { code: string }).code).toBe('SHADOWDIFF_HELD');
      expect((await admin(proxy, '/v1/cutover/resume', 'POST', { reason: 'fixed: coupon rounding in build 142', by: 'lee', percent: 1 })).status).toBe(200);
      const audit = (await (await fetch(`${proxy.adminUrl}/v1/cutover/audit`)).json()) as { action: string; by: string; reason: string; evidence?: unknown }[];
      expect(audit.map((e) => [e.action, e.by.replace(/ \(.*\)$/, ''), e.reason])).toEqual([
        ['set', 'kim', 'all in'],
        ['rollback', 'guard', 'critical finding on shop.orders'],
        ['resume', 'lee', 'fixed: coupon rounding in build 142'],
      ]);
      expect(audit[1]!.evidence).toEqual({ shadowId: 's-1' });
    } finally {
      await proxy.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two services on one database under a 50% share: every order is written once, by whoever served it; the other side ran it in dry-run', async () => {
  const client: MongoClient = await connectMongo();
  const db: Db = client.db(uniqueDbName('proxy_cutover'));
  const servers: Server[] = [];
  const sinks = { legacy: memorySink(), candidate: memorySink() };
  const sdks = {
    legacy: createShadow({ side: 'legacy', sink: sinks.legacy, logger: quiet, signing: { key: KEY } }),
    // The candidate in a cutover runs live, and lowers to dry-run on the proxy's signature.
    candidate: createShadow({ side: 'candidate', mode: 'live', sink: sinks.candidate, logger: quiet, signing: { key: KEY } }),
  };
  const start = async (side: 'legacy' | 'candidate') => {
    const orders = sdks[side].mongo(db).collection('orders');
    const app = express();
    app.use(sdks[side].middleware());
    app.use(express.json());
    app.post('/orders', async (req, res) => {
      await orders.insertOne({ orderNo: req.body.orderNo, by: side });
      res.status(201).json({ orderNo: req.body.orderNo });
    });
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const proxy = await proxyFor({ legacy: await start('legacy'), candidate: await start('candidate'), signing: { key: KEY }, cutover: { percent: 50, key: { header: 'x-customer-id' } } });
  try {
    for (let i = 0; i < 60; i++) {
      const r = await send(`${proxy.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-customer-id': `c-${i}` }, body: JSON.stringify({ orderNo: `O-${i}` }) });
      expect(r.status).toBe(201);
    }
    await proxy.close();
    await Promise.all([sdks.legacy.flush(), sdks.candidate.flush()]);
    const stored = await db.collection('orders').find({}, { projection: { _id: 0 } }).toArray();
    expect(stored.map((d) => d.orderNo).sort()).toEqual(Array.from({ length: 60 }, (_, i) => `O-${i}`).sort()); // each once
    const byCandidate = stored.filter((d) => d.by === 'candidate').length;
    expect(byCandidate).toBeGreaterThan(10);
    expect(byCandidate).toBeLessThan(50);
    // Each request's two sides: the one that served it live, the other in dry-run, with one insert each.
    const ids = new Set(sinks.legacy.records.map((r) => r.shadowId));
    expect(ids.size).toBe(60);
    let dryRunLegacy = 0;
    for (const id of ids) {
      const l = sideOf(sinks.legacy.records, id, 'legacy');
      const c = sideOf(sinks.candidate.records, id, 'candidate');
      expect([l.effects.length, c.effects.length]).toEqual([1, 1]);
      if (l.end?.mode === 'dry-run') dryRunLegacy += 1;
      expect(c.end?.mode === 'live').toBe(l.end?.mode === 'dry-run');
    }
    expect(dryRunLegacy).toBe(byCandidate);
    expect(sdks.legacy.stats().modes.lowered).toBe(byCandidate);
  } finally {
    await proxy.close();
    await Promise.all([sdks.legacy.close(), sdks.candidate.close()]);
    for (const s of servers) await new Promise((r) => s.close(r));
    await db.dropDatabase().catch(() => undefined);
    await client.close();
  }
});

test('shadowdiff cutover: sets, rolls back, resumes with a reason and prints the trail; mistakes are clear errors', async () => {
  const proxy = await proxyFor({ legacy: legacy.url, candidate: candidate.url, signing: { key: KEY }, admin: { listen: '127.0.0.1:0', token: TOKEN } });
  const io = () => fakeIo({ env: { SHADOWDIFF_ADMIN_TOKEN: TOKEN } });
  const cli = async (...args: string[]) => {
    const f = io();
    const code = await run(['cutover', '--admin', proxy.adminUrl!, ...args], f.io);
    return { code, out: f.out.join('\n'), err: f.err.join('\n') };
  };
  try {
    expect(await cli('--route', 'POST /orders', '--percent', '5', '--reason', 'plan step 1', '--by', 'kim')).toMatchObject({ code: 0, out: expect.stringMatching(/5% {2}POST \/orders/) });
    const noReason = await cli('--percent', '20');
    expect(noReason.code).toBe(2);
    expect(noReason.err).toMatch(/needs --reason/);
    expect(noReason.err).not.toMatch(/\n\s+at /);
    expect((await cli('--route', 'POST /orders', '--rollback', '--reason', 'mismatches on shop.orders', '--by', 'kim')).out).toMatch(/0% {2}POST \/orders HELD since .* by kim/);
    const held = await cli('--route', 'POST /orders', '--percent', '20', '--reason', 'again');
    expect(held.code).toBe(2);
    expect(held.err).toMatch(/SHADOWDIFF_HELD|rolled back .* until a person resumes it/);
    expect((await cli('--route', 'POST /orders', '--resume', '--percent', '1', '--reason', 'fixed in 142', '--by', 'lee')).out).toMatch(/1% {2}POST \/orders\n/);
    const trail = await cli('--audit');
    expect(trail.out.split('\n').map((l) => l.replace(/^\S+\s+/, '').replace(/ \(.*?\)/, ''))).toEqual([
      'set      POST /orders  0% → 5%  by kim: plan step 1',
      'rollback POST /orders  5% → 0%  by kim: mismatches on shop.orders',
      'resume   POST /orders  0% → 1%  by lee: fixed in 142',
    ]);
    const off = fakeIo({ env: {} });
    expect(await run(['cutover', '--admin', proxy.adminUrl!, '--percent', '5', '--reason', 'no token'], off.io)).toBe(2);
    expect(off.err.join('\n')).toMatch(/needs the admin token: set SHADOWDIFF_ADMIN_TOKEN/);
  } finally {
    await proxy.close();
  }
});

test('a candidate that fails as the primary opens its circuit, and legacy serves the share until it recovers; mirroring killed, legacy serves it all', async () => {
  const dead = await httpServer((req) => req.socket.destroy());
  const proxy = await proxyFor({ legacy: legacy.url, candidate: dead.url, signing: { key: KEY }, cutover: { percent: 100 }, mirror: { breakerFailures: 3, breakerOpenMs: 60_000 }, sampling: { percent: 0 } });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await send(`${proxy.url}/orders/${i}`)).status);
    // The first three met the candidate resetting its connections; the rest went to legacy.
    expect(statuses.slice(0, 3)).toEqual([502, 502, 502]);
    expect(statuses.slice(3)).toEqual(Array(17).fill(200));
  } finally {
    await proxy.close();
    await dead.close();
  }
  const killed = await proxyFor({ legacy: legacy.url, candidate: candidate.url, signing: { key: KEY }, cutover: { percent: 100 }, sampling: { enabled: false } });
  try {
    expect(JSON.parse((await send(`${killed.url}/a`)).body.toString()).name).toBe('legacy');
  } finally {
    await killed.close();
  }
});
