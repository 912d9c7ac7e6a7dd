import fc from 'fast-check';
import { effectRecordSchema, endRecordSchema, parseRecord } from '../../../core/effect';
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
    [{ ...good, kind: 'toString' }, 'field "kind"'],
    [{ ...good, seq: -1 }, 'field "seq"'],
    [{ ...good, seq: 1.5 }, 'field "seq"'],
    [{ ...good, side: 'left' }, 'field "side"'],
    [{ ...good, at: 'yesterday' }, 'field "at"'],
    [{ ...good, runId: '' }, 'field "runId"'],
    [{ ...good, op: 'publish' }, 'op "publish" does not go with kind "db"'],
    [{ ...good, v: 3 }, 'unsupported format version 3'],
    [{ ...good, v: undefined }, 'field "v" is missing'],
    [{ ...good, type: 'exchange!' }, 'field "type" must be one of effect|end'],
    [{ ...good, type: 'constructor' }, 'field "type" must be one of effect|end'],
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

describe('the hand check of effects and end markers agrees with the schemas', () => {
  // parseRecord takes the common records by a hand check and the rest through the zod schemas:
  // over valid records with one field changed to anything at all, both must accept and refuse
  // the same, and give the same record.
  const end = { v: 2, type: 'end', runId: 'r1', shadowId: 's', side: 'candidate', count: 2, request: { method: 'POST', path: '/orders', route: '/orders' }, status: 201, at: '2026-11-24T10:00:00.000+09:00', exchange: true, prestate: 'unknown', prestateReason: 'x', reads: [{ target: 'shop.orders', key: { _id: 1 }, fp: 'ab' }], readsOmitted: 0, dropped: 1, error: 'e' };
  const update = { ...good, v: 2, seq: 1, op: 'update', before: undefined, after: { orderNo: 'A-1', items: [{ qty: 2 }] }, undo: [{ path: ['items', 0, 'qty'], before: 1 }, { path: ['paidAt'] }], meta: { filter: {} }, status: 'ok' };
  const { before: _b, ...updateRecord } = update;
  const bases: Record<string, unknown>[] = [good, { ...good, v: 2 }, updateRecord, end, { ...end, reads: undefined }];
  const odd = fc.oneof(
    fc.constantFrom(undefined, null, '', 'x'.repeat(201), 'x'.repeat(501), 'x'.repeat(2001), -1, 1.5, 2 ** 53, 1000, 999, 0, true, [], {}, [1], 'insert', 'update', 'publish', 'db', 'legacy', 'ok', 'failed', 'handoff', '2026-02-30T00:00:00Z', '2026-11-24T10:00:00Z', 2, 1, 3, 'toString', 'constructor', '__proto__', 'hasOwnProperty'),
    fc.anything({ maxDepth: 2 }),
  );
  const fields = ['v', 'type', 'runId', 'shadowId', 'side', 'at', 'seq', 'kind', 'target', 'op', 'key', 'before', 'after', 'undo', 'payload', 'meta', 'status', 'error', 'count', 'dropped', 'request', 'exchange', 'prestate', 'prestateReason', 'reads', 'readsOmitted', 'extra'];
  const nested = ['request.method', 'request.path', 'request.route', 'request.extra', 'reads.0', 'reads.0.fp', 'reads.0.key', 'reads.0.target', 'reads.0.extra', 'undo.0', 'undo.0.path', 'undo.0.path.0', 'undo.0.extra', 'undo.1.before'];
  const schemaOf: Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }> = { effect: effectRecordSchema, end: endRecordSchema };

  it('over 3,000 records with one field changed', () => {
    fc.assert(
      fc.property(fc.constantFrom(...bases), fc.constantFrom(...fields, ...nested), odd, (base, path, value) => {
        const record = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
        const keys = path.split('.');
        let node = record as Record<string, unknown>;
        for (const k of keys.slice(0, -1)) {
          if (node[k] === null || typeof node[k] !== 'object') return;
          node = node[k] as Record<string, unknown>;
        }
        if (value === undefined) delete node[keys.at(-1)!];
        else node[keys.at(-1)!] = value;
        let fast: unknown;
        let fastError: string | undefined;
        try {
          fast = parseRecord(JSON.parse(JSON.stringify(record)));
        } catch (err) {
          fastError = (err as Error).message;
        }
        const type = typeof record.type === 'string' ? record.type : '';
        const known = [1, 2].includes(record.v as number) && Object.prototype.hasOwnProperty.call(schemaOf, type);
        if (!known) return;
        const slow = schemaOf[type]!.safeParse(JSON.parse(JSON.stringify(record)));
        if (!slow.success) {
          expect({ path, value, accepted: fastError === undefined }).toEqual({ path, value, accepted: false });
          return;
        }
        const data = slow.data as Record<string, unknown>;
        if (fastError !== undefined) {
          // The schema's refinements, which the hand check shares: undo's rules, rebuilding it, op by kind.
          expect(fastError).toMatch(/field "(undo|op)"|nested deeper|pollute/);
          return;
        }
        if (data.undo) {
          const { undo: _u, ...rest } = data;
          expect(fast).toEqual({ ...rest, before: expect.anything() });
        } else {
          expect(fast).toEqual(data);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
