// Consumers: which findings name whom, how severity follows them, contract checks on the
// candidate's own effects, and clear errors for a bad consumers declaration.
import { compare } from '../../../compare/engine/compare';
import { compileRules } from '../../../compare/engine/rules';
import type { Finding } from '../../../compare/engine/finding';
import { mergeRollups, rollupOf } from '../../../compare/engine/rollup';
import fc from 'fast-check';
import { guideOf, plainFor, untagged } from '../../../compare/engine/contract';
import { effect, end } from '../../helpers/records';

const NOW = '2026-12-03T10:00:00.000Z';

const consumers = [
  { name: 'delivery-guarantee', owner: 'team-delivery', reads: [{ target: 'shop.orders', kind: 'db', paths: ['delivery.*'] }] },
  { name: 'points', owner: 'team-points', critical: true, reads: [{ target: 'shop.orders', paths: ['pointsUsed'] }] },
  { name: 'grocery', owner: 'partner-grocery', reads: [{ target: 'shop.orders', paths: ['items[*].sku', 'items[*].qty'] }] },
  { name: 'settlement', owner: 'team-settlement', reads: [{ target: 'demo.orders/order.*', kind: 'message', paths: ['refundAmount'] }, { target: 'demo.orders/order.paid' }] },
];

function insert(side: 'legacy' | 'candidate', seq: number, doc: Record<string, unknown>, target = 'shop.orders') {
  return effect(side, seq, { kind: 'db', target, op: 'insert', key: { _id: doc._id }, before: null, after: doc });
}

function publish(side: 'legacy' | 'candidate', seq: number, routingKey: string, payload: unknown) {
  return effect(side, seq, { kind: 'message', target: `demo.orders/${routingKey}`, op: 'publish', payload });
}

function run(legacy: ReturnType<typeof effect>[], candidate: ReturnType<typeof effect>[], rules = compileRules({ consumers })) {
  return compare({ runId: 'r1', shadowId: 's1', legacy: { effects: legacy, end: end('legacy', legacy.length) }, candidate: { effects: candidate, end: end('candidate', candidate.length) } }, { now: NOW, rules });
}

const byField = (findings: Finding[]) => Object.fromEntries(findings.map((f) => [`${f.target} ${f.field}`, f]));

const order = { _id: 1, orderNo: 'A1', pointsUsed: 100, couponDiscount: 500, status: 'paid', delivery: { option: 'guaranteed', guaranteedBy: '2026-12-05', fee: 0 }, items: [{ sku: 'x', qty: 1, name: 'Milk' }] };

it('a finding names the consumers that read its field, and only those', () => {
  const changed = { ...order, pointsUsed: 90, couponDiscount: 450, status: 'preparing', delivery: { option: 'guaranteed', fee: 0 }, items: [{ sku: 'x', qty: 1, name: 'Milk 1L' }] };
  const c = run([insert('legacy', 0, order)], [insert('candidate', 0, changed)]);
  const f = byField(c.findings);
  expect(f['shop.orders delivery.guaranteedBy']).toMatchObject({ kind: 'removed', consumers: ['delivery-guarantee'], severity: 'high' });
  // points is critical: its field ranks critical.
  expect(f['shop.orders pointsUsed']).toMatchObject({ consumers: ['points'], severity: 'critical', baseSeverity: 'medium' });
  // Declared target, field nobody reads: one step lower, marked, no consumer named.
  expect(f['shop.orders couponDiscount']).toMatchObject({ severity: 'low', baseSeverity: 'medium', unread: true });
  expect(f['shop.orders couponDiscount']!.consumers).toBeUndefined();
  expect(f['shop.orders status']).toMatchObject({ unread: true, severity: 'low' });
  // grocery reads the lines' sku and qty, not their names.
  expect(f['shop.orders items[*].name']).toMatchObject({ unread: true });
  expect(c.findings[0]!.severity).toBe('critical'); // the most severe first
});

