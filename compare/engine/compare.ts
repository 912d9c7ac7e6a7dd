// The engine: the effects and end markers of both sides for one shadow id, and the rules, in;
// one comparison (verdict + findings) out. Pure: no I/O, no clock (the caller passes `now`).
import { CHILD_SEQ_STRIDE, type EffectRecord, type EndRecord, type ExchangeRecord, type Side } from '../../core/effect';
import { deepEqual } from './equal';
import { describe, diffValues, type FieldDiff, isVolatile } from './diff';
import { clip, type Comparison, type Finding, type PairRef, SEVERITY_OF, type SideSummary } from './finding';
import { IdMap, learnIds } from './idmap';
import { DEFAULT_LIMITS, getPath, type Limits } from './normalize';
import { pairEffects } from './pairing';
import { inconclusiveReasons } from './prestate';
import { equalUnder, type FastWalk } from './fast-equal';
import { isCreate, Prepared, type PrepareContext } from './prepare';
import { type CompiledRules, compileRules } from './rules';
import type { Path } from './path';

export interface SideInput {
  readonly effects: readonly EffectRecord[];
  readonly end?: EndRecord | undefined;
  /** The recorder got no response from this side: why (refused, timed out, …). */
  readonly noResponse?: string | undefined;
}

export interface CompareInput {
  readonly runId: string;
  readonly shadowId: string;
  readonly legacy: SideInput;
  readonly candidate: SideInput;
  /** A second legacy instance in dry-run: what differs between it and legacy is noise. */
  readonly secondary?: SideInput | undefined;
  /** The request and responses as the proxy or replay saw them. */
  readonly exchange?: ExchangeRecord | undefined;
}

export interface CompareOptions {
  readonly rules?: CompiledRules;
  /** ISO time stamped on the comparison (the engine reads no clock). */
  readonly now: string;
  readonly limits?: Limits;
}

const NO_RULES = compileRules({});

export function compare(given: CompareInput, options: CompareOptions): Comparison {
  const input = withExchange(given);
  const rules = options.rules ?? NO_RULES;
  const limits = options.limits ?? DEFAULT_LIMITS;
  const legacy = dedupe(input.legacy.effects);
  const candidate = dedupe(input.candidate.effects);
  const result: Comparison = {
    v: 1,
    runId: input.runId,
    shadowId: input.shadowId,
    route: routeOf(input.legacy.end ?? input.candidate.end),
    verdict: 'match',
    findings: [],
    noise: [],
    sides: { legacy: summarize(legacy, input.legacy.end), candidate: summarize(candidate, input.candidate.end) },
    pairs: [],
    comparedAt: options.now,
  };
  if (input.secondary) result.sides.secondary = summarize(dedupe(input.secondary.effects), input.secondary.end);

  const legacyOver = overCount('legacy', legacy, input.legacy.end);
  const candidateOver = overCount('candidate', candidate, input.candidate.end);
  if (legacyOver || candidateOver) return { ...result, verdict: 'error', error: [legacyOver, candidateOver].filter(Boolean).join('; ') };
  if (!complete(legacy, input.legacy.end) || !complete(candidate, input.candidate.end)) {
    const missing = [...incompleteReasons('legacy', legacy, input.legacy), ...incompleteReasons('candidate', candidate, input.candidate)];
    return { ...result, verdict: 'incomplete', incomplete: missing };
  }
  const inconclusive = inconclusiveReasons({ effects: legacy, end: input.legacy.end }, { effects: candidate, end: input.candidate.end });
  if (inconclusive.length) return { ...result, verdict: 'inconclusive', inconclusive };

  try {
    const main = diffSides(legacy, candidate, rules, limits);
    result.pairs = main.pairs;
    let findings = main.findings;
    findings.push(...statusFindings(input.legacy.end, input.candidate.end, legacy, candidate));

    // Learned noise: a field where two legacy runs disagree is nondeterministic.
    const secondary = input.secondary ? dedupe(input.secondary.effects) : undefined;
    if (secondary && complete(secondary, input.secondary?.end)) {
      const noisy = new Set(diffSides(legacy, secondary, rules, limits, 'secondary').findings.map(noiseKey));
      result.noise = findings.filter((f) => noisy.has(noiseKey(f)));
      findings = findings.filter((f) => !noisy.has(noiseKey(f)));
    }
    result.findings = sortFindings(findings);
    result.verdict = findings.length ? 'mismatch' : 'match';
    // The id map explains findings (why two different ObjectIds compared equal); a match needs none.
    if (findings.length && main.idMap.size) result.idMap = main.idMap.toJSON();
  } catch (err) {
    // A user's canonicalize function threw, or a value defeated normalization.
    result.verdict = 'error';
    result.error = `comparison failed: ${(err as Error).message}`;
  }
  return result;
}

