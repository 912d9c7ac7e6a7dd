// `shadowdiff serve`: the JSON API (every endpoint, pagination, refusals, auth) and the pages
// in real headless Chromium — overview → differences → request, with the differing values
// highlighted in place; screenshots of each view go to artifacts/.
import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { Worker } from '../../../pipeline/worker';
import { reportApp } from '../../../report/server';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { eventually, quiet } from '../../helpers/proxy';
import { traffic } from '../../helpers/traffic';
import { comparisonFor } from '../runtime/store.contract';

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
  // Compared an hour apart, the odd ones mismatching on total (legacy 10, candidate 10 + i).
  await store.putRun({ runId: 'timed', createdAt: '2026-11-24T10:00:00.000Z', source: 'replay' });
  await store.putComparisons(Array.from({ length: 6 }, (_, i) => ({ ...comparisonFor('timed', `t${i}`, 10, i % 2 ? 10 + i : 10), comparedAt: `2026-11-24T1${i}:00:00.000Z` })));
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
    expect(diffs.find((d: { target: string }) => d.target === 'shop.orders').example).toEqual({ shadowId: 'b-0000000', legacy: 10000, candidate: 10001 });
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

  it('filters comparisons by time compared and by a value or key; refuses what it cannot read', async () => {
    const ids = async (q: string) => (await get(`/api/runs/timed/comparisons?${q}`)).body.items.map((c: { shadowId: string }) => c.shadowId);
    expect(await ids('since=2026-11-24T12:00:00Z')).toEqual(['t2', 't3', 't4', 't5']);
    expect(await ids('since=2026-11-24T11:00&until=2026-11-24T14:00')).toEqual(['t1', 't2', 't3']); // no zone: UTC
    expect(await ids('until=2026-11-24T12:30:00%2B01:00')).toEqual(['t0', 't1']);
    expect(await ids('value=13')).toEqual(['t3']); // the candidate's value
    expect(await ids('value=t5')).toEqual(['t5']); // the document key
    expect(await ids('value=10&verdict=mismatch&limit=2')).toEqual(['t1', 't3']);
    const bad = await get('/api/runs/timed/comparisons?since=yesterday');
    expect([bad.status, bad.body.error]).toEqual([400, 'since must be a date and time, e.g. 2026-11-25T09:00:00Z or 2026-11-25 (not "yesterday").']);
    expect((await get('/api/runs/timed/comparisons?since=2026-11-25&until=2026-11-24')).body.error).toBe('since must be before until.');
    expect((await get(`/api/runs/timed/comparisons?value=${'x'.repeat(201)}`)).status).toBe(400);
  });

  it('differences of a time window are counted from its comparisons; filters by target, field, severity, kind', async () => {
    const all = (await get('/api/runs/timed/differences')).body;
    expect(all.map((d: { field: string; count: number }) => [d.field, d.count])).toEqual([['total', 3]]);
    const window = (await get('/api/runs/timed/differences?since=2026-11-24T12:00Z&until=2026-11-24T15:00Z')).body;
    expect(window.map((d: { field: string; count: number; rate: number }) => [d.field, d.count, d.rate])).toEqual([['total', 1, 1 / 3]]); // t2, t3, t4: one mismatched
    expect((await get('/api/runs/prod-1/differences?target=ORDER.created')).body.map((d: { target: string }) => d.target)).toEqual(['orders/order.created']);
    expect((await get('/api/runs/prod-1/differences?field=tot&severity=medium&kind=changed')).body).toHaveLength(2);
    expect((await get('/api/runs/prod-1/differences?severity=high')).body).toEqual([]);
    expect((await get('/api/runs/prod-1/differences?severity=urgent')).status).toBe(400);
  });

  it('pages: differences filtered by a form, and the requests behind a difference listed a page at a time', async () => {
    const diffs = await (await fetch(`${base}/runs/prod-1/differences?target=order.created`)).text();
    expect(diffs).toContain('<form method="get" action="/runs/prod-1/differences" class="filters" id="filters">');
    expect(diffs.match(/<tr><td>POST/g)).toHaveLength(1);
    expect(diffs).toContain('href="/runs/prod-1/requests?route=POST%20%2Forders%2F%3Aid%2Fpay&amp;target=orders%2Forder.created&amp;field=total"');
    const first = await (await fetch(`${base}/runs/prod-1/requests?verdict=mismatch&limit=15`)).text();
    expect(first.match(/<tr><td><a href="\/runs\/prod-1\/requests\/b-/g)).toHaveLength(15);
    const next = /<a id="next" href="([^"]+)">/.exec(first)![1]!.replace(/&amp;/g, '&');
    expect(next).toMatch(/verdict=mismatch&after=b-/);
    const second = await (await fetch(`${base}${next}`)).text();
    expect(second.match(/<tr><td><a href="\/runs\/prod-1\/requests\/b-/g)).toHaveLength(5);
    expect(second).not.toContain('id="next"');
    expect(second).toContain('orders/order.created total, shop.orders total');
    const timed = await (await fetch(`${base}/runs/timed/requests?value=15`)).text();
    expect(timed).toContain('<code>t5</code>');
    const refused = await fetch(`${base}/runs/timed/requests?until=soon`);
    expect([refused.status, await refused.text()]).toEqual([400, expect.stringContaining('until must be a date and time')]);
  });

  it('the cutover checklist: readiness per route as Markdown, a page to copy it from, and the report as one HTML file', async () => {
    const res = await fetch(`${base}/api/runs/prod-1/checklist`);
    expect(res.headers.get('content-type')).toMatch(/^text\/markdown/);
    const md = await res.text();
    expect(md).toContain('| `POST /orders` | ready | 60 | 60 | 0 | 0 | 0 | 0 |');
    expect(md).toContain('| `POST /orders/:id/pay` | not ready | 60 | 40 | 20 | 0 | 0 | 0 |');
    expect(md).toMatch(/\| `POST \/orders\/:id\/pay` \| `orders\/order\.created` \| `total` \| changed \| medium \| 20 \| `\d+` \| `\d+` \|/); // with an example's values
    const page = await (await fetch(`${base}/runs/prod-1/checklist`)).text();
    expect(page).toContain('<textarea id="checklist" readonly');
    expect(page).toContain('| `POST /orders` | ready | 60 | 60 | 0 | 0 | 0 | 0 |');
    const file = await fetch(`${base}/runs/prod-1/report.html`);
    expect(file.headers.get('content-disposition')).toBe('attachment; filename=shadowdiff-prod-1.html');
    const html = await file.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<td><code>POST /orders/:id/pay</code></td><td><span class="badge not-ready">not ready</span></td>');
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
    expect((await get('/api/runs/prod-1/reevaluate')).status).toBe(404); // never re-evaluated
    const res = await fetch(`${base}/api/runs/prod-1/reevaluate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ by: 'kim' }) });
    expect([res.status, res.headers.get('location')]).toEqual([202, '/api/runs/prod-1/reevaluate']);
    expect(await res.json()).toMatchObject({ runId: 'prod-1', state: 'running', total: 20, rulesVersion: 1, by: 'kim' });
    let job: { state: string } | undefined;
    await eventually(async () => (job = (await get('/api/runs/prod-1/reevaluate')).body as { state: string }).state !== 'running', 10_000, 'the re-evaluation to end');
    expect(job).toMatchObject({ state: 'done', total: 20, reevaluated: 20, changed: 0, withoutRecords: 0, rulesVersion: 1, cursor: { verdict: 'error', after: null } });
    // Nothing runs now: a cancel is refused with the reason.
    const cancel = await fetch(`${base}/api/runs/prod-1/reevaluate`, { method: 'DELETE' });
    expect([cancel.status, (await cancel.json()).error]).toEqual([409, expect.stringMatching(/no re-evaluation of run "prod-1" is running \(the last one done at/)]);
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
    expect(await row.textContent()).toMatch(/total\s*10000 → 10001\s*20\s*33\.3%/); // one example pair per group, as the terminal shows
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
    await page.waitForURL(/\/runs\/prod-2#reevaluation$/, { timeout: 5000 });
    // The page follows the job (it reloads itself while the job runs); 20 requests take a moment.
    await eventually(async () => /^Re-evaluated under rules v1 at .*: 20 of 20 non-matching request\(s\) done, 0 changed verdict\.$/.test(((await page.reload(), await page.textContent('#reevaluation')) ?? '').trim()), 10_000, 'the re-evaluation shown as done');
    await page.goto(`${base}/runs/prod-2/differences?route=POST%20/orders/:id/pay`);
    const rows = await page.$$eval('#differences tbody tr', (trs) => trs.map((tr) => tr.textContent!.replace(/\s+/g, ' ')));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(/orders\/order\.created\s*total\s*10000 → 10001\s*20\s*33\.3%/);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-after-rule.png'), fullPage: true });

    // Filter the differences with the form, then open every request behind one of them.
    await page.goto(`${base}/runs/prod-1/differences`);
    await page.fill('#filters input[name=target]', 'order.created');
    await page.click('#filters button[type=submit]');
    await page.waitForURL(/target=order\.created/, { timeout: 5000 });
    expect(await page.$$eval('#differences tbody tr', (trs) => trs.length)).toBe(1);
    await page.click('#differences a.all');
    await page.waitForURL(/\/requests\?/, { timeout: 5000 });
    expect(await page.$$eval('#requests tbody tr', (trs) => trs.length)).toBe(20);
    await page.screenshot({ path: join(ARTIFACTS, 'serve-requests.png'), fullPage: true });
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
  }
});
