import type { ShadowRecord } from '../../../core/effect';
import { ShadowdiffError } from '../../../core/errors';
import { createLogger } from '../../../core/logger';
import { rateLimitedLog } from '../../../capture/sdk/safety';
import { Transport } from '../../../capture/sdk/transport';

const log = rateLimitedLog(createLogger({ level: 'silent' }));
const rec = (seq: number) => ({ v: 1, type: 'effect', runId: 'r', shadowId: 's', side: 'legacy', seq, kind: 'db', target: 't', op: 'insert', at: '2026-11-24T10:00:00.000Z' }) as ShadowRecord;

test('never blocks: records beyond the cap are dropped and counted; end markers have a reserve', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const sent: ShadowRecord[] = [];
  const t = new Transport({ write: async (b) => { await gate; sent.push(...(b as ShadowRecord[])); } }, { maxRecords: 10, batchSize: 4, maxBackoffMs: 50, lingerMs: 0 }, log);
  const accepted = Array.from({ length: 15 }, (_, i) => t.offer(rec(i)));
  // One batch may already be on its way to the sink; the rest wait in the buffer.
  expect(accepted.filter(Boolean).length).toBeGreaterThanOrEqual(10);
  expect(accepted.filter(Boolean).length).toBeLessThanOrEqual(14);
  const dropped = t.stats().dropped;
  expect(dropped).toBe(15 - accepted.filter(Boolean).length);
  expect(t.offer(rec(99), true)).toBe(true); // the reserve
  release();
  expect(await t.flush(2000)).toBe(true);
  expect(sent.length + dropped).toBe(16);
  expect(t.stats()).toMatchObject({ buffered: 0, sent: sent.length });
});

test('retries a failing sink with backoff, in order, losing nothing', async () => {
  let failures = 3;
  const sent: number[] = [];
  const t = new Transport({ write: async (b) => { if (failures-- > 0) throw new Error('down'); sent.push(...b.map((r) => (r as { seq: number }).seq)); } }, { maxRecords: 100, batchSize: 3, maxBackoffMs: 20, lingerMs: 0 }, log);
  for (let i = 0; i < 7; i++) t.offer(rec(i));
  expect(await t.flush(5000)).toBe(true);
  expect(sent).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(t.stats()).toMatchObject({ sinkErrors: 3, dropped: 0, sent: 7 });
});

test('a batch the sink refuses for good is dropped and counted, not retried forever', async () => {
  const t = new Transport({ write: async () => { throw new ShadowdiffError('SHADOWDIFF_BAD_RECORD', 'collector answered 400'); } }, { maxRecords: 100, batchSize: 10, maxBackoffMs: 20, lingerMs: 0 }, log);
  t.offer(rec(0));
  t.offer(rec(1));
  expect(await t.flush(2000)).toBe(true);
  expect(t.stats()).toMatchObject({ dropped: 2, sent: 0, buffered: 0 });
});

test('close sends what it can, then counts the rest as dropped; later offers are dropped', async () => {
  const t = new Transport({ write: () => new Promise(() => undefined) }, { maxRecords: 100, batchSize: 10, maxBackoffMs: 20, lingerMs: 0 }, log);
  t.offer(rec(0));
  await t.close(50);
  expect(t.offer(rec(1))).toBe(false);
  expect(t.stats().dropped).toBe(2);
});
