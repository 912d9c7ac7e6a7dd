import { parseRecord } from '../../../core/effect';
import { ShadowdiffError } from '../../../core/errors';
import { parseJson } from '../../../core/json';

const good = {
  v: 1,
  type: 'effect',
  runId: 'r1',
  shadowId: '01JD0000000000000000000000',
  side: 'legacy',
  seq: 0,
  kind: 'db',
  target: 'shop.orders',
  op: 'insert',
  key: { _id: 'A-1' },
  before: null,
  after: { orderNo: 'A-1' },
  at: '2026-11-24T10:00:00.000Z',
};

function errorOf(fn: () => unknown): ShadowdiffError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ShadowdiffError);
    return err as ShadowdiffError;
  }
  throw new Error('expected an error');
}

const nest = (depth: number): unknown => {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { n: v };
  return v;
};

describe('parseRecord', () => {
  it('accepts values as deep as the SDK writes them (200 levels and some)', () => {
    expect(parseRecord({ ...good, after: nest(250) })).toMatchObject({ kind: 'db' });
  });

  it('accepts the documented examples', () => {
    expect(parseRecord(good)).toMatchObject({ kind: 'db', op: 'insert' });
    const end = { v: 1, type: 'end', runId: 'r1', shadowId: 's', side: 'legacy', count: 3, request: { method: 'POST', path: '/orders/A-1/pay', route: '/orders/:id/pay' }, status: 200, at: '2026-11-24T10:00:00.000Z' };
    expect(parseRecord(end)).toMatchObject({ type: 'end', count: 3 });
  });

  it.each([
    [{ ...good, kind: 'file' }, 'field "kind"'],
    [{ ...good, seq: -1 }, 'field "seq"'],
    [{ ...good, seq: 1.5 }, 'field "seq"'],
    [{ ...good, side: 'left' }, 'field "side"'],
    [{ ...good, at: 'yesterday' }, 'field "at"'],
    [{ ...good, runId: '' }, 'field "runId"'],
    [{ ...good, op: 'publish' }, 'op "publish" does not go with kind "db"'],
    [{ ...good, v: 3 }, 'unsupported format version 3'],
    [{ ...good, v: undefined }, 'field "v" is missing'],
    [{ ...good, type: 'exchange!' }, 'field "type" must be one of effect|end'],
    [{ ...good, after: nest(300) }, 'nested deeper than 300 levels'],
    [[good], 'expected a JSON object, got an array'],
    ['text', 'expected a JSON object, got string'],
  ])('names what is wrong: %#', (value, message) => {
    const err = errorOf(() => parseRecord(value, 'a.jsonl:7'));
    expect(err.code).toBe('SHADOWDIFF_BAD_RECORD');
    expect(err.message).toContain('a.jsonl:7');
    expect(err.message).toContain(message);
    expect(err.hint).toContain('docs/effect-format.md');
  });
});

describe('parseJson', () => {
  it('refuses prototype-polluting keys and leaves Object.prototype alone', () => {
    const err = errorOf(() => parseJson('{"a":1,"__proto__":{"polluted":true}}', 'x:1'));
    expect(err.code).toBe('SHADOWDIFF_BAD_JSON');
    expect(err.message).toContain('__proto__');
    expect(() => parseJson('{"constructor":{"prototype":{"polluted":true}}}')).toThrow(ShadowdiffError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reports truncated JSON with its location', () => {
    const err = errorOf(() => parseJson('{"a":', 'rec.jsonl:3'));
    expect(err.message).toMatch(/^rec\.jsonl:3: not valid JSON/);
  });

  it('parses 10,000 levels of nesting without overflowing', () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    expect(Array.isArray(parseJson(deep))).toBe(true);
  });
});
