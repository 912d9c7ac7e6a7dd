// Per-request mode (cutover): a live service's SDK runs a request in dry-run only when its
// shadow headers ask for it with the proxy's signature, good and fresh. A client calling the
// service directly — with no signature, a forged one, one made for another side or another
// request, or an old one — cannot switch its writes off; a header never raises a side to live.
// A plain express + MongoDB handler, inserting and reading back, over real HTTP.
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Db, MongoClient } from 'mongodb';
import { createShadow, type ShadowSdk } from '../../../capture/sdk';
import { createLogger } from '../../../core/logger';
import { SIGNATURE_HEADER, signShadow } from '../../../core/signing';
import { connectMongo, uniqueDbName } from '../../helpers/services';
import { memorySink, shadowHeaders, sideOf, type MemorySink } from '../../helpers/sdk';

const KEY = 'k'.repeat(16) + '-signing-key';
const quiet = createLogger({ level: 'silent' });
let client: MongoClient;
let db: Db;
const servers: Server[] = [];

beforeAll(async () => {
  client = await connectMongo();
  db = client.db(uniqueDbName('sdk_signed'));
});

afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  await db?.dropDatabase().catch(() => undefined);
  await client?.close();
});

/** An orders service as anyone would write it, with the SDK wired as docs/sdk.md says. */
async function service(options: Partial<Parameters<typeof createShadow>[0]>): Promise<{ url: string; sdk: ShadowSdk; sink: MemorySink }> {
  const sink = memorySink();
  const sdk = createShadow({ side: 'legacy', sink, logger: quiet, ...options });
  const orders = sdk.mongo(db).collection('orders');
  const app = express();
  app.use(sdk.middleware());
  app.use(express.json());
  app.post('/orders', async (req, res) => {
    const { insertedId } = await orders.insertOne({ orderNo: req.body.orderNo, total: req.body.total });
    res.status(201).json(await orders.findOne({ _id: insertedId }));
  });
  const server = await new Promise<Server>((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sdk, sink };
}

async function order(url: string, orderNo: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ orderNo, total: 12_000 }) });
  await res.text();
  return res.status;
}

const stored = async (orderNo: string) => db.collection('orders').countDocuments({ orderNo });
const signed = (id: string, side: string, mode: string, key = KEY, t = Date.now()) => ({ ...shadowHeaders(id, side, mode), [SIGNATURE_HEADER]: signShadow(key, { shadowId: id, runId: 'run1', side, mode }, t) });

test('a live SDK with the signing key runs a request in dry-run on the proxy’s signature only', async () => {
  const { url, sdk, sink } = await service({ signing: { key: KEY } });

  // The proxy's mirror: a good, fresh signature for this id, run, side and mode.
  expect(await order(url, 'A-good', signed('s-good', 'legacy', 'dry-run'))).toBe(201);
  expect(await stored('A-good')).toBe(0);

  // A client calling the service directly cannot switch its writes off.
  const attempts: [string, Record<string, string>][] = [
    ['A-unsigned', shadowHeaders('s-unsigned', 'legacy', 'dry-run')],
    ['A-forged', signed('s-forged', 'legacy', 'dry-run', 'f'.repeat(16) + '-another-key')],
    ['A-garbage', { ...shadowHeaders('s-garbage', 'legacy', 'dry-run'), [SIGNATURE_HEADER]: 't=1,v1=not-a-signature' }],
    // Copied from a request the proxy signed for the candidate, or for another shadow id.
    ['A-other-side', { ...shadowHeaders('s-other-side', 'legacy', 'dry-run'), [SIGNATURE_HEADER]: signed('s-other-side', 'candidate', 'dry-run')[SIGNATURE_HEADER] }],
    ['A-other-id', { ...shadowHeaders('s-other-id', 'legacy', 'dry-run'), [SIGNATURE_HEADER]: signed('s-good', 'legacy', 'dry-run')[SIGNATURE_HEADER] }],
    // Captured two minutes ago (signing.maxAgeMs is 60 s by default).
    ['A-stale', signed('s-stale', 'legacy', 'dry-run', KEY, Date.now() - 120_000)],
  ];
  for (const [orderNo, headers] of attempts) {
    expect(await order(url, orderNo, headers)).toBe(201);
    expect({ orderNo, stored: await stored(orderNo) }).toEqual({ orderNo, stored: 1 });
  }
  await sdk.flush();
  expect(sdk.stats().modes).toEqual({ lowered: 1, unsigned: 1, badSignature: 4, staleSignature: 1 });

  // The end markers say how each side ran: only where it is not legacy's usual live.
  expect(sideOf(sink.records, 's-good').end?.mode).toBe('dry-run');
  expect(sideOf(sink.records, 's-good').effects.map((e) => [e.op, (e.after as { orderNo?: string }).orderNo])).toEqual([['insert', 'A-good']]);
  for (const id of ['s-unsigned', 's-forged', 's-stale']) expect(sideOf(sink.records, id).end?.mode).toBeUndefined();
  await sdk.close();
});

test('without a signing key a live SDK never lowers a request, and a header never raises a dry-run side to live', async () => {
  const unkeyed = await service({});
  expect(await order(unkeyed.url, 'B-unkeyed', signed('s-unkeyed', 'legacy', 'dry-run'))).toBe(201);
  expect(await stored('B-unkeyed')).toBe(1);
  expect(unkeyed.sdk.stats().modes.unsigned).toBe(1);

  const candidate = await service({ side: 'candidate', signing: { key: KEY } });
  expect(await order(candidate.url, 'B-raised', signed('s-raised', 'candidate', 'live'))).toBe(201);
  expect(await stored('B-raised')).toBe(0);
  await candidate.sdk.flush();
  expect(sideOf(candidate.sink.records, 's-raised').end?.mode).toBeUndefined(); // dry-run, as a candidate is
  expect(candidate.sdk.stats().modes).toEqual({ lowered: 0, unsigned: 0, badSignature: 0, staleSignature: 0 });
  await Promise.all([unkeyed.sdk.close(), candidate.sdk.close()]);
});

test('a candidate running live (a cutover) takes the proxy’s signed mirror as dry-run, and its rotated-out key still verifies', async () => {
  const next = 'n'.repeat(16) + '-next-key';
  const { url, sdk } = await service({ side: 'candidate', mode: 'live', signing: { key: next, previousKeys: [KEY] } });
  expect(await order(url, 'C-live', shadowHeaders('s-live', 'candidate', 'live'))).toBe(201);
  expect(await order(url, 'C-mirror-old-key', signed('s-old', 'candidate', 'dry-run', KEY))).toBe(201);
  expect(await order(url, 'C-mirror-new-key', signed('s-new', 'candidate', 'dry-run', next))).toBe(201);
  expect([await stored('C-live'), await stored('C-mirror-old-key'), await stored('C-mirror-new-key')]).toEqual([1, 0, 0]);
  expect(sdk.stats().modes.lowered).toBe(2);
  await sdk.close();
});
