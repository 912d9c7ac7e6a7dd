// The engine: the effects and end markers of both sides for one shadow id, and the rules, in;
// one comparison (verdict + findings) out. Pure: no I/O, no clock (the caller passes `now`).
import type { EffectRecord, EndRecord, Side } from '../../core/effect';
import { withoutTrailingSlash } from '../../core/route-pattern';
import { deepEqual } from './equal';
import { describe, diffValues, type FieldDiff, isVolatile } from './diff';
import { clip, type Comparison, type Finding, type PairRef, SEVERITY_OF, SEVERITY_RANK } from './finding';
import { IdMap, learnIds } from './idmap';
import { DEFAULT_LIMITS, type Limits } from './normalize';
import { pairEffects } from './pairing';
import { inconclusiveReasons } from './prestate';
import { equalUnder, type FastWalk } from './fast-equal';
import { isCreate, Prepared, type PrepareContext } from './prepare';
import { type CompiledRules, compileRules } from './rules';
import { getPath, type Path } from './path';
import { complete, dedupe, incompleteReasons, overCount, summarize } from './completeness';
import { withExchange } from './exchange';
import type { CompareInput } from './input';

export type { CompareInput, SideInput } from './input';
export { EXCHANGE_RESPONSE_SEQ } from './exchange';

export interface CompareOptions {
  readonly rules?: CompiledRules;
  /** ISO time stamped on the comparison (the engine reads no clock). */
  readonly now: string;
  readonly limits?: Limits;
}

const NO_RULES = compileRules({});

/** @public */
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
    ...requestOf(input.legacy.end ?? input.candidate.end),
    verdict: 'match',
    findings: [],
    noise: [],
    sides: { legacy: summarize(legacy, input.legacy.end), candidate: summarize(candidate, input.candidate.end) },
    pairs: [],
    comparedAt: options.now,
  };
  if (input.secondary) result.sides.secondary = summarize(dedupe(input.secondary.effects), input.secondary.end);
  const served = servedBy(input);
  if (served) {
    result.served = 'candidate';
    // A cutover wired wrong harms production, whatever the effects say: the guard rolls back on it.
    const wrong = input.exchange?.sdk === false ? [] : modeErrors(input);
    if (wrong.length) return { ...result, verdict: 'error', error: wrong.join('; ') };
  }

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
    const routeRules = rules.forRoute(result.route);
    const main = diffSides(legacy, candidate, routeRules, limits);
    result.pairs = main.pairs;
    let findings = main.findings;
    findings.push(...statusFindings(input.legacy.end, input.candidate.end, legacy, candidate));
    // Who reads what: the consumers a finding touches rank it, and their schemas check the candidate.
    routeRules.consumers.annotate(findings);
    const contract = routeRules.contracts.any ? routeRules.contracts.check(main.candidate, main.legacy) : undefined;

    // Learned noise: a field where two legacy runs disagree is nondeterministic.
    const secondary = input.secondary ? dedupe(input.secondary.effects) : undefined;
    if (secondary && complete(secondary, input.secondary?.end)) {
      const noisy = new Set(diffSides(legacy, secondary, routeRules, limits, 'secondary').findings.map(noiseKey));
      result.noise = findings.filter((f) => noisy.has(noiseKey(f)));
      findings = findings.filter((f) => !noisy.has(noiseKey(f)));
    }
    // After the learned noise: a broken contract is absolute, whatever two legacy runs disagree on.
    if (contract) {
      findings.push(...contract.findings);
      result.noise.push(...contract.noise);
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
  legacy: Prepared[];
  candidate: Prepared[];
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
  return { findings, pairs, idMap: ctx.ids, legacy, candidate };
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

const KIND_ORDER = { 'missing-effect': 0, 'extra-effect': 1, removed: 2, 'type-changed': 3, 'too-large': 4, contract: 5, changed: 6, added: 7 };

function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort(
    (a, b) =>
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      (a.target < b.target ? -1 : a.target > b.target ? 1 : 0) ||
      (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
  );
}

/** Who served the request live: the exchange says so, or the candidate's end marker does (an external mirror). */
function servedBy(input: CompareInput): 'candidate' | undefined {
  return input.exchange?.served === 'candidate' || input.candidate.end?.mode === 'live' ? 'candidate' : undefined;
}

/**
 * A request the candidate served must have run live there and in dry-run at legacy. Otherwise
 * either the candidate's writes were never made (its SDK runs dry-run: set mode live) or legacy
 * made them a second time (its SDK lacks the proxy's signing key, or refused the signature).
 */
function modeErrors(input: CompareInput): string[] {
  const out: string[] = [];
  const c = input.candidate.end;
  const l = input.legacy.end;
  if (c && c.mode !== 'live') out.push("the candidate served this request live but its SDK ran it in dry-run: its writes were not made (give the candidate's SDK mode: 'live' for a cutover, docs/cutover.md)");
  if (l && l.mode !== 'dry-run') out.push("legacy ran the mirror of a request the candidate served live: it was written twice (legacy's SDK needs the proxy's signing key, SHADOWDIFF_SIGNING_KEY; see its modes stats)");
  return out;
}

function routeOf(end: EndRecord | undefined): string {
  if (!end) return '(unknown)';
  // Without a route template, the path stands in for it — without its query string.
  return `${end.request.method.toUpperCase()} ${withoutTrailingSlash(end.request.route ?? end.request.path.split('?')[0]!)}`;
}

function requestOf(end: EndRecord | undefined): Pick<Comparison, 'request'> {
  return end ? { request: { method: end.request.method.toUpperCase(), path: end.request.path.slice(0, 2000) } } : {};
}
