// Whether a comparison is evidence at all (design decision 3a): the candidate's dry-run must
// have started from the request's pre-state. It did not, or cannot be shown to have, when a
// side's pre-state handoff failed, when the live side wrote without one while the candidate
// relied on it, or when the candidate — reading without a handoff — read a document in the
// very state the live side's write of the same request left it. Such a comparison is
// `inconclusive`, never a mismatch and never a match.
import type { EffectRecord, EndRecord } from '../../core/effect';
import { fingerprint } from '../../core/fingerprint';
import { keyString } from './normalize';

export interface PreStateSide {
  effects: readonly EffectRecord[];
  end: EndRecord | undefined;
}

/** Why the comparison of these sides is inconclusive; empty when nothing says so. */
export function inconclusiveReasons(legacy: PreStateSide, candidate: PreStateSide): string[] {
  const out: string[] = [];
  // Only the live side's writes of this request can have changed what the candidate read: without any, nothing needed rewinding.
  const writes = legacy.effects.filter((e) => e.kind === 'db' && e.status !== 'failed');
  if (!writes.length) return out;
  if (legacy.end?.prestate === 'unknown') out.push(`legacy: pre-state unknown (${legacy.end.prestateReason ?? 'no reason given'})`);
  if (candidate.end?.prestate === 'unknown') out.push(`candidate: pre-state unknown (${candidate.end.prestateReason ?? 'no reason given'})`);
  if (out.length) return out;
  if (candidate.end?.prestate === 'handoff' && legacy.end && legacy.end.prestate === undefined) {
    out.push('legacy: wrote without handing off its pre-state (its SDK has no handoff configured), so the candidate may have read those writes');
    return out;
  }
  const reads = candidate.end?.reads;
  if (!reads?.length) return out;
  // What each document the live side wrote looked like after each of its writes, and before the first.
  const written = new Map<string, { inserted: boolean; before: string | undefined; after: Set<string> }>();
  for (const e of writes) {
    const id = `${e.target} ${keyString(e.key)}`;
    let w = written.get(id);
    if (!w) {
      w = { inserted: e.before === null && e.op !== 'delete', before: e.before === undefined || e.before === null ? undefined : fingerprint(e.before), after: new Set() };
      written.set(id, w);
    }
    if (e.after !== undefined && e.after !== null) w.after.add(fingerprint(e.after));
  }
  for (const r of reads) {
    const id = `${r.target} ${keyString(r.key)}`;
    const w = written.get(id);
    if (w && (w.inserted || (w.after.has(r.fp) && r.fp !== w.before))) {
      out.push(`candidate: read the live side's write (${id})`);
      break;
    }
  }
  return out;
}
