// The healthy path: most effects match, and recognising that must cost far less than
// normalizing both values and diffing them. `equalUnder` walks the two raw values in parallel
// under the target's rules without copying anything. It is sound in one direction only:
// `true` means normalizing both sides would give equal values; `false` means "not sure" and
// the engine takes the full path (normalize, diff), which decides and explains.
import { canonicalTagged, isGeneratedId, tagOf } from '../../core/tagged';
import { deepEqual } from './equal';
import type { IdMap } from './idmap';
import { type Limits } from './normalize';
import { getPath } from './path';
import type { State } from './path';
import type { TargetRules } from './rules';

interface Walk {
  readonly rules: TargetRules;
  readonly ids: IdMap;
  readonly limits: Limits;
  learn: boolean;
  readonly report: FastWalk;
  nodes: number;
  /** While learning: a generated id was taken as equal to itself before the map was complete. */
  idShortcut?: boolean;
}

/** What the walk found out besides its answer. */
export interface FastWalk {
  /** A value exceeded a size limit: normalizing it would fail the same way. */
  tooLarge?: string;
}

/**
 * `candidate` is read through the id map (candidate ids → legacy ids), as the full path does.
 * With `learn` (paired creates), two different generated ids at the same place are recorded
 * in the map and count as equal — what learnIds followed by the full path would conclude.
 */
export function equalUnder(
  legacy: unknown,
  candidate: unknown,
  rules: TargetRules,
  ids: IdMap,
  limits: Limits,
  learn = false,
  report: FastWalk = {},
): boolean {
  const w: Walk = { rules, ids, limits, learn, report, nodes: 0 };
  const learnedBefore = ids.size;
  const equal = eq(w, legacy, candidate, rules.ignore.start(), rules.unordered.start(), rules.strings.start(), 0);
  if (!equal || ids.size === learnedBefore || !w.idShortcut) return equal;
  // An id learned late in the walk changes what the candidate's earlier values stand for (the
  // same ObjectId at two places, mapped at the second): confirm with the map complete.
  w.learn = false;
  w.nodes = 0;
  return eq(w, legacy, candidate, rules.ignore.start(), rules.unordered.start(), rules.strings.start(), 0);
}

