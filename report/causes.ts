// Probable causes: differences that always occur together in the same requests are likely
// one bug. Over a sample of the run's mismatching comparisons, the requests each (route,
// target, field) occurs in; those with exactly the same requests form one group.
import type { Comparison } from '../compare/engine';
import { eachComparison, type Store } from '../runtime/store/store';

export interface ProbableCause {
  route: string;
  /** `target field` of each difference in the group. */
  fields: string[];
  requests: number;
  example: string;
}

/** Comparisons looked at to group differences: the latest that did not match. */
export const CAUSE_SAMPLE = 2000;

/** The groups, largest first. */
export async function probableCauses(store: Store, runId: string, route?: string): Promise<ProbableCause[]> {
  const sample: Comparison[] = [];
  for await (const c of eachComparison(store, { runId, verdict: 'mismatch', ...(route ? { route } : {}) }, 500)) {
    sample.push(c);
    if (sample.length >= CAUSE_SAMPLE) break;
  }
  const where = new Map<string, { route: string; field: string; ids: string[] }>();
  for (const c of sample.slice(0, CAUSE_SAMPLE)) {
    for (const f of new Set(c.findings.map((f) => `${f.target} ${f.field || '(whole effect)'}`))) {
      const key = `${c.route}\u0000${f}`;
      let w = where.get(key);
      if (!w) where.set(key, (w = { route: c.route, field: f, ids: [] }));
      w.ids.push(c.shadowId);
    }
  }
  const groups = new Map<string, ProbableCause>();
  for (const w of where.values()) {
    const signature = `${w.route}\u0000${w.ids.join(',')}`;
    const g = groups.get(signature);
    if (g) g.fields.push(w.field);
    else groups.set(signature, { route: w.route, fields: [w.field], requests: w.ids.length, example: w.ids[0]! });
  }
  return [...groups.values()].map((g) => ({ ...g, fields: g.fields.sort() })).sort((a, b) => b.requests - a.requests || b.fields.length - a.fields.length);
}
