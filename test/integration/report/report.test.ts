// `shadowdiff report` over a run the real worker compared (embedded bus and store, saved to a
// directory as `serve` and `report` open it): readiness per route against the gates, every
// format, and a self-contained HTML file with everything from the data escaped.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateXML } from 'xmllint-wasm';
import { Worker } from '../../../pipeline/worker';
import { run } from '../../../cli/main';
import { evaluate } from '../../../compare/readiness';
import { renderHtml } from '../../../report/render/html';
import { reportApp } from '../../../report/server';
import type { AddressInfo } from 'node:net';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { eventually, quiet } from '../../helpers/proxy';
import { traffic } from '../../helpers/traffic';
import { fakeIo } from '../../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'sd-report-'));
const saved = join(dir, 'run');

const cli = () => fakeIo();

beforeAll(async () => {
  const bus = new MemoryBus({ partitions: 4 });
  const store = new MemoryStore();
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 10, timeoutMs: 500, alerts: false });
  await worker.start();
  // POST /orders: 60 requests, all match; POST /orders/:id/pay: 60 matching and 60 more where every 3rd mismatches;
  // POST /orders/:id/cancel: 10, half without the candidate's end marker.
  await bus.publish(traffic({ runId: 'prod-1', requests: 120, routes: ['/orders', '/orders/:id/pay'], mismatchEvery: 0, prefix: 'a' }).records);
  const pay = traffic({ runId: 'prod-1', requests: 60, routes: ['/orders/:id/pay'], mismatchEvery: 3, prefix: 'b' });
  await bus.publish(pay.records);
  await bus.publish(traffic({ runId: 'prod-1', requests: 10, routes: ['/orders/:id/cancel'], incompleteEvery: 2, prefix: 'c' }).records);
  await eventually(async () => (await store.countComparisons('prod-1')) === 190, 10_000, 'the comparisons');
  await worker.stop();
  await store.addCoverage('prod-1', { 'sampled out': 900, 'body too large': 2 });
  await store.save(saved);
  await bus.close();
});

it('text: readiness per route against the gates; exit 1 while a route is not ready', async () => {
  const c = cli();
  expect(await run(['report', '--run', 'prod-1', '--from', saved], c.io)).toBe(1);
  const text = c.out.join('\n');
  expect(text).toMatch(/POST \/orders: 60 match, 0 mismatch, 0 incomplete, 0 error — ready/);
  expect(text).toMatch(/^FAIL run prod-1: 190 requests, 190 compared, 20 regression\(s\)/);
  expect(text).toMatch(/POST \/orders\/:id\/pay: 100 match, 20 mismatch, 0 incomplete, 0 error — not ready/);
  expect(text).toMatch(/POST \/orders\/:id\/cancel: .* — not enough data/);
  expect(text).toMatch(/changed +shop\.orders total +20 request\(s\) +legacy=\d+ candidate=\d+/);
});

it('html: one self-contained file with the checklist, the differences and what was not compared', async () => {
  const out = join(dir, 'report.html');
  expect(await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'html', '--out', out], cli().io)).toBe(1);
  const html = readFileSync(out, 'utf8');
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/<(link|img|iframe)\b|src=|https?:\/\//); // nothing fetched from anywhere
  expect(html).toContain('<td><code>POST /orders/:id/pay</code></td><td><span class="badge not-ready">not ready</span></td>');
  expect(html).toContain('<tr><td>sampled out</td><td class="n">900</td></tr>');
  expect(html).toMatch(/<td><code>shop\.orders<\/code><\/td><td><code>total<\/code><\/td><td class="n">20<\/td>/);
});

