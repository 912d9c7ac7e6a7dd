// A run's stored rules (marks from the report) are layered over the rules its workers started
// with: marking a field must not drop the base file's target map or canonicalize functions.
import { compare } from '../../../compare/engine/compare';
import { compileRules, layerRules } from '../../../compare/engine/rules';
import { effect, end } from '../../helpers/records';

const base = compileRules({
  targets: [
    {
      match: 'shop.orders',
      candidateTarget: 'v2.orders',
      canonicalize: {
        candidate: (doc: unknown) => {
          const { amounts, ...rest } = doc as { amounts: { total: number } };
          return { ...rest, total: amounts.total };
        },
      },
    },
  ],
});

function run(rules: ReturnType<typeof compileRules>) {
  return compare(
    {
      runId: 'r1',
      shadowId: 's1',
      legacy: { effects: [effect('legacy', 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: 1 }, before: null, after: { _id: 1, total: 10, note: 'a' } })], end: end('legacy', 1) },
      candidate: { effects: [effect('candidate', 0, { kind: 'db', target: 'v2.orders', op: 'insert', key: { _id: 1 }, before: null, after: { _id: 1, amounts: { total: 10 }, note: 'b' } })], end: end('candidate', 1) },
    },
    { rules, now: '2026-11-25T00:00:00.000Z' },
  );
}

it('stored rules add their ignores and keep the base rules\' target map and canonicalize', () => {
  expect(run(base).findings.map((f) => f.field)).toEqual(['note']);
  const stored = compileRules({ targets: [{ match: 'shop.orders', kind: 'db', ignore: ['note'] }] });
  expect(run(stored).verdict).toBe('mismatch'); // alone, the mark loses the map: missing and extra effects
  expect(run(layerRules(base, stored)).verdict).toBe('match');
  expect(layerRules(undefined, stored)).toBe(stored);
});

it('where both name a key, the stored rules win', () => {
  const layered = layerRules(compileRules({ targets: [{ match: 'a.b', key: 'x' }] }), compileRules({ targets: [{ match: 'a.b', key: 'y' }] }));
  expect(layered.forTarget('db', 'a.b').key).toEqual([['y']]);
});
