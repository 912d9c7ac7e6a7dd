#!/usr/bin/env node
// bench/pipeline: requests compared per second end to end — records published on RabbitMQ,
// `shadowdiff worker` processes joining, comparing and storing in MongoDB — with 1 and 2
// workers, beside two in-process baselines measured in the same run on the same requests: the
// engine alone, and a worker's own work (parse the messages, validate, join, compare). Each
// end-to-end line says how much CPU the publisher, the workers, RabbitMQ and the store spent
// per request, so the bound shows; then the floor no worker can go below: what RabbitMQ and the
// store spend per request when the consumer only acks and the comparisons are written as a
// worker writes them. Then the detection latency (request's last record
// published → its comparison made and written) at a steady rate below saturation.
// Messages are generated and serialized before any timing starts.
// Needs RabbitMQ and a MongoDB-wire server (`npm run services`) and a build (`npm run build`).
// Usage: node bench/pipeline.js [--fixture orders|small] [--requests 20000] [--rate 500] [--seconds 10] [--partitions 16] [--batch 65536] [--format 2|1] [--compression br|deflate|none]
'use strict';
const { spawn } = require('node:child_process');
const { resolve } = require('node:path');
const { compare, compileRules } = require('../dist/compare/engine');
const { readdirSync, readFileSync } = require('node:fs');
const { parseRecord } = require('../dist/core/effect');
const { decodeDelivery } = require('../dist/pipeline/worker/decode');
const { createLogger } = require('../dist/core/logger');
const { connectAmqpBus } = require('../dist/runtime/bus/amqp');
const { partitionOf, serialize } = require('../dist/runtime/bus/bus');
const { decodeBody } = require('../dist/runtime/bus/encoding');
const { deleteTopology } = require('../dist/runtime/bus/topology');
const { connectMongoStore } = require('../dist/runtime/store/mongo');
const { eachComparison } = require('../dist/runtime/store/store');
const { arg } = require('./lib/args');
const { cpuSeconds } = require('./lib/measure');
const { request: orderRequest, smallRequest, RULES, BUGS, format2 } = require('./lib/orders');

