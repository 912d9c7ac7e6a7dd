// What a write did to each document it touched, and how that becomes effects. Live recording
// and dry-run emulation both produce Changes, so the same write yields the same effects either
// way; that is what the fidelity test checks.
import type { EffectFields } from '../shadow';
import { toEffectValue } from '../../../core/effect-value';
import type { ImageMode } from '../options';
import { type Doc, idKey, sameDocument } from './documents';

export type DbOp = 'insert' | 'update' | 'replace' | 'delete';

export interface Change {
  id: unknown;
  op: DbOp;
  before: Doc | null;
  after: Doc | null;
}

/**
 * Several changes to one document (a bulk write) as one: first before, last after; in _id
 * order, since which write of a bulk touched a document first cannot be told from outside.
 */
export function netChanges(changes: readonly Change[]): Change[] {
  const byId = new Map<string, Change>();
  for (const c of changes) {
    const key = idKey(c.id);
    const prev = byId.get(key);
    if (!prev) byId.set(key, { ...c });
    else {
      prev.after = c.after;
      prev.op = prev.before === null ? (prev.op === 'insert' ? 'insert' : 'update') : c.after === null ? 'delete' : 'update';
    }
  }
  return [...byId.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, c]) => c)
    .filter((c) => !(c.before === null && c.after === null) && !(c.before && c.after && sameDocument(c.before, c.after)));
}

/** The effects of a write's changes under an image mode (`none` is per operation: see opEffect). */
export function changeEffects(ns: string, changes: readonly Change[], images: ImageMode): EffectFields[] {
  return changes.map((c) => {
    const f: EffectFields = { kind: 'db', target: ns, op: c.op, key: { _id: toEffectValue(c.id) } };
    if (c.op === 'insert') {
      f.before = null;
      f.after = toEffectValue(c.after);
    } else if (c.op === 'delete') {
      if (images === 'full') f.before = toEffectValue(c.before);
      f.after = null;
    } else {
      if (images === 'full') f.before = toEffectValue(c.before);
      f.after = toEffectValue(c.after);
    }
    return f;
  });
}

/** Image mode `none`: one effect per write operation that changed something, with what was asked. */
export function opEffect(ns: string, op: DbOp, filter: unknown, spec: { update?: unknown; replacement?: unknown; upsert?: boolean }): EffectFields {
  const meta: Record<string, unknown> = { filter: toEffectValue(filter) };
  if (spec.update !== undefined) meta.update = toEffectValue(spec.update);
  if (spec.replacement !== undefined) meta.replacement = toEffectValue(spec.replacement);
  if (spec.upsert) meta.upsert = true;
  return { kind: 'db', target: ns, op, key: toEffectValue(filter), meta };
}