it('a whole-effect finding touches every consumer of the target; a finding on a parent touches readers of its children', () => {
  const missing = run([insert('legacy', 0, order)], []);
  expect(missing.findings[0]).toMatchObject({ kind: 'missing-effect' });
  expect(missing.findings[0]!.consumers?.sort()).toEqual(['delivery-guarantee', 'grocery', 'points']);

  const noDelivery = { ...order } as Record<string, unknown>;
  delete noDelivery.delivery;
  const parent = run([insert('legacy', 0, order)], [insert('candidate', 0, noDelivery)]);
  expect(byField(parent.findings)['shop.orders delivery']).toMatchObject({ kind: 'removed', consumers: ['delivery-guarantee'] });
});

it('targets nobody declared keep their severity and name no one', () => {
  const c = run([insert('legacy', 0, { _id: 2, points: 5 }, 'shop.customers')], [insert('candidate', 0, { _id: 2, points: 4 }, 'shop.customers')]);
  expect(c.findings).toHaveLength(1);
  expect(c.findings[0]).toMatchObject({ severity: 'medium' });
  expect(c.findings[0]!.consumers).toBeUndefined();
  expect(c.findings[0]!.unread).toBeUndefined();
});

it('message globs and kinds: settlement reads refundAmount of every order event, and all of order.paid', () => {
  const c = run(
    [publish('legacy', 0, 'order.cancelled', { orderNo: 'A1', refundAmount: 100, note: 'a' }), publish('legacy', 1, 'order.paid', { orderNo: 'A1', amount: 10 })],
    [publish('candidate', 0, 'order.cancelled', { orderNo: 'A1', refundAmount: 90, note: 'b' }), publish('candidate', 1, 'order.paid', { orderNo: 'A1', amount: 11 })],
  );
  const f = byField(c.findings);
  expect(f['demo.orders/order.cancelled refundAmount']).toMatchObject({ consumers: ['settlement'], severity: 'high' });
  expect(f['demo.orders/order.cancelled note']).toMatchObject({ unread: true });
  expect(f['demo.orders/order.paid amount']).toMatchObject({ consumers: ['settlement'] });
});

describe('contract checks', () => {
  const schema = {
    type: 'object',
    required: ['orderNo', 'refundAmount', 'reason'],
    properties: { orderNo: { type: 'string' }, refundAmount: { type: 'integer', minimum: 0 }, reason: { enum: ['customer', 'stock-out'] } },
  };
  const rules = compileRules({ consumers: [{ name: 'settlement', owner: 'team-settlement', critical: true, reads: [{ target: 'demo.orders/order.refunded', kind: 'message', schema }] }] });

  it('an event legacy never sends is checked: a wrong type and an unknown enum value are contract findings naming consumer and schema path', () => {
    const c = run([], [publish('candidate', 0, 'order.refunded', { orderNo: 'A1', refundAmount: '100', reason: 'fraud' })], rules);
    const contract = c.findings.filter((f) => f.kind === 'contract');
    expect(c.verdict).toBe('mismatch');
    expect(contract.map((f) => [f.field, f.schemaPath, f.consumers, f.severity])).toEqual(
      expect.arrayContaining([
        ['refundAmount', '#/properties/refundAmount/type', ['settlement'], 'critical'],
        ['reason', '#/properties/reason/enum', ['settlement'], 'critical'],
      ]),
    );
    expect(contract.find((f) => f.field === 'reason')!.reason).toContain('["customer","stock-out"]');
    expect(contract.find((f) => f.field === 'refundAmount')!.candidate).toBe('100');
    // The extra effect itself is found too: legacy sent nothing.
    expect(c.findings.some((f) => f.kind === 'extra-effect')).toBe(true);
  });

  it('a missing required field is named by its path', () => {
    const c = run([], [publish('candidate', 0, 'order.refunded', { orderNo: 'A1', refundAmount: 5 })], rules);
    expect(c.findings.find((f) => f.kind === 'contract')).toMatchObject({ field: 'reason', schemaPath: '#/required' });
  });

  it('a valid effect adds nothing; a violation legacy shares is noise, not a finding', () => {
    const ok = { orderNo: 'A1', refundAmount: 5, reason: 'customer' };
    expect(run([publish('legacy', 0, 'order.refunded', ok)], [publish('candidate', 0, 'order.refunded', ok)], rules).verdict).toBe('match');
    const both = { orderNo: 'A1', refundAmount: 5 };
    const c = run([publish('legacy', 0, 'order.refunded', both)], [publish('candidate', 0, 'order.refunded', both)], rules);
    expect(c.verdict).toBe('match');
    expect(c.noise).toEqual([expect.objectContaining({ kind: 'contract', field: 'reason' })]);
  });

  it('db documents are checked as JSON: dates and ObjectIds as strings, longs as numbers', () => {
    const orderSchema = { type: 'object', required: ['placedAt'], properties: { _id: { type: 'string', pattern: '^[0-9a-f]{24}$' }, placedAt: { type: 'string', format: 'date-time' }, qty: { type: 'integer' } } };
    const r = compileRules({ consumers: [{ name: 'bi', owner: 'data', reads: [{ target: 'shop.orders', schema: orderSchema }] }] });
    const doc = { _id: { $oid: '65f0a0000000000000000001' }, placedAt: { $date: '2026-12-03T10:00:00.000Z' }, qty: { $numberLong: '3' } };
    const rec = (side: 'legacy' | 'candidate') => effect(side, 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: doc._id }, before: null, after: doc });
    expect(run([rec('legacy')], [rec('candidate')], r).verdict).toBe('match');
    const bad = effect('candidate', 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: doc._id }, before: null, after: { ...doc, placedAt: 'yesterday' } });
    const c = run([rec('legacy')], [bad], r);
    expect(c.findings.find((f) => f.kind === 'contract')).toMatchObject({ field: 'placedAt', schemaPath: '#/properties/placedAt/format', consumers: ['bi'] });
  });
});

