// Format 2's reverse delta: for any two documents, `before` rebuilt from `after` and the undo
// the SDK computes is `before`, whole, through the worker's own reader (parseRecord); `after`
// is left as it was; and an undo that does not fit its `after`, or is hostile, is refused
// with the field and the reason.
import fc from 'fast-check';
import { parseRecord } from '../../../core/effect';
import { applyUndo, reverseDelta } from '../../../core/undo';

const base = { v: 2, type: 'effect', runId: 'r', shadowId: 's', side: 'legacy', at: '2026-12-03T10:00:00.000Z', seq: 0, kind: 'db', target: 'shop.orders' } as const;

const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.record({ $date: fc.constantFrom('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z') }));
const { doc } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('doc'), fc.array(tie('value'), { maxLength: 4 })),
  doc: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'status', 'items', 'x.y', '$set', 'constructor'), tie('value'), { maxKeys: 5 }),
}));
/** An after-image that shares most of `before`: some keys changed, added or removed, at any depth. */
const pair = doc.chain((before) => fc.tuple(fc.constant(before), fc.oneof(doc, fc.constant(structuredClone(before)), edited(before))));
function edited(before: Record<string, unknown>) {
  return fc.tuple(doc, fc.boolean()).map(([extra, drop]) => {
    const after: Record<string, unknown> = { ...structuredClone(before), ...extra };
    if (drop) delete after[Object.keys(after)[0] ?? ''];
    return after;
  });
}

it('rebuilds every before-image exactly, through the reader, without touching after', () => {
  fc.assert(
    fc.property(pair, ([before, after]) => {
      const frozenAfter = structuredClone(after);
      const undo = reverseDelta(before, after);
      expect(undo).toBeDefined();
      const wire = JSON.parse(JSON.stringify({ ...base, op: 'update', after, undo }));
      const record = parseRecord(wire);
      expect(record.type === 'effect' && record.before).toEqual(before);
      expect(record.type === 'effect' && 'undo' in record).toBe(false);
      expect(record.type === 'effect' && record.after).toEqual(frozenAfter);
    }),
    { numRuns: 500 },
  );
});

it('an update of a few fields of an order ships a few entries, not a second image', () => {
  const items = Array.from({ length: 12 }, (_, i) => ({ sku: `S-${i}`, qty: 1, price: 1000 }));
  const before = { _id: { $oid: '65f0' }, status: 'CREATED', items, updatedAt: { $date: '2026-12-03T10:00:00.000Z' } };
  const after = { ...before, status: 'PAID', paidAt: { $date: '2026-12-03T10:00:01.000Z' }, items: items.map((it, i) => (i === 3 ? { ...it, qty: 2 } : it)), updatedAt: { $date: '2026-12-03T10:00:01.000Z' } };
  expect(reverseDelta(before, after)).toEqual([
    { path: ['status'], before: 'CREATED' },
    { path: ['items', 3, 'qty'], before: 1 },
    { path: ['updatedAt', '$date'], before: '2026-12-03T10:00:00.000Z' },
    { path: ['paidAt'] },
  ]);
  // An array whose length changed goes back whole; images that are not documents get no undo.
  expect(reverseDelta({ items: [1, 2] }, { items: [1, 2, 3] })).toEqual([{ path: ['items'], before: [1, 2] }]);
  expect(reverseDelta(null, { a: 1 })).toBeUndefined();
  expect(reverseDelta({ a: 1 }, [1])).toBeUndefined();
  // The rebuilt before shares what the update left alone.
  const rebuilt = applyUndo(after, reverseDelta(before, after)!);
  expect(rebuilt._id).toBe(after._id);
  expect((rebuilt.items as unknown[])[0]).toBe(after.items[0]);
});

it.each([
  ['a __proto__ segment', { after: { a: {} }, undo: [{ path: ['a', '__proto__', 'polluted'], before: 1 }] }, /field "undo\.0\.path\.1": a "__proto__" segment/],
  ['a path through a scalar', { after: { a: 1 }, undo: [{ path: ['a', 'b'], before: 1 }] }, /field "undo": undo\[0\]: the path \["a"\] is not an object or array in "after"/],
  ['an index beyond the array', { after: { a: [1] }, undo: [{ path: ['a', 5], before: 1 }] }, /undo\[0\]: 5 cannot index an array of 1/],
  ['a string indexing an array', { after: { a: [1] }, undo: [{ path: ['a', 'x'], before: 1 }] }, /"x" cannot index an array of 1/],
  ['an absent array element', { after: { a: [1] }, undo: [{ path: ['a', 0] }] }, /an array element cannot be absent/],
  ['undo beside before', { after: { a: 1 }, before: { a: 2 }, undo: [{ path: ['a'], before: 2 }] }, /"undo" replaces "before": a record has one or the other/],
  ['undo with a scalar after', { after: 3, undo: [{ path: ['a'], before: 2 }] }, /"undo" needs "after" to be a document/],
  ['an empty path', { after: { a: 1 }, undo: [{ path: [], before: 2 }] }, /field "undo\.0\.path"/],
  ['an unknown field in an entry', { after: { a: 1 }, undo: [{ path: ['a'], was: 2 }] }, /field "undo\.0"/],
])('refuses an undo with %s', (_name, fields, message) => {
  expect(() => parseRecord({ ...base, op: 'update', ...fields })).toThrow(message);
  expect(Object.prototype).not.toHaveProperty('polluted');
});

it('refuses undo in format 1 and on an insert, and still reads format 1 records as they were', () => {
  expect(() => parseRecord({ ...base, v: 1, op: 'update', after: { a: 1 }, undo: [{ path: ['a'], before: 2 }] })).toThrow(/"undo" is format 2 \(set "v": 2\)/);
  expect(() => parseRecord({ ...base, op: 'insert', after: { a: 1 }, undo: [{ path: ['a'], before: 2 }] })).toThrow(/"undo" goes with op update or replace, not insert/);
  const v1 = parseRecord({ ...base, v: 1, op: 'update', before: { a: 2 }, after: { a: 1 } });
  expect(v1).toMatchObject({ v: 1, before: { a: 2 }, after: { a: 1 } });
  expect(() => parseRecord({ ...base, v: 3, op: 'update', after: {} })).toThrow(/unsupported format version 3 \(this shadowdiff reads 1 and 2\)/);
});