it('junit validates against the JUnit schema; json and markdown carry the same verdicts', async () => {
  const junit = join(dir, 'report.xml');
  await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'junit', '--out', junit], cli().io);
  const v = await validateXML({ xml: [{ fileName: 'report.xml', contents: readFileSync(junit, 'utf8') }], schema: [{ fileName: 'junit.xsd', contents: readFileSync(join(__dirname, '../../fixtures/junit/junit.xsd'), 'utf8') }] });
  expect(v.errors).toEqual([]);
  const j = cli();
  await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'json'], j.io);
  const json = JSON.parse(j.out.join(''));
  expect(json.routes.map((r: { route: string; readiness: string }) => [r.route, r.readiness])).toEqual([
    ['POST /orders', 'ready'],
    ['POST /orders/:id/cancel', 'not enough data'],
    ['POST /orders/:id/pay', 'not ready'],
  ]);
  expect(json.notCompared).toEqual({ 'sampled out': 900, 'body too large': 2 });
  const m = cli();
  await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'markdown', '--min-requests', '5'], m.io);
  expect(m.out.join('\n')).toContain('| `POST /orders/:id/cancel` | ready |');
  // How many more each route needs, and a minimum per route class (the first matching glob decides).
  expect(json.routes.find((r: { route: string }) => r.route === 'POST /orders/:id/cancel').needs).toBeGreaterThan(0);
  const t = cli();
  await run(['report', '--run', 'prod-1', '--from', saved, '--route-min-requests', '* /orders/:id/cancel=500', '--route-min-requests', 'POST *=5'], t.io);
  const text = t.out.join('\n');
  expect(text).toMatch(/POST \/orders\/:id\/cancel: .* — not enough data \(\d+ more needed\)/);
  expect(text).toMatch(/POST \/orders: .* — ready$/m);
  const bad = cli();
  expect(await run(['report', '--run', 'prod-1', '--from', saved, '--route-min-requests', 'POST *'], bad.io)).toBe(2);
  expect(bad.err.join('\n')).toMatch(/--route-min-requests "POST \*" must be ROUTE=N/);
});

it('clear errors: an unknown run, a missing directory, a bad format', async () => {
  const a = cli();
  expect(await run(['report', '--run', 'nope', '--from', saved], a.io)).toBe(2);
  expect(a.err.join('\n')).toMatch(/run "nope" has no comparisons in this store/);
  const b = cli();
  expect(await run(['report', '--run', 'prod-1', '--from', join(dir, 'missing')], b.io)).toBe(2);
  expect(b.err.join('\n')).toMatch(/missing/);
  const c = cli();
  expect(await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'pdf'], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/Allowed choices are text, markdown, json, junit, html/);
  for (const x of [a, b, c]) expect(x.err.join('\n')).not.toMatch(/\n\s+at /);
});

it('html escapes everything that comes from the data', () => {
  const evil = '<script>alert(1)</script>"\'&';
  const html = renderHtml(
    evaluate('r<1>', [{ v: 1, runId: 'r', shadowId: `s${evil}`, route: `GET /${evil}`, verdict: 'mismatch', findings: [{ kind: 'changed', severity: 'high', effectKind: 'db', target: evil, path: evil, field: evil, legacy: evil, candidate: { [evil]: evil } }], noise: [], sides: { legacy: { effects: 1, ended: true }, candidate: { effects: 1, ended: true } }, pairs: [], comparedAt: '2026-11-25T00:00:00Z' }], 1, { maxMismatchRate: 0, minRequests: 1, minCoverage: 0 }),
    { notCompared: { [evil]: 1 } },
  );
  expect(html).not.toContain('<script>alert');
  expect(html.match(/<script>/g)).toHaveLength(1); // the filter script, nothing else
  // Text and attributes alike: `<` and `&` always, `"` always (it could end an attribute).
  expect(html).toContain('<td><code>&lt;script>alert(1)&lt;/script>&quot;\'&amp;</code></td>');
  expect(html).toContain('data-route="GET /&lt;script>alert(1)&lt;/script>&quot;\'&amp;"');
  expect(html).not.toMatch(/<[a-z]+[^>]*\son[a-z]+=/i); // no event-handler attribute from the data
});

