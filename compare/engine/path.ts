// Field paths and the path patterns rules use. A path is a list of segments (object keys and
// array indices), shown as `items[2].price`; a pattern adds `*` (one segment), `[*]` (one
// index), `**` (any number of segments) and `["a.b"]` (a key containing dots). Patterns are
// matched incrementally while walking a document, so no path string is built per node.
import { ShadowdiffError } from '../../core/errors';

export type Segment = string | number;
export type Path = readonly Segment[];

const IDENT = /^[A-Za-z_$][\w$]*$/;

/** `['items', 2, 'price']` → `items[2].price`; keys that are not identifiers are quoted. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The value at a path (own properties only), or undefined. */
export function getPath(value: unknown, path: Path): unknown {
  let cur = value;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, seg)) return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** The field a path belongs to, with indices folded: `items[2].price` → `items[*].price`. */
export function fieldOf(path: Path): string {
  return formatPath(path.map((s) => (typeof s === 'number' ? -1 : s))).replace(/\[-1\]/g, '[*]');
}

type PatternSegment =
  | { t: 'key'; key: string }
  | { t: 'index'; index: number }
  | { t: 'anyIndex' }
  | { t: 'any' }
  | { t: 'deep' };

/** Parses `a.b[*].c`, `**.updatedAt`, `["x.y"].z`. Throws SHADOWDIFF_RULES with the position on a bad pattern. */
export function parsePattern(pattern: string): PatternSegment[] {
  const out: PatternSegment[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new ShadowdiffError('SHADOWDIFF_RULES', `path pattern ${JSON.stringify(pattern)}: ${why} at character ${i + 1}.`, {
      pattern,
    });
  };
  if (pattern.trim() === '') fail('empty pattern');
  let expectSegment = true;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '[') {
      const close = pattern.indexOf(']', i);
      if (close < 0) fail('unclosed "["');
      const inner = pattern.slice(i + 1, close);
      if (inner === '*') out.push({ t: 'anyIndex' });
      else if (/^\d+$/.test(inner)) out.push({ t: 'index', index: Number(inner) });
      else if (/^"(?:[^"\\]|\\.)*"$/.test(inner)) out.push({ t: 'key', key: JSON.parse(inner) as string });
      else fail(`"[${inner}]" is not [*], [number] or ["key"]`);
      i = close + 1;
      expectSegment = false;
    } else if (c === '.') {
      if (expectSegment) fail('empty segment');
      i += 1;
      expectSegment = true;
    } else {
      if (!expectSegment) fail('expected "." or "[" between segments');
      let j = i;
      while (j < pattern.length && pattern[j] !== '.' && pattern[j] !== '[') j += 1;
      const word = pattern.slice(i, j);
      if (word === '**') out.push({ t: 'deep' });
      else if (word === '*') out.push({ t: 'any' });
      else if (word.includes('*')) fail(`"${word}": "*" must stand alone in a segment`);
      else if (word.includes(']')) fail(`"${word}": unmatched "]" (quote such keys: ["a]b"])`);
      else out.push({ t: 'key', key: word });
      i = j;
      expectSegment = false;
    }
  }
  if (expectSegment) fail('pattern ends with "."');
  if (out.length > 200) fail('more than 200 segments');
  return out;
}

/**
 * A set of patterns walked alongside a document. `start()` is the state at the root,
 * `step(state, segment)` the state below a child, `matches(state)` whether any pattern ends
 * there (returning its index). States are small sorted arrays of encoded (pattern, position).
 */
export class PatternSet {
  private readonly patterns: PatternSegment[][];
  readonly source: readonly string[];
  private readonly initial: State;
  private readonly interned = new Map<string, State>();

  constructor(patterns: readonly string[]) {
    this.source = patterns;
    this.patterns = patterns.map(parsePattern);
    this.initial = this.patterns.length ? this.closure(this.patterns.map((_, p) => encode(p, 0))) : EMPTY;
  }

  get size(): number {
    return this.patterns.length;
  }

  start(): State {
    return this.initial;
  }

  step(state: State, seg: Segment): State {
    if (state.length === 0) return EMPTY;
    // Transitions are memoised on each interned state: documents repeat the same keys endlessly.
    const cached = state.edges.get(seg);
    if (cached) return cached;
    const result = this.advance(state, seg);
    if (state.edges.size < 4096) state.edges.set(seg, result);
    return result;
  }

  private advance(state: State, seg: Segment): State {
    const next: number[] = [];
    for (const s of state.items) {
      const p = s >>> 8;
      const pos = s & 0xff;
      const ps = this.patterns[p]![pos];
      if (!ps) continue;
      switch (ps.t) {
        case 'deep':
          next.push(s); // ** consumes this segment and stays
          break;
        case 'any':
          next.push(s + 1);
          break;
        case 'anyIndex':
          if (typeof seg === 'number') next.push(s + 1);
          break;
        case 'index':
          if (seg === ps.index) next.push(s + 1);
          break;
        case 'key':
          if (seg === ps.key) next.push(s + 1);
          break;
      }
    }
    return next.length === 0 ? EMPTY : this.closure(next);
  }

  /** Index of the first pattern that ends at this state, or -1. */
  matches(state: State): number {
    return state.match;
  }

  /** Whether a whole path matches any pattern (for filtering findings after a diff). */
  test(path: Path): number {
    let state = this.initial;
    for (const seg of path) {
      state = this.step(state, seg);
      if (state.length === 0) return -1;
    }
    return this.matches(state);
  }

  // `**` may also match zero segments: add the state after it, repeatedly.
  private closure(states: number[]): State {
    const seen = new Set<number>();
    const stack = [...states];
    while (stack.length) {
      const s = stack.pop()!;
      if (seen.has(s)) continue;
      seen.add(s);
      const ps = this.patterns[s >>> 8]![s & 0xff];
      if (ps?.t === 'deep') stack.push(s + 1);
    }
    const sorted = [...seen].sort((a, b) => a - b);
    const id = sorted.join(',');
    let interned = this.interned.get(id);
    if (!interned) {
      let match = -1;
      for (const s of sorted) {
        if ((s & 0xff) === this.patterns[s >>> 8]!.length) {
          match = s >>> 8;
          break;
        }
      }
      const indexFree = sorted.every((s) => this.patterns[s >>> 8]![s & 0xff]?.t !== 'index');
      interned = { items: sorted, length: sorted.length, match, indexFree, edges: new Map() };
      this.interned.set(id, interned);
    }
    return interned;
  }
}

/** A set of (pattern, position) reached by a path: interned, so states compare by identity. */
export interface State {
  readonly items: readonly number[];
  readonly length: number;
  /** The first pattern that ends here, or -1. */
  readonly match: number;
  /** No pattern names a specific index here: every array index leads to the same state. */
  readonly indexFree: boolean;
  readonly edges: Map<Segment, State>;
}

const EMPTY: State = { items: [], length: 0, match: -1, indexFree: true, edges: new Map() };

function encode(pattern: number, pos: number): number {
  return (pattern << 8) | pos;
}