function eq(w: Walk, a: unknown, b: unknown, ign: State, uno: State, str: State, depth: number): boolean {
  if (++w.nodes > w.limits.maxNodes) return over(w, `more than ${w.limits.maxNodes} values`);
  if (a === null || typeof a !== 'object') {
    // The same literal is equal unless the id map reads the candidate's as another legacy id (as the full path would).
    if (a === b && (typeof b !== 'string' || !w.ids.size || w.ids.lookup(b) === b)) {
      if (w.learn && typeof b === 'string') w.idShortcut ||= isGeneratedId(b);
      return true;
    }
    if (typeof b === 'string' && w.ids.size) {
      b = w.ids.lookup(b);
      if (a === b) return true;
    }
    const folding = str.length > 0 ? w.rules.strings.matches(str) : -1;
    // Where strings are folded, the full path maps folded ids: learning is left to it there.
    if (w.learn && folding < 0 && learned(w, a, b)) return true;
    if (typeof a === 'string' && typeof b === 'string' && folding >= 0) {
      return fold(a, w.rules.stringRules[folding]!) === fold(b, w.rules.stringRules[folding]!);
    }
    return false;
  }
  if (b === null || typeof b !== 'object') return false;
  if (depth >= w.limits.maxDepth) return over(w, `nested deeper than ${w.limits.maxDepth} levels`);
  const { ignore, unordered, strings } = w.rules;

  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    let order: number[] | undefined;
    if (uno.length > 0) {
      const rule = unordered.matches(uno);
      if (rule >= 0) {
        order = matchByKey(a, b, w.rules.unorderedBy[rule]);
        if (!order) return false;
      }
    }
    if (ign.indexFree && uno.indexFree && str.indexFree) {
      // Every element leads to the same pattern states: step once for the whole array.
      const ci = ignore.step(ign, 0);
      // An ignored element shifts the ones after it: leave that to the full path.
      if (a.length > 0 && ci.match >= 0) return false;
      const cu = unordered.step(uno, 0);
      const cs = strings.step(str, 0);
      for (let i = 0; i < a.length; i++) {
        const av = a[i];
        const bv = b[order ? order[i]! : i];
        if (av === bv && (av === null || typeof av !== 'object')) {
          if (++w.nodes > w.limits.maxNodes) return over(w, `more than ${w.limits.maxNodes} values`);
          continue;
        }
        if (!eq(w, av, bv, ci, cu, cs, depth + 1)) return false;
      }
      return true;
    }
    for (let i = 0; i < a.length; i++) {
      const j = order ? order[i]! : i;
      const ci = ignore.step(ign, i);
      if (ci.match >= 0) return false;
      const cu = unordered.step(uno, i);
      const cs = strings.step(str, i);
      // A pattern naming a position may pick different elements on the two sides once matched by key.
      if (j !== i && (ci !== ignore.step(ign, j) || cu !== unordered.step(uno, j) || cs !== strings.step(str, j))) return false;
      if (!eq(w, a[i], b[j], ci, cu, cs, depth + 1)) return false;
    }
    return true;
  }
  if (Array.isArray(b)) return false;

  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const ignoring = ign.length > 0;
  let kept = 0;
  let count = 0;
  for (const key in x) {
    // A typed value is a single-key object whose key is a tag: compare it as a value.
    if (++count === 1 && key.charCodeAt(0) === 36 && tagOf(x)) return typedEqual(w, x, y, key);
    if (count > w.limits.maxKeys) return over(w, `an object with more than ${w.limits.maxKeys} keys`);
    const ci = ignoring ? (ign.edges.get(key) ?? ignore.step(ign, key)) : ign;
    if (ci.match >= 0) continue;
    kept += 1;
    const xv = x[key];
    const yv = y[key];
    // A missing key reads as undefined, which no JSON value equals; an inherited one reads as a
    // function. Only an object read needs the own-property check (`__proto__` reads the prototype).
    if (yv === undefined || (typeof yv === 'object' && yv !== null && !Object.prototype.hasOwnProperty.call(y, key))) return false;
    // Identical primitives stay identical under every rule: settle them without a call.
    if (xv === yv && (xv === null || typeof xv !== 'object')) {
      if (++w.nodes > w.limits.maxNodes) return over(w, `more than ${w.limits.maxNodes} values`);
      continue;
    }
    if (!eq(w, xv, yv, ci, uno.length ? unordered.step(uno, key) : uno, str.length ? strings.step(str, key) : str, depth + 1)) return false;
  }
  // Same number of keys, and every key of a present in b (the kept ones were checked above,
  // the ignored ones are checked now): the key sets are equal, so b keeps as many as a.
  let countB = 0;
  for (const key in y) {
    if (++countB === 1 && key.charCodeAt(0) === 36 && tagOf(y)) return false;
  }
  if (countB > w.limits.maxKeys) return over(w, `an object with more than ${w.limits.maxKeys} keys`);
  if (countB === count && (kept === count || allIn(x, y))) return true;
  if (!ignoring) return false;
  let keptB = 0;
  for (const key in y) if (ignore.step(ign, key).match < 0) keptB += 1;
  return kept === keptB;
}

function allIn(x: Record<string, unknown>, y: Record<string, unknown>): boolean {
  for (const key in x) if (!Object.prototype.hasOwnProperty.call(y, key)) return false;
  return true;
}

// The same reasons, in the same words, as normalization's TooLarge.
function over(w: Walk, reason: string): false {
  w.report.tooLarge = reason;
  return false;
}