interface SidesDiff {
  findings: Finding[];
  pairs: PairRef[];
  idMap: IdMap;
}

/** Legacy's effects against the other side's: the candidate's, or the secondary's to learn noise. */
function diffSides(legacyRecs: EffectRecord[], otherRecs: EffectRecord[], rules: CompiledRules, limits: Limits, other: Side = 'candidate'): SidesDiff {
  const ctx: PrepareContext = { rules, limits, ids: new IdMap(), idsFinal: false };
  const legacy = legacyRecs.map((r) => new Prepared(r, 'legacy', ctx));
  const candidate = otherRecs.map((r) => new Prepared(r, other, ctx));
  const groups = groupBy(legacy, candidate);

  // Phase 1: pair the creates (by business key, else by similarity) to learn generated ids:
  // on the fast path while the documents are equal, else from their normalized values.
  for (const g of groups) {
    if (!g.legacy.some((p) => isCreate(p.rec))) continue;
    const l = g.legacy.filter((p) => isCreate(p.rec));
    const c = g.candidate.filter((p) => isCreate(p.rec));
    if (c.length === 0) continue;
    for (const p of l) p.key = p.businessKey();
    for (const p of c) p.key = p.businessKey();
    for (const { legacy: lp, candidate: cp } of pairEffects(l, c).pairs) {
      learnIds(lp.docKey, cp.docKey, ctx.ids);
      if (equalUnder(lp.raw, cp.raw, lp.rules, ctx.ids, limits, true)) lp.fastMatch = cp;
      else if (lp.value !== undefined && cp.value !== undefined) learnIds(lp.value, cp.value, ctx.ids);
    }
  }
  ctx.idsFinal = true;

  // Phase 2: pair everything by key (document key or business key), keyless by similarity.
  const findings: Finding[] = [];
  const pairs: PairRef[] = [];
  for (const g of groups) {
    for (const p of g.legacy) p.key = pairingKey(p);
    for (const p of g.candidate) p.key = pairingKey(p);
    const paired = pairEffects(g.legacy, g.candidate);
    for (const { legacy: l, candidate: c, by } of paired.pairs) {
      pairs.push({ effectKind: l.kind, target: l.target, legacySeq: l.seq, candidateSeq: c.seq, by });
      const found = diffPair(l, c, ctx);
      if (found !== NONE) findings.push(...found);
    }
    for (const l of paired.missing) {
      pairs.push({ effectKind: l.kind, target: l.target, legacySeq: l.seq, by: 'unpaired' });
      findings.push(effectFinding('missing-effect', l, { legacy: clip(l.value) }));
    }
    for (const c of paired.extra) {
      pairs.push({ effectKind: c.kind, target: c.target, candidateSeq: c.seq, by: 'unpaired' });
      findings.push(effectFinding('extra-effect', c, { candidate: clip(c.value) }));
    }
  }
  return { findings, pairs, idMap: ctx.ids };
}

/** What diffPair returns for an equal pair: shared, never written to. */
const NONE: readonly Finding[] = Object.freeze([]);

function diffPair(l: Prepared, c: Prepared, ctx: PrepareContext): readonly Finding[] {
  const sameStatus = (l.rec.status ?? 'ok') === (c.rec.status ?? 'ok');
  // The healthy path: equal values are recognised without copying or diffing them.
  const walk: FastWalk = {};
  const equal = l.fastMatch === c || equalUnder(l.raw, c.raw, l.rules, ctx.ids, ctx.limits, false, walk);
  if (equal && sameStatus && l.rec.op === c.rec.op) return NONE;
  const base = identity(l, c);
  const out: Finding[] = [];
  if (!sameStatus) {
    out.push({ ...base, kind: 'changed', severity: 'high', path: '(status)', field: '(status)', legacy: l.rec.status ?? 'ok', candidate: c.rec.status ?? 'ok' });
  }
  if (l.rec.op !== c.rec.op) {
    out.push({ ...base, kind: 'changed', severity: 'low', path: '(op)', field: '(op)', legacy: l.rec.op, candidate: c.rec.op });
  }
  if (equal) return out;
  // Over a limit: say so without normalizing more than needed (a 50,000-key object costs
  // ~12 ms to enumerate each time).
  const tooLarge = walk.tooLarge ?? l.overLimit() ?? c.overLimit();
  if (tooLarge) return [...out, { ...base, kind: 'too-large', severity: SEVERITY_OF['too-large'], path: '', field: '', reason: tooLarge }];
  const lv = l.value;
  const cv = c.value;
  if (deepEqual(lv, cv)) return out;
  let diffs = diffValues(lv, cv, l.rules);
  const lb = l.preImage;
  const cb = c.preImage;
  const delta = lb !== undefined && cb !== undefined;
  if (delta) diffs = onlyChanged(diffs, lb, lv, cb, cv);
  for (const d of diffs) {
    const f: Finding = { ...base, kind: d.kind, ...describe(d) };
    if (isVolatile(d)) f.volatile = true;
    if (delta && !deepEqual(getPath(lb, d.path), getPath(cb, d.path))) f.preStateDiffers = true;
    out.push(f);
  }
  return out;
}

