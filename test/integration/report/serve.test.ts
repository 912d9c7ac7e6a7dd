// `shadowdiff serve`: the JSON API (every endpoint, pagination, refusals, auth) and the pages
// in real headless Chromium — overview → differences → request, with the differing values
// highlighted in place; screenshots of each view go to artifacts/.
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Worker } from '../../../compare/worker';
import { reportApp } from '../../../report/server';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { eventually, quiet } from '../../helpers/proxy';
import { traffic } from '../../helpers/traffic';

const TOKEN = 'report-token-0123456789';
const ARTIFACTS = join(__dirname, '../../../artifacts');
let store: MemoryStore;
const servers: Server[] = [];

async function serve(token?: string): Promise<string> {
  const app = reportApp({ store, logger: quiet, token, gates: { minRequests: 10, maxMismatchRate: 0 } });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  store = new MemoryStore();
  const bus = new MemoryBus({ partitions: 4 });
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 500, alerts: false });
  await worker.start();
  await store.putRun({ runId: 'prod-1', createdAt: '2026-11-25T08:00:00.000Z', source: 'proxy' });
  await bus.publish(traffic({ runId: 'prod-1', requests: 60, routes: ['/orders'], prefix: 'a' }).records);
  await bus.publish(traffic({ runId: 'prod-1', requests: 60, routes: ['/orders/:id/pay'], mismatchEvery: 3, prefix: 'b' }).records);
  // The browser walks a run of its own: it changes the rules.
  await store.putRun({ runId: 'prod-2', createdAt: '2026-11-25T08:00:00.000Z', source: 'proxy' });
  await bus.publish(traffic({ runId: 'prod-2', requests: 60, routes: ['/orders'], prefix: 'a' }).records);
  await bus.publish(traffic({ runId: 'prod-2', requests: 60, routes: ['/orders/:id/pay'], mismatchEvery: 3, prefix: 'b' }).records);
  await eventually(async () => (await store.countComparisons('prod-1')) === 120 && (await store.countComparisons('prod-2')) === 120, 10_000, 'the comparisons');
  await worker.stop();
  await bus.close();
  await store.putExchanges([{ runId: 'prod-1', shadowId: 'b-0000000', at: '2026-11-25T08:00:00.000Z', request: { method: 'POST', path: '/orders/A-0/pay', body: { amount: 10000 } }, responses: { legacy: { status: 200, body: { paid: true } }, candidate: { status: 200, body: { paid: true } } } }]);
});

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
});