// Typed values: equal raw content is equal; otherwise compare canonical forms (the candidate's
// read through the id map), which costs a parse, so only when the raw content differs.
function typedEqual(w: Walk, a: Record<string, unknown>, b: Record<string, unknown>, key: string): boolean {
  const tag = tagOf(a)!;
  const tb = tagOf(b);
  if (!tb) return false;
  const av = a[key];
  const bv = b[key];
  if (tb === tag && typeof av === 'string' && typeof bv === 'string') {
    const id = tag === 'objectId' || tag === 'uuid';
    // The same id is equal unless the map reads the candidate's as another legacy id (as the full path would).
    const same = (x: boolean) => x && (!id || !w.ids.size || deepEqual(mapped(w, b), canonicalTagged(b, tag)));
    if (same(av === bv)) {
      if (w.learn && id) w.idShortcut = true;
      return true;
    }
    // Ids: canonical form is lower case, and the id map is keyed by it.
    if (id) {
      const al = av.toLowerCase();
      const bl = bv.toLowerCase();
      if (same(al === bl)) {
        if (w.learn) w.idShortcut = true;
        return true;
      }
      if (w.ids.maps(`${key}:${bl}`, `${key}:${al}`)) return true;
    }
  }
  const ca = canonicalTagged(a, tag);
  const cb = mapped(w, b);
  if (deepEqual(ca, cb)) return true;
  return w.learn && learned(w, ca, canonicalTagged(b, tb));
}

function learned(w: Walk, legacy: unknown, candidate: unknown): boolean {
  if (!isGeneratedId(legacy) || !isGeneratedId(candidate)) return false;
  w.ids.learn(candidate, legacy);
  return deepEqual(w.ids.lookup(candidate), legacy);
}

// A typed value on the candidate side, read through the id map.
function mapped(w: Walk, b: object): Record<string, unknown> {
  const tag = tagOf(b);
  if (!tag) return b as Record<string, unknown>;
  return w.ids.lookup(canonicalTagged(b as Record<string, unknown>, tag)) as Record<string, unknown>;
}

function fold(s: string, rule: { trim: boolean; caseInsensitive: boolean }): string {
  let out = rule.trim ? s.trim() : s;
  if (rule.caseInsensitive) out = out.toLowerCase();
  return out;
}

/**
 * For each element of `a` (in order), the index of an element of `b` with the same `by`
 * field (a string or number), or undefined when some element has no such partner. A pairing
 * among repeated keys may be wrong; the walk then only answers "not sure".
 */
function matchByKey(a: unknown[], b: unknown[], by: readonly (string | number)[] | undefined): number[] | undefined {
  if (!by) return undefined;
  const n = a.length;
  const ka = keysOf(a, by);
  const kb = ka && keysOf(b, by);
  if (!ka || !kb) return undefined;
  const order: number[] = new Array(n);
  if (n <= 32) {
    // Short arrays (line items): a scan beats building a map.
    const used = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      let j = !used[i] && kb[i] === ka[i] ? i : -1;
      for (let x = 0; j < 0 && x < n; x++) if (!used[x] && kb[x] === ka[i]) j = x;
      if (j < 0) return undefined;
      used[j] = 1;
      order[i] = j;
    }
    return order;
  }
  const where = new Map<string | number, number[]>();
  for (let j = n - 1; j >= 0; j--) {
    const list = where.get(kb[j]!);
    if (list) list.push(j);
    else where.set(kb[j]!, [j]);
  }
  for (let i = 0; i < n; i++) {
    const j = where.get(ka[i]!)?.pop();
    if (j === undefined) return undefined;
    order[i] = j;
  }
  return order;
}

function keysOf(arr: unknown[], by: readonly (string | number)[]): (string | number)[] | undefined {
  const keys: (string | number)[] = new Array(arr.length);
  const single = by.length === 1 ? by[0]! : undefined;
  for (let i = 0; i < arr.length; i++) {
    const item = arr[i];
    const k = single !== undefined ? (item !== null && typeof item === 'object' ? (item as Record<string | number, unknown>)[single] : undefined) : getPath(item, by);
    if (typeof k !== 'string' && typeof k !== 'number') return undefined;
    keys[i] = k;
  }
  return keys;
}
