// Corrections after a cutover (docs/cutover.md): for every request the candidate served live
// whose comparison did not match, what it stored differently from what legacy would have
// stored, and the guarded update that repairs it. Pure: the caller reads the comparisons and
// their kept records from the store, and prints or applies what comes back.
//
// Values come from the records (the documents as written), not from the findings, whose values
// may be clipped; a finding whose path does not lead to its value in the stored document (the
// sides' schemas differ, canonicalize rules) cannot be repaired by path, and says so — unless a
// rules hook (`correct`) maps it into the live side's schema.
import type { EffectRecord, SideRecord } from '../core/effect';
import { type Comparison, deepEqual, type Finding, getPath, parsePattern, type Path } from './engine';

export interface Change {
  /** `items[2].price`, as findings name it. */
  path: string;
  /** What the candidate stored (absent: the field is not there). */
  live?: unknown;
  /** What legacy would have stored (absent: the field should not be there). */
  reference?: unknown;
  finding: Finding['kind'];
  severity: Finding['severity'];
  consumers?: string[];
}

/** A guarded MongoDB update, values in the effect format's Extended JSON. */
export interface GuardedUpdate {
  database: string;
  collection: string;
  filter: Record<string, unknown>;
  update: { $set?: Record<string, unknown>; $unset?: Record<string, ''> };
}

export interface Correction {
  runId: string;
  shadowId: string;
  route: string;
  /**
   * `update`: the guarded update below repairs the document; `event`: a message the candidate
   * published with another payload, for its consumers to be told; `manual`: a person decides (why says why).
   */
  action: 'update' | 'event' | 'manual';
  effectKind: string;
  target: string;
  key?: unknown;
  changes: Change[];
  update?: GuardedUpdate;
  /** Why it cannot be repaired by path, or what a person has to do. */
  why?: string;
  /** A later request the candidate served wrote the same document: apply that one's correction instead. */
  supersededBy?: string;
}

/** Maps a correction into the live side's schema (rules `correct`); null: it cannot be. */
export type CorrectHook = (c: Correction) => Correction | null | undefined;

export interface CorrectionInput {
  comparison: Comparison;
  /** Its records as stored (both sides); empty when the worker kept none. */
  records: readonly SideRecord[];
}

const MONGO_KEY = /^[^$.\u0000][^.\u0000]*$/;

export function correctionsFor(inputs: Iterable<CorrectionInput>, hook?: CorrectHook): Correction[] {
  const out: Correction[] = [];
  for (const { comparison: c, records } of inputs) {
    if (c.served !== 'candidate' || (c.verdict !== 'mismatch' && c.verdict !== 'error')) continue;
    const effects = (side: 'legacy' | 'candidate') => new Map(records.filter((r): r is EffectRecord => r.type === 'effect' && r.side === side).map((r) => [r.seq, r]));
    const legacy = effects('legacy');
    const candidate = effects('candidate');
    if (c.verdict === 'error') {
      out.push({ runId: c.runId, shadowId: c.shadowId, route: c.route, action: 'manual', effectKind: 'end', target: '(request)', changes: [], why: c.error ?? 'the comparison failed' });
      continue;
    }
    // One correction per effect of the candidate's (a document it wrote), gathering its findings.
    const groups = new Map<string, Finding[]>();
    for (const f of c.findings) {
      if (f.kind === 'contract' || f.effectKind === 'response' || f.effectKind === 'end') continue;
      const k = `${f.effectKind}\u0000${f.candidateSeq ?? ''}\u0000${f.legacySeq ?? ''}\u0000${f.target}`;
      const list = groups.get(k) ?? [];
      list.push(f);
      groups.set(k, list);
    }
    for (const findings of groups.values()) {
      const f0 = findings[0]!;
      const live = f0.candidateSeq !== undefined ? candidate.get(f0.candidateSeq) : undefined;
      const ref = f0.legacySeq !== undefined ? legacy.get(f0.legacySeq) : undefined;
      let correction = one(c, findings, live, ref);
      if (hook && correction.action !== 'event') {
        const mapped = hook(correction);
        correction = mapped ?? { ...correction, action: 'manual', update: undefined, why: 'the rules hook `correct` says this correction cannot be mapped into the live side\'s schema' };
      }
      out.push(correction);
    }
  }
  supersede(out);
  return out;
}

