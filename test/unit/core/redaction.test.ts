import { createRedactor, HASH_PREFIX } from '../../../core/redaction';
import { toEffectValue } from '../../../core/effect-value';
import { fromEffectValue } from '../../../capture/sdk/ejson';
import { parseJson } from '../../../core/json';
import { Binary, Decimal128, Long, ObjectId, Timestamp } from 'mongodb';

const secret = 'shared-secret-of-16+';

describe('redaction', () => {
  test('paths: exact, * one level, ** any depth, through arrays, $-operators and dotted update keys', () => {
    const r = createRedactor({ secret, paths: ['card.number', '*.password', '**.phone', { path: 'token', mode: 'remove' }] });
    const doc = {
      card: { number: '4111', brand: 'visa' },
      user: { password: 'p', name: 'n' },
      deep: { a: [{ b: { phone: '010' } }] },
      token: 't',
      $set: { 'card.number': '4242', other: 1 },
      items: [{ card: { number: '5555' } }],
    };
    r.value(doc);
    expect(doc.card.number).toMatch(new RegExp(`^${HASH_PREFIX}[0-9a-f]{32}$`));
    expect(doc.card.brand).toBe('visa');
    expect(doc.user).toEqual({ password: expect.stringMatching(/^hmac:/), name: 'n' });
    expect(doc.deep.a[0]!.b.phone).toMatch(/^hmac:/);
    expect('token' in doc).toBe(false);
    expect(doc.$set['card.number']).toMatch(/^hmac:/);
    expect(doc.$set.other).toBe(1);
    // Paths start at the document root: `card.number` is not `items.card.number` (use `**.card.number` for both).
    expect(doc.items[0]!.card.number).toBe('5555');
    const everywhere = createRedactor({ secret, paths: ['**.card.number'] }).value({ card: { number: '1' }, items: [{ card: { number: '2' } }] });
    expect(everywhere.card.number).toMatch(/^hmac:/);
    expect(everywhere.items[0]!.card.number).toMatch(/^hmac:/);
  });

  test('hashes are keyed and typed: equal values on two sides compare equal, different ones do not', () => {
    const a = createRedactor({ secret, paths: ['n'] });
    const b = createRedactor({ secret, paths: ['n'] });
    const other = createRedactor({ secret: 'another-secret-16chars', paths: ['n'] });
    const h = (r: ReturnType<typeof createRedactor>, n: unknown) => r.value({ n }).n;
    expect(h(a, '4111')).toBe(h(b, '4111'));
    expect(h(a, '4111')).not.toBe(h(a, '4112'));
    expect(h(a, 1)).not.toBe(h(a, '1'));
    expect(h(a, '4111')).not.toBe(h(other, '4111'));
  });

  test('headers are matched case-insensitively, removed or hashed', () => {
    expect(createRedactor({ secret, headers: ['Authorization'] }).headers({ authorization: 'Bearer x', 'Content-Type': 'a' })).toEqual({ authorization: expect.stringMatching(/^hmac:/), 'content-type': 'a' });
    expect(createRedactor({ mode: 'remove', headers: ['cookie'] }).headers({ Cookie: 'c', a: '1' })).toEqual({ a: '1' });
  });

  test('hashing without a secret is a configuration error that names the key', () => {
    expect(() => createRedactor({ paths: ['x'] })).toThrow(/secret/);
    expect(() => createRedactor({ mode: 'remove', paths: ['x'] })).not.toThrow();
  });
});

describe('toEffectValue', () => {
  test('BSON values keep their type as Extended JSON tags; the result is a copy', () => {
    const id = new ObjectId('65f0a0000000000000000001');
    const src = { id, when: new Date('2026-11-24T10:00:00Z'), big: Long.fromString('9007199254740993'), price: Decimal128.fromString('12.50'), bin: new Binary(Buffer.from('hi')), ts: new Timestamp({ t: 5, i: 1 }), n: 1, u: undefined, nan: NaN, list: [1, 'a'] };
    const out = toEffectValue(src) as Record<string, unknown>;
    expect(out).toEqual({
      id: { $oid: '65f0a0000000000000000001' },
      when: { $date: '2026-11-24T10:00:00.000Z' },
      big: { $numberLong: '9007199254740993' },
      price: { $numberDecimal: '12.50' },
      bin: { $binary: { base64: 'aGk=', subType: '00' } },
      ts: { $timestamp: { t: 5, i: 1 } },
      n: 1,
      u: null,
      nan: { $numberDouble: 'NaN' },
      list: [1, 'a'],
    });
    src.list.push(2);
    expect(out.list).toEqual([1, 'a']);
  });

  test('an own __proto__ key stays data, written escaped, and never becomes a prototype', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "$__proto__": 2, "a": 1}') as object;
    const out = toEffectValue(input) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['$__proto__', '$$__proto__', 'a']);
    expect(out.$__proto__).toEqual({ polluted: true });
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    // The SDK's inverse gives the application its keys back, still as data.
    const back = fromEffectValue(out) as Record<string, unknown>;
    expect(Object.keys(back)).toEqual(['__proto__', '$__proto__', 'a']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: true });
    // A record with the escaped key passes the guard every reader applies.
    expect(() => parseJson(JSON.stringify(out))).not.toThrow();
  });
});
