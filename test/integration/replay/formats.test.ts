// Recordings teams already have: a HAR file (as browser devtools save it) and a GoReplay .gor
// file (requests, original responses where tracked, replayed responses ignored); and the
// candidate's state: a request that fails because the candidate lacks data is named, and
// seeding its database fixes it.
import express from 'express';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MongoClient } from 'mongodb';
import { run } from '../../../cli/main';
import { readGor } from '../../../replay/gor';
import { readHar } from '../../../replay/har';
import type { RecordedRequest } from '../../../replay/recording';
import { deadUrl } from '../../helpers/proxy';
import { connectMongo, MONGODB_URL, uniqueDbName } from '../../helpers/services';
import { fakeIo } from '../../helpers/cli';

const FIXTURES = join(__dirname, '../../fixtures/replay');
const dbName = uniqueDbName('sdseed');
let mongo: MongoClient;
let server: Server;
let candidate: string;

async function all(it: AsyncIterable<RecordedRequest>): Promise<RecordedRequest[]> {
  const out: RecordedRequest[] = [];
  for await (const r of it) out.push(r);
  return out;
}

const cli = () => fakeIo();

beforeAll(async () => {
  mongo = await connectMongo();
  // The candidate: customers come from its database; orders are computed.
  const customers = mongo.db(dbName).collection<{ _id: string; name: string }>('customers');
  const app = express();
  app.use(express.json());
  app.get('/customers/:id', async (req, res) => {
    const c = await customers.findOne({ _id: req.params.id });
    if (!c) return void res.status(404).json({ error: 'no such customer' });
    res.json({ id: c._id, name: c.name });
  });
  app.post('/orders', (req, res) => void res.status(201).json({ orderId: 'A-1', total: 6000 * req.body.items[0].qty }));
  app.get('/health', (_req, res) => void res.type('text/plain').send('ok'));
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  candidate = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  await mongo.db(dbName).dropDatabase();
  await mongo.close();
});

it('reads a HAR file: requests with their responses, credentials left out', async () => {
  const [customer, order, health] = await all(readHar(join(FIXTURES, 'shop.har'), 'h'));
  expect(customer!.exchange.request).toEqual({ method: 'GET', path: '/customers/c-1', headers: { accept: 'application/json; charset=utf-8', 'x-request-id': expect.any(String) } });
  expect(customer!.exchange.responses.legacy).toEqual({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: { id: 'c-1', name: 'Kim' } });
  expect(order!.exchange.request).toMatchObject({ method: 'POST', path: '/orders?src=web', body: { items: [{ sku: 'x', qty: 2 }] } });
  // Plain text is neither JSON nor a form: its size and hash, as the proxy records it.
  expect(health!.exchange.responses.legacy!.body).toEqual({ $unparsed: { bytes: 2, hash: `sha256:${createHash('sha256').update('ok').digest('hex')}` } });
  expect(JSON.stringify([customer, order, health])).not.toMatch(/secret-token|sid=abc/);
});

it('reads a GoReplay file: requests paired with their original responses (chunked decoded), replayed ones ignored', async () => {
  const [customer, order, health] = await all(readGor(join(FIXTURES, 'shop.gor'), 'g'));
  expect(customer!.exchange).toMatchObject({ shadowId: 'gor-a1', request: { method: 'GET', path: '/customers/c-1' }, responses: { legacy: { status: 200, body: { id: 'c-1', name: 'Kim' } } } });
  expect(customer!.exchange.request.headers!.cookie).toBeUndefined();
  expect(order!.exchange).toMatchObject({ request: { method: 'POST', path: '/orders?src=app', body: { items: [{ sku: 'x', qty: 2 }] } }, responses: { legacy: { status: 201, body: { orderId: 'A-1', total: 12000 } } } });
  expect(health!.exchange.responses.legacy).toBeUndefined(); // its response was not tracked
  expect(order!.exchange.at).toBe('2025-11-25T07:00:00.300Z');
});

