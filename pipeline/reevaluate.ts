// Re-evaluating a run under its current rules (the stored ones over the workers' base rules): every stored comparison that did not match and
// whose records were kept is compared again from those records, and the results replace the
// old ones (the rollup is rebuilt). Matches keep no records and cannot change under rules that
// only relax (ignore, tolerate, key); they are left as they are.
import { bounded, compare, type Comparison, type CompiledRules, compileRules, layerRules } from '../compare/engine';
import { Join } from '../compare/join';
import type { Store } from '../runtime/store/store';

export interface Reevaluation {
  /** Comparisons compared again. */
  reevaluated: number;
  /** Of those, how many changed verdict. */
  changed: number;
  /** Non-matching comparisons without kept records (left as they were). */
  withoutRecords: number;
  rulesVersion: number | undefined;
}

/** `base`: the rules the run's workers were started with (the stored ones are layered over them). */
export async function reevaluate(store: Store, runId: string, base?: CompiledRules, now = new Date()): Promise<Reevaluation> {
  const stored = await store.getRules(runId);
  const rules = stored ? layerRules(base, compileRules(stored.rules, `rules of run ${runId} v${stored.version}`)) : base;
  const out: Reevaluation = { reevaluated: 0, changed: 0, withoutRecords: 0, rulesVersion: stored?.version };
  for (const verdict of ['mismatch', 'error'] as const) {
    let after: string | undefined;
    for (;;) {
      const page = await store.listComparisons({ runId, verdict, limit: 500, ...(after ? { after } : {}) });
      const replaced: Comparison[] = [];
      for (const old of page) {
        const records = await store.getEffects(runId, old.shadowId);
        if (!records.length) {
          out.withoutRecords += 1;
          continue;
        }
        const join = new Join();
        let entry = join.add(records[0]!);
        for (const r of records.slice(1)) entry = join.add(r);
        const exchange = await store.getExchange(runId, old.shadowId);
        if (exchange) entry = join.add({ v: 1, type: 'exchange', ...exchange });
        const c = bounded(compare(entry, { now: now.toISOString(), ...(rules ? { rules } : {}) }));
        out.reevaluated += 1;
        if (c.verdict !== old.verdict) out.changed += 1;
        replaced.push(c);
      }
      // Replaced after the page was read: a page past a changed verdict still pages by shadow id.
      if (replaced.length) await store.replaceComparisons(replaced);
      if (page.length < 500) break;
      after = page.at(-1)!.shadowId;
    }
  }
  return out;
}
