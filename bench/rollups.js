#!/usr/bin/env node
// bench/rollups: what a rollup flush costs late in a long run. Stores --count comparisons in
// one run of a fresh MongoDB database, flushes them, then times a flush of 500 new ones and
// of none — beside the baseline, one scan of the run (countComparisons), in the same run. A
// flush that reads only what came since the last one stays flat as the run grows; one that
// scanned the run would cost a scan or more.
// Needs a MongoDB-wire server (`npm run services`) and a build (`npm run build`).
// Usage: node bench/rollups.js [--count 20000] [--repeat 3] [--mongodb URL]
'use strict';
const { compare, compileRules } = require('../dist/compare/engine');
const { parseRecord } = require('../dist/core/effect');
const { createLogger } = require('../dist/core/logger');
const { connectMongoStore } = require('../dist/runtime/store/mongo');
const { arg } = require('./lib/args');
const { median } = require('./lib/measure');
const { request, RULES, BUGS } = require('./lib/orders');

const COUNT = Number(arg('count', 20000));
const REPEAT = Number(arg('repeat', 3));
const MONGODB_URL = arg('mongodb', process.env.MONGODB_URL ?? 'mongodb://127.0.0.1:27017');
const PAGE = 500;

async function timed(f) {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

(async () => {
  const rules = compileRules(RULES);
  // A few real comparisons of order requests (1 in 5 mismatching), reused under new shadow ids.
  const samples = Array.from({ length: 50 }, (_, i) => {
    const req = request(i, i % 5 === 0 ? BUGS[i % BUGS.length] : undefined);
    const side = (s) => ({ effects: s.effects.map((e) => parseRecord(e)), end: parseRecord(s.end) });
    return compare({ ...req, legacy: side(req.legacy), candidate: side(req.candidate) }, { rules, now: '2026-11-24T10:00:00.000Z' });
  });
  const comparison = (i) => ({ ...samples[i % samples.length], runId: 'bench', shadowId: `s${String(i).padStart(9, '0')}` });
  const page = (from) => Array.from({ length: PAGE }, (_, k) => comparison(from + k));

  const store = await connectMongoStore({ url: MONGODB_URL, logger: createLogger({ level: 'warn' }), dbName: `bench_rollups_${Date.now().toString(36)}` });
  try {
    console.log(`bench/rollups: ${COUNT} comparisons in one run, ${MONGODB_URL}`);
    for (let i = 0; i < COUNT; i += PAGE) {
      await store.putComparisons(page(i));
      if (i % 5000 === 0) process.stderr.write(`\rstored ${i + PAGE} of ${COUNT}`);
    }
    process.stderr.write('\n');
    const first = await timed(() => store.flushRollups('bench'));
    console.log(`first flush, ${COUNT} comparisons: ${first.toFixed(0)} ms`);

    const scan = [];
    const fresh = [];
    const none = [];
    let next = COUNT;
    for (let r = 0; r < REPEAT; r++) {
      scan.push(await timed(() => store.countComparisons('bench')));
      await store.putComparisons(page(next));
      next += PAGE;
      fresh.push(await timed(() => store.flushRollups('bench')));
      none.push(await timed(() => store.flushRollups('bench')));
    }
    const rollup = await store.getRollup('bench');
    const folded = Object.values(rollup.routes).reduce((n, r) => n + r.compared, 0);
    if (folded !== next) throw new Error(`the rollup counts ${folded} comparisons, ${next} were stored`);

    const base = median(scan);
    console.log('\n| measure (median of ' + REPEAT + ') | time | vs. one scan of the run |\n|---|---:|---:|');
    console.log(`| baseline: one scan of the run (count, ${COUNT}+ comparisons) | ${base.toFixed(0)} ms | 1.00× |`);
    console.log(`| flush of ${PAGE} new comparisons | ${median(fresh).toFixed(0)} ms | ${(median(fresh) / base).toFixed(2)}× |`);
    console.log(`| flush of none | ${median(none).toFixed(0)} ms | ${(median(none) / base).toFixed(3)}× |`);
  } finally {
    await store.drop();
    await store.close();
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
