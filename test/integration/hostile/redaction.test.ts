// Nothing leaked: a run on the distributed runtime (proxy → RabbitMQ → worker → MongoDB) with
// secrets planted in request headers, request bodies, database writes, published events and
// partner calls. With redaction configured in the SDK and the proxy, no planted secret appears
// in any stored document of any collection, in anything left on the queues, or in any log line
// of any component — and the run still compared (the hashes of equal secrets are equal).
import { Writable } from 'node:stream';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pino from 'pino';
import { resolveProxyConfig, startProxy } from '../../../capture/proxy';
import { createShadow } from '../../../capture/sdk';
import { Worker } from '../../../pipeline/worker';
import { connectAmqpBus } from '../../../runtime/bus/amqp';
import { decodeBody } from '../../../runtime/bus/encoding';
import { connectMongoStore } from '../../../runtime/store/mongo';
import { eventually } from '../../helpers/proxy';
import { AMQP_URL, connectMongo, connectRabbit, MONGODB_URL, removeTraces, uniqueDbName } from '../../helpers/services';

jest.setTimeout(90_000);

const CARD = '4111111111111111';
const CVC = 'cvc-planted-9876';
const TOKEN = 'sk_live_PLANTED_TOKEN_123';
const REDACT_SECRET = 'redaction-key-0123456789';
const PASSWORD = 'pw-planted-Secr3t';
const API_KEY = 'ak_PLANTED_QUERY_456';
const CARD2 = '4222222222222222';
// The HMAC key itself must not be written anywhere either.
const SECRETS = [CARD, CVC, TOKEN, REDACT_SECRET, PASSWORD, API_KEY, CARD2];

// Every body shape the proxy and the SDK record (docs/security.md, "Body shapes"), each holding
// a secret that only a parsed, path-redacted or hashed body keeps out.
const json = JSON.stringify({ card: { number: CARD2 }, password: PASSWORD });
const SHAPES: { name: string; type?: string; body: string; query?: string }[] = [
  { name: 'form', type: 'application/x-www-form-urlencoded', body: `card%5Bnumber%5D=${CARD2}&password=${PASSWORD}&note=hello` },
  { name: 'json as text/plain', type: 'text/plain', body: json },
  { name: 'json without a content type', body: json },
  { name: 'json with a __proto__ key', type: 'application/json', body: `{"__proto__":{"isAdmin":true},"card":{"number":"${CARD2}"},"password":"${PASSWORD}"}` },
  {
    name: 'multipart',
    type: 'multipart/form-data; boundary=b0undary',
    body: [`--b0undary`, `Content-Disposition: form-data; name="card[number]"`, '', CARD2, `--b0undary`, `Content-Disposition: form-data; name="doc"; filename="p.txt"`, 'Content-Type: text/plain', '', `password ${PASSWORD}`, `--b0undary--`, ''].join('\r\n'),
  },
  { name: 'plain text', type: 'text/plain', body: `card ${CARD2} password ${PASSWORD}` },
  { name: 'xml', type: 'application/xml', body: `<pay><card>${CARD2}</card><password>${PASSWORD}</password></pay>` },
  { name: 'query string', type: 'application/json', body: '{}', query: `?api_key=${API_KEY}&card%5Bnumber%5D=${CARD2}&password=${PASSWORD}&page=1` },
];

/** Every log line of every component goes here. */
const lines: string[] = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _e, done) => void (lines.push(chunk.toString()), done()) }));

