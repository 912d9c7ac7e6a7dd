#!/usr/bin/env node
// bench/pipeline: requests compared per second end to end — records published on RabbitMQ,
// `shadowdiff worker` processes joining, comparing and storing in MongoDB — with 1 and 2
// workers, beside the engine's in-process rate on the same requests measured in the same run;
// then the detection latency (request's last record published → its comparison made and
// written) at a steady rate below saturation.
// Needs RabbitMQ and a MongoDB-wire server (`npm run services`) and a build (`npm run build`).
// Usage: node bench/pipeline.js [--requests 20000] [--rate 500] [--seconds 10] [--partitions 16] [--batch 65536]
'use strict';
const { spawn } = require('node:child_process');
const { resolve } = require('node:path');
const { compare } = require('../dist/compare/engine/compare');
const { compileRules } = require('../dist/compare/engine/rules');
const { parseRecord } = require('../dist/core/effect');
const { createLogger } = require('../dist/core/logger');
const { connectAmqpBus } = require('../dist/runtime/bus/amqp');
const { deleteTopology } = require('../dist/runtime/bus/topology');
const { connectMongoStore } = require('../dist/runtime/store/mongo');
const { request, RULES, BUGS } = require('./lib/orders');

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const REQUESTS = arg('requests', 20000);
const RATE = arg('rate', 500);
const SECONDS = arg('seconds', 10);
const PARTITIONS = arg('partitions', 16);
/** Records of one partition packed into messages of up to this many bytes (0: one record a message). */
const BATCH = arg('batch', 65536);
const publishOptions = BATCH > 0 ? { batch: BATCH } : {};
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const logger = createLogger({ level: 'warn' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A healthy mix: 1% of requests carry one of the seeded bugs.
const fixture = (i, runId, idPrefix) => {
  const req = request(i, i % 100 === 0 ? BUGS[(i / 100) % BUGS.length] : undefined);
  const shadowId = `${idPrefix}${req.shadowId}`;
  const fix = (r) => ({ ...r, runId, shadowId });
  return { shadowId, records: [...req.legacy.effects, req.legacy.end, ...req.candidate.effects, req.candidate.end].map(fix) };
};

function engineRate() {
  const rules = compileRules(RULES);
  const reqs = Array.from({ length: 2000 }, (_, i) => {
    const req = request(i, i % 100 === 0 ? BUGS[(i / 100) % BUGS.length] : undefined);
    const side = (s) => ({ effects: s.effects.map((e) => parseRecord(JSON.parse(JSON.stringify(e)))), end: parseRecord(JSON.parse(JSON.stringify(s.end))) });
    return { ...req, legacy: side(req.legacy), candidate: side(req.candidate) };
  });
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 3000) compare(reqs[n++ % reqs.length], { rules, now: '2026-11-24T10:00:00.000Z' });
  return (n / (performance.now() - start)) * 1000;
}

const RULES_FILE = resolve(require('node:os').tmpdir(), `shadowdiff-bench-rules-${process.pid}.json`);
require('node:fs').writeFileSync(RULES_FILE, JSON.stringify(RULES));

function startWorkers(n, prefix) {
  return Array.from({ length: n }, () =>
    spawn(process.execPath, [resolve(__dirname, '../bin/shadowdiff.js'), 'worker', '--prefix', prefix, '--database', prefix, '--partitions', String(PARTITIONS), '--settle-ms', '50', '--rules', RULES_FILE, '--log-level', 'warn'], {
      env: { ...process.env, AMQP_URL, MONGODB_URL },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
}

async function cleanup(prefix, bus, store, workers) {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r() : w.once('exit', r)))));
  await bus.close();
  await store.drop();
  await store.close();
  const amqp = require('amqplib');
  const conn = await amqp.connect(AMQP_URL);
  await deleteTopology(conn, prefix, PARTITIONS);
  await conn.close();
}

async function setup(workers, tag) {
  const prefix = `bench_${tag}_${Date.now().toString(36)}`;
  const bus = await connectAmqpBus({ url: AMQP_URL, logger, prefix, partitions: PARTITIONS });
  const store = await connectMongoStore({ url: MONGODB_URL, logger, dbName: prefix });
  const procs = startWorkers(workers, prefix);
  await sleep(1500);
  return { prefix, bus, store, procs };
}

