// Values beyond deep-diff's safe limits become a `too-large` finding, quickly, never a crash.
// The time bound here only catches a blow-up (deep-diff alone takes ~0.7 s on 50k keys) on a
// loaded CI machine; the 50 ms event-loop goal is measured warm by bench/compare.
import { compare } from '../../../compare/engine/compare';
import { effect, end } from '../../helpers/records';

// Payloads are set after validation: parseRecord refuses records nested deeper than 300 levels,
// and the engine must hold on its own too (a record from any in-process source).
function sides(legacyPayload: unknown, candidatePayload: unknown) {
  return {
    runId: 'r1',
    shadowId: 's1',
    legacy: { effects: [{ ...effect('legacy', 0, { kind: 'message', target: 't', op: 'publish', payload: null }), payload: legacyPayload }], end: end('legacy', 1) },
    candidate: { effects: [{ ...effect('candidate', 0, { kind: 'message', target: 't', op: 'publish', payload: null }), payload: candidatePayload }], end: end('candidate', 1) },
  };
}

function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { n: v };
  return v;
}

const BLOW_UP_MS = 300;

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t = process.hrtime.bigint();
  const value = fn();
  return { value, ms: Number(process.hrtime.bigint() - t) / 1e6 };
}

describe('limits', () => {
  it('10,000 levels of nesting: too-large, no stack overflow', () => {
    const { value: c, ms } = timed(() => compare(sides(nested(10_000, 1), nested(10_000, 2)), { now: 'now' }));
    expect(c.verdict).toBe('mismatch');
    expect(c.findings).toEqual([expect.objectContaining({ kind: 'too-large', severity: 'high', reason: expect.stringContaining('nested deeper than') })]);
    expect(ms).toBeLessThan(BLOW_UP_MS);
  });

  it('an object with 50,000 keys: too-large quickly instead of a quadratic diff', () => {
    const wide = (x: number) => Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, i + x]));
    const l = wide(0);
    const r = wide(1);
    const { value: c, ms } = timed(() => compare(sides(l, r), { now: 'now' }));
    expect(c.findings).toEqual([expect.objectContaining({ kind: 'too-large', reason: expect.stringContaining('keys') })]);
    expect(ms).toBeLessThan(BLOW_UP_MS);
  });

  it('a 1,000,000-element array: too-large quickly', () => {
    const big = Array.from({ length: 1_000_000 }, (_, i) => i);
    const { value: c, ms } = timed(() => compare(sides(big, big), { now: 'now' }));
    expect(c.findings[0]).toMatchObject({ kind: 'too-large', reason: expect.stringContaining('values') });
    expect(ms).toBeLessThan(BLOW_UP_MS);
  });

  it('within the limits, a large document (4,000 keys × 2 levels) is diffed quickly', () => {
    const doc = (x: number) => Object.fromEntries(Array.from({ length: 4_000 }, (_, i) => [`k${i}`, { v: i, w: i === 17 ? x : 0 }]));
    const { value: c, ms } = timed(() => compare(sides(doc(0), doc(1)), { now: 'now' }));
    expect(c.findings).toEqual([expect.objectContaining({ kind: 'changed', path: 'k17.w' })]);
    expect(ms).toBeLessThan(BLOW_UP_MS);
  });

  it('a value kept in a finding is clipped, not stored whole', () => {
    const c = compare(sides({ s: 'x'.repeat(100_000) }, { s: 'y'.repeat(100_000) }), { now: 'now' });
    expect(c.findings[0]!.legacy).toMatchObject({ $truncated: true, length: 100_000 });
    expect(JSON.stringify(c).length).toBeLessThan(10_000);
  });

  it('does not sort or otherwise change the records it is given', () => {
    const payload = { tags: ['b', 'a'], n: { $numberDecimal: '1.50' } };
    const input = sides(payload, { tags: ['a', 'b'], n: { $numberDecimal: '1.5' } });
    const before = JSON.stringify(input);
    compare(input, { now: 'now' });
    expect(JSON.stringify(input)).toBe(before);
  });
});