// Decision 4: updates compare what each side changed. A difference at a path neither side
// touched (its value is the same before and after, on both sides) comes from different
// pre-states — the mirror ran beside the live request — not from the candidate's logic.
function onlyChanged(diffs: FieldDiff[], lBefore: unknown, lAfter: unknown, cBefore: unknown, cAfter: unknown): FieldDiff[] {
  const changedAt = (before: unknown, after: unknown, path: Path) => !deepEqual(getPath(before, path), getPath(after, path));
  return diffs.filter((d) => changedAt(lBefore, lAfter, d.path) || changedAt(cBefore, cAfter, d.path));
}

function identity(l: Prepared, c: Prepared): Omit<Finding, 'kind' | 'severity' | 'path' | 'field'> {
  const out: Omit<Finding, 'kind' | 'severity' | 'path' | 'field'> = {
    effectKind: l.kind,
    target: l.target,
    op: l.rec.op,
    legacySeq: l.seq,
    candidateSeq: c.seq,
  };
  if (c.rec.target !== l.target) out.candidateTarget = c.rec.target;
  if (l.rec.key !== undefined) out.key = clip(l.rec.key);
  return out;
}

function effectFinding(kind: 'missing-effect' | 'extra-effect', p: Prepared, values: Pick<Finding, 'legacy' | 'candidate'>): Finding {
  const f: Finding = { kind, severity: SEVERITY_OF[kind], effectKind: p.kind, target: p.target, op: p.rec.op, path: '', field: '', ...values };
  if (kind === 'missing-effect') f.legacySeq = p.seq;
  else {
    f.candidateSeq = p.seq;
    if (p.rec.target !== p.target) f.candidateTarget = p.rec.target;
  }
  if (p.rec.key !== undefined) f.key = clip(p.rec.key);
  if (p.tooLarge) f.reason = p.tooLarge;
  return f;
}

// The HTTP status each side ended with, when no `response` effect already compares it.
function statusFindings(l: EndRecord | undefined, c: EndRecord | undefined, lr: EffectRecord[], cr: EffectRecord[]): Finding[] {
  if (l?.status === undefined || c?.status === undefined || l.status === c.status) return [];
  if (lr.some((r) => r.kind === 'response') && cr.some((r) => r.kind === 'response')) return [];
  return [{ kind: 'changed', severity: 'high', effectKind: 'end', target: '(end)', path: 'status', field: 'status', legacy: l.status, candidate: c.status }];
}

interface Group {
  legacy: Prepared[];
  candidate: Prepared[];
}

/** Effects grouped by kind and (legacy-side) target, in first-seen order. */
function groupBy(legacy: Prepared[], candidate: Prepared[]): Group[] {
  const byKind = new Map<string, Map<string, Group>>();
  const groups: Group[] = [];
  const add = (p: Prepared, side: 'legacy' | 'candidate') => {
    let byTarget = byKind.get(p.kind);
    if (!byTarget) byKind.set(p.kind, (byTarget = new Map()));
    let g = byTarget.get(p.target);
    if (!g) {
      byTarget.set(p.target, (g = { legacy: [], candidate: [] }));
      groups.push(g);
    }
    g[side].push(p);
  };
  for (const p of legacy) add(p, 'legacy');
  for (const p of candidate) add(p, 'candidate');
  return groups;
}

function pairingKey(p: Prepared): string | undefined {
  if (p.rules.key) return p.businessKey();
  return p.kind === 'db' ? p.docKeyString() : undefined;
}

function noiseKey(f: Finding): string {
  return `${f.effectKind}\u0000${f.target}\u0000${f.kind === 'missing-effect' || f.kind === 'extra-effect' ? f.kind : f.field}`;
}

const KIND_ORDER = { 'missing-effect': 0, 'extra-effect': 1, removed: 2, 'type-changed': 3, 'too-large': 4, changed: 5, added: 6 };
const SEVERITY_ORDER = { high: 0, medium: 1, low: 2 };

function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      (a.target < b.target ? -1 : a.target > b.target ? 1 : 0) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
}

