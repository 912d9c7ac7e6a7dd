// What the record format and compressing the packed RabbitMQ messages save and cost (issue 24,
// items 1 and 2): the bench's order requests (bench/lib/orders.js, 14 records each) serialized
// as the SDK packs them (one JSON array per partition, up to --pack-bytes). First the formats:
// format 1 (two full images per update), format 2 (after + reverse delta, the SDK's default),
// and, measured only, a chain where each update refers to the previous record's image and
// ships a forward delta. Then each format 2 message compressed with node:zlib's deflate and
// brotli at a few levels. Prints, against the plain messages measured in the same run: bytes
// on the wire per request, and the CPU per request to compress (publisher) and to decompress
// (worker), next to the CPU the worker already spends parsing the message.
//
//   npm run build && node bench/wire.js [--requests 2000] [--pack-bytes 65536] [--partitions 8]
'use strict';
const zlib = require('node:zlib');
const { serialize } = require('../dist/runtime/bus/bus');
const { arg } = require('./lib/args');
const { median } = require('./lib/measure');
const { request, format2 } = require('./lib/orders');
const { reverseDelta } = require('../dist/core/undo');

const N = Number(arg('requests', 2000));
const PACK = Number(arg('pack-bytes', 65_536));
const PARTITIONS = Number(arg('partitions', 8));
const ROUNDS = 5;

/**
 * The chain option, for its bytes only: an update whose before-image is the previous record's
 * after-image of the same document refers to that record and ships what turns it into its own
 * after-image. Not chosen (docs/pipeline.md, "On the wire"): a record would need another one to
 * be read, so a lost or dead-lettered record would cost the next ones of its document too.
 */
function chained(records) {
  const last = new Map();
  return records.map((r) => {
    if (r.type !== 'effect' || r.kind !== 'db') return r;
    const key = `${r.side}|${r.target}|${JSON.stringify(r.key)}`;
    const prev = last.get(key);
    last.set(key, r);
    if (!prev || r.before == null || JSON.stringify(prev.after) !== JSON.stringify(r.before)) return r;
    const { before: _b, after, ...rest } = r;
    return { ...rest, beforeFrom: prev.seq, redo: reverseDelta(after, r.before) };
  });
}

const format1 = [];
for (let i = 0; i < N; i++) {
  const r = request(i);
  for (const side of [r.legacy, r.candidate]) format1.push(...side.effects, side.end);
}
const records = format2(format1);
const bytesOf = (recs) => serialize(recs, PARTITIONS, { batch: PACK }).reduce((n, m) => n + m.body.length, 0);
const messages = serialize(records, PARTITIONS, { batch: PACK }).map((m) => m.body);
const plainBytes = messages.reduce((n, b) => n + b.length, 0);
const f1Bytes = bytesOf(format1);
console.log('record format (plain JSON, packed)                  bytes/request  of format 1');
for (const [name, b] of [['format 1: before and after whole', f1Bytes], ['format 2: after + undo (reverse delta; chosen)', plainBytes], ['chain: previous record + forward delta (measured only)', bytesOf(chained(format1))]]) {
  console.log(`${name.padEnd(52)} ${(b / N).toFixed(0).padStart(13)}  ${((b / f1Bytes) * 100).toFixed(1).padStart(10)}%`);
}
console.log('');

/** Median over ROUNDS of the time `fn` takes over every message, in ms per request. */
function perRequest(fn) {
  const times = [];
  for (let k = 0; k < ROUNDS; k++) {
    const t0 = process.hrtime.bigint();
    for (const m of messages) fn(m);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6 / N);
  }
  return median(times);
}

const parseMs = perRequest((m) => JSON.parse(m.toString('utf8')));
const codecs = [
  ['deflate level 1', (b) => zlib.deflateRawSync(b, { level: 1 }), (b) => zlib.inflateRawSync(b)],
  ['deflate level 6', (b) => zlib.deflateRawSync(b, { level: 6 }), (b) => zlib.inflateRawSync(b)],
  ['brotli quality 1', (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1 } }), (b) => zlib.brotliDecompressSync(b)],
  ['brotli quality 4', (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }), (b) => zlib.brotliDecompressSync(b)],
];

const rows = [['plain JSON, format 2', plainBytes / N, 1, 0, 0]];
for (const [name, pack, unpack] of codecs) {
  const packed = messages.map(pack);
  const bytes = packed.reduce((n, b) => n + b.length, 0);
  const packMs = perRequest(pack);
  let i = 0;
  const unpackMs = perRequest(() => unpack(packed[i++ % packed.length]));
  rows.push([name, bytes / N, bytes / plainBytes, packMs, unpackMs]);
}

console.log(`${N} order requests, ${records.length} records, ${messages.length} packed messages of up to ${PACK} bytes over ${PARTITIONS} partitions`);
console.log(`the worker's JSON.parse of a request's messages: ${parseMs.toFixed(3)} ms per request (the baseline the codec CPU adds to)`);
console.log('codec (format 2)      bytes/request  ratio  of format 1   compress ms/req  decompress ms/req  decompress / parse');
for (const [name, bytes, ratio, c, d] of rows) {
  console.log(`${name.padEnd(21)} ${bytes.toFixed(0).padStart(13)}  ${ratio.toFixed(3)}  ${(((bytes * N) / f1Bytes) * 100).toFixed(1).padStart(10)}%  ${c.toFixed(3).padStart(15)}  ${d.toFixed(3).padStart(17)}  ${(d / parseMs).toFixed(2).padStart(18)}`);
}