describe('API', () => {
  let base: string;
  beforeAll(async () => {
    base = await serve();
  });
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.json(), headers: res.headers };
  };

  it('runs, a run with readiness per route, and its differences by severity and reach', async () => {
    expect((await get('/api/runs')).body).toEqual(expect.arrayContaining([expect.objectContaining({ runId: 'prod-1', source: 'proxy' })]));
    const run = (await get('/api/runs/prod-1')).body;
    expect(run.routes).toEqual([
      expect.objectContaining({ route: 'POST /orders', compared: 60, match: 60, readiness: 'ready' }),
      expect.objectContaining({ route: 'POST /orders/:id/pay', compared: 60, mismatch: 20, readiness: 'not ready' }),
    ]);
    // The trend: comparisons per hour, with how many mismatched.
    const hours = run.routes[1].trend as { hour: string; compared: number; mismatched: number }[];
    expect(hours.reduce((n, t) => n + t.compared, 0)).toBe(60);
    expect(hours.reduce((n, t) => n + t.mismatched, 0)).toBe(20);
    expect(hours[0]!.hour).toMatch(/^\d{4}-\d\d-\d\dT\d\d$/);
    const diffs = (await get('/api/runs/prod-1/differences?route=POST%20/orders/:id/pay')).body;
    expect(diffs.map((d: { target: string; field: string; count: number }) => [d.target, d.field, d.count])).toEqual(
      expect.arrayContaining([
        ['shop.orders', 'total', 20],
        ['orders/order.created', 'total', 20],
      ]),
    );
    expect(diffs[0].examples.length).toBeGreaterThan(0);
  });

  it('probable causes: differences that always occur together in the same requests are one group', async () => {
    const causes = (await get('/api/runs/prod-1/causes')).body;
    expect(causes).toEqual([{ route: 'POST /orders/:id/pay', fields: ['orders/order.created total', 'shop.orders total'], requests: 20, example: 'b-0000000' }]);
  });

  it('pages through comparisons by shadow id: every one once, none twice', async () => {
    const seen: string[] = [];
    let next: string | undefined;
    let pages = 0;
    do {
      const page = (await get(`/api/runs/prod-1/comparisons?verdict=mismatch&limit=7${next ? `&after=${next}` : ''}`)).body;
      seen.push(...page.items.map((c: { shadowId: string }) => c.shadowId));
      next = page.next;
      pages += 1;
    } while (next);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(20);
    expect(seen).toEqual([...seen].sort());
    const bad = await get('/api/runs/prod-1/comparisons?limit=1000');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/^limit must be a whole number from 1 to 500/);
    expect((await get('/api/runs/prod-1/comparisons?verdict=maybe')).status).toBe(400);
  });

  it('one request: its comparison, exchange and both sides’ records; unknown ones are 404', async () => {
    const v = (await get('/api/runs/prod-1/comparisons/b-0000000')).body;
    expect(v.comparison).toMatchObject({ shadowId: 'b-0000000', verdict: 'mismatch' });
    expect(v.exchange.request.path).toBe('/orders/A-0/pay');
    expect(v.legacy.map((r: { type: string }) => r.type)).toEqual(['effect', 'effect', 'end']);
    expect(v.candidate).toHaveLength(3);
    expect((await get('/api/runs/prod-1/comparisons/nope')).status).toBe(404);
    const found = await fetch(`${base}/runs/prod-1/find?shadowId=b-0000003`, { redirect: 'manual' });
    expect([found.status, found.headers.get('location')]).toEqual([303, '/runs/prod-1/requests/b-0000003']);
    const missing = await fetch(`${base}/runs/prod-1/find?shadowId=zz`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toContain('<p>comparison &quot;zz&quot; of run &quot;prod-1&quot; not found.</p>');
    expect((await get('/api/runs/nope')).status).toBe(404);
  });

  it('rules: a change needs a reason and an author, bad rules are refused, versions count up', async () => {
    const post = (body: unknown) => fetch(`${base}/api/runs/prod-1/rules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    let res = await post({ rules: { ignore: ['**.total'] } });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatch(/needs "reason" and "author"/);
    res = await post({ rules: { ignore: 5 }, reason: 'r', author: 'a' });
    expect(res.status).toBe(400);
    res = await post({ rules: { targets: [{ match: 'shop.orders', ignore: ['total'] }] }, reason: 'rounding agreed', author: 'kim' });
    expect([res.status, await res.json()]).toEqual([201, { version: 1 }]);
    expect((await get('/api/runs/prod-1/rules')).body).toMatchObject({ version: 1, reason: 'rounding agreed', author: 'kim' });
  });

  it('re-evaluation applies the new rules to the stored run: the ignored field is gone, the rest stays', async () => {
    const res = await fetch(`${base}/api/runs/prod-1/reevaluate`, { method: 'POST' });
    expect(await res.json()).toEqual({ reevaluated: 20, changed: 0, withoutRecords: 0, rulesVersion: 1 });
    const diffs = (await get('/api/runs/prod-1/differences')).body.map((d: { target: string; field: string; count: number }) => `${d.target} ${d.field} ${d.count}`);
    expect(diffs).toEqual(['orders/order.created total 20']);
  });

  it('forms refuse posts from other origins (CSRF)', async () => {
    const body = new URLSearchParams({ target: 'shop.orders', field: 'total', reason: 'x', author: 'y' });
    const none = await fetch(`${base}/runs/prod-1/expected`, { method: 'POST', body, redirect: 'manual' });
    expect(none.status).toBe(403);
    const evil = await fetch(`${base}/runs/prod-1/reevaluate`, { method: 'POST', headers: { origin: 'https://evil.example' }, redirect: 'manual' });
    expect(evil.status).toBe(403);
  });

  it('security headers: a CSP that allows no script at all', async () => {
    const res = await fetch(`${base}/runs/prod-1`);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/script-src/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).not.toMatch(/<script/i);
  });
});

describe('auth', () => {
  it('with a token: API needs the bearer, a browser gets a cookie from ?token= once', async () => {
    const base = await serve(TOKEN);
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' }); // health checks need no token and see no data
    expect((await fetch(`${base}/api/runs`)).status).toBe(401);
    expect((await fetch(`${base}/api/runs`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } })).status).toBe(401);
    expect((await fetch(`${base}/api/runs`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    const login = await fetch(`${base}/runs/prod-1?token=${TOKEN}`, { redirect: 'manual' });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/runs/prod-1');
    const cookie = login.headers.get('set-cookie')!;
    expect(cookie).toMatch(/sd_token=.*HttpOnly.*SameSite=Strict/i);
    expect((await fetch(`${base}/runs/prod-1`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    expect((await fetch(`${base}/runs/prod-1`)).status).toBe(401);
    expect((await fetch(`${base}/runs/prod-1`, { headers: { cookie: 'sd_token=%E0%A4%A' } })).status).toBe(401); // mangled: refused, not a 500
  });
});

it('in Chromium: overview → difference → request, the differing values highlighted in place', async () => {
  const CHROMIUM = '/usr/bin/chromium';
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install chromium (.ci/run does this).`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const base = await serve();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    await page.goto(`${base}/runs/prod-2`);
    expect(await page.textContent('#routes tbody tr:nth-child(2)')).toMatch(/POST \/orders\/:id\/pay\s*not ready\s*60\s*40\s*20/);
    expect(await page.getAttribute('#routes tbody tr:nth-child(2) svg.trend', 'aria-label')).toBe('mismatch rate per hour');
    expect(await page.textContent('#routes tbody tr:nth-child(2) svg.trend title')).toMatch(/:00 — 20 of 60 mismatched$/);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-overview.png'), fullPage: true });

    await page.click('text=POST /orders/:id/pay');
    await page.waitForURL(/\/differences\?route=/);
    expect(await page.textContent('#causes')).toMatch(/20 request\(s\) on POST \/orders\/:id\/pay: orders\/order\.created total \+ shop\.orders total/);
    const row = page.locator('#differences tbody tr', { hasText: 'shop.orders' });
    expect(await row.textContent()).toMatch(/total\s*20\s*33\.3%/);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-differences.png'), fullPage: true });

    await row.locator('a.example').first().click();
    await page.waitForURL(/\/requests\//);
    const legacy = await page.$$eval('mark.diff.legacy', (ms) => ms.map((m) => [m.getAttribute('data-path'), m.textContent]));
    const candidate = await page.$$eval('mark.diff.candidate', (ms) => ms.map((m) => [m.getAttribute('data-path'), m.textContent]));
    expect(legacy).toContainEqual(['total', '10000']);
    expect(candidate).toContainEqual(['total', '10001']);
    expect(await page.textContent('h1')).toMatch(/POST \/orders\/:id\/pay\s*mismatch/);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-request.png'), fullPage: true });

    // Mark the database difference as expected, re-evaluate, and see it go while the event's stays.
    await page.goto(`${base}/runs/prod-2/differences?route=${encodeURIComponent('POST /orders/:id/pay')}`);
    const target = page.locator('#differences tbody tr', { hasText: 'shop.orders' });
    await target.locator('summary').click({ timeout: 5000 });
    await target.locator('input[name=reason]').fill('amounts now rounded by the gateway (FIN-231)');
    await target.locator('input[name=author]').fill('kim');
    await target.locator('button[type=submit]').click();
    await page.waitForURL(/marked=1/, { timeout: 5000 });
    expect(await page.textContent('.flash')).toMatch(/Saved as rules v1/);
    await page.goto(`${base}/runs/prod-2`);
    expect(await page.textContent('#reevaluate')).toMatch(/rules v1: amounts now rounded by the gateway \(FIN-231\) \(kim\)/);
    await page.click('text=Re-evaluate with the current rules');
    await page.waitForURL(/reevaluated=20&changed=0/, { timeout: 5000 });
    await page.goto(`${base}/runs/prod-2/differences?route=POST%20/orders/:id/pay`);
    const rows = await page.$$eval('#differences tbody tr', (trs) => trs.map((tr) => tr.textContent!.replace(/\s+/g, ' ')));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/orders\/order\.created\s*total\s*20\s*33\.3%/);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-after-rule.png'), fullPage: true });
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
  }
});