function dedupe(effects: readonly EffectRecord[]): EffectRecord[] {
  let ordered = true;
  for (let i = 1; i < effects.length && ordered; i++) ordered = effects[i]!.seq > effects[i - 1]!.seq;
  if (ordered) return effects as EffectRecord[];
  const bySeq = new Map<number, EffectRecord>();
  for (const e of effects) if (!bySeq.has(e.seq)) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

function summarize(effects: EffectRecord[], end: EndRecord | undefined): SideSummary {
  const s: SideSummary = { effects: effects.length, ended: end !== undefined };
  if (end) {
    s.count = end.count;
    if (end.dropped) s.dropped = end.dropped;
    if (end.status !== undefined) s.status = end.status;
  }
  return s;
}

/** Effects among seq 0 … count-1 (children and the recorder's response are extra). */
function counted(effects: EffectRecord[], end: EndRecord): number {
  let n = 0;
  for (const e of effects) if (e.seq >= 0 && e.seq < end.count) n += 1;
  return n;
}

/** The side ended, dropped nothing, and every effect it counted arrived. */
function complete(effects: EffectRecord[], end: EndRecord | undefined): boolean {
  return end !== undefined && !end.dropped && counted(effects, end) >= end.count;
}

function incompleteReasons(side: Side, effects: EffectRecord[], input: SideInput): string[] {
  const end = input.end;
  if (!end) return [input.noResponse !== undefined ? `${side}: no response (${input.noResponse})` : `${side}: no end marker`];
  const out: string[] = [];
  if (end.dropped) out.push(`${side}: ${end.dropped} effect(s) dropped by the SDK`);
  const have = counted(effects, end);
  if (have < end.count) {
    const seqs = new Set(effects.map((e) => e.seq));
    const absent: number[] = [];
    for (let s = 0; s < end.count && absent.length < 10; s++) if (!seqs.has(s)) absent.push(s);
    out.push(`${side}: ${end.count - have} of ${end.count} effect(s) not received (seq ${absent.join(', ')}${end.count - have > absent.length ? ', …' : ''})`);
  }
  return out;
}

/**
 * An effect numbered beyond its side's count but below the children's range: the records
 * contradict each other. Seqs from CHILD_SEQ_STRIDE up come from work the request caused
 * elsewhere (a consumer, a partner call) and are compared like the rest.
 */
function overCount(side: Side, effects: EffectRecord[], end: EndRecord | undefined): string | undefined {
  if (!end) return undefined;
  const beyond = effects.find((e) => e.seq >= end.count && e.seq < CHILD_SEQ_STRIDE);
  return beyond ? `${side}: effect seq ${beyond.seq} is beyond the end marker's count ${end.count}` : undefined;
}

/** The seq of a `response` effect taken from the exchange: recorded in front of the service, not by it. */
export const EXCHANGE_RESPONSE_SEQ = -1;

/**
 * Folds the recorder's exchange into the sides: each response becomes that side's `response`
 * effect unless its SDK recorded one; for services without the SDK it also stands in for the
 * end marker; a side that never answered is named with the reason.
 */
function withExchange(input: CompareInput): CompareInput {
  const x = input.exchange;
  if (!x) return input;
  // sdk:false: the exchange is the whole comparison; records an SDK sent anyway are left out.
  const own = x.sdk !== false;
  const side = (name: Side, given: SideInput | undefined): SideInput | undefined => {
    const r = x.responses[name];
    if (!r) return own ? given : undefined;
    let effects = own ? (given?.effects ?? []) : [];
    let end = own ? given?.end : undefined;
    if (r.error !== undefined || r.status === undefined) return { effects, end, noResponse: r.error ?? 'no status recorded' };
    if (!effects.some((e) => e.kind === 'response')) {
      const payload: Record<string, unknown> = { status: r.status, headers: r.headers ?? {}, body: r.body ?? null };
      const effect: EffectRecord = { v: 1, type: 'effect', runId: x.runId, shadowId: x.shadowId, side: name, seq: EXCHANGE_RESPONSE_SEQ, kind: 'response', target: 'response', op: 'respond', payload, at: x.at };
      effects = [effect, ...effects];
    }
    if (!end && !own) {
      const request = { method: x.request.method, path: x.request.path, ...(x.request.route !== undefined ? { route: x.request.route } : {}) };
      end = { v: 1, type: 'end', runId: x.runId, shadowId: x.shadowId, side: name, count: 0, request, status: r.status, at: x.at };
    }
    return { effects, end };
  };
  return {
    ...input,
    legacy: side('legacy', input.legacy) ?? { effects: [] },
    candidate: side('candidate', input.candidate) ?? { effects: [] },
    secondary: side('secondary', input.secondary),
  };
}

function routeOf(end: EndRecord | undefined): string {
  if (!end) return '(unknown)';
  // Without a route template, the path stands in for it — without its query string.
  return `${end.request.method.toUpperCase()} ${end.request.route ?? end.request.path.split('?')[0]}`;
}
