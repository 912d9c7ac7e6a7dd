// The request context over real HTTP: end markers for every way a request can end, the
// response effect, the generic effect(), and what the SDK refuses at startup.
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createShadow } from '../../../capture/sdk';
import type { EffectRecord, EndRecord } from '../../../core/effect';
import { ShadowdiffError } from '../../../core/errors';
import { createLogger } from '../../../core/logger';
import { memorySink, shadowHeaders } from '../../helpers/sdk';

const quiet = createLogger({ level: 'silent' });
const sink = memorySink();
const sdk = createShadow({ side: 'legacy', sink, logger: quiet, response: { capture: true, rawBodies: ['GET /stream'] }, redact: { mode: 'remove', paths: ['secret'] } });
let server: Server;
let url: string;

beforeAll(async () => {
  const app = express();
  app.use(sdk.middleware());
  const orders = express.Router();
  orders.get('/:id', (req, res) => {
    res.setHeader('x-noise', String(Math.random()));
    res.json({ id: req.params.id, secret: 's3cr3t', total: 10 });
  });
  orders.get('/', (_req, res) => void res.json([]));
  orders.post('/:id/fail', () => {
    throw new Error('boom');
  });
  app.use('/orders', orders);
  app.get('/stream', (_req, res) => {
    res.type('text/plain');
    res.write('a');
    res.write(Buffer.from('b'));
    res.end('c');
  });
  app.get('/effect', async (_req, res) => {
    const sms = await sdk.effect({ kind: 'http', target: 'POST sms/send', payload: { to: '010' } }, async () => 'sent', 'simulated');
    await sdk.effect({ kind: 'http', target: 'POST ledger/append' }, async () => {
      throw new Error('ledger down');
    }).catch(() => undefined);
    res.send(sms);
  });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await sdk.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function records(shadowId: string) {
  await sdk.flush();
  const mine = sink.records.filter((r) => r.shadowId === shadowId);
  return { effects: mine.filter((r): r is EffectRecord => r.type === 'effect'), ends: mine.filter((r): r is EndRecord => r.type === 'end') };
}

test('the response effect has the status, the chosen headers and the parsed body, redacted; the route includes the router mount', async () => {
  const res = await fetch(`${url}/orders/A-9?x=1`, { headers: shadowHeaders('c-1') });
  expect(await res.json()).toEqual({ id: 'A-9', secret: 's3cr3t', total: 10 }); // the client gets it untouched
  const { effects, ends } = await records('c-1');
  expect(effects).toMatchObject([{ kind: 'response', op: 'respond', target: 'response', payload: { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: { id: 'A-9', total: 10 } } }]);
  expect((effects[0]!.payload as { body: object }).body).not.toHaveProperty('secret');
  expect((effects[0]!.payload as { headers: object }).headers).not.toHaveProperty('x-noise');
  expect(ends).toMatchObject([{ count: 1, status: 200, request: { method: 'GET', path: '/orders/A-9', route: '/orders/:id' } }]);
});

test("a router's '/' under its mount path is the mount path's route, without the trailing slash", async () => {
  for (const [id, path] of [['c-slash', '/orders/'], ['c-bare', '/orders']] as const) await (await fetch(`${url}${path}`, { headers: shadowHeaders(id) })).text();
  expect((await records('c-slash')).ends[0]!.request).toMatchObject({ path: '/orders/', route: '/orders' });
  expect((await records('c-bare')).ends[0]!.request).toMatchObject({ path: '/orders', route: '/orders' });
});

test('a streamed body is captured whole; a handler that throws still ends its side, with status 500', async () => {
  expect(await (await fetch(`${url}/stream`, { headers: shadowHeaders('c-2') })).text()).toBe('abc');
  expect((await records('c-2')).effects[0]!.payload).toMatchObject({ body: 'abc' }); // kept as it is: response.rawBodies names the route
  expect((await fetch(`${url}/orders/A-9/fail`, { method: 'POST', headers: shadowHeaders('c-3') })).status).toBe(500);
  expect((await records('c-3')).ends).toMatchObject([{ status: 500, request: { route: '/orders/:id/fail' } }]);
});

test('effect(): live runs perform and records it; a failure is recorded as failed and rethrown to the app', async () => {
  expect(await (await fetch(`${url}/effect`, { headers: shadowHeaders('c-4') })).text()).toBe('sent');
  const { effects } = await records('c-4');
  expect(effects.map((e) => [e.target, e.status ?? 'ok'])).toEqual([
    ['POST sms/send', 'ok'],
    ['POST ledger/append', 'failed'],
    ['response', 'ok'],
  ]);
  expect(effects[1]!.error).toMatch(/ledger down/);
});

test('withShadowContext: sync and async results pass through, errors are rethrown, the end marker says how it ended', async () => {
  expect(sdk.withShadowContext(shadowHeaders('c-5'), () => 42, { method: 'CONSUME', path: 'q' })).toBe(42);
  await expect(sdk.withShadowContext(shadowHeaders('c-6'), async () => Promise.reject(new Error('nope')))).rejects.toThrow('nope');
  expect(() => sdk.withShadowContext(shadowHeaders('c-7'), () => { throw new TypeError('sync'); })).toThrow('sync');
  expect(sdk.withShadowContext({}, () => sdk.context())).toBeUndefined();
  expect(sdk.withShadowContext(shadowHeaders('c-8'), () => sdk.context())).toEqual({ shadowId: 'c-8', runId: 'run1', side: 'legacy', mode: 'live' });
  expect((await records('c-5')).ends).toMatchObject([{ count: 0, request: { method: 'CONSUME', path: 'q' } }]);
  expect((await records('c-6')).ends).toMatchObject([{ error: 'Error: nope' }]);
  expect((await records('c-7')).ends).toMatchObject([{ error: 'TypeError: sync' }]);
});

test('the side decides the mode: a candidate never runs live, whatever the headers say', () => {
  const candidate = createShadow({ side: 'candidate', sink: memorySink(), logger: quiet });
  expect(candidate.mode).toBe('dry-run');
  expect(candidate.withShadowContext(shadowHeaders('c-9', 'candidate', 'live'), () => candidate.context()?.mode)).toBe('dry-run');
});

test('bad options fail at startup with SHADOWDIFF_CONFIG naming the option', () => {
  const attempt = (o: unknown) => () => createShadow(o as Parameters<typeof createShadow>[0]);
  expect(attempt({ sink: 'amqp://x' })).toThrow(/option "side"/);
  expect(attempt({ side: 'legacy', sink: 'ftp://x' })).toThrow(/unsupported scheme "ftp:"/);
  expect(attempt({ side: 'legacy', sink: 'not a url' })).toThrow(ShadowdiffError);
  expect(attempt({ side: 'legacy', sink: memorySink(), redact: { paths: ['card'] } })).toThrow(/option "redact.secret"/);
  expect(attempt({ side: 'legacy', sink: memorySink(), bufer: {} })).toThrow(/Unrecognized key/);
  expect(() => sdk.mongo({} as object)).toThrow(/MongoClient, Db or Collection/);
});
