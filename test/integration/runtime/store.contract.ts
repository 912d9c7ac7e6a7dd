// The store contract: every adapter (MongoDB, embedded) must pass these, on real servers.
import { compare, type Comparison, rollupOf } from '../../../compare/engine';
import type { SideRecord } from '../../../core/effect';
import type { Store } from '../../../runtime/store/store';
import { effect, end } from '../../helpers/records';

export interface StoreHarness {
  name: string;
  open(): Promise<Store>;
  /** Removes what `open` created. */
  dispose(store: Store): Promise<void>;
}

/** A comparison of one order insert; `total` differing makes it a mismatch. */
export function comparisonFor(runId: string, shadowId: string, legacyTotal: number, candidateTotal: number, route = '/orders'): Comparison {
  const side = (s: 'legacy' | 'candidate', total: number) => ({
    effects: [{ ...effect(s, 0, { kind: 'db', target: 'shop.orders', op: 'insert', key: { orderNo: shadowId }, after: { orderNo: shadowId, total } }, shadowId), runId }],
    end: { ...end(s, 1, { request: { method: 'POST', path: route, route } }, shadowId), runId },
  });
  return compare({ runId, shadowId, legacy: side('legacy', legacyTotal), candidate: side('candidate', candidateTotal) }, { now: '2026-11-24T10:00:00.000Z' });
}

