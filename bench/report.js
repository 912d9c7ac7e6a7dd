#!/usr/bin/env node
// bench/report: how the report server answers over a run of a million comparisons. A run is
// stored in the embedded store (what `serve --from DIR` and the demo use; --mongodb URL stores it
// in MongoDB instead), then each page and API call is timed: the overview (the run's rollup),
// the differences (rollup + probable causes over the latest 2,000 mismatches), a time window
// (counted from up to 20,000 comparisons), the requests list filtered by verdict and by a value,
// and one request. Baseline, in the same run: the same server's /healthz (express, helmet, the
// auth check, no data). Each figure is the median of --repeat timed calls after one untimed.
// Usage: npm run build && node bench/report.js [--count 1000000] [--mismatch 0.03] [--repeat 7] [--mongodb URL]
'use strict';
const { performance } = require('node:perf_hooks');
const { resolve } = require('node:path');
const { arg } = require('./lib/args');

const ROOT = resolve(__dirname, '..');
const { reportApp } = require(`${ROOT}/dist/report/server`);
const { MemoryStore } = require(`${ROOT}/dist/runtime/store/memory`);
const { createLogger } = require(`${ROOT}/dist/core/logger`);

const COUNT = Number(arg('count', 1_000_000));
const MISMATCH = Number(arg('mismatch', 0.03));
const REPEAT = Number(arg('repeat', 7));
const MONGODB = arg('mongodb', undefined);
const RUN = 'bench-report';
const ROUTES = ['POST /orders', 'GET /orders/:id', 'POST /orders/:id/pay', 'POST /orders/:id/cancel', 'POST /orders/:id/address', 'GET /customers/:id', 'POST /carts/:id/items', 'DELETE /carts/:id/items/:sku'];
const START = Date.parse('2026-11-24T00:00:00.000Z');
const SPAN = 24 * 3_600_000;

// Comparisons shaped as the worker stores them; the parts every match shares are shared objects
// (the store keeps what it is given), so a million fit in memory like a real run's would not need to.
const sides = { legacy: { effects: 4, ended: true, status: 200 }, candidate: { effects: 4, ended: true, status: 200 } };
const pairs = [
  { kind: 'db', target: 'shop.orders', legacySeq: 0, candidateSeq: 0 },
  { kind: 'message', target: 'orders/order.created', legacySeq: 1, candidateSeq: 1 },
];
function finding(target, field, legacy, candidate, key) {
  return { kind: 'changed', severity: 'medium', effectKind: target.includes('/') ? 'message' : 'db', target, op: 'insert', key, path: field, field, legacy, candidate };
}
function comparison(i) {
  const shadowId = `01J${i.toString(36).padStart(10, '0')}`;
  const route = ROUTES[i % ROUTES.length];
  const comparedAt = new Date(START + Math.floor((i / COUNT) * SPAN)).toISOString();
  const mismatch = (i * 2654435761) % 1000 < MISMATCH * 1000;
  if (!mismatch) return { v: 1, runId: RUN, shadowId, route, verdict: 'match', findings: [], noise: [], sides, pairs, comparedAt };
  const orderNo = `ORD-${i}`;
  const findings = [finding('shop.orders', 'total', 10_000 + (i % 500), 10_001 + (i % 500), { orderNo })];
  if (i % 3 === 0) findings.push(finding('orders/order.created', 'total', 10_000 + (i % 500), 10_001 + (i % 500)));
  if (i % 7 === 0) findings.push(finding('shop.orders', 'status', 'paid', 'preparing', { orderNo }));
  return { v: 1, runId: RUN, shadowId, route, verdict: 'mismatch', findings, noise: [], sides, pairs, comparedAt };
}

async function openStore() {
  if (!MONGODB) return new MemoryStore();
  const { connectMongoStore } = require(`${ROOT}/dist/runtime/store/mongo`);
  return connectMongoStore({ url: MONGODB, dbName: `bench_report_${Date.now().toString(36)}`, logger: createLogger({ level: 'warn' }) });
}