const REQUESTS = Number(arg('requests', 20000));
const RATE = Number(arg('rate', 500));
const SECONDS = Number(arg('seconds', 10));
const PARTITIONS = Number(arg('partitions', 16));
/** Records of one partition packed into messages of up to this many bytes (0: one record a message). */
const BATCH = Number(arg('batch', 65536));
/** How each message is compressed, as the SDK's `compression` setting (default br). */
const COMPRESSION = String(arg('compression', 'br'));
const publishOptions = { ...(BATCH > 0 ? { batch: BATCH } : {}), compression: COMPRESSION };
/** Node options for the worker processes, e.g. BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them under load. */
const WORKER_NODE_ARGS = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const MONGODB_URL = process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const logger = createLogger({ level: 'warn' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The requests: `orders` (the default: 14 records, 23 KB in format 1) or `small` (a JSON API request: 6 records, one insert). */
const FIXTURE = String(arg('fixture', 'orders'));
if (!['orders', 'small'].includes(FIXTURE)) throw new Error(`--fixture must be orders or small, not ${FIXTURE}`);
const request = FIXTURE === 'small' ? smallRequest : orderRequest;
/** The effect format published, as the SDK's `format` setting (default 2). */
const FORMAT = Number(arg('format', 2));

// A healthy mix: 1% of requests carry one of the seeded bugs.
const fixture = (i, runId, format = FORMAT) => {
  const req = request(i, i % 100 === 0 ? BUGS[(i / 100) % BUGS.length] : undefined);
  const fix = (r) => ({ ...r, runId, shadowId: req.shadowId });
  const records = [...req.legacy.effects, req.legacy.end, ...req.candidate.effects, req.candidate.end].map(fix);
  return { shadowId: req.shadowId, records: format === 2 ? format2(records) : records };
};

/**
 * The messages an SDK would publish for requests [from, to), serialized before any timing
 * starts (generating the fixtures costs more CPU than publishing them): chunks of `per`
 * requests, each packed per partition as the SDK packs them.
 */
function messages(runId, from, to, per, options = publishOptions, format = FORMAT) {
  const chunks = [];
  for (let i = from; i < to; i += per) {
    const recs = [];
    const ids = [];
    for (let k = i; k < Math.min(to, i + per); k++) {
      const f = fixture(k, runId, format);
      recs.push(...f.records);
      ids.push(f.shadowId);
    }
    chunks.push({ ids, items: serialize(recs, PARTITIONS, options) });
  }
  return chunks;
}

const bytesOf = (chunks) => chunks.reduce((n, c) => n + c.items.reduce((m, it) => m + it.body.length, 0), 0);

/** The engine's input for 2,000 requests: records already parsed and validated. */
function engineInput() {
  return Array.from({ length: 2000 }, (_, i) => {
    const req = request(i, i % 100 === 0 ? BUGS[(i / 100) % BUGS.length] : undefined);
    const side = (s) => ({ effects: s.effects.map((e) => parseRecord(JSON.parse(JSON.stringify(e)))), end: parseRecord(JSON.parse(JSON.stringify(s.end))) });
    return { ...req, legacy: side(req.legacy), candidate: side(req.candidate) };
  });
}

/** The engine alone, on records already parsed and validated. */
function engineRate(reqs) {
  const rules = compileRules(RULES);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 3000) compare(reqs[n++ % reqs.length], { rules, now: '2026-11-24T10:00:00.000Z' });
  return (n / (performance.now() - start)) * 1000;
}

/**
 * A worker's own work on the same messages, in this process: decode each message with the
 * worker's own code (decompress, parse refusing prototype keys, validate), join its records per
 * request and compare — everything but the broker and the store.
 */
function decodeRate(chunks) {
  const rules = compileRules(RULES);
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 3000) {
    for (const { items } of chunks) {
      const joins = new Map();
      for (const { shadowId, body, encoding } of items) {
        for (const r of decodeDelivery(body, encoding, partitionOf(shadowId, PARTITIONS), PARTITIONS).records) {
          let j = joins.get(r.shadowId);
          if (!j) joins.set(r.shadowId, (j = { legacy: { effects: [] }, candidate: { effects: [] } }));
          if (r.type === 'end') j[r.side].end = r;
          else j[r.side].effects.push(r);
        }
      }
      for (const [shadowId, j] of joins) compare({ runId: 'bench', shadowId, ...j }, { rules, now: '2026-11-24T10:00:00.000Z' });
      n += joins.size;
      if (performance.now() - start >= 3000) break;
    }
  }
  return (n / (performance.now() - start)) * 1000;
}

/**
 * Only decompressing and JSON.parse of the same messages, per request in ms: the part of a
 * worker's own work no change to validation, joining or comparing can remove.
 */
function parseOnlyMs(chunks) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < 2000) {
    for (const { ids, items } of chunks) {
      for (const { body, encoding } of items) JSON.parse(decodeBody(body, encoding).toString('utf8'));
      n += ids.length;
    }
  }
  return (performance.now() - start) / n;
}

/** The broker's and the store's processes on this machine, found by name. */
function servicePids() {
  const found = {};
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let comm;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === 'beam.smp') found.rabbitmq = [...(found.rabbitmq ?? []), pid];
    else if (/^(ferretdb|mongod)/.test(comm)) found.store = [...(found.store ?? []), pid];
  }
  return found;
}

/** CPU used by each part between two readings, as milliseconds per request. */
function cpuMeter(parts) {
  const read = () => Object.fromEntries(Object.entries(parts).map(([name, pids]) => [name, pids.reduce((s, p) => s + cpuSeconds(p), 0)]));
  const before = read();
  return (requests) => {
    const after = read();
    return Object.fromEntries(Object.keys(parts).map((name) => [name, ((after[name] - before[name]) * 1000) / requests]));
  };
}

const formatCpu = (cpu) =>
  Object.entries(cpu)
    .filter(([, ms]) => Number.isFinite(ms))
    .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
    .join(', ');

const RULES_FILE = resolve(require('node:os').tmpdir(), `shadowdiff-bench-rules-${process.pid}.json`);
require('node:fs').writeFileSync(RULES_FILE, JSON.stringify(RULES));

/**
 * Worker processes, each serving its counters on a port of its own (`--metrics`): progress is
 * read there, not by counting in the store, which on FerretDB scans the collection each time.
 * Their warnings and errors are passed through.
 */
