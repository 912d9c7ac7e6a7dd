import { ShadowdiffError } from '../../../core/errors';
import { fieldOf, formatPath, parsePattern, PatternSet } from '../../../compare/engine/path';

describe('paths', () => {
  it('formats readable paths and folds indices into fields', () => {
    expect(formatPath(['items', 2, 'price'])).toBe('items[2].price');
    expect(formatPath(['a.b', 'c d', '$set', 0])).toBe('["a.b"]["c d"].$set[0]');
    expect(fieldOf(['items', 2, 'tags', 0])).toBe('items[*].tags[*]');
  });

  it.each([
    ['**.updatedAt', ['updatedAt'], true],
    ['**.updatedAt', ['a', 3, 'b', 'updatedAt'], true],
    ['**.updatedAt', ['updatedAt', 'x'], false],
    ['items[*].id', ['items', 0, 'id'], true],
    ['items[*].id', ['items', 'x', 'id'], false],
    ['items.*.id', ['items', 'x', 'id'], true],
    ['items[1]', ['items', 1], true],
    ['items[1]', ['items', 2], false],
    ['["a.b"].c', ['a.b', 'c'], true],
    ['a.**', ['a'], true],
    ['a.**', ['a', 'b', 'c'], true],
    ['a.**.z', ['a', 'z'], true],
    ['a.**.z', ['a', 'b', 'c', 'z'], true],
    ['**', [], true],
  ] as const)('%s matches %j: %s', (pattern, path, expected) => {
    expect(new PatternSet([pattern]).test(path) >= 0).toBe(expected);
  });

  it.each(['', 'a..b', 'a.', 'x*y', 'a[b]', 'a[', 'a]b'])('rejects %j with a rules error naming the position', (bad) => {
    expect(() => parsePattern(bad)).toThrow(ShadowdiffError);
    try {
      parsePattern(bad);
    } catch (err) {
      expect((err as ShadowdiffError).code).toBe('SHADOWDIFF_RULES');
      expect((err as Error).message).toContain(JSON.stringify(bad));
    }
  });

  it('walks incrementally to the same answer as a whole-path test', () => {
    const set = new PatternSet(['a.**.c', 'x[*]']);
    let state = set.start();
    for (const seg of ['a', 'b', 'c']) state = set.step(state, seg);
    expect(set.matches(state)).toBe(0);
    expect(set.test(['x', 4])).toBe(1);
  });
});
