#!/usr/bin/env node
// bench/sdk: what the SDK costs the service it is installed in. One express + MongoDB order
// handler (insert an order, read it back) is loaded in five ways in the same run — plain,
// with the SDK but no shadow headers, with the SDK recording every request live to a sink,
// and the same with the pre-state handoff (every write handed off and acknowledged first) in
// the process and in Redis — each in its own process, with a closed-loop client at fixed concurrency, rounds
// interleaved so drift on a shared VM hits all three alike. Prints throughput and p50/p99 with
// the ratios to plain, the SDK's CPU cost per recorded write (server CPU time difference per
// request over the writes recorded), and the in-process cost of building one recorded effect.
// Needs a MongoDB-wire server, Redis (and RabbitMQ for the default amqp sink): `npm run services`.
// Usage: node bench/sdk.js [--seconds 5] [--rounds 3] [--concurrency 16] [--sink amqp|discard]
'use strict';
const http = require('node:http');
const { fork } = require('node:child_process');
const { resolve } = require('node:path');
const { MongoClient } = require('mongodb');

const { arg } = require('./lib/args');
const { median } = require('./lib/measure');
const SECONDS = Number(arg('seconds', 5));
const ROUNDS = Number(arg('rounds', 3));
const CONCURRENCY = Number(arg('concurrency', 16));
const SINK = arg('sink', 'amqp') === 'discard' ? 'discard' : (process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const DB = `bench_sdk_${Date.now().toString(36)}`;
const PREFIX = `bench_sdk_${Date.now().toString(36)}`;

const body = JSON.stringify({
  customer: 'c-1',
  items: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${i}`, qty: 1 + (i % 3), price: 1000 * (i + 1) })),
  total: 36000,
  card: { number: '4111111111111111', holder: 'KIM' },
});

function startServer(mode) {
  return new Promise((resolvePort, reject) => {
    const child = fork(resolve(__dirname, 'lib/sdk-server.js'), [mode, SINK, DB, PREFIX], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => resolvePort({ child, port: m.ready }));
    child.once('exit', (code) => reject(new Error(`server (${mode}) exited with ${code}`)));
  });
}

const ask = (child, msg, key) =>
  new Promise((r) => {
    const on = (m) => {
      if (m && key in m) {
        child.off('message', on);
        r(m);
      }
    };
    child.on('message', on);
    child.send(msg);
  });

/** A closed loop: CONCURRENCY clients, each sending its next request when the last one answered. */
async function load(port, headers, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies = [];
  let errors = 0;
  const until = Date.now() + seconds * 1000;
  let n = 0;
  const one = () =>
    new Promise((done) => {
      const started = process.hrtime.bigint();
      const req = http.request({ host: '127.0.0.1', port, path: '/orders', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers(n++) } }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 201) errors += 1;
          latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
          done();
        });
      });
      req.on('error', () => {
        errors += 1;
        done();
      });
      req.end(body);
    });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) await one();
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), requests: latencies.length, errors };
}


function effectCost() {
  // In-process: what recording one insert costs on the request path (convert, redact, queue).
  const { Shadow } = require('../dist/capture/sdk/shadow');
  const { toEffectValue } = require('../dist/core/effect-value');
  const { ObjectId } = require('mongodb');
  const shadow = new Shadow({ side: 'legacy', sink: { write: async () => undefined }, redact: { secret: 'bench-secret-0123456789', paths: ['card.number'] }, buffer: { maxRecords: 1e9 } });
  const doc = { _id: new ObjectId(), ...JSON.parse(body), status: 'new', createdAt: new Date() };
  const ctx = { shadowId: 's', runId: 'r', side: 'legacy', mode: 'live', seq: 0, seqBase: 0, dropped: 0, ended: false };
  const N = 50_000;
  for (let i = 0; i < 5000; i++) shadow.record(ctx, i, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: toEffectValue(doc._id) }, before: null, after: toEffectValue(doc) });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) shadow.record(ctx, i, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: toEffectValue(doc._id) }, before: null, after: toEffectValue(doc) });
  return Number(process.hrtime.bigint() - t0) / 1000 / N;
}

/** One handoff put as a live write makes it (one image), sequentially: what a shadowed write waits for. */
async function handoffRoundTrip(store, n = 3000) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await store.put('bench', `rt${i}`, { images: [{ ns: 'shop.orders', id: `${process.pid}-${i}`, before: null }] });
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n / 2)], p99: ms[Math.floor(n * 0.99)] };
}

(async () => {
  const servers = { plain: await startServer('plain'), sdk: await startServer('sdk'), memory: await startServer('sdk-handoff-memory'), redis: await startServer('sdk-handoff-redis') };
  const shadow = (n) => ({ 'x-shadow-id': `b${n}`, 'x-shadow-run': 'bench', 'x-shadow-side': 'legacy', 'x-shadow-mode': 'live' });
  const variants = [
    { name: 'plain (no SDK)', server: servers.plain, headers: () => ({}) },
    { name: 'SDK, no shadow headers', server: servers.sdk, headers: () => ({}) },
    { name: 'SDK, every request recorded live', server: servers.sdk, headers: shadow },
    { name: 'SDK live + handoff (embedded)', server: servers.memory, headers: shadow },
    { name: 'SDK live + handoff (Redis)', server: servers.redis, headers: shadow },
  ];
  process.stderr.write(`bench/sdk: ${ROUNDS} rounds × ${variants.length} variants × ${SECONDS}s, concurrency ${CONCURRENCY}, sink ${SINK === 'discard' ? 'discard' : 'RabbitMQ'}\n`);
  for (const v of variants) await load(v.server.port, v.headers, 1); // warm up
  const results = new Map(variants.map((v) => [v.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const v of variants) {
      await ask(v.server.child, 'reset', 'reset');
      const res = await load(v.server.port, v.headers, SECONDS);
      const report = await ask(v.server.child, 'report', 'cpuMicros');
      results.get(v.name).push({ ...res, cpuPerRequest: report.cpuMicros / res.requests, sdk: report.sdk });
      process.stderr.write(`  round ${r + 1} ${v.name}: ${res.rps.toFixed(0)} req/s, p99 ${res.p99.toFixed(1)} ms\n`);
    }
  }
  const summary = variants.map((v) => {
    const rs = results.get(v.name);
    return { name: v.name, rps: median(rs.map((x) => x.rps)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), cpu: median(rs.map((x) => x.cpuPerRequest)), errors: rs.reduce((s, x) => s + x.errors, 0), sdk: rs[rs.length - 1].sdk };
  });
  const base = summary[0];
  console.log(`\n| variant | req/s | × plain | p50 ms | p99 ms | p99 × plain | server CPU µs/req | errors |`);
  console.log(`|---|---|---|---|---|---|---|---|`);
  for (const s of summary) console.log(`| ${s.name} | ${s.rps.toFixed(0)} | ${(s.rps / base.rps).toFixed(3)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${(s.p99 / base.p99).toFixed(3)} | ${s.cpu.toFixed(0)} | ${s.errors} |`);
  const live = summary[2];
  // Two writes' worth of recording per request (the insert; the read is not recorded) plus the end marker: price it per recorded effect.
  const recordsPerRequest = live.sdk ? (live.sdk.effects + 0) / Math.max(1, live.sdk.contexts) : 1;
  console.log(`\nSDK CPU per recorded write (server CPU difference live − plain, per request, over ${recordsPerRequest.toFixed(1)} effect(s) a request): ${((live.cpu - base.cpu) / recordsPerRequest).toFixed(0)} µs`);
  console.log(`SDK in-process cost of recording one order insert (convert + redact + queue): ${effectCost().toFixed(1)} µs`);
  if (live.sdk) console.log(`sink: ${live.sdk.sent} records sent, ${live.sdk.dropped} dropped, ${live.sdk.internalErrors} internal errors`);
  {
    const { MemoryHandoff } = require('../dist/runtime/handoff/memory');
    const { RedisHandoff } = require('../dist/runtime/handoff/redis');
    const memory = new MemoryHandoff();
    const redis = new RedisHandoff({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: PREFIX, ttlMs: 5_000 });
    await redis.ready();
    for (const [name, store] of [['embedded', memory], ['Redis', redis]]) {
      await handoffRoundTrip(store, 500);
      const rt = await handoffRoundTrip(store);
      console.log(`handoff round trip (${name}), one image, sequential: p50 ${rt.p50.toFixed(3)} ms, p99 ${rt.p99.toFixed(3)} ms`);
    }
    await memory.close();
    await redis.close();
  }
  console.log(`goals: no headers ≥ 0.98× → ${(summary[1].rps / base.rps).toFixed(3)}; live ≥ 0.85× → ${(live.rps / base.rps).toFixed(3)}, p99 ≤ 1.05× → ${(live.p99 / base.p99).toFixed(3)}`);
  for (const s of summary.slice(3)) {
    const h = s.sdk?.handoff;
    console.log(`goal ${s.name}: ≥ 0.9× plain → ${(s.rps / base.rps).toFixed(3)}, p99 within +2 ms → ${(s.p99 - base.p99 >= 0 ? '+' : '')}${(s.p99 - base.p99).toFixed(2)} ms${h ? `; handed off ${h.handedOff}, timed out ${h.timeouts}, failed ${h.failures}, skipped ${h.skipped}` : ''}`);
  }

  for (const s of Object.values(servers)) s.child.send('stop');
  const client = await MongoClient.connect(MONGODB_URL);
  await client.db(DB).dropDatabase().catch(() => undefined);
  await client.close();
  if (SINK !== 'discard') {
    const amqp = require('amqplib');
    const { deleteTopology } = require('../dist/runtime/bus/topology');
    const conn = await amqp.connect(SINK);
    await deleteTopology(conn, PREFIX, 4).catch(() => undefined);
    await conn.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
