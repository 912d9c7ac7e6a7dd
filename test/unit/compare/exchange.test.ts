// The recorder's exchange (proxy, replay) in the join and the engine: its responses become
// `response` effects, it completes requests to services without the SDK, a side that never
// answered is named; effects caused elsewhere (seq ≥ 1000) are compared, not an error.
import { compare } from '../../../compare/engine/compare';
import { isReady, Join } from '../../../compare/join';
import { type ExchangeRecord, parseRecord } from '../../../core/effect';
import { AT, effect, end, RUN, SHADOW } from '../../helpers/records';

const NOW = '2026-11-24T10:00:01.000Z';
const json = { 'content-type': 'application/json' };

function exchange(fields: Partial<ExchangeRecord>): ExchangeRecord {
  return parseRecord({ v: 1, type: 'exchange', runId: RUN, shadowId: SHADOW, at: AT, request: { method: 'POST', path: '/orders/7/pay' }, responses: {}, ...fields }) as ExchangeRecord;
}

const ordersInsert = (side: 'legacy' | 'candidate', total: number) => effect(side, 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: 1 }, after: { _id: 1, total } });

it('waits for the exchange when an end marker says one comes, and compares its responses', () => {
  const join = new Join();
  join.add(ordersInsert('legacy', 10));
  join.add(end('legacy', 1, { exchange: true, status: 200 }));
  join.add(ordersInsert('candidate', 10));
  const entry = join.add(end('candidate', 1, { exchange: true, status: 200 }));
  expect(isReady(entry)).toBe(false);
  join.add(exchange({ responses: { legacy: { status: 200, headers: json, body: { paid: true, total: 10 } }, candidate: { status: 200, headers: json, body: { paid: true, total: 11 } } } }));
  expect(isReady(entry)).toBe(true);
  const c = compare(entry, { now: NOW });
  expect(c.verdict).toBe('mismatch');
  expect(c.findings).toEqual([expect.objectContaining({ effectKind: 'response', path: 'body.total', legacy: 10, candidate: 11, legacySeq: -1, candidateSeq: -1 })]);
});

it('an SDK-recorded response wins over the exchange, so a response is never compared twice', () => {
  const join = new Join();
  const sdkResponse = (side: 'legacy' | 'candidate') => effect(side, 0, { kind: 'response', target: 'response', op: 'respond', payload: { status: 200, headers: json, body: { ok: 1 } } });
  join.add(sdkResponse('legacy'));
  join.add(end('legacy', 1, { exchange: true }));
  join.add(sdkResponse('candidate'));
  join.add(end('candidate', 1, { exchange: true }));
  const entry = join.add(exchange({ responses: { legacy: { status: 200, body: { ok: 'different' } }, candidate: { status: 200, body: { ok: 1 } } } }));
  const c = compare(entry, { now: NOW });
  expect(c.verdict).toBe('match');
  expect(c.pairs).toHaveLength(1);
});

it('services without the SDK: the exchange alone completes the request and its responses are compared', () => {
  const join = new Join();
  const entry = join.add(exchange({ sdk: false, request: { method: 'GET', path: '/orders/7', route: '/orders/:id' }, responses: { legacy: { status: 200, body: { n: 1 } }, candidate: { status: 404, body: { error: 'not found' } } } }));
  expect(isReady(entry)).toBe(true);
  const c = compare(entry, { now: NOW });
  expect(c.route).toBe('GET /orders/:id');
  expect(c.verdict).toBe('mismatch');
  expect(c.findings.map((f) => f.path)).toEqual(expect.arrayContaining(['status']));
  expect(c.sides.candidate).toMatchObject({ ended: true, status: 404 });
});

it('a side that never answered the recorder is incomplete with the reason, without waiting for its end marker', () => {
  const join = new Join();
  join.add(ordersInsert('legacy', 10));
  const entry = join.add(end('legacy', 1, { exchange: true }));
  join.add(exchange({ responses: { legacy: { status: 200, body: {} }, candidate: { error: 'timed out after 2000 ms' } } }));
  expect(isReady(entry)).toBe(true);
  const c = compare(entry, { now: NOW });
  expect(c.verdict).toBe('incomplete');
  expect(c.incomplete).toEqual(['candidate: no response (timed out after 2000 ms)']);
});

it('effects caused elsewhere (seq from 1000) are compared and do not count; 1 … 999 beyond the count is an error', () => {
  const consumer = (side: 'legacy' | 'candidate', seq: number, points: number) => effect(side, seq, { kind: 'db', target: 'shop.points', op: 'insert', key: { _id: 9 }, after: { _id: 9, points } });
  const input = {
    runId: RUN,
    shadowId: SHADOW,
    legacy: { effects: [ordersInsert('legacy', 10), consumer('legacy', 1000, 5)], end: end('legacy', 1) },
    candidate: { effects: [ordersInsert('candidate', 10), consumer('candidate', 1000, 6)], end: end('candidate', 1) },
  };
  const c = compare(input, { now: NOW });
  expect(c.verdict).toBe('mismatch');
  expect(c.findings).toEqual([expect.objectContaining({ target: 'shop.points', path: 'points', legacy: 5, candidate: 6 })]);
  const bad = compare({ ...input, legacy: { ...input.legacy, effects: [ordersInsert('legacy', 10), consumer('legacy', 7, 5)] } }, { now: NOW });
  expect(bad.verdict).toBe('error');
});

it('sdk:false compares the responses alone, leaving out whatever an SDK sent anyway', () => {
  const join = new Join();
  join.add(ordersInsert('candidate', 10));
  join.add(end('candidate', 1));
  const entry = join.add(exchange({ sdk: false, responses: { legacy: { status: 201, body: { ok: 1 } }, candidate: { status: 201, body: { ok: 1 } } } }));
  const c = compare(entry, { now: NOW });
  expect(c.verdict).toBe('match');
  expect(c.pairs).toEqual([expect.objectContaining({ effectKind: 'response' })]);
});
