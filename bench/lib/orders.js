// Realistic order-like effect fixtures for the benchmarks: per request an order document
// with 5–20 line items, two updates with before/after images, two domain events and the
// HTTP response — generated ids and timestamps differing between the sides, as in life.
'use strict';

const SKUS = Array.from({ length: 200 }, (_, i) => `SKU-${String(i).padStart(4, '0')}`);

function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

function hex(r, n) {
  let out = '';
  for (let i = 0; i < n; i++) out += Math.floor(r() * 16).toString(16);
  return out;
}

/** Rules a team would write for these services. */
const RULES = {
  ignore: ['**.updatedAt', '**.createdAt'],
  targets: [
    { match: 'shop.orders', key: 'orderNo', unordered: [{ path: 'items', by: 'sku' }] },
    { match: 'orders/*', kind: 'message', ignore: ['eventId', 'occurredAt'] },
  ],
};

/** Consumers of the same data, each with the JSON Schema it expects: what contract checks validate. */
const CONSUMERS = [
  {
    name: 'fulfilment',
    owner: 'warehouse',
    reads: [
      {
        target: 'shop.orders',
        kind: 'db',
        paths: ['items[*].sku', 'items[*].qty', 'status'],
        schema: {
          type: 'object',
          required: ['_id', 'orderNo', 'status', 'items', 'createdAt'],
          properties: {
            _id: { type: 'string', pattern: '^[0-9a-f]{24}$' },
            orderNo: { type: 'string', minLength: 1 },
            status: { enum: ['CREATED', 'PAID', 'SHIPPED', 'CANCELLED'] },
            total: { type: 'integer', minimum: 0 },
            createdAt: { type: 'string', format: 'date-time' },
            items: { type: 'array', items: { type: 'object', required: ['sku', 'qty', 'price'], properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 }, price: { type: 'integer', minimum: 0 } } } },
          },
        },
      },
    ],
  },
  {
    name: 'settlement',
    owner: 'finance',
    critical: true,
    reads: [{ target: 'orders/order.paid', kind: 'message', schema: { type: 'object', required: ['orderNo', 'amount', 'method'], properties: { orderNo: { type: 'string' }, amount: { type: 'integer', minimum: 0 }, method: { enum: ['CARD', 'BANK', 'POINTS'] } } } }],
  },
  {
    name: 'analytics',
    owner: 'data',
    reads: [{ target: 'orders/order.created', kind: 'message', paths: ['total', 'lines'], schema: { type: 'object', required: ['orderNo', 'total'], properties: { orderNo: { type: 'string' }, total: { type: 'number' }, lines: { type: 'integer' } } } }],
  },
];

const BUGS = ['price', 'missing-event', 'status', 'type', 'item-dropped'];

/**
 * One request's records for both sides. `bug`: undefined for a matching request, or one of
 * BUGS for a seeded difference.
 */
