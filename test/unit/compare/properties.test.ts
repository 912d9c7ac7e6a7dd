// Invariants of the engine, checked over generated effects (fast-check).
import fc from 'fast-check';
import type { EffectRecord, EndRecord } from '../../../core/effect';
import { compare, type SideInput } from '../../../compare/engine/compare';
import type { Comparison } from '../../../compare/engine/finding';
import { compileRules } from '../../../compare/engine/rules';
import { emptyRollup, mergeRollups, rollupOf } from '../../../compare/engine/rollup';
import { effect, end } from '../../helpers/records';

fc.configureGlobal({ numRuns: Number(process.env.FC_RUNS ?? 100) });
const NOW = '2026-11-24T10:00:01.000Z';
const json = fc.jsonValue({ maxDepth: 3 });
const doc = fc.dictionary(fc.constantFrom('a', 'b', 'x', 'items', 'total', 'note'), json, { maxKeys: 5 });

type Shape = { kind: 'db' | 'message'; target: string; key: number; value: unknown };
const shape: fc.Arbitrary<Shape> = fc.record({
  kind: fc.constantFrom('db' as const, 'message' as const),
  target: fc.constantFrom('shop.orders', 'shop.payments', 'orders/created'),
  key: fc.integer({ min: 0, max: 3 }),
  value: doc,
});

/**
 * The engine's input built as it is, not through parseRecord: the generated values hold any key,
 * `__proto__` too, which a reader refuses in a record (an SDK writes it escaped) but the engine,
 * a public function, must still compare safely.
 */
function side(name: 'legacy' | 'candidate', shapes: Shape[], shadowId = 's1'): SideInput {
  const effects: EffectRecord[] = shapes.map((s, seq) => ({
    ...effect(name, seq, s.kind === 'db' ? { kind: 'db', target: s.target, op: 'insert', key: { _id: s.key }, before: null, after: {} } : { kind: 'message', target: s.target, op: 'publish', payload: {} }, shadowId),
    ...(s.kind === 'db' ? { after: s.value } : { payload: s.value }),
  }));
  const e: EndRecord = end(name, effects.length, {}, shadowId);
  return { effects, end: e };
}

function run(l: Shape[], c: Shape[], rules = compileRules({}), shadowId = 's1', now = NOW): Comparison {
  return compare({ runId: 'r1', shadowId, legacy: side('legacy', l, shadowId), candidate: side('candidate', c, shadowId) }, { now, rules });
}

const tally = (c: Comparison, kind: string) =>
  c.findings
    .filter((f) => f.kind === kind)
    .map((f) => `${f.effectKind} ${f.target}`)
    .sort();

describe('engine invariants', () => {
  it('a side compared with itself has no findings', () => {
    fc.assert(
      fc.property(fc.array(shape, { maxLength: 8 }), (effects) => {
        const c = run(effects, effects);
        expect(c.findings).toEqual([]);
        expect(c.verdict).toBe('match');
      }),
    );
  });

  it('swapping the sides swaps missing and extra effects', () => {
    fc.assert(
      fc.property(fc.array(shape, { maxLength: 6 }), fc.array(shape, { maxLength: 6 }), (a, b) => {
        const ab = run(a, b);
        const ba = run(b, a);
        expect(tally(ab, 'missing-effect')).toEqual(tally(ba, 'extra-effect'));
        expect(tally(ab, 'extra-effect')).toEqual(tally(ba, 'missing-effect'));
        expect(ab.verdict).toBe(ba.verdict);
      }),
    );
  });

  it('ignoring a path never adds findings', () => {
    fc.assert(
      fc.property(
        fc.array(shape, { maxLength: 6 }),
        fc.array(shape, { maxLength: 6 }),
        fc.constantFrom('a', '**.x', 'items[*]', '**', 'total', '*.b', '**[*]'),
        (a, b, pattern) => {
          const plain = run(a, b);
          const ignoring = run(a, b, compileRules({ ignore: [pattern] }));
          expect(ignoring.findings.length).toBeLessThanOrEqual(plain.findings.length);
        },
      ),
    );
  });

  it('rollup merge is associative and commutative, and equals one rollup of everything', () => {
    const comparisonsArb = fc.array(
      fc.tuple(
        fc.array(shape, { maxLength: 3 }),
        fc.array(shape, { maxLength: 3 }),
        fc.constantFrom('s1', 's2', 's3', 's4', 's5', 's6', 's7'),
        fc.integer({ min: 0, max: 59 }),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(comparisonsArb, fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }), (cases, i, j) => {
        const comparisons = cases.map(([l, c, id, sec]) => run(l, c, undefined, id, `2026-11-24T10:00:${String(sec).padStart(2, '0')}.000Z`));
        const [x, y] = [Math.min(i, j), Math.max(i, j)];
        const a = rollupOf('r1', comparisons.slice(0, x));
        const b = rollupOf('r1', comparisons.slice(x, y));
        const c = rollupOf('r1', comparisons.slice(y));
        const left = mergeRollups(mergeRollups(a, b), c);
        const right = mergeRollups(a, mergeRollups(b, c));
        expect(right).toEqual(left);
        expect(mergeRollups(b, a)).toEqual(mergeRollups(a, b));
        expect(left).toEqual(rollupOf('r1', comparisons));
        expect(mergeRollups(a, emptyRollup('r1'))).toEqual(a);
      }),
    );
  });
});