async function startWorkers(n, prefix) {
  return Promise.all(
    Array.from({ length: n }, () => {
      const child = spawn(process.execPath, [...WORKER_NODE_ARGS, resolve(__dirname, '../bin/shadowdiff.js'), 'worker', '--prefix', prefix, '--database', prefix, '--partitions', String(PARTITIONS), '--settle-ms', '50', '--rules', RULES_FILE, '--metrics', '127.0.0.1:0', '--log-level', 'info'], {
        env: { ...process.env, AMQP_URL, MONGODB_URL },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      return new Promise((resolveStarted, reject) => {
        let rest = '';
        child.stdout.on('data', (d) => {
          const lines = (rest + d).split('\n');
          rest = lines.pop();
          for (const line of lines) {
            let entry;
            try {
              entry = JSON.parse(line);
            } catch {
              process.stdout.write(`${line}\n`);
              continue;
            }
            if (entry.metrics) resolveStarted(Object.assign(child, { metricsUrl: entry.metrics }));
            else if (entry.level >= 40) process.stdout.write(`${line}\n`);
          }
        });
        child.once('exit', (code) => reject(new Error(`a worker exited with ${code} before it started`)));
      });
    }),
  );
}

/** Comparisons the workers have written (stored, or found stored already). */
async function storedByWorkers(procs) {
  let n = 0;
  for (const p of procs) {
    const text = await (await fetch(p.metricsUrl)).text();
    for (const name of ['shadowdiff_worker_stored_total', 'shadowdiff_worker_already_stored_total']) n += Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  }
  return n;
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
  const procs = await startWorkers(workers, prefix);
  await sleep(1000);
  return { prefix, bus, store, procs };
}

/**
 * Publishes the messages as fast as confirms allow; rate = requests / (first publish → last
 * stored). CPU per request is read for this process (the publisher), the workers, RabbitMQ
 * and the store over the same window; the store's includes folding the rest of the rollup.
 */
async function throughput(workers, chunks) {
  const { prefix, bus, store, procs } = await setup(workers, `t${workers}`);
  try {
    const services = servicePids();
    const meter = cpuMeter({ publisher: [process.pid], workers: procs.map((p) => p.pid), ...services });
    const started = performance.now();
    for (const { items } of chunks) await bus.publishRaw(items);
    const published = performance.now();
    let count = 0;
    while ((count = await storedByWorkers(procs)) < REQUESTS) {
      if (performance.now() - started > 600_000) throw new Error(`only ${count} of ${REQUESTS} compared after 10 minutes`);
      await sleep(50);
    }
    const done = performance.now();
    const cpu = meter(REQUESTS);
    // The workers fold the rollup in the background, much of it after the last comparison is
    // stored: fold the rest now, and count what the store spends on it as the store's.
    const folding = cpuMeter({ store: services.store ?? [] });
    await store.flushRollups('bench');
    cpu.store += folding(REQUESTS).store;
    const stored = await store.countComparisons('bench');
    if (stored !== REQUESTS) throw new Error(`the workers report ${count} comparisons written but the store holds ${stored} of ${REQUESTS}`);
    return { rate: (REQUESTS / (done - started)) * 1000, publishRate: (REQUESTS / (published - started)) * 1000, cpu };
  } finally {
    await cleanup(prefix, bus, store, procs);
  }
}

/**
 * What RabbitMQ and the store cost per request with no worker work at all, a floor under any
 * worker: the same messages published and taken by a consumer that only acks them, then one
 * comparison per request written as a worker writes them (batches of 500, the rollup folded
 * after). The CPU of those two servers, and of this process as their client, per request.
 */
async function floors(chunks, reqs) {
  const prefix = `bench_floor_${Date.now().toString(36)}`;
  const bus = await connectAmqpBus({ url: AMQP_URL, logger, prefix, partitions: PARTITIONS });
  const store = await connectMongoStore({ url: MONGODB_URL, logger, dbName: prefix });
  const { rabbitmq = [], store: storePids = [] } = servicePids();
  try {
    const messages = chunks.reduce((n, c) => n + c.items.length, 0);
    let acked = 0;
    let meter = cpuMeter({ client: [process.pid], rabbitmq });
    const subscription = await bus.consume({ onDelivery: (d) => void (d.ack(), (acked += 1)) });
    for (const { items } of chunks) await bus.publishRaw(items);
    while (acked < messages) await sleep(20);
    const broker = meter(REQUESTS);
    await subscription.cancel();
    // The comparisons the engine makes of these requests, one per request (shadow ids made unique).
    const rules = compileRules(RULES);
    const made = reqs.map((r) => compare(r, { rules, now: '2026-11-24T10:00:00.000Z' }));
    const comparisons = Array.from({ length: REQUESTS }, (_, i) => ({ ...made[i % made.length], runId: 'floor', shadowId: `floor-${i}` }));
    meter = cpuMeter({ client: [process.pid], store: storePids });
    for (let i = 0; i < comparisons.length; i += 500) await store.putComparisons(comparisons.slice(i, i + 500));
    const written = meter(REQUESTS);
    meter = cpuMeter({ client: [process.pid], store: storePids });
    await store.flushRollups('floor');
    const foldedCpu = meter(REQUESTS);
    const stored = { store: written.store + foldedCpu.store, client: written.client + foldedCpu.client, written: written.store, folded: foldedCpu.store };
    const folded = Object.values((await store.getRollup('floor')).routes).reduce((n, r) => n + r.compared, 0);
    if (folded !== REQUESTS) throw new Error('the floor run\'s rollup does not count every comparison');
    return { broker, stored };
  } finally {
    await cleanup(prefix, bus, store, []);
  }
}

/** Steady traffic below saturation; latency = comparison's timestamp − its last record's confirm. */
async function latency(chunks, perTick, tick) {
  const { prefix, bus, store, procs } = await setup(1, 'lat');
  const sent = new Map();
  try {
    let i = 0;
    const t0 = performance.now();
    for (const { ids, items } of chunks) {
      await bus.publishRaw(items);
      const at = Date.now();
      for (const id of ids) sent.set(id, at);
      i += ids.length;
      const wait = t0 + (i / perTick) * tick - performance.now();
      if (wait > 0) await sleep(wait);
    }
    while ((await storedByWorkers(procs)) < sent.size) await sleep(250);
    const lat = [];
    for await (const c of eachComparison(store, { runId: 'lat' })) lat.push(Date.parse(c.comparedAt) - sent.get(c.shadowId));
    lat.sort((a, b) => a - b);
    const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    return { p50: q(0.5), p99: q(0.99), max: lat.at(-1), n: lat.length };
  } finally {
    await cleanup(prefix, bus, store, procs);
  }
}

(async () => {
  const t = performance.now();
  const chunks = messages('bench', 0, REQUESTS, 500);
  const tick = 50;
  const perTick = Math.max(1, Math.round((RATE * tick) / 1000));
  const paced = messages('lat', 0, RATE * SECONDS, perTick);
  const mb = bytesOf(chunks) / 1e6;
  // The same requests as the first wave published them (format 1 records, plain JSON): only
  // their size is kept, so that 20 MB of buffers do not sit in the heap the rates are measured in.
  const plainBytes = bytesOf(messages('bench', 0, REQUESTS, 500, BATCH > 0 ? { batch: BATCH } : {}, 1)) / REQUESTS;
  console.log(`bench/pipeline: ${REQUESTS} ${FIXTURE === 'small' ? 'small JSON API requests (6 records each' : 'order requests (14 records each'}, 1% seeded bugs; ${mb.toFixed(1)} MB in ${chunks.reduce((n, c) => n + c.items.length, 0)} messages, serialized beforehand in ${((performance.now() - t) / 1000).toFixed(1)} s), ${PARTITIONS} partitions, ${BATCH ? `records packed per partition up to ${BATCH} bytes` : 'one record a message'}, format ${FORMAT}, compression ${COMPRESSION}, RabbitMQ + ${MONGODB_URL}`);
  const reqs = engineInput();
  const engine = engineRate(reqs);
  console.log(`engine in-process:                    ${engine.toFixed(0)} comparisons/s (records parsed and validated beforehand)`);
  const decode = decodeRate(chunks);
  console.log(`worker's own work in-process:         ${decode.toFixed(0)} requests/s (parse messages, validate, join, compare: no broker, no store; ${((decode / engine) * 100).toFixed(0)}% of the engine)`);
  const parseMs = parseOnlyMs(chunks);
  console.log(`  of which decompress + JSON.parse:   ${(parseMs * 1000).toFixed(0)} us per request = ${(parseMs / (1000 / engine)).toFixed(1)}x the engine's comparison (${((1 / (parseMs + 1000 / engine) / engine) * 1000 * 100).toFixed(0)}% of the engine if nothing else cost anything)`);
  const rows = [];
  for (const w of [1, 2]) {
    const r = await throughput(w, chunks);
    rows.push([w, r]);
    console.log(`end to end, ${w} worker(s):             ${r.rate.toFixed(0)} requests/s  (${((r.rate / engine) * 100).toFixed(1)}% of the engine; publisher alone ${r.publishRate.toFixed(0)} req/s)`);
    console.log(`  CPU ms per request:                 ${formatCpu(r.cpu)}`);
  }
  const floor = await floors(chunks, reqs);
  console.log(`floor, no worker work (consumer only acks; comparisons written as a worker writes them):`);
  console.log(`  CPU ms per request:                 rabbitmq ${floor.broker.rabbitmq.toFixed(2)} (client ${floor.broker.client.toFixed(2)}), store ${floor.stored.store.toFixed(2)} = comparison and inbox written ${floor.stored.written.toFixed(2)} + rollup folded ${floor.stored.folded.toFixed(2)} (client ${floor.stored.client.toFixed(2)})`);
  const l = await latency(paced, perTick, tick);
  console.log(`detection latency at ${RATE} req/s:      p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms over ${l.n} requests (settle window 50 ms)`);
  // Issue 24's measures, as ratios of this run: bytes on the wire, the worker's own rate against
  // the engine's, and the CPU every process spends per request against one comparison's.
  const wireBytes = bytesOf(chunks) / REQUESTS;
  const engineMs = 1000 / engine;
  const summed = (cpu) => Object.values(cpu).filter(Number.isFinite).reduce((n, ms) => n + ms, 0);
  console.log(`bytes per request on the wire:        ${wireBytes.toFixed(0)} as published (format ${FORMAT}, compression ${COMPRESSION}) = ${((wireBytes / plainBytes) * 100).toFixed(1)}% of ${plainBytes.toFixed(0)} as format 1, plain JSON packed per partition (the first wave's)`);
  for (const [w, r] of rows) console.log(`CPU per request, all processes, ${w} worker(s): ${summed(r.cpu).toFixed(2)} ms = ${(summed(r.cpu) / engineMs).toFixed(1)}x the engine's ${engineMs.toFixed(3)} ms per comparison`);
  // What no worker can remove: the publisher (the 1-worker run's), and the broker and store floors.
  const floorMs = rows[0][1].cpu.publisher + floor.broker.rabbitmq + floor.stored.store;
  console.log(`CPU per request outside any worker:   ${floorMs.toFixed(2)} ms = ${(floorMs / engineMs).toFixed(1)}x the engine (publisher ${rows[0][1].cpu.publisher.toFixed(2)} + rabbitmq floor ${floor.broker.rabbitmq.toFixed(2)} + store floor ${floor.stored.store.toFixed(2)})`);
  console.log('\n| measure | value | goal |\n|---|---|---|');
  console.log(`| engine in-process | ${engine.toFixed(0)}/s (${engineMs.toFixed(3)} ms CPU per comparison) | — |`);
  console.log(`| worker's own work in-process (parse, validate, join, compare) | ${decode.toFixed(0)}/s (${((decode / engine) * 100).toFixed(0)}% of engine) | ≥ 40% of the engine (issue 24) |`);
  console.log(`| bytes per request on the wire | ${wireBytes.toFixed(0)} (${((wireBytes / plainBytes) * 100).toFixed(1)}% of ${plainBytes.toFixed(0)} plain) | ≤ 40% of today's (issue 24) |`);
  for (const [w, r] of rows) console.log(`| end to end, ${w} worker(s) | ${r.rate.toFixed(0)} req/s (${((r.rate / engine) * 100).toFixed(1)}% of engine); CPU ms/request: ${formatCpu(r.cpu)}; summed ${(summed(r.cpu) / engineMs).toFixed(1)}x the engine | ≤ 6x the engine's CPU per comparison, summed (issue 24) |`);
  console.log(`| outside any worker: publisher + RabbitMQ and store floors (no worker work) | ${floorMs.toFixed(2)} ms = ${(floorMs / engineMs).toFixed(1)}x the engine | what the summed goal must fit above |`);
  console.log(`| detection latency p50 / p99 | ${l.p50} / ${l.p99} ms | p99 ≤ 2,050 ms |`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