async function time(url) {
  const t = performance.now();
  const res = await fetch(url);
  const body = await res.text();
  if (!res.ok) throw new Error(`${url}: ${res.status} ${body.slice(0, 200)}`);
  return performance.now() - t;
}

async function median(url) {
  const first = await time(url); // untimed warm-up (also sorts what was stored since the last page)
  const xs = [];
  for (let i = 0; i < REPEAT; i++) xs.push(await time(url));
  xs.sort((a, b) => a - b);
  return { ms: xs[Math.floor(xs.length / 2)], first };
}

(async () => {
  const store = await openStore();
  const t0 = performance.now();
  await store.putRun({ runId: RUN, createdAt: new Date(START).toISOString(), source: 'proxy' });
  let mismatches = 0;
  for (let i = 0; i < COUNT; i += 5_000) {
    const batch = [];
    for (let j = i; j < Math.min(COUNT, i + 5_000); j++) batch.push(comparison(j));
    mismatches += batch.filter((c) => c.verdict === 'mismatch').length;
    await store.putComparisons(batch);
    if (i % 200_000 === 0) process.stderr.write(`stored ${i}…\n`);
  }
  await store.flushRollups(RUN);
  const storedIn = (performance.now() - t0) / 1000;
  global.gc?.();
  const heapMb = Math.round(process.memoryUsage().heapUsed / 1e6);

  const app = reportApp({ store, logger: createLogger({ level: 'warn' }), gates: { minRequests: 30, maxMismatchRate: 0 } });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${server.address().port}`;
  const late = Math.floor(COUNT * 0.97);
  const lateMismatch = (() => {
    for (let i = late; i < COUNT; i++) if (comparison(i).verdict === 'mismatch') return i;
    return late;
  })();
  const cases = [
    ['baseline: /healthz (no data)', '/healthz'],
    ['overview page', `/runs/${RUN}`],
    ['overview API', `/api/runs/${RUN}`],
    ['differences page (+ probable causes)', `/runs/${RUN}/differences`],
    ['differences API, one route', `/api/runs/${RUN}/differences?route=${encodeURIComponent('POST /orders')}`],
    ['differences of a 1-hour window', `/runs/${RUN}/differences?since=2026-11-24T12:00Z&until=2026-11-24T13:00Z`],
    ['requests page: mismatches, first page', `/runs/${RUN}/requests?verdict=mismatch`],
    ['requests API: mismatches after the 97th percentile id', `/api/runs/${RUN}/comparisons?verdict=mismatch&after=01J${late.toString(36).padStart(10, '0')}`],
    [`requests page: value ORD-${lateMismatch} (near the end)`, `/runs/${RUN}/requests?value=ORD-${lateMismatch}`],
    ['one request', `/runs/${RUN}/requests/01J${lateMismatch.toString(36).padStart(10, '0')}`],
  ];
  const results = [];
  for (const [name, path] of cases) results.push({ name, ...(await median(base + path)) });
  server.close();
  await store.close();

  const baseline = results[0].ms;
  console.log(`report server over ${COUNT.toLocaleString('en')} comparisons (${mismatches.toLocaleString('en')} mismatching), ${MONGODB ? 'MongoDB store' : 'embedded store'}; stored in ${storedIn.toFixed(1)} s, heap ${heapMb} MB`);
  console.log(`median of ${REPEAT} after one warm-up; ratio against the baseline measured in the same run\n`);
  console.log(`${'call'.padEnd(58)} ${'median ms'.padStart(10)} ${'× baseline'.padStart(11)} ${'first ms'.padStart(9)}`);
  for (const r of results) console.log(`${r.name.padEnd(58)} ${r.ms.toFixed(1).padStart(10)} ${(r.ms / baseline).toFixed(1).padStart(11)} ${r.first.toFixed(0).padStart(9)}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
