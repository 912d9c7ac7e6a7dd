#!/usr/bin/env node
// bench/replay: replay throughput against a fast local target and the replay process's peak
// memory for a 100k-line and a 1M-line recording, in one run. Each recording holds requests of
// three lines (the exchange, one legacy effect, the end marker); the target answers what legacy
// answered, so every request matches. Baseline: the same target driven directly by an undici
// client at the same concurrency, measured in the same run. Replays run as `shadowdiff replay
// --no-sdk` child processes (responses compared) on the embedded pipeline, with
// MALLOC_ARENA_MAX=2 as a Node service in production would run (glibc's default arenas hold
// freed Buffer memory and make peak RSS track allocation rate rather than what is retained).
// Usage: npm run build && node bench/replay.js [--small 100000] [--large 1000000] [--concurrency 32]
'use strict';
const { fork, spawn } = require('node:child_process');
const { createWriteStream, mkdtempSync, readFileSync, statSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { once } = require('node:events');
const { Pool } = require('undici');

const { arg } = require('./lib/args');
const SMALL = Number(arg('small', 100_000));
const LARGE = Number(arg('large', 1_000_000));
const CONCURRENCY = Number(arg('concurrency', 32));
const ROOT = resolve(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'bench-replay-'));
// What the target (bench/lib/proxy-servers.js upstream) answers, as legacy recorded it.
const body = { orderId: 'A-1', status: 'PAID', total: 36000, items: Array.from({ length: 8 }, (_, i) => ({ sku: `SKU-${i}`, qty: 1 })) };

async function writeRecording(lines) {
  const file = join(dir, `rec-${lines}.jsonl`);
  const out = createWriteStream(file);
  const requests = Math.floor(lines / 3);
  const at = '2026-11-25T00:00:00.000Z';
  for (let i = 0; i < requests; i++) {
    const shadowId = `s${i.toString(36).padStart(8, '0')}`;
    const x = { v: 1, type: 'exchange', runId: 'rec', shadowId, at, request: { method: 'POST', path: `/orders/${i % 1000}/pay`, headers: { 'content-type': 'application/json' }, body: { amount: i } }, responses: { legacy: { status: 200, headers: { 'content-type': 'application/json' }, body } } };
    const e = { v: 1, type: 'effect', runId: 'rec', shadowId, side: 'legacy', seq: 0, kind: 'db', target: 'shop.payments', op: 'insert', key: { _id: i }, before: null, after: { _id: i, amount: i }, at };
    const end = { v: 1, type: 'end', runId: 'rec', shadowId, side: 'legacy', count: 1, request: { method: 'POST', path: `/orders/${i % 1000}/pay`, route: '/orders/:id/pay' }, status: 200, at };
    if (!out.write(`${JSON.stringify(x)}\n${JSON.stringify(e)}\n${JSON.stringify(end)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { file, requests };
}

function target() {
  return new Promise((ok) => {
    const child = fork(join(__dirname, 'lib/proxy-servers.js'), ['upstream', '0'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m) => ok({ child, url: `http://127.0.0.1:${m.ready}` }));
  });
}

/** The target driven directly: the ceiling any replay tool on this machine has. */
async function direct(url, total) {
  const pool = new Pool(url, { connections: CONCURRENCY });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        const i = next++;
        const r = await pool.request({ path: `/orders/${i % 1000}/pay`, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount: i }) });
        await r.body.dump();
      }
    }),
  );
  await pool.close();
  return total / ((performance.now() - t0) / 1000);
}

function peakKb(pid) {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  } catch {
    return NaN;
  }
}

async function replayRun(url, file, requests) {
  const t0 = performance.now();
  const json = `${file}.result.json`;
  const child = spawn(process.execPath, [join(ROOT, 'bin/shadowdiff.js'), 'replay', file, '--candidate', url, '--no-sdk', '--concurrency', String(CONCURRENCY), '--collector', '127.0.0.1:0', '--no-progress', '--json', json], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2' } });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, peakKb(child.pid) || 0)), 200);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  // The replay's own clock: from the first request read to the last one answered.
  const replayMs = JSON.parse(readFileSync(json, 'utf8')).replay.ms;
  return { code, seconds, rate: requests / seconds, replayRate: requests / (replayMs / 1000), peakMb: peak / 1024, out: out.split('\n')[0] };
}

async function main() {
  const t = await target();
  try {
    console.log(`bench/replay: writing recordings of ${SMALL.toLocaleString()} and ${LARGE.toLocaleString()} lines…`);
    const small = await writeRecording(SMALL);
    const large = await writeRecording(LARGE);
    console.log(`  ${(statSync(small.file).size / 1e6).toFixed(1)} MB and ${(statSync(large.file).size / 1e6).toFixed(1)} MB`);
    const ceiling = await direct(t.url, Math.min(50_000, small.requests));
    console.log(`direct to the target (undici, ${CONCURRENCY} in flight): ${Math.round(ceiling)} req/s`);
    const a = await replayRun(t.url, small.file, small.requests);
    console.log(`replay ${SMALL.toLocaleString()} lines (${small.requests} requests): ${Math.round(a.replayRate)} req/s replaying (${(a.replayRate / ceiling).toFixed(2)}× direct), ${Math.round(a.rate)} req/s end to end with start-up and the last comparisons, peak RSS ${a.peakMb.toFixed(0)} MB, exit ${a.code} — ${a.out}`);
    const b = await replayRun(t.url, large.file, large.requests);
    console.log(`replay ${LARGE.toLocaleString()} lines (${large.requests} requests): ${Math.round(b.replayRate)} req/s replaying (${(b.replayRate / ceiling).toFixed(2)}× direct), ${Math.round(b.rate)} req/s end to end with start-up and the last comparisons, peak RSS ${b.peakMb.toFixed(0)} MB, exit ${b.code} — ${b.out}`);
    console.log('\ngoals:');
    console.log(`  ≥ 5,000 req/s → replaying ${Math.round(Math.min(a.replayRate, b.replayRate))}, end to end ${Math.round(Math.min(a.rate, b.rate))}`);
    console.log(`  memory flat within 20% between the sizes → ${((b.peakMb / a.peakMb - 1) * 100).toFixed(0)}% (${a.peakMb.toFixed(0)} → ${b.peakMb.toFixed(0)} MB)`);
  } finally {
    t.child.kill('SIGTERM');
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