it('the HTML report opens in Chromium with no network, shows the same numbers as the JSON and the report server’s API, and its filter works under its CSP', async () => {
  const CHROMIUM = '/usr/bin/chromium';
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install chromium (.ci/run does this).`);
  const file = join(dir, 'browser.html');
  await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'html', '--out', file], cli().io);
  const j = cli();
  await run(['report', '--run', 'prod-1', '--from', saved, '--format', 'json'], j.io);
  const expected = JSON.parse(j.out.join('')).routes as { route: string; compared: number; match: number; mismatch: number; incomplete: number; readiness: string; needs?: number }[];
  const judged = (r: { readiness: string; needs?: number }) => `${r.readiness}${r.needs ? ` ${r.needs} more needed` : ''}`;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const context = await browser.newContext({ offline: true });
    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(pathToFileURL(file).href);
    const rows = await page.$$eval('#routes tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim())));
    expect(rows).toEqual(expected.map((r) => [r.route, judged(r), String(r.compared), String(r.match), String(r.mismatch), '0', String(r.incomplete), '0', '0']));
    // …and the same as the report server's API over the same saved run, with the same gates.
    const api = await servedRun(saved, 'prod-1');
    expect(rows.map((r) => [r[0], r[1], r[2], r[3], r[4], r[6]])).toEqual(api.map((r) => [r.route, judged(r), String(r.compared), String(r.match), String(r.mismatch), String(r.incomplete)]));
    const visible = () => page.$$eval('tr[data-text]', (trs) => trs.filter((tr) => !(tr as HTMLElement).hidden).length);
    const before = await visible();
    expect(before).toBe(2);
    await page.fill('#filter', 'order.created');
    expect(await visible()).toBe(1); // the script ran: the page's CSP allows it, and only it
    mkdirSync(join(__dirname, '../../../artifacts'), { recursive: true });
    await page.screenshot({ path: join(__dirname, '../../../artifacts/report-html.png'), fullPage: true });
    expect(requests).toEqual([pathToFileURL(file).href]); // the file itself, nothing else
    expect(problems).toEqual([]);
  } finally {
    await browser.close();
  }
});

/** `/api/runs/:run` of a report server over a saved run, with `report`'s default gates. */
async function servedRun(dir: string, runId: string): Promise<{ route: string; readiness: string; compared: number; match: number; mismatch: number; incomplete: number }[]> {
  const app = reportApp({ store: await MemoryStore.open(dir), logger: quiet, gates: { minRequests: 30, maxMismatchRate: 0 } });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/runs/${runId}`);
    return ((await res.json()) as { routes: never[] }).routes;
  } finally {
    await new Promise((r) => server.close(r));
  }
}

it('--consumers: each difference names who reads its field, each consumer gets a readiness, in text, JUnit and Markdown', async () => {
  const file = join(dir, 'consumers.json');
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      consumers: [
        { name: 'finance', owner: 'finance team', critical: true, reads: [{ target: 'shop.orders', kind: 'db', paths: ['total'] }] },
        { name: 'search', owner: 'search team', reads: [{ target: 'shop.orders', kind: 'db', paths: ['customerId'] }] },
        { name: 'warehouse', owner: 'ops', reads: [{ target: 'shop.shipments' }] },
      ],
    }),
  );
  const t = cli();
  expect(await run(['report', '--run', 'prod-1', '--from', saved, '--consumers', file], t.io)).toBe(1);
  const text = t.out.join('\n');
  // The comparisons were made without consumers: the report matches them to the differences now.
  expect(text).toMatch(/changed +shop\.orders total +20 request\(s\) .*\[read by finance\]/);
  expect(text).toMatch(/ {4}finance \(finance team, critical\): not ready — 1 difference\(s\) on fields it reads, in 1 route\(s\)/);
  expect(text).toMatch(/ {4}search \(search team\): (ready|not enough data) — /);
  expect(text).toMatch(/ {4}warehouse \(ops\): not enough data — no compared request wrote what it reads/);

  const junit = join(dir, 'consumers.xml');
  await run(['report', '--run', 'prod-1', '--from', saved, '--consumers', file, '--format', 'junit', '--out', junit], cli().io);
  const xml = readFileSync(junit, 'utf8');
  const v = await validateXML({ xml: [{ fileName: 'consumers.xml', contents: xml }], schema: [{ fileName: 'junit.xsd', contents: readFileSync(join(__dirname, '../../fixtures/junit/junit.xsd'), 'utf8') }] });
  expect(v.errors).toEqual([]);
  expect(xml).toMatch(/<testcase classname="shadowdiff\.run\.consumers" name="finance" time="0"><failure message="finance: 1 difference\(s\)/);
  expect(xml).toMatch(/<testcase classname="shadowdiff\.run\.consumers" name="warehouse" time="0"><skipped /);

  const m = cli();
  await run(['report', '--run', 'prod-1', '--from', saved, '--consumers', file, '--format', 'markdown'], m.io);
  expect(m.out.join('\n')).toMatch(/\| `POST \/orders\/:id\/pay` \| `shop\.orders` \| `total` \| changed \| medium \| 20 \| .* \| read by finance \|/);
  expect(m.out.join('\n')).toContain('| finance (critical) | finance team | not ready |');

  const bad = cli();
  writeFileSync(join(dir, 'bad-consumers.json'), JSON.stringify({ version: 1, consumers: [{ name: 'x', reads: [{ target: 't' }] }] }));
  expect(await run(['report', '--run', 'prod-1', '--from', saved, '--consumers', join(dir, 'bad-consumers.json')], bad.io)).toBe(2);
  expect(bad.err.join('\n')).toMatch(/bad-consumers\.json: field "consumers\.0\.owner": is missing\. .*docs\/consumers\.md/);
});