function request(i, bug) {
  const r = rng(i + 1);
  const shadowId = `01JD${String(i).padStart(22, '0')}`;
  const orderNo = `A-${i}`;
  const at = new Date(Date.UTC(2026, 10, 24, 10, 0, 0) + i * 37).toISOString();
  const nItems = 5 + Math.floor(r() * 16);
  const items = Array.from({ length: nItems }, (_, k) => ({
    sku: SKUS[(i * 7 + k * 13) % SKUS.length],
    name: `Item ${k} of order ${i}`,
    qty: 1 + Math.floor(r() * 3),
    price: 1000 * (1 + Math.floor(r() * 50)),
    discount: Math.floor(r() * 5) * 100,
    options: { giftWrap: r() < 0.2, color: r() < 0.5 ? 'red' : 'blue' },
  }));
  const total = items.reduce((s, it) => s + it.qty * it.price - it.discount, 0);

  const side = (name, mutate) => {
    const sr = rng(i * 31 + (name === 'legacy' ? 1 : 2));
    const oid = { $oid: `65f0${hex(sr, 20)}` };
    const ts = (ms) => ({ $date: new Date(Date.parse(at) + ms + Math.floor(sr() * 5)).toISOString() });
    const doc = { _id: oid, orderNo, status: 'CREATED', customerId: `C-${i % 977}`, total, currency: 'KRW', items: structuredClone(items), createdAt: ts(0), updatedAt: ts(0) };
    if (name === 'candidate') doc.items.reverse(); // a different internal order, compared as a set
    const paid = { ...structuredClone(doc), status: 'PAID', paidAt: { $date: at }, updatedAt: ts(5) };
    const points = { ...structuredClone(paid), points: Math.floor(total / 100), updatedAt: ts(9) };
    const base = { v: 1, runId: 'bench', shadowId, side: name, at };
    const effects = [
      { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: oid }, before: null, after: doc },
      { kind: 'db', target: 'shop.orders', op: 'update', key: { _id: oid }, before: doc, after: paid, meta: { filter: { _id: oid }, update: { $set: { status: 'PAID' } } } },
      { kind: 'db', target: 'shop.orders', op: 'update', key: { _id: oid }, before: paid, after: points },
      { kind: 'message', target: 'orders/order.created', op: 'publish', payload: { eventId: hex(sr, 32), occurredAt: at, orderId: oid, orderNo, total, lines: nItems } },
      { kind: 'message', target: 'orders/order.paid', op: 'publish', payload: { eventId: hex(sr, 32), occurredAt: at, orderId: oid, orderNo, amount: total, method: 'CARD' } },
      { kind: 'response', target: 'response', op: 'respond', payload: { status: 201, body: { orderNo, total, status: 'PAID' } } },
    ];
    if (mutate) mutate(effects);
    return {
      effects: effects.map((e, seq) => ({ ...base, type: 'effect', seq, ...e })),
      end: { ...base, type: 'end', count: effects.length, request: { method: 'POST', path: `/orders/${orderNo}/pay`, route: '/orders/:id/pay' }, status: 201 },
    };
  };

  const mutations = {
    price: (e) => void (e[0].after.items[1].price += 10),
    'missing-event': (e) => void e.splice(4, 1),
    status: (e) => void (e[1].after.status = 'SHIPPED'),
    type: (e) => void (e[3].payload.total = { $numberLong: String(e[3].payload.total) }),
    'item-dropped': (e) => void e[0].after.items.pop(),
  };
  return { runId: 'bench', shadowId, legacy: side('legacy'), candidate: side('candidate', bug && mutations[bug]) };
}

/**
 * A small JSON API request, for the sizing table: one insert of a six-field document and the
 * HTTP response per side (`bug` set: the candidate's amount differs).
 */
function smallRequest(i, bug) {
  const shadowId = `01JS${String(i).padStart(22, '0')}`;
  const at = new Date(Date.UTC(2026, 10, 24, 10, 0, 0) + i * 37).toISOString();
  const side = (name) => {
    const base = { v: 1, runId: 'bench', shadowId, side: name, at };
    const doc = { _id: { $oid: `65f1${String(i).padStart(20, '0')}` }, userId: `U-${i % 977}`, amount: 1000 + (i % 50) + (bug && name === 'candidate' ? 1 : 0), currency: 'KRW', status: 'OK', createdAt: { $date: at } };
    const effects = [
      { kind: 'db', target: 'api.payments', op: 'insert', key: { _id: doc._id }, before: null, after: doc },
      { kind: 'response', target: 'response', op: 'respond', payload: { status: 201, body: { id: `P-${i}`, status: 'OK' } } },
    ];
    return {
      effects: effects.map((e, seq) => ({ ...base, type: 'effect', seq, ...e })),
      end: { ...base, type: 'end', count: effects.length, request: { method: 'POST', path: '/payments', route: '/payments' }, status: 201 },
    };
  };
  return { runId: 'bench', shadowId, legacy: side('legacy'), candidate: side('candidate') };
}

/**
 * A side's records as an SDK writing effect format 2 sends them (the SDK's default): an update's
 * before-image as its reverse delta from the after-image (core/undo.ts).
 */
function format2(records) {
  const { undoFor } = require('../../dist/core/undo');
  return records.map((r) => {
    const undo = r.type === 'effect' ? undoFor(r.op, r.before, r.after) : undefined;
    if (!undo) return { ...r, v: 2 };
    const { before: _before, ...rest } = r;
    return { ...rest, v: 2, undo };
  });
}

module.exports = { request, smallRequest, RULES, CONSUMERS, BUGS, format2 };