it('no planted secret reaches a stored document, a queue or a log line', async () => {
  await (await connectRabbit()).close();
  const prefix = uniqueDbName('redact');
  const client = await connectMongo();
  const bus = await connectAmqpBus({ url: AMQP_URL, logger, prefix, partitions: 2 });
  const store = await connectMongoStore({ url: MONGODB_URL, logger, dbName: `${prefix}_results` });
  const worker = new Worker({ bus, store, logger, settleMs: 50, timeoutMs: 5_000, keepEffects: 'all', alerts: false });
  await worker.start();
  const servers: Server[] = [];
  const shadows: ReturnType<typeof createShadow>[] = [];

  // A payment service: stores the card, publishes an event with it, calls the PG with it, and echoes the last digits.
  const service = async (side: 'legacy' | 'candidate') => {
    // `auth`: the service copies the header into its document, so its path must be listed too —
    // header redaction covers headers as captured, not values the code moves into data.
    const shadow = createShadow({ side, sink: AMQP_URL, prefix, partitions: 2, logger, redact: { secret: REDACT_SECRET, paths: ['**.number', '**.cvc', '**.auth', '**.password'], headers: ['authorization'], query: ['api_key'] }, response: { capture: true } });
    shadows.push(shadow);
    const payments = shadow.mongo(client.db(`${prefix}_shop`).collection('payments'));
    const app = express();
    // A careless endpoint, as real ones are: it echoes whatever it got, in the type it got it.
    app.post('/echo', shadow.middleware(), express.raw({ type: () => true }), (req, res) => {
      res.type(req.get('content-type') ?? 'application/octet-stream').send(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    });
    app.use(express.json());
    app.use(shadow.middleware());
    app.post('/payments', async (req, res) => {
      const { orderNo, card, amount } = req.body as { orderNo: string; card: { number: string; cvc: string }; amount: number };
      // The candidate charges one won more: a mismatch, so the records are kept and the values shown.
      const charged = side === 'candidate' ? amount + 1 : amount;
      await payments.insertOne({ orderNo, card, amount: charged, auth: req.get('authorization') });
      await shadow.effect({ kind: 'http', target: 'POST pg.example/v1/approvals', payload: { orderNo, card, amount: charged } }, async () => ({ ok: true }), { ok: true });
      res.json({ orderNo, approved: true, card: { number: card.number, last4: card.number.slice(-4) } });
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const [legacyUrl, candidateUrl] = [await service('legacy'), await service('candidate')];
  const proxy = await startProxy(
    resolveProxyConfig({ listen: '127.0.0.1:0', legacy: legacyUrl, candidate: candidateUrl, run: 'redact-run', sink: AMQP_URL, prefix, partitions: 2, sampling: { percent: 100 }, record: { redact: { secret: REDACT_SECRET, paths: ['card.number', 'card.cvc', '**.number', '**.password'], headers: ['authorization'], query: ['api_key'] } }, logLevel: 'debug' }),
    { logger, defaultMetrics: false },
  );

  try {
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${proxy.url}/payments`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ orderNo: `ORD-${i}`, card: { number: CARD, cvc: CVC }, amount: 1000 + i }) });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { card: { number: string } }).card.number).toBe(CARD); // the client's answer is untouched
    }
    for (const shape of SHAPES) {
      // A Blob without a type: fetch sends no content type at all.
      const res = await fetch(`${proxy.url}/echo${shape.query ?? ''}`, { method: 'POST', headers: shape.type ? { 'content-type': shape.type } : {}, body: shape.type ? shape.body : new Blob([shape.body]) });
      expect({ shape: shape.name, status: res.status }).toEqual({ shape: shape.name, status: 200 });
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(shape.body))).toBe(true); // the client's answer is untouched
    }
    await eventually(async () => (await store.countComparisons('redact-run')) === 20 + SHAPES.length, 30_000, 'the comparisons');
    await worker.drain();
    await store.flushRollups('redact-run');

    // Not vacuous: the run compared the amounts, and the redacted card numbers compared equal.
    const mismatches = await store.listComparisons({ runId: 'redact-run', verdict: 'mismatch', limit: 100 });
    expect(mismatches).toHaveLength(20);
    expect(new Set(mismatches.flatMap((c) => c.findings.map((f) => f.field)))).toEqual(new Set(['amount']));
    // The echoes compared equal: every shape was recorded alike on both sides, and kept something.
    expect(await store.listComparisons({ runId: 'redact-run', verdict: 'match', limit: 100 })).toHaveLength(SHAPES.length);

    // Every document of every collection shadowdiff wrote, and the shop's own data (which legacy stored for real).
    let scanned = 0;
    for (const db of [`${prefix}_results`]) {
      for (const { name } of await client.db(db).listCollections().toArray()) {
        for (const doc of await client.db(db).collection(name).find({}).toArray()) {
          const text = JSON.stringify(doc);
          scanned += 1;
          for (const s of SECRETS) expect({ collection: name, leaked: text.includes(s) ? text.slice(Math.max(0, text.indexOf(s) - 120), text.indexOf(s) + 40) : false }).toEqual({ collection: name, leaked: false });
        }
      }
    }
    expect(scanned).toBeGreaterThan(60); // comparisons, exchanges, effects, rollups, runs
    const stored = JSON.stringify(await store.getEffects('redact-run', mismatches[0]!.shadowId));
    expect(stored).toContain('"card"'); // the card was captured — as a hash
    // Exchanges are stored as their JSON text.
    const exchanges = (await client.db(`${prefix}_results`).collection('exchanges').find({}).toArray()).map((d) => String(d.body)).join('\n');
    expect(exchanges).toContain('"card[number]":"hmac:'); // a form's field, redacted by its path
    expect(exchanges).toContain('"$unparsed"'); // plain text and XML: size and hash only
    expect(exchanges).toContain('api_key=hmac:'); // the query string, by name
    // Left on the queues: the partitions are drained (every record acked), and whatever was
    // dead-lettered must be clean too. (Partition queues, single-active-consumer quorum queues,
    // cannot be read with basic.get; their message counts say they are empty.)
    const rabbit = await connectRabbit();
    const ch = await rabbit.createChannel();
    for (const q of [`${prefix}.p0`, `${prefix}.p1`]) expect((await ch.checkQueue(q)).messageCount).toBe(0);
    for (let m = await ch.get(`${prefix}.dead`, { noAck: true }); m; m = await ch.get(`${prefix}.dead`, { noAck: true })) for (const s of SECRETS) expect(decodeBody(m.content, m.properties.contentEncoding as string | undefined).toString().includes(s)).toBe(false);
    await rabbit.close();
  } finally {
    await proxy.close();
    for (const s of shadows) await s.close();
    for (const s of servers) await new Promise((r) => s.close(r));
    await worker.stop();
    await store.close();
    await bus.close();
    await client.close();
    await removeTraces(prefix, 2, [`${prefix}_results`, `${prefix}_shop`]);
  }
  expect(lines.some((l) => l.includes('proxy started'))).toBe(true);
  expect(lines.some((l) => l.includes('proxy stopped'))).toBe(true);
  for (const line of lines) for (const s of SECRETS) expect({ line: line.slice(0, 200), leaked: line.includes(s) }).toEqual({ line: line.slice(0, 200), leaked: false });
});