/** Publishes all requests as fast as confirms allow; rate = requests / (first publish → last stored). */
async function throughput(workers) {
  const { prefix, bus, store, procs } = await setup(workers, `t${workers}`);
  try {
    const started = performance.now();
    const batch = 500;
    for (let i = 0; i < REQUESTS; i += batch) {
      const recs = [];
      for (let k = i; k < Math.min(REQUESTS, i + batch); k++) recs.push(...fixture(k, 'bench', '').records);
      await bus.publish(recs, publishOptions);
    }
    const published = performance.now();
    let count = 0;
    while ((count = await store.countComparisons('bench')) < REQUESTS) {
      if (performance.now() - started > 600_000) throw new Error(`only ${count} of ${REQUESTS} compared after 10 minutes`);
      await sleep(250);
    }
    const done = performance.now();
    return { rate: (REQUESTS / (done - started)) * 1000, publishRate: (REQUESTS / (published - started)) * 1000 };
  } finally {
    await cleanup(prefix, bus, store, procs);
  }
}

/** Steady traffic below saturation; latency = comparison's timestamp − its last record's confirm. */
async function latency() {
  const { prefix, bus, store, procs } = await setup(1, 'lat');
  const sent = new Map();
  try {
    const total = RATE * SECONDS;
    const tick = 50;
    const perTick = Math.max(1, Math.round((RATE * tick) / 1000));
    let i = 0;
    const t0 = performance.now();
    while (i < total) {
      const recs = [];
      const ids = [];
      for (let k = 0; k < perTick && i < total; k++, i++) {
        const f = fixture(i, 'lat', '');
        recs.push(...f.records);
        ids.push(f.shadowId);
      }
      await bus.publish(recs, publishOptions);
      const at = Date.now();
      for (const id of ids) sent.set(id, at);
      const next = t0 + (i / RATE) * 1000;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    while ((await store.countComparisons('lat')) < total) await sleep(250);
    const lat = [];
    let after;
    for (;;) {
      const page = await store.listComparisons({ runId: 'lat', limit: 5000, ...(after ? { after } : {}) });
      if (!page.length) break;
      for (const c of page) lat.push(Date.parse(c.comparedAt) - sent.get(c.shadowId));
      after = page.at(-1).shadowId;
    }
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    return { p50: q(0.5), p99: q(0.99), max: lat.at(-1), n: lat.length };
  } finally {
    await cleanup(prefix, bus, store, procs);
  }
}

(async () => {
  console.log(`bench/pipeline: ${REQUESTS} order requests (12 records each, 1% seeded bugs), ${PARTITIONS} partitions, ${BATCH ? `records packed in messages up to ${BATCH} bytes` : 'one record a message'}, RabbitMQ + ${MONGODB_URL}`);
  const engine = engineRate();
  console.log(`engine in-process:           ${engine.toFixed(0)} comparisons/s`);
  const rows = [];
  for (const w of [1, 2]) {
    const r = await throughput(w);
    rows.push([w, r]);
    console.log(`end to end, ${w} worker(s):      ${r.rate.toFixed(0)} requests/s  (${((r.rate / engine) * 100).toFixed(1)}% of the engine; publisher ${r.publishRate.toFixed(0)} req/s)`);
  }
  const l = await latency();
  console.log(`detection latency at ${RATE} req/s: p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms over ${l.n} requests (settle window 50 ms)`);
  console.log('\n| measure | value | goal |\n|---|---|---|');
  console.log(`| engine in-process | ${engine.toFixed(0)}/s | — |`);
  for (const [w, r] of rows) console.log(`| end to end, ${w} worker(s) | ${r.rate.toFixed(0)} req/s (${((r.rate / engine) * 100).toFixed(1)}% of engine) | ≥ 3,000 req/s and ≥ 25% (1 worker) |`);
  console.log(`| detection latency p50 / p99 | ${l.p50} / ${l.p99} ms | p99 ≤ 2,050 ms |`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
