import { isReady, Join } from '../../../compare/join';
import { effect, end } from '../../helpers/records';

describe('Join', () => {
  it('gathers records of any side, in any order, per shadow id, and knows when both sides are complete', () => {
    const join = new Join();
    const a = join.add(end('candidate', 2, {}, 'A'));
    join.add(effect('legacy', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'A'));
    join.add(effect('candidate', 1, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'A'));
    join.add(effect('legacy', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'B'));
    expect(join.size).toBe(2);
    expect(isReady(a)).toBe(false);
    join.add(end('legacy', 1, {}, 'A'));
    expect(isReady(a)).toBe(false); // candidate counted 2, one arrived
    join.add(effect('candidate', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'A'));
    expect(isReady(a)).toBe(true);
    expect(join.take('r1', 'A')).toBe(a);
    expect(join.size).toBe(1);
    expect(join.take('r1', 'A')).toBeUndefined();
  });

  it('counts a redelivered effect once', () => {
    const join = new Join();
    join.add(end('legacy', 0, {}, 'R'));
    const e = join.add(end('candidate', 2, {}, 'R'));
    join.add(effect('candidate', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'R'));
    join.add(effect('candidate', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'R'));
    expect(e.candidate.effects).toHaveLength(1);
    expect(isReady(e)).toBe(false);
  });

  it('does not wait for effects the SDK dropped', () => {
    const join = new Join();
    join.add(end('legacy', 0, {}, 'D'));
    const e = join.add(end('candidate', 3, { dropped: 2 }, 'D'));
    expect(isReady(e)).toBe(false);
    join.add(effect('candidate', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'D'));
    expect(isReady(e)).toBe(true);
  });

  it('waits for a secondary that has started, and keeps the first end marker of a side', () => {
    const join = new Join();
    join.add(end('legacy', 0, { status: 200 }, 'S'));
    const e = join.add(end('candidate', 0, {}, 'S'));
    expect(isReady(e)).toBe(true);
    join.add(effect('secondary', 0, { kind: 'message', target: 't', op: 'publish', payload: {} }, 'S'));
    expect(isReady(e)).toBe(false);
    join.add(end('secondary', 1, {}, 'S'));
    expect(isReady(e)).toBe(true);
    join.add(end('legacy', 0, { status: 500 }, 'S'));
    expect(e.legacy.end?.status).toBe(200);
  });
});
