#!/usr/bin/env node
// `npm run soak`: the example services behind the proxy on RabbitMQ and MongoDB, every request
// mirrored, for --minutes (default 10); prints the primary path's latency with and without
// shadowdiff, throughput, records sent and dropped, the workers' memory over time and the
// accounting — every mirrored request with exactly one comparison. Needs the test services
// (`npm run services`) or AMQP_URL / MONGODB_URL.
// Usage: npm run build && node scripts/soak.js [--minutes 10] [--concurrency 8] [--workers 1] [--partner-latency-ms 100]
'use strict';
const { resolve } = require('node:path');
const { arg } = require('../bench/lib/args');

const ROOT = resolve(__dirname, '..');
const { runSoak } = require(`${ROOT}/dist/examples/orders/soak`);
const { createLogger } = require(`${ROOT}/dist/core/logger`);

const minutes = Number(arg('minutes', 10));
const options = {
  amqpUrl: process.env.AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672',
  mongodbUrl: process.env.MONGODB_URL || 'mongodb://127.0.0.1:27017',
  seconds: Math.round(minutes * 60),
  concurrency: Number(arg('concurrency', 8)),
  workers: Number(arg('workers', 1)),
  partnerLatencyMs: Number(arg('partner-latency-ms', 100)),
  prefix: `soak_${Date.now().toString(36)}`,
  logger: createLogger({ level: 'warn', destination: process.stderr }),
  onSample: (s) => process.stderr.write(`  ${String(s.at).padStart(5)} s: ${s.sent} sent, ${s.compared} compared, worker RSS ${s.workerRssMb.join(' / ')} MB\n`),
};

(async () => {
  process.stderr.write(`soak: ${options.seconds} s through the proxy mirroring every request (${options.workers} worker(s), ${options.concurrency} journeys in flight), a probe reading one order from legacy directly and through the proxy in turn\n`);
  const r = await runSoak(options);
  const lat = (l) => `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms over ${l.requests} requests (${Object.entries(l.statuses).map(([s, n]) => `${s}: ${n}`).join(', ')})`;
  const rss = r.samples.map((s) => Math.max(...s.workerRssMb, 0)).filter((x) => x > 0);
  console.log(`soak ${r.runId}: ${r.seconds} s, ${r.throughput.toFixed(1)} requests/s through the proxy`);
  console.log(`  the soak's requests (through the proxy, all mirrored): ${lat(r.load)}`);
  console.log(`  probe, same order, same moments — straight to legacy: p50 ${r.without.p50.toFixed(1)} ms, p99 ${r.without.p99.toFixed(1)} ms (${r.without.requests})`);
  console.log(`  probe, same order, same moments — through the proxy:  p50 ${r.through.p50.toFixed(1)} ms, p99 ${r.through.p99.toFixed(1)} ms (${r.through.requests}); p50 +${(r.through.p50 - r.without.p50).toFixed(1)} ms, p99 ${(r.through.p99 / (r.without.p99 || 1)).toFixed(2)}×`);
  console.log(`  records sent by the SDKs: ${r.records.sent}, dropped: ${r.records.dropped}; exchanges dropped by the proxy: ${r.records.exchangesDropped}`);
  console.log(`  worker RSS over time (MB): ${rss.join(' ')}${rss.length > 1 ? `  (first ${rss[0]}, last ${rss.at(-1)}, max ${Math.max(...rss)})` : ''}`);
  console.log(`  accounting: ${r.mirrored} mirrored, ${r.compared} compared (${r.incomplete} incomplete), ${r.lost} lost, ${r.duplicated} duplicated — ${r.lost === 0 && r.duplicated === 0 ? 'OK' : 'FAILED'}`);
  process.exitCode = r.lost === 0 && r.duplicated === 0 ? 0 : 1;
})().catch((err) => {
  console.error(`soak: ${err.message}`);
  process.exitCode = 2;
});
