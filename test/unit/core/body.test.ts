// Body shapes (docs/security.md, "Body shapes"): each is parsed into something redaction paths
// reach, or not kept at all. Nothing is recorded verbatim unless a route asks for it.
import { createHash } from 'node:crypto';
import { bodyValue } from '../../../core/body';
import { createRedactor, HASH_PREFIX } from '../../../core/redaction';
import { requestBody } from '../../../replay/engine';

const secret = 'shared-secret-of-16+';
const value = (body: string | Buffer, type: string, options: Parameters<typeof bodyValue>[2] = {}) => bodyValue([Buffer.isBuffer(body) ? body : Buffer.from(body)], type, options);
const sha = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

const MULTIPART = [
  '--XyZ',
  'Content-Disposition: form-data; name="card[number]"',
  '',
  '4222222222222222',
  '--XyZ',
  'Content-Disposition: form-data; name="password"',
  '',
  'hunter2',
  '--XyZ',
  'Content-Disposition: form-data; name="scan"; filename="card.png"',
  'Content-Type: image/png',
  '',
  'PNG-BYTES-4222222222222222',
  '--XyZ--',
  '',
].join('\r\n');

describe('body shapes', () => {
  test('JSON under a JSON type is the value; under any other type only an object or an array is', () => {
    expect(value('{"card":{"number":"4222"}}', 'application/json')).toEqual({ card: { number: '4222' } });
    expect(value('{"card":{"number":"4222"}}', 'text/plain')).toEqual({ card: { number: '4222' } });
    expect(value(' [1,{"a":2}]', '')).toEqual([1, { a: 2 }]);
    expect(value('"4222"', 'application/json')).toBe('4222');
    // A bare number sent as text could be the secret itself: no path reaches it, so it is not kept.
    expect(value('4222222222222222', 'text/plain')).toEqual({ $unparsed: { bytes: 16, hash: sha('4222222222222222') } });
    expect(value('{not json', 'application/json')).toEqual({ $unparsed: { bytes: 9, hash: sha('{not json') } });
  });

  test('a __proto__ key is kept, escaped, and pollutes nothing', () => {
    expect(value('{"__proto__":{"isAdmin":true},"card":{"number":"4222"}}', 'application/json')).toEqual({ $__proto__: { isAdmin: true }, card: { number: '4222' } });
    expect(({} as { isAdmin?: boolean }).isAdmin).toBeUndefined();
  });

  test('a form is its fields by name, repeated names as arrays, odd names as data', () => {
    expect(value('card%5Bnumber%5D=4222&password=a+b%21&tag=x&tag=y&toString=1&__proto__=2', 'application/x-www-form-urlencoded; charset=utf-8')).toEqual({
      'card[number]': '4222',
      password: 'a b!',
      tag: ['x', 'y'],
      toString: '1',
      $__proto__: '2',
    });
    // Not UTF-8: not a form we can read, so not kept.
    expect(value(Buffer.from([0x61, 0x3d, 0xff]), 'application/x-www-form-urlencoded')).toEqual({ $unparsed: expect.objectContaining({ bytes: 3 }) });
  });

  test('a multipart form is its fields, and of a file its name, type, size and hash only', () => {
    expect(value(MULTIPART, 'multipart/form-data; boundary=XyZ')).toEqual({
      'card[number]': '4222222222222222',
      password: 'hunter2',
      scan: { $file: { bytes: 26, hash: sha('PNG-BYTES-4222222222222222'), filename: 'card.png', type: 'image/png' } },
    });
    // Cut short, or without a boundary: not parsed, not kept.
    expect(value(MULTIPART.slice(0, 120), 'multipart/form-data; boundary=XyZ')).toEqual({ $unparsed: expect.objectContaining({ bytes: 120 }) });
    expect(value(MULTIPART, 'multipart/form-data')).toEqual({ $unparsed: expect.objectContaining({ bytes: MULTIPART.length }) });
  });

  test('anything else is its size and hash, keyed when a secret is set; kept only when asked', () => {
    const r = createRedactor({ secret, paths: ['card.number'] });
    const keyed = value('<card><number>4222</number></card>', 'application/xml', { digest: (b) => r.digest(b) }) as { $unparsed: { hash: string } };
    expect(keyed.$unparsed.hash.startsWith(HASH_PREFIX)).toBe(true);
    expect(keyed.$unparsed.hash).not.toContain('4222');
    expect(value('<card><number>4222</number></card>', 'application/xml', { digest: (b) => r.digest(b) })).toEqual(keyed); // equal bodies, equal hashes
    expect(value('<a/>', 'application/xml', { raw: true })).toBe('<a/>');
    expect(value(Buffer.from([1, 2, 3]), 'application/octet-stream', { raw: true })).toEqual({ $binary: { base64: 'AQID', subType: '00' } });
    expect(value('', 'text/plain')).toBeNull();
    // Over the cap: the hash of the first bytes the caller kept, so big bodies differing early differ.
    expect(value('xxxxx', 'text/plain', { truncatedOver: 5 })).toEqual({ $truncated: 'body over 5 bytes', hash: sha('xxxxx') });
    expect(bodyValue([], 'text/plain', { truncatedOver: 5 })).toEqual({ $truncated: 'body over 5 bytes' });
  });
});