describe('declaring consumers', () => {
  const bad = (consumersInput: unknown) => () => compileRules({ consumers: consumersInput }, 'consumers.json');

  it.each([
    [[{ name: 'a b', owner: 'x', reads: [{ target: 't' }] }], /consumers\.0\.name.*letters, digits/],
    [[{ name: 'a', reads: [{ target: 't' }] }], /consumers\.0\.owner/],
    [[{ name: 'a', owner: 'x', reads: [] }], /consumers\.0\.reads/],
    [[{ name: 'a', owner: 'x', reads: [{ target: 't', paths: ['lines[2].sku'] }] }], /array position: use \[\*\]/],
    [[{ name: 'a', owner: 'x', reads: [{ target: 't', paths: ['a..b'] }] }], /empty segment/],
    [[{ name: 'a', owner: 'x', webhook: 'ftp://x', reads: [{ target: 't' }] }], /webhook.*http/],
    [[{ name: 'a', owner: 'x', reads: [{ target: 't' }] }, { name: 'a', owner: 'y', reads: [{ target: 'u' }] }], /consumers\.json: consumer "a" is declared twice/],
    [[{ name: 'a', owner: 'x', reads: [{ target: 't', schema: { type: 'object', propertys: {} } }] }], /consumers\.json: consumer "a" reads\[0\] \(t\): the schema does not compile: .*propertys/],
    [[{ name: 'a', owner: 'x', reads: [{ target: 't', schema: { type: 'string', format: 'iban' } }] }], /unknown format "iban"/],
  ])('%j is refused: %s', (input, message) => {
    expect(bad(input)).toThrow(message);
  });
});