it('pairs a GoReplay response written before its request (as --input-raw-track-response may), in either order', async () => {
  const sep = '\n🐵🙈🙉\n';
  const request = (id: string, path: string) => `1 ${id} 1764054000000000000 0\nGET ${path} HTTP/1.1\r\nHost: shop.example\r\n\r\n`;
  const response = (id: string, body: string) => `2 ${id} 1764054000001000000 1000000\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const file = join(mkdtempSync(join(tmpdir(), 'sd-gor-')), 'early.gor');
  // c3's response first, then its request; d4 in the usual order; e5's response belongs to no request in the file.
  writeFileSync(file, [response('c3', '{"id":"c3"}'), response('e5', '{"id":"e5"}'), request('c3', '/c/3'), request('d4', '/d/4'), response('d4', '{"id":"d4"}')].join(sep) + sep);
  const got = await all(readGor(file, 'g'));
  expect(got.map((r) => [r.exchange.request.path, r.exchange.responses.legacy?.body])).toEqual([
    ['/c/3', { id: 'c3' }],
    ['/d/4', { id: 'd4' }],
  ]);
});

it('a HAR replay names the candidate lacking data, and passes once its database is seeded', async () => {
  const har = join(FIXTURES, 'shop.har');
  const collector = `127.0.0.1:${new URL(await deadUrl()).port}`;
  const before = cli();
  expect(await run(['replay', har, '--candidate', candidate, '--collector', collector], before.io)).toBe(1);
  const text = before.out.join('\n');
  expect(text).toMatch(/GET \/customers\/c-1: 0 match, 1 mismatch/);
  expect(text).toMatch(/1 request\(s\) where the candidate answered 404\/409\/422 and legacy succeeded: does the candidate's database lack seed data \(--seed\)\?/);
  expect(text).toMatch(/POST \/orders: 1 match/); // the route leaves the query string out

  const seedDir = mkdtempSync(join(tmpdir(), 'sd-seed-'));
  writeFileSync(join(seedDir, 'customers.json'), JSON.stringify([{ _id: 'c-1', name: 'Kim' }, { _id: 'c-2', name: 'Lee', since: { $date: '2024-01-01T00:00:00Z' } }]));
  const after = cli();
  expect(await run(['replay', har, '--candidate', candidate, '--collector', collector, '--seed', seedDir, '--seed-url', `${MONGODB_URL}/${dbName}`], after.io)).toBe(0);
  expect(after.err.join('\n')).toMatch(/seeded customers \(2\)/);
  expect(after.out[0]).toMatch(/^PASS replay .*: 3 replayed, 3 compared, 0 regression/);
  expect(await mongo.db(dbName).collection('customers').findOne({ _id: 'c-2' as never })).toMatchObject({ since: new Date('2024-01-01T00:00:00Z') });
});

it('a GoReplay replay compares what has a recorded response; the rest lowers coverage', async () => {
  const collector = `127.0.0.1:${new URL(await deadUrl()).port}`;
  const c = cli();
  expect(await run(['replay', join(FIXTURES, 'shop.gor'), '--candidate', candidate, '--collector', collector, '--min-coverage', '0.6', '--compare-timeout-ms', '500'], c.io)).toBe(0);
  expect(c.out.join('\n')).toMatch(/3 replayed, 3 compared, 0 regression\(s\), coverage 66\.7%/);
  expect(c.out.join('\n')).toMatch(/incomplete: legacy: no end marker \(1\)/);
});

it('a GoReplay file without responses, replayed in baseline mode, says so and what to do (exit 2)', async () => {
  const sep = '\n🐵🙈🙉\n';
  const file = join(mkdtempSync(join(tmpdir(), 'sd-gor-')), 'requests-only.gor');
  writeFileSync(file, ['1 r1 1764054000000000000 0\nGET /customers/c-1 HTTP/1.1\r\nHost: shop.example\r\n\r\n', '1 r2 1764054000100000000 0\nGET /customers/c-2 HTTP/1.1\r\nHost: shop.example\r\n\r\n'].join(sep) + sep);
  const c = cli();
  expect(await run(['replay', file, '--candidate', candidate, '--collector', `127.0.0.1:${new URL(await deadUrl()).port}`, '--compare-timeout-ms', '500'], c.io)).toBe(2);
  expect(c.err.join('\n')).toMatch(/the recording holds no legacy response or records for any of its 2 request\(s\).*--input-raw-track-response\?\)\. Replay with --legacy URL/);
});
