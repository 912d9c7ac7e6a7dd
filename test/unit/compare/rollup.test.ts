import { compare } from '../../../compare/engine/compare';
import { addComparison, emptyRollup, EXAMPLES_KEPT, type FieldStats, looksLikeNoise, mergeRollups, rollupOf, type RouteRollup, suggestNoise } from '../../../compare/engine/rollup';
import { effect, end } from '../../helpers/records';

function requestWith(shadowId: string, legacyPayload: object, candidatePayload: object, minute = 0) {
  return compare(
    {
      runId: 'r1',
      shadowId,
      legacy: { effects: [effect('legacy', 0, { kind: 'message', target: 'orders/created', op: 'publish', payload: legacyPayload }, shadowId)], end: end('legacy', 1, {}, shadowId) },
      candidate: { effects: [effect('candidate', 0, { kind: 'message', target: 'orders/created', op: 'publish', payload: candidatePayload }, shadowId)], end: end('candidate', 1, {}, shadowId) },
    },
    { now: `2026-11-24T10:${String(minute).padStart(2, '0')}:00.000Z` },
  );
}

describe('rollup', () => {
  it('counts per route, verdict and field, once per comparison, with first/last seen and examples', () => {
    const comparisons = [
      requestWith('s03', { items: [1, 2] }, { items: [9, 9] }, 3),
      requestWith('s01', { items: [1] }, { items: [1] }, 1),
      requestWith('s02', { items: [1] }, { items: [5] }, 2),
    ];
    const r = rollupOf('r1', comparisons);
    const route = r.routes['POST /orders']!;
    expect(route).toMatchObject({ compared: 3, verdicts: { match: 1, mismatch: 2, incomplete: 0, error: 0 }, firstSeen: '2026-11-24T10:01:00.000Z', lastSeen: '2026-11-24T10:03:00.000Z' });
    const field = Object.values(route.fields)[0]!;
    expect(field).toMatchObject({ target: 'orders/created', field: 'items[*]', kind: 'changed', count: 2, occurrences: 3, examples: ['s02', 's03'] });
  });

  it('keeps one example pair of values, of the smallest shadow id, whichever order rollups merge in', () => {
    const cs = ['s3', 's1', 's2'].map((id, i) => requestWith(id, { total: 10 + i, note: 'x'.repeat(500) }, { total: 20 + i, note: 'y'.repeat(500) }));
    const one = rollupOf('r1', cs);
    const merged = mergeRollups(rollupOf('r1', [cs[0]!]), rollupOf('r1', cs.slice(1)));
    const fields = (r: typeof one) => Object.fromEntries(Object.values(r.routes['POST /orders']!.fields).map((f) => [f.field, f.example]));
    expect(fields(one).total).toEqual({ shadowId: 's1', legacy: 11, candidate: 21 });
    expect(fields(merged)).toEqual(fields(one));
    // A long value is kept as its clipped JSON text.
    expect(fields(one).note!.legacy).toBe(`${JSON.stringify('x'.repeat(500)).slice(0, 200)}…`);
  });

  it('keeps only the first few example shadow ids', () => {
    const r = emptyRollup('r1');
    for (let i = 20; i > 0; i--) addComparison(r, requestWith(`s${String(i).padStart(2, '0')}`, { a: 1 }, { a: 2 }));
    const field = Object.values(r.routes['POST /orders']!.fields)[0]!;
    expect(field.examples).toHaveLength(EXAMPLES_KEPT);
    expect(field.examples[0]).toBe('s01');
  });

  it('suggests fields that differ with generated-looking values in nearly every request, without suppressing them', () => {
    const r = emptyRollup('r1');
    for (let i = 0; i < 30; i++) {
      addComparison(r, requestWith(`s${i}`, { traceId: `0190f5c2-7d2e-7c3a-9d7e-0a1b2c3d4e${String(i).padStart(2, '0')}`, total: 1 }, { traceId: `0190f5c3-0000-7000-8000-0000000000${String(i).padStart(2, '0')}`, total: i === 0 ? 2 : 1 }));
    }
    const suggestions = suggestNoise(r);
    expect(suggestions).toEqual([expect.objectContaining({ target: 'orders/created', field: 'traceId', share: 1, count: 30 })]);
    expect(r.routes['POST /orders']!.verdicts.mismatch).toBe(30);
    expect(suggestNoise(r, { minCount: 31 })).toEqual([]);
  });

  it('never suggests a generated id the candidate adds on every request: present on one side only, it is a difference', () => {
    const r = emptyRollup('r1');
    for (let i = 0; i < 30; i++) addComparison(r, requestWith(`s${i}`, { body: 'nice' }, { body: 'nice', createdBy: { $oid: `65a0000000000000000000${String(i).padStart(2, '0')}` } }));
    const field = Object.values(r.routes['POST /orders']!.fields)[0]!;
    expect(field).toMatchObject({ field: 'createdBy', kind: 'added', count: 30, volatile: 0 });
    expect(suggestNoise(r)).toEqual([]);
  });

  describe('looksLikeNoise: Diffy thresholds against the noise estimate', () => {
    const route = { compared: 100 } as RouteRollup;
    const field = (count: number, noise: number, volatile = 0) => ({ count, noise, volatile }) as FieldStats;
    it.each([
      // Measured by a secondary: legacy and secondary differ in 40 of 100 (suppressed there).
      ['candidate differs a little beyond the measured noise (45% vs 40%, within a fifth of it)', field(5, 40), true],
      ['candidate differs well beyond it (60% vs 40%)', field(20, 40), false],
      ['beyond by less than 3 points, whatever the ratio (3% vs 1%)', field(2, 1), true],
      // Not measured: the share whose values look generated on both sides, nearly every request.
      ['generated values differing on both sides, nearly every request', field(95, 0, 95), true],
      ['generated values, but only half the requests differ', field(50, 0, 50), false],
      ['every request differs, a third of them with values that are not generated', field(100, 0, 60), false],
      ['nothing looks generated and nothing was measured', field(100, 0, 0), false],
    ])('%s', (_what, f, noise) => {
      expect(looksLikeNoise(route, f)).toBe(noise);
    });
  });
});
