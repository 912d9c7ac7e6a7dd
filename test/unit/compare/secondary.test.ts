// The secondary is a second legacy instance: its records are read as legacy's (legacy schema,
// legacy target names), only its generated ids mapped.
import { compare } from '../../../compare/engine/compare';
import { compileRules } from '../../../compare/engine/rules';
import { effect, end } from '../../helpers/records';

it('noise is learned from a secondary without applying the candidate\'s canonicalize or target map', () => {
  const rules = compileRules({
    targets: [
      {
        match: 'shop.orders',
        candidateTarget: 'v2.orders',
        canonicalize: {
          candidate: (doc: unknown) => {
            const d = doc as { amounts: { total: number }; total?: number };
            return { ...d, total: d.amounts.total, amounts: undefined };
          },
        },
        ignore: ['amounts'],
      },
    ],
  });
  const legacyDoc = { _id: 1, total: 10, token: 'a' };
  const c = compare(
    {
      runId: 'r1',
      shadowId: 's1',
      legacy: { effects: [effect('legacy', 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: 1 }, before: null, after: legacyDoc })], end: end('legacy', 1) },
      secondary: {
        effects: [effect('secondary', 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: 1 }, before: null, after: { ...legacyDoc, token: 'b' } })],
        end: end('secondary', 1),
      },
      candidate: {
        effects: [effect('candidate', 0, { kind: 'db', target: 'v2.orders', op: 'insert', key: { _id: 1 }, before: null, after: { _id: 1, amounts: { total: 10 }, token: 'c' } })],
        end: end('candidate', 1),
      },
    },
    { now: 'now', rules },
  );
  expect(c.error).toBeUndefined();
  expect(c.verdict).toBe('match');
  expect(c.noise).toEqual([expect.objectContaining({ path: 'token', target: 'shop.orders' })]);
});