function one(c: Comparison, findings: Finding[], live: EffectRecord | undefined, ref: EffectRecord | undefined): Correction {
  const f0 = findings[0]!;
  // The key of the document as stored: the candidate's (findings name legacy's, ids mapped).
  const key = live?.key ?? f0.key;
  const base = { runId: c.runId, shadowId: c.shadowId, route: c.route, effectKind: f0.effectKind, target: f0.candidateTarget ?? f0.target, ...(key !== undefined ? { key } : {}) };
  const changes = findings.map((f): Change => ({
    path: f.path,
    ...(f.candidate !== undefined ? { live: f.candidate } : {}),
    ...(f.legacy !== undefined ? { reference: f.legacy } : {}),
    finding: f.kind,
    severity: f.severity,
    ...(f.consumers?.length ? { consumers: f.consumers } : {}),
  }));
  const manual = (why: string): Correction => ({ ...base, action: 'manual', changes, why });
  if (f0.effectKind === 'message' || f0.effectKind === 'http') {
    return { ...base, action: 'event', changes: withRecordValues(changes, findings, live?.payload, ref?.payload), why: f0.effectKind === 'message' ? 'published with another payload: tell its consumers' : 'a partner was called with another request: tell the partner' };
  }
  if (f0.kind === 'missing-effect') return manual(`the candidate did not write what legacy would have (${f0.op ?? 'a write'} on ${f0.target}): the reference document is in the request's records; there is no document of the candidate's to repair`);
  if (f0.kind === 'extra-effect') return manual(`the candidate wrote what legacy would not have (${f0.op ?? 'a write'} on ${base.target}): remove or restore it by hand`);
  if (!live || !ref) return manual('the records of this request were not kept (the worker keeps non-matching ones unless --keep-effects none): the values cannot be checked against the documents');
  if (live.op === 'delete' || ref.op === 'delete') return manual('a delete on one side: restore or remove the document by hand');
  const [database, ...rest] = base.target.split('.');
  const collection = rest.join('.');
  if (!database || !collection) return manual(`the target "${base.target}" is not <database>.<collection>`);
  if (!live.key || typeof live.key !== 'object' || !('_id' in (live.key as object))) return manual('the stored document has no _id in its key');
  const filter: Record<string, unknown> = { _id: (live.key as { _id: unknown })._id };
  const $set: Record<string, unknown> = {};
  const $unset: Record<string, ''> = {};
  const exact: Change[] = [];
  for (const f of findings) {
    const path = segments(f.path);
    if (!path || path.length === 0) return manual(`the path "${f.path}" is not one a MongoDB update can name`);
    const dotted = path.join('.');
    if (!path.every((s) => typeof s === 'number' || MONGO_KEY.test(s))) return manual(`the path "${f.path}" has a key a MongoDB update cannot name`);
    const liveValue = getPath(live.after, path);
    const refValue = getPath(ref.after, path);
    // The path must lead to the finding's values in the documents as written: else the sides'
    // schemas differ (canonicalize rules) and the path is the comparison's, not the store's.
    if ((f.candidate !== undefined && !deepEqual(liveValue, f.candidate) && !clipped(f.candidate)) || (f.legacy !== undefined && !deepEqual(refValue, f.legacy) && !clipped(f.legacy))) {
      return manual(`the path "${f.path}" does not lead to the compared values in the stored documents: the sides' schemas differ (canonicalize rules), so a rules hook \`correct\` must map it into the live side's schema`);
    }
    filter[dotted] = liveValue === undefined ? { $exists: false } : liveValue;
    if (refValue === undefined) $unset[dotted] = '';
    else $set[dotted] = refValue;
    exact.push({ path: f.path, ...(liveValue !== undefined ? { live: liveValue } : {}), ...(refValue !== undefined ? { reference: refValue } : {}), finding: f.kind, severity: f.severity, ...(f.consumers?.length ? { consumers: f.consumers } : {}) });
  }
  const update: GuardedUpdate['update'] = {};
  if (Object.keys($set).length) update.$set = $set;
  if (Object.keys($unset).length) update.$unset = $unset;
  return { ...base, action: 'update', changes: exact, update: { database, collection, filter, update } };
}

/** A finding's value cut for storage (finding.ts `clip`): the record's value stands. */
function clipped(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as { $truncated?: unknown }).$truncated === true;
}

function withRecordValues(changes: Change[], findings: Finding[], live: unknown, ref: unknown): Change[] {
  return changes.map((ch, i) => {
    const path = segments(findings[i]!.path);
    if (!path) return ch;
    const l = getPath(live, path);
    const r = getPath(ref, path);
    return { ...ch, ...(l !== undefined ? { live: l } : {}), ...(r !== undefined ? { reference: r } : {}) };
  });
}

/** `items[2].price` → ['items', 2, 'price']; undefined for a pattern that is not a plain path. */
function segments(path: string): Path | undefined {
  if (path === '') return [];
  try {
    const out: (string | number)[] = [];
    for (const s of parsePattern(path)) {
      if (s.t === 'key') out.push(s.key);
      else if (s.t === 'index') out.push(s.index);
      else return undefined;
    }
    return out;
  } catch {
    return undefined;
  }
}

/** Of several corrections to one document, the last request's is the one to apply. */
function supersede(list: Correction[]): void {
  const last = new Map<string, Correction>();
  const order = [...list].filter((c) => c.action === 'update').sort((a, b) => (a.shadowId < b.shadowId ? -1 : a.shadowId > b.shadowId ? 1 : 0));
  for (const c of order) {
    const k = `${c.target}\u0000${JSON.stringify(c.key)}`;
    const before = last.get(k);
    if (before) before.supersededBy = c.shadowId;
    last.set(k, c);
  }
}
