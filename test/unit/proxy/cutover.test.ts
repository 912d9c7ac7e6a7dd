// The live share's decisions: sticky by key, consistent as the share grows, holds that only a
// resume lifts, and an audit trail and state file that outlive a restart.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { cookieValue, cutoverSchema, LiveShare } from '../../../capture/proxy/cutover';
import { createLogger } from '../../../core/logger';

const quiet = createLogger({ level: 'silent' });
const share = (config: Record<string, unknown> = {}, signed = true) => new LiveShare(cutoverSchema.parse(config), quiet, { signed });
const by = 'test';

test('raising a share keeps every key it gave the candidate (consistent), and one key always lands on one side (sticky)', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 50, maxLength: 200 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (keys, a, b) => {
      const [low, high] = a <= b ? [a, b] : [b, a];
      const live = share({ key: { header: 'x-customer-id' } });
      const served = () => keys.filter((k) => live.decide('POST', '/orders', k).served === 'candidate');
      live.set({ percent: low, reason: 'step one', by });
      const first = served();
      expect(served()).toEqual(first); // the same keys every time
      live.set({ percent: high, reason: 'step two', by });
      const second = new Set(served());
      for (const k of first) expect(second.has(k)).toBe(true);
    }),
    { numRuns: 100 },
  );
});

test('the share is close to its percentage over many keys, and a key-less request stays on legacy', () => {
  const live = share({ percent: 20, key: { header: 'x-customer-id' } });
  let n = 0;
  for (let i = 0; i < 20_000; i++) if (live.decide('GET', '/orders/1', `customer-${i}`).served === 'candidate') n += 1;
  expect(n / 20_000).toBeGreaterThan(0.18);
  expect(n / 20_000).toBeLessThan(0.22);
  expect(live.decide('GET', '/orders/1', undefined)).toEqual({ served: 'legacy', rule: '*', noKey: true });
});

test('keys come from a header, a cookie or a part of the path; route rules win over the global share', () => {
  const cookie = share({ percent: 100, key: { cookie: 'cid' } });
  expect(cookie.keyHeader).toBe('cookie');
  expect(cookie.decide('GET', '/', 'theme=dark; cid=42').served).toBe('candidate');
  expect(cookie.decide('GET', '/', 'theme=dark').noKey).toBe(true);
  expect(cookieValue('a=1; cid="7"; b=2', 'cid')).toBe('7');

  const path = share({ percent: 0, routes: [{ route: 'POST /orders/:id/pay', percent: 100 }], key: { path: '^/orders/([^/]+)' } });
  expect(path.decide('POST', '/orders/A-1/pay', undefined)).toEqual({ served: 'candidate', rule: 'POST /orders/:id/pay' });
  expect(path.decide('GET', '/orders/A-1', undefined).served).toBe('legacy'); // the global share is 0
  expect(() => share({ key: { path: '^/orders/[^/]+' } })).toThrow(/capturing group/);
});

test('a rollback holds a share at 0 until a resume with a reason; every change is in the audit trail', () => {
  const live = share({ routes: [{ route: 'POST /orders', percent: 20 }], percent: 5 });
  expect(live.rollback({ route: 'POST /orders', reason: 'mismatch rate 4% over 1 min', by: 'guard', evidence: { shadowIds: ['s1'] } })).toBe(true);
  expect(live.rollback({ route: 'POST /orders', reason: 'again', by: 'guard' })).toBe(false); // already held
  expect(live.decide('POST', '/orders', undefined).served).toBe('legacy');
  expect(() => live.set({ route: 'POST /orders', percent: 50, reason: 'try again', by })).toThrow(expect.objectContaining({ code: 'SHADOWDIFF_HELD' }));
  expect(() => live.resume({ route: 'POST /orders', reason: '', by })).toThrow(/needs a reason/);
  // A route the comparisons name, served by the global share: a held rule for it alone goes first.
  expect(live.rollback({ route: 'PUT /orders/:id', reason: 'critical finding', by: 'guard' })).toBe(true);
  expect(live.state.routes[0]).toMatchObject({ route: 'PUT /orders/:id', percent: 5, held: { by: 'guard' } });
  expect(live.decide('PUT', '/orders/A-9', undefined).served).toBe('legacy');
  expect(live.decide('GET', '/orders/A-9', undefined).rule).toBe('*');

  live.resume({ route: 'POST /orders', reason: 'fixed in build 142', by: 'kim', percent: 1 });
  expect(live.state.routes.find((r) => r.route === 'POST /orders')).toEqual({ route: 'POST /orders', percent: 1 });
  expect(live.audit().map((e) => [e.action, e.route, e.from, e.to, e.by])).toEqual([
    ['rollback', 'POST /orders', 20, 0, 'guard'],
    ['rollback', 'PUT /orders/:id', 5, 0, 'guard'],
    ['resume', 'POST /orders', 0, 1, 'kim'],
  ]);
});

test('without signing no share may be above 0', () => {
  expect(() => share({ percent: 5 }, false)).toThrow(/SHADOWDIFF_SIGNING_KEY/);
  const live = share({}, false);
  expect(() => live.set({ percent: 1, reason: 'first step', by })).toThrow(/legacy runs the mirror/);
  expect(live.set({ percent: 0, reason: 'stays off', by }).percent).toBe(0);
});

test('the state file keeps shares, holds and the trail across a restart, and a broken one is a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cutover-'));
  try {
    const stateFile = join(dir, 'state', 'cutover.json');
    const first = share({ stateFile });
    first.set({ percent: 20, reason: 'step 3', by });
    first.rollback({ reason: 'critical finding on shop.orders', by: 'guard' });
    const again = share({ stateFile, percent: 50 }); // the file wins over the configuration
    expect(again.state.percent).toBe(20);
    expect(again.state.held).toMatchObject({ by: 'guard' });
    expect(again.decide('GET', '/', undefined).served).toBe('legacy');
    expect(again.audit().map((e) => e.action)).toEqual(['set', 'rollback']);
    expect(JSON.parse(readFileSync(stateFile, 'utf8')).version).toBe(1);

    writeFileSync(stateFile, '{"version": 1, "state": {"percent": 500}}');
    expect(() => share({ stateFile })).toThrow(/cutover\.stateFile .*state\.percent.*move it away/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