describe('redaction reaches every shape', () => {
  const r = createRedactor({ secret, paths: ['card.number', '**.password', { path: 'token', mode: 'remove' }], query: ['api_key'], headers: ['x-session'] });

  test('form fields by path: card[number] is card.number, items[0][password] is items.password', () => {
    const form = r.value(value('card%5Bnumber%5D=4222&items%5B0%5D%5Bpassword%5D=p&token=t&keep=1', 'application/x-www-form-urlencoded')) as Record<string, unknown>;
    expect(form['card[number]']).toMatch(/^hmac:/);
    expect(form['items[0][password]']).toMatch(/^hmac:/);
    expect(form).not.toHaveProperty('token');
    expect(form.keep).toBe('1');
    const multipart = r.value(value(MULTIPART, 'multipart/form-data; boundary=XyZ')) as Record<string, unknown>;
    expect(JSON.stringify(multipart)).not.toMatch(/4222|hunter2/);
  });

  test('query strings: by name (query and header names, any case) and by path, as a form', () => {
    expect(r.url('/pay')).toBe('/pay');
    const url = r.url('/pay?API_KEY=sk_live_1&X-Session=s3&card%5Bnumber%5D=4222&password=p&token=t&page=2');
    expect(url).not.toMatch(/sk_live_1|s3&|4222|password=p|token=/);
    expect(url).toMatch(/^\/pay\?API_KEY=hmac:[0-9a-f]+&X-Session=hmac:[0-9a-f]+&card%5Bnumber%5D=hmac:[0-9a-f]+&password=hmac:[0-9a-f]+&page=2$/);
    // Equal values, equal hashes: the two sides still compare.
    expect(r.url('/pay?api_key=sk_live_1')).toBe(r.url('/pay?api_key=sk_live_1'));
    expect(createRedactor({ paths: [{ path: 'token', mode: 'remove' }] }).url('/x?token=1')).toBe('/x');
  });
});

describe('replay sends what was recorded', () => {
  test('a form again as a form, JSON as JSON; a body not kept is named, not sent', () => {
    const form = value('card%5Bnumber%5D=4222&tag=x&tag=y&__proto__=2', 'application/x-www-form-urlencoded');
    expect(requestBody(form, 'application/x-www-form-urlencoded')?.toString()).toBe('card%5Bnumber%5D=4222&tag=x&tag=y&__proto__=2');
    expect(requestBody({ a: 1 }, 'application/json')?.toString()).toBe('{"a":1}');
    expect(requestBody(value('<a/>', 'text/xml'), 'text/xml')).toMatch(/not kept .*record\.rawBodies/);
    expect(requestBody(value(MULTIPART, 'multipart/form-data; boundary=XyZ'), 'multipart/form-data; boundary=XyZ')).toMatch(/multipart/);
  });
});