describe('converting tags only where a schema looks', () => {
  // Ajv is what the contract check runs; the guide may only skip subtrees no schema keyword reads.
  const { Ajv } = require('ajv') as typeof import('ajv');
  const addFormats = (require('ajv-formats') as { default: (a: unknown) => void }).default;
  const ajv = new Ajv({ allErrors: false, strict: false });
  addFormats(ajv);
  const schemas: Record<string, unknown>[] = [
    { type: 'object', required: ['id', 'at'], properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' }, n: { type: 'integer' } } },
    { type: 'object', properties: { lines: { type: 'array', items: { type: 'object', properties: { qty: { type: 'integer', minimum: 1 }, at: { type: 'string' } } } } } },
    { type: 'object', additionalProperties: { type: ['string', 'number', 'object', 'array', 'boolean', 'null'] } },
    { allOf: [{ properties: { a: { properties: { b: { type: 'number' } } } } }, { if: { properties: { k: { const: 1 } } }, then: { required: ['z'] } }] },
    { type: 'object', properties: { a: { enum: [{ x: 1 }, 'y'] } } },
    { $defs: { o: { properties: { n: { type: 'number' } } } }, properties: { a: { $ref: '#/$defs/o' } } },
    { type: 'object', patternProperties: { '^n': { type: 'number' } } },
    { type: 'object', dependentSchemas: { k: { properties: { n: { type: 'string' } } } }, properties: { k: {} } },
    { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: { type: 'object', properties: { at: { type: 'string' } } } },
  ];
  const tag = fc.oneof(
    fc.stringMatching(/^[0-9a-f]{24}$/).map((h) => ({ $oid: h })),
    fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((d) => ({ $date: d.toISOString() })),
    fc.integer().map((n) => ({ $numberLong: String(n) })),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => ({ $numberDecimal: String(n) })),
  );
  // Biased to the shapes the schemas name (their keys, tags where they check types), so that a
  // subtree the guide wrongly skips shows within the runs.
  const keys = fc.constantFrom('id', 'at', 'n', 'lines', 'qty', 'a', 'b', 'k', 'z', 'nx');
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small' },
      { arbitrary: tag, weight: 4 },
      { arbitrary: fc.dictionary(keys, tie('node'), { minKeys: 1, maxKeys: 4 }), weight: 4 },
      { arbitrary: fc.array(tie('node'), { minLength: 1, maxLength: 3 }), weight: 2 },
      { arbitrary: fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(1), fc.constant(null)), weight: 1 },
    ),
  })).node;

  it('gives the validator the same answer as converting every tag', () => {
    const compiled = schemas.map((s) => ({ validate: ajv.compile(s), guide: guideOf(s) }));
    fc.assert(
      fc.property(value, (doc) => {
        for (const { validate, guide } of compiled) expect(validate(plainFor(doc, guide))).toBe(validate(untagged(doc)));
      }),
      { numRuns: 3000 },
    );
  });

  it('converts in place of nothing: the recorded value is not changed', () => {
    const doc = { _id: { $oid: '65f0a0000000000000000001' }, lines: [{ at: { $date: '2026-12-03T10:00:00.000Z' } }] };
    const before = JSON.stringify(doc);
    expect(plainFor(doc, guideOf(schemas[1]!))).toEqual({ _id: doc._id, lines: [{ at: '2026-12-03T10:00:00.000Z' }] });
    expect(untagged(doc)).toEqual({ _id: '65f0a0000000000000000001', lines: [{ at: '2026-12-03T10:00:00.000Z' }] });
    expect(JSON.stringify(doc)).toBe(before);
  });
});

it('rollups keep the consumers and the unread mark, the same whichever order they merge in', () => {
  const changed = { ...order, pointsUsed: 90, couponDiscount: 450 };
  const a = run([insert('legacy', 0, order)], [insert('candidate', 0, changed)]);
  const b = { ...run([insert('legacy', 0, order)], [insert('candidate', 0, { ...changed, pointsUsed: 80 })]), shadowId: 's2' };
  const whole = rollupOf('r1', [a, b]);
  const merged = mergeRollups(rollupOf('r1', [b]), rollupOf('r1', [a]));
  expect(merged).toEqual(whole);
  const fields = Object.values(whole.routes['POST /orders']!.fields);
  expect(fields.find((f) => f.field === 'pointsUsed')).toMatchObject({ consumers: ['points'], severity: 'critical', count: 2 });
  expect(fields.find((f) => f.field === 'couponDiscount')).toMatchObject({ unread: true, severity: 'low' });
  expect(whole.routes['POST /orders']!.targets).toEqual({ 'db shop.orders': 2 });
});