export function storeContract(h: StoreHarness): void {
  describe(`store contract: ${h.name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await h.open();
    });
    afterEach(async () => {
      await h.dispose(store);
    });

    it('stores a comparison once per (run, shadow id): a second write is a no-op', async () => {
      const first = comparisonFor('r1', 's1', 100, 100);
      expect(await store.putComparisons([first])).toEqual({ inserted: 1, existing: 0 });
      const second = comparisonFor('r1', 's1', 100, 999);
      expect(await store.putComparisons([second, comparisonFor('r1', 's2', 1, 1)])).toEqual({ inserted: 1, existing: 1 });
      expect((await store.getComparison('r1', 's1'))?.verdict).toBe('match');
      expect(await store.countComparisons('r1')).toBe(2);
    });

    it('concurrent writers of the same ids leave exactly one comparison each', async () => {
      const batch = Array.from({ length: 50 }, (_, i) => comparisonFor('r1', `s${String(i).padStart(3, '0')}`, i, i % 5 === 0 ? i + 1 : i));
      const results = await Promise.all([store.putComparisons(batch), store.putComparisons(batch), store.putComparisons([...batch].reverse())]);
      // Exact on MongoDB; a lower bound where a server under-reports a refused batch (FerretDB).
      expect(results.reduce((n, r) => n + r.inserted, 0)).toBeLessThanOrEqual(50);
      for (const r of results) expect(r.inserted + r.existing).toBe(50);
      expect(await store.countComparisons('r1')).toBe(50);
    });

    it('rollups after a flush equal the rollup of the distinct comparisons, however often flushed', async () => {
      const all = Array.from({ length: 30 }, (_, i) => comparisonFor('r1', `s${String(i).padStart(3, '0')}`, 10, i % 3 === 0 ? 11 : 10, i % 2 ? '/a' : '/b'));
      await store.putComparisons(all.slice(0, 12));
      await Promise.all([store.flushRollups('r1'), store.flushRollups('r1')]);
      await store.putComparisons(all.slice(8));
      await store.flushRollups();
      await store.flushRollups('r1');
      expect(await store.getRollup('r1')).toEqual(rollupOf('r1', all));
      expect((await store.getRollup('other')).routes).toEqual({});
    });

    it('re-evaluation replaces stored comparisons only, and the rollup is rebuilt from them', async () => {
      const before = [comparisonFor('rr', 's1', 1, 2), comparisonFor('rr', 's2', 1, 2), comparisonFor('rr', 's3', 1, 1)];
      await store.putComparisons(before);
      await store.flushRollups('rr');
      expect((await store.getRollup('rr')).routes['POST /orders']!.verdicts).toMatchObject({ match: 1, mismatch: 2 });
      // Under new rules s1 matches; s9 was never stored and must not appear.
      const replaced = await store.replaceComparisons([comparisonFor('rr', 's1', 1, 1), comparisonFor('rr', 's9', 1, 1)]);
      expect(replaced).toBe(1);
      await store.rebuildRollup('rr');
      expect(await store.countComparisons('rr')).toBe(3);
      expect([await store.countComparisons('rr', 'match'), await store.countComparisons('rr', 'mismatch')]).toEqual([2, 1]);
      expect((await store.getComparison('rr', 's1'))!.verdict).toBe('match');
      expect(await store.getComparison('rr', 's9')).toBeUndefined();
      const rollup = await store.getRollup('rr');
      expect(rollup).toEqual(rollupOf('rr', [comparisonFor('rr', 's1', 1, 1), before[1]!, before[2]!]));
    });

    it('reads many requests\' records and exchanges at once', async () => {
      const rec = (shadowId: string, side: 'legacy' | 'candidate', seq: number) => ({ ...effect(side, seq, { kind: 'db', target: 'shop.orders', op: 'insert', key: { _id: seq }, after: { n: seq } }, shadowId), runId: 'rm' });
      await store.putEffects([rec('a', 'legacy', 1), rec('a', 'legacy', 0), rec('b', 'candidate', 0)]);
      await store.putExchanges([{ runId: 'rm', shadowId: 'b', at: '2026-11-24T10:00:00.000Z', request: { method: 'GET', path: '/x' }, responses: { legacy: { status: 200 } } }]);
      const effects = await store.getEffectsOf('rm', ['a', 'b', 'none']);
      expect([...effects.keys()].sort()).toEqual(['a', 'b']);
      expect(effects.get('a')!.map((r) => (r as { seq: number }).seq).sort()).toEqual([0, 1]);
      expect([...(await store.getExchangesOf('rm', ['a', 'b'])).keys()]).toEqual(['b']);
      expect((await store.getEffectsOf('rm', [])).size).toBe(0);
    });

    it('keeps one re-evaluation job per run: compare-and-set writes, owner-only updates, cancel of a running one', async () => {
      const job = { runId: 'rj', state: 'running' as const, rulesVersion: null, total: 3, reevaluated: 0, changed: 0, withoutRecords: 0, cursor: { verdict: 'mismatch' as const, after: null }, startedAt: 't0', updatedAt: 't0', owner: 'p1', heartbeatAt: 't0' };
      expect(await store.putJob(job)).toBe(true);
      expect(await store.putJob({ ...job, owner: 'p2' })).toBe(false); // one per run
      expect(await store.updateJob('rj', 'p2', { reevaluated: 9 })).toBeUndefined(); // not its owner
      expect(await store.updateJob('rj', 'p1', { reevaluated: 1, cursor: { verdict: 'mismatch', after: 's1' } })).toMatchObject({ reevaluated: 1, cursor: { after: 's1' } });
      expect(await store.putJob({ ...job, owner: 'p2', heartbeatAt: 't1' }, { owner: 'p1', heartbeatAt: 'stale' })).toBe(false);
      expect(await store.putJob({ ...job, owner: 'p2', heartbeatAt: 't1' }, { owner: 'p1', heartbeatAt: 't0' })).toBe(true); // taken over
      expect(await store.cancelJob('rj')).toMatchObject({ owner: 'p2', cancelRequested: true });
      await store.updateJob('rj', 'p2', { state: 'cancelled' });
      expect(await store.cancelJob('rj')).toBeUndefined(); // none running
      expect((await store.listJobs()).map((j) => [j.runId, j.state])).toContainEqual(['rj', 'cancelled']);
      expect(await store.getJob('none')).toBeUndefined();
    });

    it('lists comparisons by verdict, route and finding, paged by shadow id', async () => {
      const all = Array.from({ length: 20 }, (_, i) => comparisonFor('r1', `s${String(i).padStart(3, '0')}`, 10, i % 4 === 0 ? 11 : 10, i < 10 ? '/a' : '/b'));
      await store.putComparisons(all);
      const mismatches = await store.listComparisons({ runId: 'r1', verdict: 'mismatch' });
      expect(mismatches.map((c) => c.shadowId)).toEqual(['s000', 's004', 's008', 's012', 's016']);
      expect((await store.listComparisons({ runId: 'r1', route: 'POST /b', verdict: 'mismatch' })).map((c) => c.shadowId)).toEqual(['s012', 's016']);
      expect((await store.listComparisons({ runId: 'r1', target: 'shop.orders', field: 'total' })).length).toBe(5);
      expect((await store.listComparisons({ runId: 'r1', target: 'shop.orders', field: 'nope' })).length).toBe(0);
      const page1 = await store.listComparisons({ runId: 'r1', limit: 8 });
      const page2 = await store.listComparisons({ runId: 'r1', limit: 8, after: page1.at(-1)!.shadowId });
      expect([...page1, ...page2].map((c) => c.shadowId)).toEqual(all.slice(0, 16).map((c) => c.shadowId));
    });

    it('lists comparisons by the time they were compared and by a value or key in their findings', async () => {
      const at = (i: number) => `2026-11-24T1${i}:00:00.000Z`;
      const all = Array.from({ length: 6 }, (_, i) => ({ ...comparisonFor('rv', `s${i}`, 10, i % 2 ? 10 + i : 10), comparedAt: at(i) }));
      await store.putComparisons(all);
      const ids = (cs: Comparison[]) => cs.map((c) => c.shadowId);
      expect(ids(await store.listComparisons({ runId: 'rv', since: at(2) }))).toEqual(['s2', 's3', 's4', 's5']);
      expect(ids(await store.listComparisons({ runId: 'rv', since: at(1), until: at(4) }))).toEqual(['s1', 's2', 's3']);
      expect(ids(await store.listComparisons({ runId: 'rv', until: '2026-11-24T12:30:00+01:00' }))).toEqual(['s0', 's1']); // any offset
      // A candidate's value, legacy's value, and the document key all find it; the text must be exact.
      expect(ids(await store.listComparisons({ runId: 'rv', value: '13' }))).toEqual(['s3']);
      expect(ids(await store.listComparisons({ runId: 'rv', value: '10' }))).toEqual(['s1', 's3', 's5']);
      expect(ids(await store.listComparisons({ runId: 'rv', value: 's5' }))).toEqual(['s5']);
      expect(ids(await store.listComparisons({ runId: 'rv', value: 's4' }))).toEqual([]); // matched: no findings to find it by
      expect(ids(await store.listComparisons({ runId: 'rv', value: '1' }))).toEqual([]);
      expect(ids(await store.listComparisons({ runId: 'rv', value: '10', since: at(2), limit: 1 }))).toEqual(['s3']);
    });

    it('keeps effects exactly, keys with dots and dollars included, each record once', async () => {
      const awkward = { 'a.b': 1, $set: { 'x.y': [1, { $oid: 'nope' }] }, nested: { '': 'empty key', 'ü.ñ': 'ü' } };
      const recs: SideRecord[] = [
        { ...effect('legacy', 0, { kind: 'db', target: 'shop.orders', op: 'update', key: { _id: 1 }, before: {}, after: awkward, meta: { update: { $set: { 'a.b': 1 } } } }), runId: 'r2' },
        { ...end('legacy', 1), runId: 'r2' },
      ];
      await store.putEffects(recs);
      await store.putEffects(recs);
      const back = await store.getEffects('r2', 's1');
      expect(back).toHaveLength(2);
      expect(back.find((r) => r.type === 'effect')).toEqual(recs[0]);
      expect(await store.getEffects('r2', 'nope')).toEqual([]);
    });

    it('keeps exchanges, runs with coverage counters, alerts and versioned rules', async () => {
      await store.putExchanges([{ runId: 'r3', shadowId: 's1', at: '2026-11-24T10:00:00.000Z', request: { method: 'POST', path: '/x', body: { 'a.b': 1 } }, responses: { legacy: { status: 200 } } }]);
      expect((await store.getExchange('r3', 's1'))?.request.body).toEqual({ 'a.b': 1 });
      await store.putRun({ runId: 'r3', createdAt: '2026-11-24T10:00:00.000Z', label: 'pre-cutover' });
      await store.addCoverage('r3', { 'sampled out': 5, 'body too large': 1 });
      await store.addCoverage('r3', { 'sampled out': 2 });
      const run = await store.getRun('r3');
      expect(run).toMatchObject({ runId: 'r3', label: 'pre-cutover', coverage: { 'sampled out': 7, 'body too large': 1 } });
      expect((await store.listRuns()).map((r) => r.runId)).toContain('r3');
      await store.putAlert({ runId: 'r3', route: 'POST /x', at: '2026-11-24T10:00:01.000Z', threshold: 0.05, window: { seconds: 60, compared: 10, mismatched: 5, rate: 0.5 }, examples: ['s1'] });
      expect(await store.listAlerts('r3')).toHaveLength(1);
      expect(await store.putRules('r3', { ignore: ['**.updatedAt'] }, { reason: 'clock', author: 'kim' })).toBe(1);
      expect(await store.putRules('r3', { ignore: ['**.at', 'a.$b'] }, { reason: 'more', author: 'lee' })).toBe(2);
      expect(await store.getRules('r3')).toMatchObject({ version: 2, rules: { ignore: ['**.at', 'a.$b'] }, author: 'lee' });
      // The cutover timeline: oldest first, an event put twice kept once (a plan runner restarted, a guard repeating itself).
      const rollback = { runId: 'r3', at: '2026-11-24T10:05:00.000Z', kind: 'rollback' as const, route: 'POST /x', percent: 0, by: 'guard', reason: 'a request the candidate served did not match', evidence: { shadowIds: ['s1'] } };
      await store.putCutoverEvent(rollback);
      await store.putCutoverEvent({ runId: 'r3', at: '2026-11-24T10:00:00.000Z', kind: 'step', route: 'POST /x', percent: 5, by: 'plan', reason: 'step 1 of 3', step: { index: 1, of: 3 } });
      await store.putCutoverEvent(rollback);
      expect((await store.listCutoverEvents('r3')).map((e) => [e.kind, e.percent])).toEqual([['step', 5], ['rollback', 0]]);
      expect((await store.listCutoverEvents('r3'))[1]).toEqual(rollback);
      // A run removed as a whole: everything above, and nothing of another run.
      await store.putComparisons([comparisonFor('r3', 's1', 1, 2), comparisonFor('r3-other', 's1', 1, 1)]);
      expect(await store.runData('r3')).toMatchObject({ run: 1, comparisons: 1, exchanges: 1, alerts: 1, rules: 2, cutover: 2 });
      expect(await store.deleteRun('r3')).toMatchObject({ run: 1, comparisons: 1, exchanges: 1, alerts: 1, rules: 2, cutover: 2 });
      expect(await store.runData('r3')).toEqual({ run: 0, comparisons: 0, records: 0, exchanges: 0, rollups: 0, alerts: 0, rules: 0, jobs: 0, cutover: 0 });
      expect([await store.getRun('r3'), await store.getExchange('r3', 's1'), await store.listAlerts('r3'), await store.getRules('r3')]).toEqual([undefined, undefined, [], undefined]);
      expect(await store.countComparisons('r3-other')).toBe(1);
    });

    it('sweeps raw records past their retention and keeps the rollup', async () => {
      await store.putEffects([{ ...end('legacy', 0), runId: 'r4' }]);
      await store.putComparisons([comparisonFor('r4', 's1', 1, 2)]);
      await store.flushRollups('r4');
      expect(await store.sweep(new Date())).toBe(0);
      const removed = await store.sweep(new Date(Date.now() + 400 * 86_400_000));
      expect(removed).toBe(2);
      expect(await store.getEffects('r4', 's1')).toEqual([]);
      expect((await store.getRollup('r4')).routes['POST /orders']?.compared).toBe(1);
    });
  });
}
