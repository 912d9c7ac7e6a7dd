// The fast path may say "not sure", never "equal" wrongly: whenever equalUnder is true,
// normalizing both sides (the candidate read through the id map) gives equal values.
import fc from 'fast-check';
import { deepEqual } from '../../../compare/engine/equal';
import { equalUnder } from '../../../compare/engine/fast-equal';
import { IdMap } from '../../../compare/engine/idmap';
import { DEFAULT_LIMITS, normalize, substituteIds } from '../../../compare/engine/normalize';
import { compileRules } from '../../../compare/engine/rules';

fc.configureGlobal({ numRuns: Number(process.env.FC_RUNS ?? 300) });

const leaf = fc.oneof(
  fc.constantFrom('a', ' A', 'b', 'x1', 1, 2, 0, -0, true, null),
  fc.constantFrom({ $oid: '65f0a0000000000000000001' }, { $oid: '65F0A0000000000000000001' }, { $oid: '65f0b00000000000000000bb' }),
  fc.constantFrom({ $date: '2026-11-24T10:00:00Z' }, { $date: '2026-11-24T10:00:00.000Z' }, { $numberLong: '1' }, { $numberDecimal: '1.0' }, { $numberDouble: '1' }),
  fc.constantFrom('0190f5c2-7d2e-7c3a-9d7e-0a1b2c3d4e5f', '0190f5c3-0000-7000-8000-000000000001', '0190F5C3-0000-7000-8000-00000000000A'),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.constantFrom('k', 'id', 'sku', 'at', 'name', '$set'), tie('v'), { maxKeys: 4 })),
})).v;
const rulesArb = fc.record({
  ignore: fc.subarray(['**.at', 'k', '**[*]', 'id', '*.name', '[1]']),
  unordered: fc.subarray([{ path: '**' }, { path: 'k', by: 'sku' }, { path: '[*]', by: 'id' }]),
  strings: fc.subarray([{ path: '**', trim: true, caseInsensitive: true }, { path: 'name', trim: true }]),
});

// Near-equal pairs are where a wrong "equal" would hide: derive b from a by small edits.
const pair = fc.tuple(value, fc.integer({ min: 0, max: 5 }), value).map(([a, edit, other]) => {
  const b = structuredClone(a);
  if (edit === 1 && b && typeof b === 'object' && !Array.isArray(b)) (b as Record<string, unknown>).k = other;
  if (edit === 2 && Array.isArray(b)) b.reverse();
  if (edit === 3) return [a, other] as const;
  return [a, b] as const;
});

describe('equalUnder', () => {
  it('is sound: "equal" implies equal after normalization', () => {
    fc.assert(
      fc.property(pair, rulesArb, fc.boolean(), ([a, b], r, learn) => {
        const tr = compileRules({ targets: [{ match: 't', ...r }] }).forTarget('message', 't');
        const ids = new IdMap();
        if (equalUnder(a, b, tr, ids, DEFAULT_LIMITS, learn)) {
          expect(deepEqual(normalize(a, tr), substituteIds(normalize(b, tr), ids))).toBe(true);
        }
      }),
      // FE_SEED/FE_PATH replay a counterexample, FE_RUNS searches longer: `FE_RUNS=50000 npx jest test/unit/compare`.
      process.env.FE_SEED ? { seed: Number(process.env.FE_SEED), path: process.env.FE_PATH, endOnFailure: true } : { numRuns: Number(process.env.FE_RUNS ?? 100) },
    );
  });

  it('an id learned late in the walk decides the same id met earlier (found by the property above)', () => {
    const tr = compileRules({}).forTarget('message', 't');
    const ids = new IdMap();
    const oid = { $oid: '65f0a0000000000000000001' };
    // Legacy's uuid and the candidate's ObjectId at `k` are one generated id; at `$set.k` the
    // candidate's ObjectId therefore stands for the uuid, and legacy's ObjectId is another value.
    const legacy = { $set: { k: oid }, k: '0190f5c2-7d2e-7c3a-9d7e-0a1b2c3d4e5f' };
    const candidate = { $set: { k: { ...oid } }, k: { ...oid } };
    expect(equalUnder(legacy, candidate, tr, ids, DEFAULT_LIMITS, true)).toBe(false);
    expect(deepEqual(normalize(legacy, tr), substituteIds(normalize(candidate, tr), ids))).toBe(false);
  });

  it('recognises a value equal to itself, whatever the key order', () => {
    fc.assert(
      fc.property(value, (a) => {
        const reordered = JSON.parse(JSON.stringify(a, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v)));
        const tr = compileRules({}).forTarget('message', 't');
        expect(equalUnder(a, reordered, tr, new IdMap(), DEFAULT_LIMITS)).toBe(true);
      }),
    );
  });
});
