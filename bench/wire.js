// What compressing the packed RabbitMQ messages would save and cost (issue 24, item 2): the
// bench's order requests (bench/lib/orders.js, 14 records each) serialized as the SDK packs
// them (one JSON array per partition, up to --pack-bytes), then each message compressed with
// node:zlib's deflate and brotli at a few levels. Prints, against the plain messages measured in
// the same run: bytes on the wire per request, and the CPU per request to compress (publisher)
// and to decompress (worker), next to the CPU the worker already spends parsing the message.
//
//   npm run build && node bench/wire.js [--requests 2000] [--pack-bytes 65536] [--partitions 8]
'use strict';
const zlib = require('node:zlib');
const { serialize } = require('../dist/runtime/bus/bus');
const { arg } = require('./lib/args');
const { median } = require('./lib/measure');
const { request } = require('./lib/orders');

const N = Number(arg('requests', 2000));
const PACK = Number(arg('pack-bytes', 65_536));
const PARTITIONS = Number(arg('partitions', 8));
const ROUNDS = 5;

const records = [];
for (let i = 0; i < N; i++) {
  const r = request(i);
  for (const side of [r.legacy, r.candidate]) records.push(...side.effects, side.end);
}
const messages = serialize(records, PARTITIONS, { batch: PACK }).map((m) => m.body);
const plainBytes = messages.reduce((n, b) => n + b.length, 0);

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

const rows = [['plain JSON', plainBytes / N, 1, 0, 0]];
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
console.log('codec              bytes/request  ratio   compress ms/req  decompress ms/req  decompress / parse');
for (const [name, bytes, ratio, c, d] of rows) {
  console.log(`${name.padEnd(18)} ${bytes.toFixed(0).padStart(13)}  ${ratio.toFixed(3)}  ${c.toFixed(3).padStart(15)}  ${d.toFixed(3).padStart(17)}  ${(d / parseMs).toFixed(2).padStart(18)}`);
}
