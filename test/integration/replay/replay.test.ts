// Replay in CI, end to end: traffic recorded through the proxy and the SDKs into a store,
// exported as a JSONL recording, replayed at candidate builds — the right one passes, one with
// a silent wrong write fails with the field named, accepted differences pass until they
// expire, paired mode replays legacy too; JUnit output is read by a real JUnit consumer.
import express from 'express';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { parse as parseTestResults } from 'test-results-parser';
import { busSink } from '../../../capture/sdk/sinks';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { Worker } from '../../../pipeline/worker';
import { run } from '../../../cli/main';
import { MemoryBus } from '../../../runtime/bus/memory';
import { MemoryStore } from '../../../runtime/store/memory';
import { deadUrl, eventually, freePort, httpServer, proxyFor, quiet, send } from '../../helpers/proxy';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { deleteTopology } from '../../../runtime/bus/topology';
import { fakeIo } from '../../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'sd-replay-'));
const dbName = uniqueDbName('sdreplay');
let mongo: MongoClient;
const closers: (() => Promise<unknown>)[] = [];
let recording: string;

/** The order service; `bug` makes the candidate charge one won more (a silent wrong write). */
async function orderService(shadow: ShadowSdk, bug = false): Promise<string> {
  const payments = shadow.mongo(mongo.db(dbName)).collection('payments');
  const app = express();
  app.use(express.json());
  app.use(shadow.middleware());
  app.post('/orders/:id/pay', async (req, res) => {
    const amount = bug ? req.body.amount + 1 : req.body.amount;
    await payments.insertOne({ orderId: req.params.id, amount });
    res.json({ paid: true, orderId: req.params.id });
  });
  app.get('/orders/:id', (req, res) => void res.json({ orderId: req.params.id }));
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  closers.push(() => new Promise((r) => server.close(r)), () => shadow.close());
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const cli = () => fakeIo();

/** A candidate build whose SDK posts to the replay's collector. */
async function candidateBuild(collectorPort: number, bug = false) {
  return orderService(createShadow({ side: 'candidate', sink: `http://127.0.0.1:${collectorPort}`, logger: quiet, buffer: { lingerMs: 1 } }), bug);
}

beforeAll(async () => {
  mongo = await connectMongo();
  // Record: proxy → legacy (live) and candidate (dry-run), everything through an in-process bus to a worker that keeps all records.
  const bus = new MemoryBus({ partitions: 4 });
  const store = new MemoryStore();
  const worker = new Worker({ bus, store, logger: quiet, settleMs: 20, keepEffects: 'all', alerts: false });
  await worker.start();
  const legacy = await orderService(createShadow({ side: 'legacy', sink: busSink(bus), logger: quiet, buffer: { lingerMs: 1 } }));
  const candidate = await orderService(createShadow({ side: 'candidate', sink: busSink(bus), logger: quiet, buffer: { lingerMs: 1 } }));
  const proxy = await proxyFor({ legacy, candidate, run: 'rec-1' }, busSink(bus));
  for (let i = 0; i < 12; i++) {
    const id = `A-${i % 4}`;
    const r = i % 3 === 2 ? await send(`${proxy.url}/orders/${id}`) : await send(`${proxy.url}/orders/${id}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ amount: 1000 * (i + 1) }) });
    expect(r.status).toBe(200);
  }
  await proxy.close();
  await eventually(async () => (await store.countComparisons('rec-1')) === 12, 10_000, 'the recorded comparisons');
  await worker.stop();
  const saved = join(dir, 'run');
  await store.save(saved);
  const c = cli();
  expect(await run(['export', '--run', 'rec-1', '--from', saved], c.io)).toBe(0);
  expect(c.err.join('\n')).toMatch(/exported 12 request\(s\) of run rec-1/);
  recording = join(dir, 'rec.jsonl');
  writeFileSync(recording, c.stdout());
});

afterAll(async () => {
  for (const f of closers.reverse()) await f();
  await mongo.db(dbName).dropDatabase();
  await mongo.close();
});

it('the export is a self-contained recording: an exchange and legacy records per request', () => {
  const lines = readFileSync(recording, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const exchanges = lines.filter((l) => l.type === 'exchange');
  expect(exchanges).toHaveLength(12);
  expect(lines.filter((l) => l.type !== 'exchange').every((l) => l.side === 'legacy')).toBe(true);
  expect(lines.filter((l) => l.type === 'end')).toHaveLength(12);
  expect(exchanges[0].responses.legacy.status).toBe(200);
});

it('baseline replay: the right build passes (exit 0), with JUnit a real consumer reads', async () => {
  const port = await freePort();
  const candidate = await candidateBuild(port);
  const junit = join(dir, 'ok.xml');
  const c = cli();
  expect(await run(['replay', recording, '--candidate', candidate, '--collector', `127.0.0.1:${port}`, '--junit', junit, '--no-progress'], c.io)).toBe(0);
  expect(c.out[0]).toMatch(/^PASS replay .*: 12 replayed, 12 compared, 0 regression\(s\), coverage 100\.0%/);
  const parsed = parseTestResults({ type: 'junit', files: [junit] });
  expect(parsed.status).toBe('PASS');
  expect(parsed.total).toBe(3); // two routes and the gates
  expect(parsed.failed).toBe(0);
});

it('baseline replay: a silent wrong write fails the build (exit 1) naming the field; accepted, it passes until it expires', async () => {
  const port = await freePort();
  const candidate = await candidateBuild(port, true);
  const junit = join(dir, 'bad.xml');
  const markdown = join(dir, 'bad.md');
  const json = join(dir, 'bad.json');
  const c = cli();
  expect(await run(['replay', recording, '--candidate', candidate, '--collector', `127.0.0.1:${port}`, '--junit', junit, '--markdown', markdown, '--json', json, '--concurrency', '4'], c.io)).toBe(1);
  expect(c.out.join('\n')).toMatch(/FAIL replay .*8 regression\(s\)/);
  expect(c.out.join('\n')).toMatch(/POST \/orders\/:id\/pay: 0 match, 8 mismatch/);
  expect(readFileSync(markdown, 'utf8')).toMatch(/\| `POST \/orders\/:id\/pay` \| `.*\.payments` \| `amount` \| changed \| medium \| 8 \|/);
  const result = JSON.parse(readFileSync(json, 'utf8'));
  expect(result).toMatchObject({ passed: false, regressions: 8, replayed: 12 });
  const parsed = parseTestResults({ type: 'junit', files: [junit] });
  expect(parsed.status).toBe('FAIL');
  const failedCase = parsed.suites[0]!.cases.find((k: { name: string }) => k.name === 'POST /orders/:id/pay')!;
  expect(failedCase.status).toBe('FAIL');
  expect(failedCase.failure).toBe('8 regression(s) on POST /orders/:id/pay');
  expect(failedCase.stack_trace).toMatch(/changed .*\.payments amount: 8 request\(s\), legacy=\d+ candidate=\d+/);

  const accept = join(dir, 'accept.json');
  writeFileSync(accept, JSON.stringify({ accepted: [{ route: 'POST /orders/:id/pay', field: 'amount', reason: 'new rounding agreed with finance (TICKET-12)', expires: '2099-01-01' }] }));
  const a = cli();
  expect(await run(['replay', recording, '--candidate', candidate, '--collector', `127.0.0.1:${port}`, '--accept', accept], a.io)).toBe(0);
  expect(a.out.join('\n')).toMatch(/0 match, 0 mismatch \(\+8 accepted\)/);

  writeFileSync(accept, JSON.stringify({ accepted: [{ field: 'amount', reason: 'temporary', expires: '2020-01-01' }] }));
  const e = cli();
  expect(await run(['replay', recording, '--candidate', candidate, '--collector', `127.0.0.1:${port}`, '--accept', accept], e.io)).toBe(1);
  expect(e.out.join('\n')).toMatch(/expired accepted difference .* amount — temporary \(expired 2020-01-01\)/);
});

it('paired mode: legacy is replayed too, each in its own mode', async () => {
  const port = await freePort();
  const sink = `http://127.0.0.1:${port}`;
  const candidate = await candidateBuild(port);
  const legacy = await orderService(createShadow({ side: 'legacy', sink, logger: quiet, buffer: { lingerMs: 1 } }));
  const before = await mongo.db(dbName).collection('payments').countDocuments();
  const c = cli();
  expect(await run(['replay', recording, '--candidate', candidate, '--legacy', legacy, '--collector', `127.0.0.1:${port}`], c.io)).toBe(0);
  expect(c.out[0]).toMatch(/^PASS replay .*: 12 replayed, 12 compared, 0 regression/);
  // Legacy ran live (8 payments written again), the candidate in dry-run (none).
  expect(await mongo.db(dbName).collection('payments').countDocuments()).toBe(before + 8);
});

it('with AMQP_URL and MONGODB_URL set, the same replay runs on RabbitMQ and MongoDB', async () => {
  const port = await freePort();
  const candidate = await candidateBuild(port, true);
  const prefix = uniqueDbName('sdrpl');
  const c = cli();
  const env = { AMQP_URL, MONGODB_URL, SHADOWDIFF_PREFIX: prefix, SHADOWDIFF_DB: prefix, SHADOWDIFF_PARTITIONS: '2' };
  try {
    expect(await run(['replay', recording, '--candidate', candidate, '--collector', `127.0.0.1:${port}`, '--run', 'on-rabbit'], { ...c.io, env })).toBe(1);
    expect(c.out.join('\n')).toMatch(/FAIL replay on-rabbit: 12 replayed, 12 compared, 8 regression\(s\)/);
    // The mismatches are in MongoDB for the report; the matches were only counted.
    const stored = await mongo.db(prefix).collection('comparisons').countDocuments({ runId: 'on-rabbit' });
    expect(stored).toBe(8);
  } finally {
    await mongo.db(prefix).dropDatabase();
    const conn = await connectRabbit();
    await deleteTopology(conn, prefix, 2);
    await conn.close();
  }
});

it('a candidate whose records never arrive could not be compared: exit 2, naming the sink and --no-sdk', async () => {
  const port = await freePort();
  const candidate = await candidateBuild(await freePort()); // its SDK posts somewhere else
  const c = cli();
  expect(await run(['replay', recording, '--candidate', candidate, '--collector', `127.0.0.1:${port}`, '--compare-timeout-ms', '500'], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/no SDK record arrived from the candidate for any of the 12 replayed request\(s\): the service does not seem to run the shadowdiff SDK .* or replay with --no-sdk/);
});

/** The order service without the SDK: `before` runs first (a login), `pay` replaces its payment handler. */
async function plainShop(o: { before?: express.RequestHandler; pay?: express.RequestHandler } = {}): Promise<string> {
  const app = express();
  if (o.before) app.use(o.before);
  app.use(express.json());
  app.post('/orders/:id/pay', o.pay ?? ((req, res) => void res.json({ paid: true, orderId: req.params.id })));
  app.get('/orders/:id', (req, res) => void res.json({ orderId: req.params.id }));
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it('a paired replay of services without the SDK says so and suggests --no-sdk (exit 2), and runs with it', async () => {
  const [legacy, candidate] = [await plainShop(), await plainShop()];
  const args = ['replay', recording, '--candidate', candidate, '--legacy', legacy, '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500'];
  const without = cli();
  expect(await run(args, without.io)).toBe(2);
  expect(without.err.join('\n')).toMatch(/no SDK record arrived from the candidate or the legacy .* the services do not seem to run the shadowdiff SDK .*--no-sdk/);
  const withFlag = cli();
  expect(await run([...args, '--no-sdk'], withFlag.io)).toBe(0);
  expect(withFlag.out.join('\n')).not.toMatch(/5xx on both sides/);
});

it('credentials: without them a logged-in service fails the gates (401 on both sides); --header and --rewrite give them', async () => {
  const guarded = () => plainShop({ before: (req, res, next) => (req.get('authorization') === 'Bearer s3cret-token' ? next() : void res.status(401).json({ error: 'log in' })) });
  const args = ['replay', recording, '--candidate', await guarded(), '--legacy', await guarded(), '--no-sdk', '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500'];
  const bare = cli();
  expect(await run(args, bare.io)).toBe(1);
  expect(bare.out.join('\n')).toMatch(/gate failed: 12 of 12 request\(s\) answered 401\/403 on both sides: nothing behind the login was tested\. Give the replayed requests credentials \(--header/);
  const header = fakeIo({ env: { TOKEN: 's3cret-token' } });
  expect(await run([...args, '--header', 'authorization: Bearer $TOKEN'], header.io)).toBe(0);
  expect(header.out.join('\n')).toMatch(/^PASS replay/);
  const missing = cli();
  expect(await run([...args, '--header', 'authorization: Bearer ${NOPE}'], missing.io)).toBe(2);
  expect(missing.err.join('\n')).toMatch(/--header authorization: the environment variable NOPE is not set/);
  const module = join(dir, 'token.cjs');
  writeFileSync(module, "module.exports = (r) => (r.method === 'POST' ? null : { ...r, headers: { ...r.headers, authorization: 'Bearer s3cret-token' } });\n");
  const rewritten = cli();
  expect(await run([...args, '--rewrite', module, '--min-coverage', '0'], rewritten.io)).toBe(0);
  expect(rewritten.out.join('\n')).toMatch(/skipped: \d+ \(left out by --rewrite\)/);
  expect(rewritten.out.join('\n')).not.toMatch(/401/);
  const broken = join(dir, 'broken.cjs');
  writeFileSync(broken, 'module.exports = () => ({ path: 42 });\n');
  const bad = cli();
  await run([...args, '--rewrite', broken, '--min-coverage', '0'], bad.io);
  expect(bad.out.join('\n')).toMatch(/skipped: 12 \(--rewrite returned no request/);
});

it('requests that fail on both sides (ids already stored) compare equal, and the summary says what that likely means', async () => {
  const failing = () => plainShop({ pay: (_req, res) => void res.status(500).json({ error: 'E11000 duplicate key' }) });
  const c = cli();
  await run(['replay', recording, '--candidate', await failing(), '--legacy', await failing(), '--no-sdk', '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500'], c.io);
  expect(c.out.join('\n')).toMatch(/\d+ request\(s\) answered 5xx on both sides: they compare equal but test nothing\. Do the recorded ids already exist/);
});

it('a recording line that is not UTF-8 is named and left out; the rest is replayed, and the exit code is 2', async () => {
  const lines = readFileSync(recording, 'utf8').trimEnd().split('\n');
  const first = lines.findIndex((l) => l.includes('"type":"exchange"'));
  // An exchange whose path holds bytes that are not UTF-8: its request cannot be replayed as recorded.
  const broken = lines[first]!.replace('"path":"/orders/', '"path":"/orders/@@');
  const [head, tail] = broken.split('@@') as [string, string];
  const file = join(dir, 'not-utf8.jsonl');
  writeFileSync(file, Buffer.concat([Buffer.from(lines.slice(0, first).map((l) => `${l}\n`).join('')), Buffer.from(head), Buffer.from([0xff, 0xfe]), Buffer.from(`${tail}\n`), Buffer.from(lines.slice(first + 1).map((l) => `${l}\n`).join(''))]));
  const [legacy, candidate] = [await plainShop(), await plainShop()];
  const c = cli();
  expect(await run(['replay', file, '--candidate', candidate, '--legacy', legacy, '--no-sdk', '--collector', `127.0.0.1:${await freePort()}`, '--compare-timeout-ms', '500'], c.io)).toBe(2);
  const err = c.err.join('\n');
  expect(err).toContain(`left out [SHADOWDIFF_BAD_RECORD]: ${file}:${first + 1}: not valid UTF-8`);
  expect(err).toMatch(/bad line\(s\) left out; the rest was replayed/);
  expect(c.out.join('\n')).toMatch(/11 compared/);
});

it('bad input exits 2 with one clear line', async () => {
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"v":1,"type":"exchange"}\n');
  const a = cli();
  expect(await run(['replay', bad, '--candidate', 'http://127.0.0.1:1'], a.io)).toBe(2);
  expect(a.err.join('\n')).toMatch(/bad\.jsonl:1: field "runId"/);
  const b = cli();
  expect(await run(['replay', join(dir, 'missing.jsonl'), '--candidate', 'http://127.0.0.1:1'], b.io)).toBe(2);
  expect(b.err.join('\n')).toMatch(/cannot read the recording .*missing\.jsonl: ENOENT/);
  const c = cli();
  expect(await run(['replay', recording, '--candidate', 'not-a-url'], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/--candidate "not-a-url" must be a service origin/);
  const d = cli();
  expect(await run(['replay', recording, '--candidate', await deadUrl(), '--collector', `127.0.0.1:${await freePort()}`], d.io)).toBe(2);
  expect(d.err.join('\n')).toMatch(/no replayed request got an answer \(first: candidate: ECONNREFUSED\): is the service at http:\/\/127\.0\.0\.1:\d+ running\?/);
  const blocker = await httpServer(() => {});
  const e = cli();
  expect(await run(['replay', recording, '--candidate', 'http://127.0.0.1:1', '--collector', new URL(blocker.url).host], e.io)).toBe(2);
  expect(e.err.join('\n')).toMatch(/the collector cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\)/);
  await blocker.close();
  for (const x of [a, b, c, d, e]) expect(x.err.join('\n')).not.toMatch(/\n\s+at /);
});
