import { canonicalDecimal, canonicalTagged, isGeneratedId, isTimeLike, tagOf, typeOf } from '../../../core/tagged';

describe('typed values', () => {
  it('recognises tags only on single-key objects', () => {
    expect(tagOf({ $oid: 'a' })).toBe('objectId');
    expect(tagOf({ $numberLong: '1' })).toBe('long');
    expect(tagOf({ $oid: 'a', other: 1 })).toBeUndefined();
    expect(tagOf({ $set: { a: 1 } })).toBeUndefined();
    expect(typeOf({ $date: '2026-01-01T00:00:00Z' })).toBe('date');
    expect(typeOf([1])).toBe('array');
    expect(typeOf(null)).toBe('null');
  });

  it.each([
    ['12.50', '12.5'],
    ['0012', '12'],
    ['1E2', '100'],
    ['1.5e-3', '0.0015'],
    ['-0.0', '0'],
    ['-7.10', '-7.1'],
    ['.5', '0.5'],
    ['1e80', '1E80'],
  ])('canonical decimal %s → %s', (input, out) => {
    expect(canonicalDecimal(input)).toBe(out);
  });

  it('leaves garbage as it is, so it still compares literally', () => {
    expect(canonicalDecimal('NaN')).toBeUndefined();
    expect(canonicalTagged({ $numberLong: 'x' }, 'long')).toEqual({ $numberLong: 'x' });
    expect(canonicalTagged({ $date: 'not a date' }, 'date')).toEqual({ $date: 'not a date' });
  });

  it('canonicalizes dates, ids, longs and doubles', () => {
    expect(canonicalTagged({ $date: '2026-11-24T19:00:00+09:00' }, 'date')).toEqual({ $date: '2026-11-24T10:00:00.000Z' });
    expect(canonicalTagged({ $oid: 'ABCDEF0123456789ABCDEF01' }, 'objectId')).toEqual({ $oid: 'abcdef0123456789abcdef01' });
    expect(canonicalTagged({ $numberLong: '+0042' }, 'long')).toEqual({ $numberLong: '42' });
    expect(canonicalTagged({ $numberDouble: '1.5' }, 'double')).toBe(1.5);
    expect(canonicalTagged({ $numberDouble: 'Infinity' }, 'double')).toEqual({ $numberDouble: 'Infinity' });
  });

  it('tells generated ids and timestamps', () => {
    expect(isGeneratedId({ $oid: '65f0a0000000000000000001' })).toBe(true);
    expect(isGeneratedId('0190f5c2-7d2e-7c3a-9d7e-0a1b2c3d4e5f')).toBe(true);
    expect(isGeneratedId('01JD5X3Q2M8V7K9W0Y1Z2A3B4C')).toBe(true);
    expect(isGeneratedId('A-1')).toBe(false);
    expect(isTimeLike('2026-11-24T10:00:00Z')).toBe(true);
    expect(isTimeLike(1795514400000)).toBe(true);
    expect(isTimeLike(12000)).toBe(false);
  });
});
